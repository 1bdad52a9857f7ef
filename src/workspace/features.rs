//! Services built with cargo features of their own (`features`, `no-default-features`,
//! `all-features`): what `cargo tree` says about them, and each one's dependency graph.
//!
//! `cargo metadata` resolves the whole workspace with every member's default features, so its
//! graph holds what a service built with cargo's defaults can use, but neither a dependency
//! that only a configured feature enables nor that dependency's own. For a service with
//! features of its own, `cargo tree -p SERVICE` with those features resolves it alone, as its
//! build does; that graph is the one its analysis walks.

use crate::config::Features;
use crate::workspace::{Node, Workspace, WorkspaceError};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// One service's dependency graph when it is built alone with its features.
#[derive(Debug, Clone, Default)]
pub struct ServiceGraph {
    /// Node (an index into [`Workspace::nodes`]) → the nodes that depend on it, normal and
    /// build dependencies for the target platform.
    pub rdeps: HashMap<usize, Vec<usize>>,
}

/// What `cargo tree` needs besides the features: where, for which package and target.
pub struct Tree<'a> {
    pub manifest: &'a Path,
    pub package: &'a str,
    pub target: &'a str,
    pub offline: bool,
    /// `--locked`: fail instead of updating `Cargo.lock` (a build); the analysis, like
    /// `cargo metadata`, does not pass it.
    pub locked: bool,
}

impl Tree<'_> {
    /// `cargo tree -p PACKAGE --target TARGET -e normal,build --prefix PREFIX --format FORMAT`
    /// with `features`: its output, or its first error line.
    pub fn run(&self, features: &Features, prefix: &str, format: &str) -> Result<String, String> {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.arg("tree");
        if self.locked {
            cmd.arg("--locked");
        }
        cmd.arg("--manifest-path")
            .arg(self.manifest)
            .args(["-p", self.package, "--target", self.target])
            .args(["-e", "normal,build", "--prefix", prefix, "--format", format])
            .args(features.cargo_args([self.package]));
        if self.offline {
            cmd.arg("--offline");
        }
        let out = cmd
            .output()
            .map_err(|e| format!("running cargo tree: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or(err.trim());
            return Err(format!("cargo tree -p {}: {line}", self.package));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The graph of every service with features of its own, from `cargo tree`, into
/// [`Workspace::service_graphs`]. Packages that only such a service uses (not in `cargo
/// metadata`'s graph) are added to [`Workspace::nodes`] without edges there, so a change of them
/// in `Cargo.lock` is found and reaches that service alone.
pub fn resolve_graphs(ws: &mut Workspace, offline: bool) -> Result<(), WorkspaceError> {
    let featured: Vec<(String, String, Features)> = ws
        .services
        .iter()
        .filter(|s| !s.features.is_default())
        .map(|s| (s.name.clone(), s.package.clone(), s.features.clone()))
        .collect();
    if featured.is_empty() || !ws.resolved {
        return Ok(());
    }
    let (manifest, target) = (ws.manifest.clone(), ws.target.clone());
    let trees = crate::parallel::map(&featured, |(_, package, features)| {
        let tree = Tree {
            manifest: &manifest,
            package,
            target: &target,
            offline,
            locked: false,
        };
        tree.run(features, "depth", "{p}")
    });
    let lock = lock_sources(&ws.root.join("Cargo.lock"));
    for ((name, _, _), text) in featured.into_iter().zip(trees) {
        let text = text.map_err(|message| WorkspaceError::Features {
            service: name.clone(),
            message,
        })?;
        let graph = graph_of(&text, &mut ws.nodes, &lock);
        ws.service_graphs.insert(name, graph);
    }
    Ok(())
}

/// One line of `cargo tree --prefix depth --format {p}`: depth, name, version, and the source
/// in parentheses when it is not crates.io (a path, a git URL, a registry).
#[derive(Debug, PartialEq)]
struct Line<'a> {
    depth: usize,
    name: &'a str,
    version: &'a str,
    source: Option<&'a str>,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let depth = line[..digits].parse().ok()?;
    let mut rest = line[digits..].trim_end();
    for suffix in [" (*)", " (proc-macro)"] {
        rest = rest.strip_suffix(suffix).unwrap_or(rest);
    }
    let (name, rest) = rest.split_once(' ')?;
    let (version, source) = match rest.split_once(' ') {
        Some((v, s)) => (v, s.strip_prefix('(')?.strip_suffix(')')),
        None => (rest, None),
    };
    Some(Line {
        depth,
        name,
        version: version.strip_prefix('v')?,
        source,
    })
}

/// `Cargo.lock`'s packages: (name, version) → source (empty for a path package).
fn lock_sources(path: &Path) -> HashMap<(String, String), String> {
    let Some(lock) = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return HashMap::new();
    };
    super::lockfile::packages(&lock)
        .filter(|p| !p.name.is_empty() && !p.version.is_empty())
        .map(|p| ((p.name, p.version), p.source))
        .collect()
}

/// The node of a `cargo tree` line: the one of that name and version (a path package's when
/// the line names a path), else a new node.
fn node_of(
    line: &Line<'_>,
    nodes: &mut Vec<Node>,
    lock: &HashMap<(String, String), String>,
) -> usize {
    let is_path = line.source.is_some_and(|s| s.starts_with('/'));
    let candidates: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].name == line.name && nodes[i].version == line.version)
        .collect();
    let chosen = candidates
        .iter()
        .copied()
        .find(|&i| nodes[i].source.is_none() == is_path)
        .or(candidates.first().copied());
    if let Some(i) = chosen {
        return i;
    }
    let source = lock
        .get(&(line.name.to_string(), line.version.to_string()))
        .filter(|s| !s.is_empty())
        .cloned();
    nodes.push(Node {
        name: line.name.to_string(),
        version: line.version.to_string(),
        source,
        deps: Vec::new(),
        rdeps: Vec::new(),
        member: false,
    });
    nodes.len() - 1
}

/// The reverse edges of a `cargo tree --prefix depth` listing: each line depends on the last
/// line one level up.
fn graph_of(
    text: &str,
    nodes: &mut Vec<Node>,
    lock: &HashMap<(String, String), String>,
) -> ServiceGraph {
    let mut graph = ServiceGraph::default();
    let mut path: Vec<usize> = Vec::new();
    for line in text.lines().filter_map(parse_line) {
        let node = node_of(&line, nodes, lock);
        path.truncate(line.depth);
        if let Some(&parent) = path.last() {
            let users = graph.rdeps.entry(node).or_default();
            if !users.contains(&parent) {
                users.push(parent);
            }
        }
        path.push(node);
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_package_and_its_source() {
        assert_eq!(
            parse_line("0a v0.1.0 (/w/apps/a)"),
            Some(Line {
                depth: 0,
                name: "a",
                version: "0.1.0",
                source: Some("/w/apps/a")
            })
        );
        assert_eq!(
            parse_line("12serde_derive v1.0.229 (proc-macro) (*)"),
            Some(Line {
                depth: 12,
                name: "serde_derive",
                version: "1.0.229",
                source: None
            })
        );
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn the_listing_is_a_graph_with_new_nodes_for_unknown_packages() {
        let node = |name: &str, source: Option<&str>| Node {
            name: name.into(),
            version: "0.1.0".into(),
            source: source.map(str::to_string),
            deps: Vec::new(),
            rdeps: Vec::new(),
            member: source.is_none(),
        };
        let mut nodes = vec![node("a", None), node("lib", None)];
        let lock = HashMap::from([(
            ("extra".to_string(), "0.1.0".to_string()),
            "registry+https://github.com/rust-lang/crates.io-index".to_string(),
        )]);
        let text = "0a v0.1.0 (/w/a)\n1lib v0.1.0 (/w/lib)\n2extra v0.1.0\n1extra v0.1.0 (*)\n";
        let graph = graph_of(text, &mut nodes, &lock);
        assert_eq!(nodes.len(), 3);
        assert_eq!(
            nodes[2].source.as_deref(),
            lock.values().next().map(String::as_str)
        );
        assert_eq!(graph.rdeps[&1], vec![0]);
        assert_eq!(graph.rdeps[&2], vec![1, 0]);
        assert!(!graph.rdeps.contains_key(&0));
    }
}

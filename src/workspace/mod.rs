//! The workspace model: packages, services and the dependency graph, from `cargo metadata`.

pub mod environment;
pub mod features;
pub mod lockfile;
pub mod services;

use crate::config::{ConfigError, Features, ServiceConfig, WorkspaceConfig};
use cargo_metadata::{DependencyKind, Metadata, PackageId};
use features::ServiceGraph;
use services::detect_services;
pub use services::service_globs;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("could not find `Cargo.toml` in `{0}` or any parent directory")]
    NotFound(String),
    #[error("manifest path `{0}` does not exist")]
    NoManifest(String),
    #[error("`cargo metadata` failed: {0}")]
    Metadata(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The services' names and binaries: every problem, one line each.
    #[error(transparent)]
    Services(#[from] services::Problems),
    #[error("service `{service}`: its features do not resolve: {message}")]
    Features { service: String, message: String },
    /// `--env` (or `MONOSHIP_ENV`) naming no environment of the configuration.
    #[error(
        "unknown environment `{name}` ({known}; `environments` in [workspace.metadata.monoship] of {file})"
    )]
    UnknownEnvironment {
        name: String,
        known: String,
        file: String,
    },
}

/// Where the workspace is: the manifest the user pointed at, or the nearest one upward.
pub fn locate_manifest(
    dir: Option<&Path>,
    manifest: Option<&Path>,
) -> Result<PathBuf, WorkspaceError> {
    if let Some(m) = manifest {
        let m = absolute(m);
        return if m.is_file() {
            Ok(m)
        } else {
            Err(WorkspaceError::NoManifest(m.display().to_string()))
        };
    }
    let start = absolute(dir.unwrap_or(Path::new(".")));
    let mut cur = Some(start.as_path());
    while let Some(d) = cur {
        let candidate = d.join("Cargo.toml");
        if candidate.is_file() {
            return Ok(candidate);
        }
        cur = d.parent();
    }
    Err(WorkspaceError::NotFound(start.display().to_string()))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Run `cargo metadata` for the workspace of `manifest`, filtered to `target`.
pub fn cargo_metadata(
    manifest: &Path,
    target: &str,
    offline: bool,
) -> Result<Metadata, WorkspaceError> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.manifest_path(manifest);
    let mut opts = vec!["--filter-platform".to_string(), target.to_string()];
    if offline {
        opts.push("--offline".into());
    }
    cmd.other_options(opts);
    exec(cmd, manifest)
}

/// `cargo metadata --no-deps` for the workspace of `manifest`: its members without the
/// dependency graph, which takes cargo no resolution (a third of the time of [`cargo_metadata`]).
pub fn cargo_metadata_members(manifest: &Path, offline: bool) -> Result<Metadata, WorkspaceError> {
    let mut cmd = cargo_metadata::MetadataCommand::new();
    cmd.manifest_path(manifest).no_deps();
    if offline {
        cmd.other_options(vec!["--offline".to_string()]);
    }
    exec(cmd, manifest)
}

fn exec(cmd: cargo_metadata::MetadataCommand, manifest: &Path) -> Result<Metadata, WorkspaceError> {
    cmd.exec().map_err(|e| {
        let text = match e {
            cargo_metadata::Error::CargoMetadata { stderr } => {
                let text = cargo_error(&stderr);
                match what_to_do(&text, manifest) {
                    Some(hint) => format!("{text} ({hint})"),
                    None => text,
                }
            }
            other => other.to_string(),
        };
        WorkspaceError::Metadata(text)
    })
}

/// What to do about the cargo failures a first run on a repository meets: a pinned toolchain
/// that is not installed, a git dependency that cannot be fetched.
fn what_to_do(error: &str, manifest: &Path) -> Option<String> {
    if error.starts_with("toolchain '") && error.contains("is not installed") {
        let pin = manifest.ancestors().skip(1).find_map(|d| {
            ["rust-toolchain.toml", "rust-toolchain"]
                .iter()
                .map(|f| d.join(f))
                .find(|p| p.is_file())
        });
        let by = match pin {
            Some(p) => format!("it is pinned by {}", p.display()),
            None => "it is pinned by a rust-toolchain file or RUSTUP_TOOLCHAIN".to_string(),
        };
        return Some(format!(
            "{by}: install it with `rustup toolchain install`, or change the pin"
        ));
    }
    let git = [
        "unable to update",
        "failed to clone",
        "failed to fetch",
        "offline mode",
    ];
    if error.contains("as a dependency of package") && git.iter().any(|g| error.contains(g)) {
        return Some(
            "cargo cannot fetch a git dependency: check the network and the repository's \
             credentials (cargo's `net.git-fetch-with-cli` uses git's); with --offline it must be \
             in cargo's git cache already: run `cargo fetch` where the repository is reachable"
                .to_string(),
        );
    }
    None
}

/// cargo's error in one line: its first `error` line, where it is (` --> FILE:LINE:COL`) and its
/// causes (`TOML parse error at line L, column C: …`), without the source excerpts.
fn cargo_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("error")) else {
        return stderr.trim().to_string();
    };
    let first = lines[start];
    let mut text = first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .trim()
        .to_string();
    let rest = &lines[start + 1..];
    if let Some(at) = rest.iter().find_map(|l| l.trim().strip_prefix("--> ")) {
        text.push_str(&format!(" (at {at})"));
    }
    let mut in_causes = false;
    for line in rest {
        let t = line.trim();
        if t == "Caused by:" {
            in_causes = true;
        } else if t.starts_with("error") || t.starts_with("warning") || t == "Stack backtrace:" {
            break;
        } else if let Some(help) = t.strip_prefix("help: ") {
            text.push_str("; ");
            text.push_str(help);
        } else if in_causes && !t.is_empty() && !is_excerpt(t) {
            text.push_str(": ");
            text.push_str(t);
        }
    }
    text
}

/// A line of a source excerpt: `818 | text`, `|`, `^^^`.
fn is_excerpt(t: &str) -> bool {
    let after_number = t
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    after_number.starts_with('|') || t.chars().all(|c| c == '^' || c == '-' || c == ' ')
}

/// The triple this binary was built for.
pub fn host_target() -> &'static str {
    env!("MONOSHIP_HOST_TARGET")
}

#[derive(Debug, Clone)]
pub struct CargoTarget {
    pub name: String,
    pub kinds: Vec<String>,
    /// Source path relative to the workspace root.
    pub src_path: String,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Directory relative to the workspace root, `/`-separated, "" for the root package.
    pub dir: String,
    pub manifest_path: PathBuf,
    pub targets: Vec<CargoTarget>,
    /// Index of this package in the graph.
    pub node: usize,
}

#[derive(Debug, Clone)]
pub struct Service {
    /// A Kubernetes name: of its images, its Deployment, in `affected`.
    pub name: String,
    /// The package it is built from (one package can be several services).
    pub package: String,
    /// The binary target it runs (`cargo build --bin`, `/app/BINARY` in its image).
    pub binary: String,
    /// The name as configured (or the package's), when that was not a Kubernetes name and
    /// `name` is its mapping (lowercase, `_` as `-`).
    pub mapped_from: Option<String>,
    pub dir: String,
    pub inputs: Vec<String>,
    pub config: ServiceConfig,
    /// The cargo features it is built with (its own keys over the workspace's).
    pub features: Features,
}

/// One resolved package (workspace member or dependency).
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub version: String,
    pub source: Option<String>,
    /// Normal and build dependencies for the target platform.
    pub deps: Vec<usize>,
    /// Reverse of `deps`.
    pub rdeps: Vec<usize>,
    pub member: bool,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub manifest: PathBuf,
    pub target: String,
    pub config: WorkspaceConfig,
    /// Workspace members, sorted by name.
    pub packages: Vec<Package>,
    /// Services, sorted by name.
    pub services: Vec<Service>,
    /// True when no package matched the service globs and every binary package was taken.
    pub services_by_binary: bool,
    pub nodes: Vec<Node>,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
    /// Whether `nodes` hold the dependency graph (false after `cargo metadata --no-deps`).
    pub resolved: bool,
    /// The graph of each service built with features of its own, by service name
    /// ([`crate::workspace::features::resolve_graphs`]); the others use the edges of `nodes`.
    pub service_graphs: BTreeMap<String, ServiceGraph>,
    /// The environment the configuration is seen in ([`Workspace::in_environment`]).
    pub environment: Option<environment::Environment>,
}

impl Workspace {
    /// The workspace `cargo metadata` describes. Having no service is a configuration error.
    pub fn from_metadata(meta: Metadata, target: &str) -> Result<Workspace, WorkspaceError> {
        Workspace::load(meta, target, false)
    }

    /// Like [`Workspace::from_metadata`], with no service at all allowed: for `init`, which
    /// suggests the `services` setting.
    pub fn detect(meta: Metadata, target: &str) -> Result<Workspace, WorkspaceError> {
        Workspace::load(meta, target, true)
    }

    fn load(meta: Metadata, target: &str, allow_none: bool) -> Result<Workspace, WorkspaceError> {
        let root: PathBuf = meta.workspace_root.clone().into();
        let manifest = root.join("Cargo.toml");
        let config = WorkspaceConfig::from_metadata(&meta.workspace_metadata, &manifest)?;

        let mut index: HashMap<&PackageId, usize> = HashMap::with_capacity(meta.packages.len());
        let members: std::collections::HashSet<&PackageId> =
            meta.workspace_members.iter().collect();
        let mut nodes: Vec<Node> = Vec::with_capacity(meta.packages.len());
        for (i, p) in meta.packages.iter().enumerate() {
            index.insert(&p.id, i);
            nodes.push(Node {
                name: p.name.to_string(),
                version: p.version.to_string(),
                source: p.source.as_ref().map(|s| s.repr.clone()),
                deps: Vec::new(),
                rdeps: Vec::new(),
                member: members.contains(&p.id),
            });
        }
        if let Some(resolve) = &meta.resolve {
            for n in &resolve.nodes {
                let Some(&from) = index.get(&n.id) else {
                    continue;
                };
                for d in &n.deps {
                    let runtime = d
                        .dep_kinds
                        .iter()
                        .any(|k| k.kind != DependencyKind::Development);
                    if !runtime {
                        continue;
                    }
                    if let Some(&to) = index.get(&d.pkg) {
                        nodes[from].deps.push(to);
                        nodes[to].rdeps.push(from);
                    }
                }
            }
        }

        let mut packages = Vec::new();
        for p in meta.packages.iter().filter(|p| members.contains(&p.id)) {
            let manifest_path: PathBuf = p.manifest_path.clone().into();
            let dir = rel(&root, manifest_path.parent().unwrap_or(&root));
            let targets = p
                .targets
                .iter()
                .map(|t| CargoTarget {
                    name: t.name.clone(),
                    kinds: t.kind.iter().map(|k| k.to_string()).collect(),
                    src_path: rel(&root, t.src_path.as_std_path()),
                })
                .collect();
            packages.push(Package {
                name: p.name.to_string(),
                version: p.version.to_string(),
                dir,
                manifest_path,
                targets,
                node: index[&p.id],
            });
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name));

        let (services, services_by_binary) =
            detect_services(&meta, &members, &root, &manifest, &config, allow_none)?;
        environment::check(&config, &manifest.display().to_string(), &services, |s| {
            packages
                .iter()
                .find(|p| p.name == s.package)
                .map(|p| p.manifest_path.display().to_string())
                .unwrap_or_default()
        })?;
        Ok(Workspace {
            root,
            manifest,
            target: target.to_string(),
            config,
            packages,
            services,
            services_by_binary,
            nodes,
            target_dir: meta.target_directory.clone().into(),
            resolved: meta.resolve.is_some(),
            service_graphs: BTreeMap::new(),
            environment: None,
        })
    }

    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.packages[i])
    }

    pub fn package_by_dir(&self, dir: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.dir == dir)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// `path` relative to `root`, `/`-separated ("" for the root itself). Paths outside `root`
/// keep their absolute form.
pub fn rel(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(r) => r
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.display().to_string(),
    }
}

/// A workspace of `services` for unit tests: no cargo, no git.
#[cfg(test)]
pub(crate) fn fake(services: &[&str]) -> Workspace {
    Workspace {
        root: PathBuf::from("/nonexistent/ws"),
        manifest: PathBuf::from("/nonexistent/ws/Cargo.toml"),
        target: "x86_64-unknown-linux-gnu".into(),
        config: WorkspaceConfig::default(),
        packages: Vec::new(),
        services: services
            .iter()
            .map(|s| Service {
                name: s.to_string(),
                package: s.to_string(),
                binary: s.to_string(),
                mapped_from: None,
                dir: format!("apps/{s}"),
                inputs: Vec::new(),
                config: ServiceConfig::default(),
                features: Default::default(),
            })
            .collect(),
        services_by_binary: false,
        nodes: Vec::new(),
        target_dir: PathBuf::from("/nonexistent/ws/target"),
        resolved: true,
        service_graphs: Default::default(),
        environment: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cargo_errors_keep_their_location() {
        let new_style = "error: missing comma between array elements, expected `,`\n --> \
                         Cargo.toml:5:1\n  |\n5 | [workspace.package]\n  | ^\n";
        assert_eq!(
            super::cargo_error(new_style),
            "missing comma between array elements, expected `,` (at Cargo.toml:5:1)"
        );
        let caused = "error: failed to parse lock file at: /w/Cargo.lock\n\nCaused by:\n  TOML \
                      parse error at line 818, column 9\n      |\n  818 | garbage [[[\n      |   \
                      ^\n  key with no value, expected `=`\n";
        assert_eq!(
            super::cargo_error(caused),
            "failed to parse lock file at: /w/Cargo.lock: TOML parse error at line 818, column 9: \
             key with no value, expected `=`"
        );
    }

    #[test]
    fn a_missing_toolchain_keeps_rustups_help_and_says_what_pins_it() {
        let rustup = "error: toolchain '1.70.0-x86_64-unknown-linux-gnu' is not installed\nhelp: \
                      run `rustup toolchain install` to install it\n\nStack backtrace:\n   0: \
                      anyhow::error\n";
        let text = super::cargo_error(rustup);
        assert_eq!(
            text,
            "toolchain '1.70.0-x86_64-unknown-linux-gnu' is not installed; run `rustup \
             toolchain install` to install it"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rust-toolchain.toml"), "").unwrap();
        let manifest = dir.path().join("Cargo.toml");
        let hint = super::what_to_do(&text, &manifest).unwrap();
        assert!(
            hint.starts_with(&format!(
                "it is pinned by {}",
                dir.path().join("rust-toolchain.toml").display()
            )),
            "{hint}"
        );
    }

    #[test]
    fn a_git_dependency_keeps_every_cause_and_says_what_to_do() {
        let cargo = "warning: spurious network error\nerror: failed to get `foo` as a dependency \
                     of package `tc v0.1.0 (/tmp/tc)`\n\nCaused by:\n  failed to load source \
                     for dependency `foo`\n\nCaused by:\n  unable to update \
                     https://127.0.0.1:9/foo.git\n\nCaused by:\n  failed to connect to \
                     127.0.0.1: Connection refused; class=Os (2)\n";
        let text = super::cargo_error(cargo);
        assert_eq!(
            text,
            "failed to get `foo` as a dependency of package `tc v0.1.0 (/tmp/tc)`: failed to \
             load source for dependency `foo`: unable to update https://127.0.0.1:9/foo.git: \
             failed to connect to 127.0.0.1: Connection refused; class=Os (2)"
        );
        let hint = super::what_to_do(&text, std::path::Path::new("/w/Cargo.toml")).unwrap();
        assert!(hint.contains("cargo fetch"), "{hint}");
    }
}

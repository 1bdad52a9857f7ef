//! The workspace at base, read from git objects (no checkout), and walks over the head graph.

use super::manifest;
use super::refs::{self, RefKind};
use crate::changes::Git;
use crate::config;
use crate::workspace::{self, Package, Workspace};
use gix::ObjectId;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// Workspace members at base, read from git objects: (directory, name, the services it was).
pub(super) fn base_packages(
    ws: &Workspace,
    git: &Git,
    from: ObjectId,
    prefix: &str,
) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let read_base = |path: &str| {
        git.read_at(from, &format!("{prefix}{path}"))
            .map_err(|e| e.to_string())
    };
    let root = match read_base("Cargo.toml")? {
        Some(b) => manifest::parse(&b, "Cargo.toml at base")?,
        None => return Ok(Vec::new()),
    };
    let table = root.get("workspace").and_then(toml::Value::as_table);
    let strings = |key: &str| -> Vec<String> {
        table
            .and_then(|w| w.get(key))
            .and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let file = Path::new("Cargo.toml at base");
    let members = config::compile_globs(
        strings("members").iter().map(String::as_str),
        file,
        "members",
    )
    .map_err(|e| e.to_string())?;
    let exclude = strings("exclude");
    let services = workspace::service_globs(&ws.config);
    let services = config::compile_globs(services.iter().map(String::as_str), file, "services")
        .map_err(|e| e.to_string())?;
    let top = prefix.trim_end_matches('/');
    let mut out = Vec::new();
    for m in git.manifests_at(from, top, 6).map_err(|e| e.to_string())? {
        let rel = m.strip_prefix(prefix).unwrap_or(&m);
        let dir = rel.strip_suffix("/Cargo.toml").unwrap_or("");
        let is_member = dir.is_empty() && root.contains_key("package")
            || (!dir.is_empty()
                && members.is_match(dir)
                && !exclude.iter().any(|e| e.trim_end_matches('/') == dir));
        if !is_member {
            continue;
        }
        let Some(text) = read_base(rel)? else {
            continue;
        };
        let table = manifest::parse(&text, &format!("{rel} at base"))?;
        let Some(name) = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
        else {
            continue;
        };
        let is_service = services.is_match(dir)
            || (ws.services_by_binary
                && (table.contains_key("bin")
                    || read_base(&format!("{dir}/src/main.rs"))?.is_some()));
        let services = match is_service {
            true => workspace::services::names_at(name, &table),
            false => Vec::new(),
        };
        out.push((dir.to_string(), name.to_string(), services));
    }
    Ok(out)
}

/// Services whose normal/build closure contains `node`, each with the package chain from the
/// service down to `node` (breadth first, so the chain is a shortest one). A service built with
/// features of its own is found in its own graph ([`Workspace::service_graphs`]), the others
/// in the workspace's.
pub(super) fn walk_to_services(
    ws: &Workspace,
    node: usize,
    by_package: &HashMap<&str, Vec<usize>>,
) -> Vec<(usize, Vec<String>)> {
    let plain = |n: usize| {
        let info = &ws.nodes[n];
        let services = by_package.get(info.name.as_str()).filter(|_| info.member);
        services
            .into_iter()
            .flatten()
            .copied()
            .filter(|&s| !ws.service_graphs.contains_key(&ws.services[s].name))
            .collect()
    };
    let mut out = chains(ws, node, |n| &ws.nodes[n].rdeps, plain);
    for (name, graph) in &ws.service_graphs {
        let Some(svc) = ws.services.iter().position(|s| s.name == *name) else {
            continue;
        };
        let root = ws.package(&ws.services[svc].package).map(|p| p.node);
        let rdeps = |n: usize| graph.rdeps.get(&n).map_or(&[][..], Vec::as_slice);
        let hit = |n: usize| (Some(n) == root).then_some(svc).into_iter().collect();
        out.extend(chains(ws, node, rdeps, hit));
    }
    out
}

/// A breadth-first walk from `node` up `rdeps`: each service `hit` names for a node (the
/// services built from its package), with the package chain from it down to `node`.
fn chains<'g>(
    ws: &Workspace,
    node: usize,
    rdeps: impl Fn(usize) -> &'g [usize],
    hit: impl Fn(usize) -> Vec<usize>,
) -> Vec<(usize, Vec<String>)> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([node]);
    parent.insert(node, node);
    let mut out = Vec::new();
    while let Some(n) = queue.pop_front() {
        let services = hit(n);
        if !services.is_empty() {
            let mut via = vec![ws.nodes[n].name.clone()];
            let mut cur = n;
            while cur != node {
                cur = parent[&cur];
                via.push(ws.nodes[cur].name.clone());
            }
            out.extend(services.into_iter().map(|svc| (svc, via.clone())));
        }
        for &r in rdeps(n) {
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(r) {
                e.insert(n);
                queue.push_back(r);
            }
        }
    }
    out
}

/// A `Dockerfile*`, by its file name.
pub(super) fn is_dockerfile(path: &str) -> bool {
    let name = path.rsplit_once('/').map_or(path, |(_, name)| name);
    name.starts_with("Dockerfile")
}

/// Files inside a package that cannot change its build output.
pub(super) fn excluded_in_package(pkg: &Package, inner: &str) -> bool {
    let first = inner.split('/').next().unwrap_or("");
    if !matches!(first, "tests" | "benches" | "examples") || !inner.contains('/') {
        return false;
    }
    let dir = if pkg.dir.is_empty() {
        format!("{first}/")
    } else {
        format!("{}/{first}/", pkg.dir)
    };
    // Unless a binary, library or build script target lives there.
    !pkg.targets.iter().any(|t| {
        t.src_path.starts_with(&dir)
            && t.kinds
                .iter()
                .any(|k| !matches!(k.as_str(), "test" | "bench" | "example"))
    })
}

/// Every build-time reference of the workspace's packages: (referenced path, referencing
/// package, kind), paths workspace-relative. References from tests, benches and examples are
/// left out: they cannot change a build output.
pub(super) fn workspace_refs(ws: &Workspace) -> Result<Vec<(String, String, RefKind)>, String> {
    let root = ws.root.as_path();
    let mut all = Vec::new();
    for pkg in &ws.packages {
        let dir = root.join(&pkg.dir);
        let found =
            refs::scan_package(&dir).map_err(|e| format!("scanning {}: {e}", dir.display()))?;
        for r in found {
            let from = workspace::rel(root, &r.from);
            let inner = if pkg.dir.is_empty() {
                from.as_str()
            } else {
                from.strip_prefix(&format!("{}/", pkg.dir)).unwrap_or(&from)
            };
            if excluded_in_package(pkg, inner) {
                continue;
            }
            let target = workspace::rel(root, &r.target);
            all.push((target, pkg.name.clone(), r.kind));
        }
    }
    Ok(all)
}

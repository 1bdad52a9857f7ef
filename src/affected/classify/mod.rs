//! Classification of changed paths, and the walk from changed packages to services.
//!
//! Order of the rules for one path:
//! 1. `Cargo.lock` and manifests get a semantic diff (and, once any manifest changed, each
//!    service's build settings are compared: see [`super::settings`]).
//! 2. A file referenced by `include_*!` or `rerun-if-changed` changes the referencing package,
//!    and a file a service's image carries (`files`, or a copy of its Dockerfile: see
//!    [`super::images`]) changes that service; both also when
//!    `ignore` or the tests/benches/examples rule would drop the path, and both in addition to
//!    what the rules below make of it.
//! 3. `ignore` globs: nothing (more).
//! 4. `global-inputs`: every service, but for a path a built-in glob takes and a service's
//!    `inputs` match (rule 5 alone has it then). In these lists a leading `!` takes back what
//!    the globs before it match ([`crate::globs`]).
//! 5. A service's own `inputs`: that service.
//! 6. Inside a package (longest directory prefix, at head or, for deleted files, at base): a
//!    `Dockerfile*` changes the package's service, if it is one, and nothing else; `tests/`,
//!    `benches/`, `examples/` do not count unless a binary or library target lives there;
//!    otherwise the package changed (unless it references the file itself: rule 2 has it).
//! 7. Anything else that no rule above took fails closed: every service, reason
//!    `unowned path: X`, and every such path in the report's `unowned_paths`.

mod images;

use super::base::{excluded_in_package, is_dockerfile, walk_to_services};
use super::images::ImageCopies;
use super::manifest;
use super::refs::RefKind;
use super::settings;
use super::{AffectedError, AffectedService, Reason, ReasonKind, Report};
use crate::changes::{Diff, Git};
use crate::config::{DEFAULT_GLOBAL_INPUTS, DEFAULT_IGNORE};
use crate::globs::{GlobList, Origin};
use crate::workspace::{self, Package, Workspace};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Why a package (or an external node) counts as changed.
#[derive(Debug, Clone)]
struct Cause {
    kind: ReasonKind,
    path: Option<String>,
    text: String,
}

pub(super) struct Analyzer<'a> {
    ws: &'a Workspace,
    git: &'a Git,
    diff: &'a Diff,
    /// The workspace root relative to the repository root, with a trailing `/` (or "").
    prefix: String,
    ignore: GlobList,
    global: GlobList,
    inputs: Vec<(usize, GlobList)>,
    /// Files copied into images (workspace-relative) → the services whose images carry them.
    image_files: HashMap<String, Vec<usize>>,
    /// The files the services' Dockerfiles copy into their images.
    copies: ImageCopies,
    dirs: HashMap<&'a str, &'a Package>,
    /// Referenced files (workspace-relative) → (package, kind).
    refs: Option<Vec<(String, String, RefKind)>>,
    /// Packages at base: (workspace-relative dir, name, is a service).
    base_packages: Option<Vec<(String, String, Vec<String>)>>,
    root_manifest_done: bool,
    // Results.
    package_causes: BTreeMap<String, Vec<Cause>>,
    node_causes: Vec<(usize, Cause)>,
    service_reasons: BTreeMap<usize, Vec<Reason>>,
    global_reasons: Vec<Reason>,
    removed: BTreeSet<String>,
}

type Outcome<T> = Result<T, String>;

impl<'a> Analyzer<'a> {
    pub(super) fn new(
        ws: &'a Workspace,
        git: &'a Git,
        diff: &'a Diff,
    ) -> Result<Self, AffectedError> {
        let file = ws.manifest.as_path();
        let root = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
        let prefix = match root.strip_prefix(git.workdir()) {
            Ok(p) if p.as_os_str().is_empty() => String::new(),
            Ok(p) => format!("{}/", workspace::rel(Path::new(""), p)),
            Err(_) => {
                return Err(AffectedError::Usage(format!(
                    "workspace {} is not inside the git working tree {}",
                    root.display(),
                    git.workdir().display()
                )));
            }
        };
        let list = |built_in: &'static [&'static str], globs: &[String], key: &str| {
            GlobList::new(built_in, globs.iter().map(String::as_str), file, key)
                .map_err(workspace::WorkspaceError::from)
        };
        let ignore = list(DEFAULT_IGNORE, &ws.config.ignore, "ignore")?;
        let global = list(
            DEFAULT_GLOBAL_INPUTS,
            &ws.config.global_inputs,
            "global-inputs",
        )?;
        let mut inputs = Vec::new();
        for (i, s) in ws.services.iter().enumerate() {
            if !s.inputs.is_empty() {
                inputs.push((i, list(&[], &s.inputs, "inputs")?));
            }
        }
        let dirs = ws.packages.iter().map(|p| (p.dir.as_str(), p)).collect();
        let image_files = settings::image_files(ws);
        let copies = ImageCopies::load(ws);
        Ok(Analyzer {
            ws,
            git,
            diff,
            prefix,
            ignore,
            global,
            inputs,
            image_files,
            copies,
            dirs,
            refs: None,
            base_packages: None,
            root_manifest_done: false,
            package_causes: BTreeMap::new(),
            node_causes: Vec::new(),
            service_reasons: BTreeMap::new(),
            global_reasons: Vec::new(),
            removed: BTreeSet::new(),
        })
    }

    pub(super) fn run(mut self) -> Outcome<Report> {
        let mut unowned = Vec::new();
        for change in &self.diff.paths {
            let Some(path) = change.path.strip_prefix(self.prefix.as_str()) else {
                continue; // outside the workspace
            };
            if !self.classify(path)? {
                unowned.push(path.to_string());
            }
        }
        self.build_settings()?;
        self.unreadable_dockerfiles();
        if !unowned.is_empty() {
            return Ok(self.unowned(unowned));
        }
        Ok(self.report())
    }

    /// Every service, failed closed for the changed paths no rule took.
    fn unowned(&self, mut paths: Vec<String>) -> Report {
        paths.sort();
        paths.dedup();
        let more = match paths.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        let why = format!("unowned path: {}{more}", paths[0]);
        let mut report = Report::fail_closed(self.ws, String::new(), super::Head::Worktree, why);
        report.unowned_paths = paths;
        report.changed_paths = self.changed_paths();
        report
    }

    fn changed_paths(&self) -> Vec<String> {
        self.diff.paths.iter().map(|c| c.path.clone()).collect()
    }

    /// Classify one workspace-relative path. `Ok(false)`: nothing owns it.
    fn classify(&mut self, path: &str) -> Outcome<bool> {
        if path == "Cargo.lock" {
            self.lockfile()?;
            return Ok(true);
        }
        if path == "Cargo.toml" {
            self.root_manifest()?;
            return Ok(true);
        }
        // Build-time references and image files add to what the path changes otherwise.
        let referrers = self.build_time_refs(path)?;
        let carried = self.image_file(path) | self.dockerfile_copy(path);
        if self.ignore.is_match(path) {
            return Ok(true);
        }
        // A built-in global input that a service's `inputs` claim is that service's alone.
        let global = match self.global.matched(path) {
            Some(Origin::BuiltIn) => !self.inputs.iter().any(|(_, l)| l.is_match(path)),
            other => other.is_some(),
        };
        if global {
            self.global_reasons.push(Reason {
                kind: ReasonKind::Global,
                path: Some(path.to_string()),
                via: Vec::new(),
                text: format!("{path} changed (a global input)"),
            });
            return Ok(true);
        }
        let owned = self.configured_input(path) || carried || !referrers.is_empty();
        if let Some(pkg) = self.owner(path) {
            let inner = if pkg.dir.is_empty() {
                path
            } else {
                &path[pkg.dir.len() + 1..]
            };
            if inner == "Cargo.toml" {
                self.package_manifest(pkg, path)?;
            } else if is_dockerfile(inner) {
                self.dockerfile(pkg, path);
            } else if !excluded_in_package(pkg, inner) && !referrers.contains(&pkg.name) {
                let name = pkg.name.clone();
                self.cause(
                    &name,
                    ReasonKind::File,
                    Some(path),
                    format!("{path} changed in {name}"),
                );
            }
            return Ok(true);
        }
        // Not in a package at head: a package at base (a deleted or moved one)?
        if let Some((dir, name, services)) = self.base_owner(path)? {
            if self.ws.package(&name).is_some() {
                self.cause(
                    &name,
                    ReasonKind::File,
                    Some(path),
                    format!("{path} changed in {name} (moved from {dir})"),
                );
            } else {
                self.removed.extend(services);
            }
            return Ok(true);
        }
        Ok(owned)
    }

    /// Credits `path` to every package that references it at build time, as well as to its
    /// owner (which the other rules decide); the referencing packages.
    fn build_time_refs(&mut self, path: &str) -> Outcome<Vec<String>> {
        let referenced = self.referenced(path)?;
        let owner = self.owner(path).map(|p| p.name.clone());
        let mut referrers = Vec::new();
        for (pkg, kind) in referenced {
            let (k, what) = match kind {
                RefKind::Include => (ReasonKind::Include, "embedded by"),
                RefKind::BuildInput => (ReasonKind::BuildInput, "a build script input of"),
            };
            let text = match &owner {
                Some(o) if *o != pkg => format!("{path} changed in {o} ({what} {pkg})"),
                _ => format!("{path} changed ({what} {pkg})"),
            };
            self.cause(&pkg, k, Some(path), text);
            referrers.push(pkg);
        }
        Ok(referrers)
    }

    /// Credits every service whose build settings changed, when a manifest did.
    fn build_settings(&mut self) -> Outcome<()> {
        let manifests = self.diff.paths.iter().any(|c| {
            c.path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|p| p == "Cargo.toml" || p.ends_with("/Cargo.toml"))
        });
        if !manifests {
            return Ok(());
        }
        let (base, head) = (|p: &str| self.read_base(p), |p: &str| self.read_head(p));
        for (i, reason) in settings::settings_changes(self.ws, &base, &head)? {
            self.service_reasons.entry(i).or_default().push(reason);
        }
        Ok(())
    }

    /// Credits `path` to every service whose configured `inputs` match it; whether any did.
    fn configured_input(&mut self, path: &str) -> bool {
        let claiming: Vec<usize> = self
            .inputs
            .iter()
            .filter(|(_, list)| list.is_match(path))
            .map(|(i, _)| *i)
            .collect();
        for &i in &claiming {
            let text = format!("{path} changed (an input of {})", self.name(i));
            self.service_reason(i, ReasonKind::Input, path, text);
        }
        !claiming.is_empty()
    }

    fn cause(&mut self, pkg: &str, kind: ReasonKind, path: Option<&str>, text: String) {
        self.package_causes
            .entry(pkg.to_string())
            .or_default()
            .push(Cause {
                kind,
                path: path.map(str::to_string),
                text,
            });
    }

    fn owner(&self, path: &str) -> Option<&'a Package> {
        let mut cur = path;
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if let Some(p) = self.dirs.get(cur) {
                return Some(p);
            }
        }
        self.dirs.get("").copied()
    }

    /// A file's content at head (the working tree or the head commit).
    fn read_head(&self, path: &str) -> Outcome<Option<Vec<u8>>> {
        match self.diff.head {
            None => match std::fs::read(self.ws.root.join(path)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("reading {path}: {e}")),
            },
            Some(h) => self
                .git
                .read_at(h, &format!("{}{path}", self.prefix))
                .map_err(|e| e.to_string()),
        }
    }

    fn read_base(&self, path: &str) -> Outcome<Option<Vec<u8>>> {
        self.git
            .read_at(self.diff.from, &format!("{}{path}", self.prefix))
            .map_err(|e| e.to_string())
    }

    fn both_tables(&self, path: &str) -> Outcome<(Option<toml::Table>, Option<toml::Table>)> {
        let base = self
            .read_base(path)?
            .map(|b| manifest::parse(&b, &format!("{path} at base")))
            .transpose()?;
        let head = self
            .read_head(path)?
            .map(|b| manifest::parse(&b, &format!("{path} at head")))
            .transpose()?;
        Ok((base, head))
    }

    fn package_manifest(&mut self, pkg: &Package, path: &str) -> Outcome<()> {
        let (base, head) = self.both_tables(path)?;
        let changes = match (&base, &head) {
            (Some(b), Some(h)) => manifest::package_changes(b, h),
            (None, _) => vec!["new package".to_string()],
            (Some(_), None) => vec!["manifest deleted".to_string()],
        };
        if !changes.is_empty() {
            let name = pkg.name.clone();
            let text = format!("{path} changed: {}", changes.join(", "));
            self.cause(&name, ReasonKind::Manifest, Some(path), text);
        }
        Ok(())
    }

    fn root_manifest(&mut self) -> Outcome<()> {
        if std::mem::replace(&mut self.root_manifest_done, true) {
            return Ok(());
        }
        let (base, head) = self.both_tables("Cargo.toml")?;
        let (Some(base), Some(head)) = (base, head) else {
            return Err("the workspace root Cargo.toml is missing at base or head".into());
        };
        let changes = manifest::root_changes(&base, &head);
        for section in &changes.global {
            self.global_reasons.push(Reason {
                kind: ReasonKind::Global,
                path: Some("Cargo.toml".into()),
                via: Vec::new(),
                text: format!("Cargo.toml {section} changed"),
            });
        }
        if !changes.workspace_dependencies.is_empty() || !changes.workspace_package.is_empty() {
            for pkg in &self.ws.packages {
                let text = std::fs::read(&pkg.manifest_path)
                    .map_err(|e| format!("reading {}: {e}", pkg.manifest_path.display()))?;
                let member = manifest::parse(&text, &pkg.manifest_path.display().to_string())?;
                for dep in &changes.workspace_dependencies {
                    if manifest::inherits_dependency(&member, dep) {
                        let name = pkg.name.clone();
                        let text =
                            format!("[workspace.dependencies] {dep} changed (inherited by {name})");
                        self.cause(
                            &name,
                            ReasonKind::WorkspaceDependency,
                            Some("Cargo.toml"),
                            text,
                        );
                    }
                }
                for key in &changes.workspace_package {
                    if manifest::inherits_package_key(&member, key) {
                        let name = pkg.name.clone();
                        let text =
                            format!("[workspace.package] {key} changed (inherited by {name})");
                        self.cause(
                            &name,
                            ReasonKind::WorkspacePackage,
                            Some("Cargo.toml"),
                            text,
                        );
                    }
                }
            }
        }
        if !changes.root_package.is_empty()
            && let Some(root) = self.ws.package_by_dir("")
        {
            let name = root.name.clone();
            let text = format!("Cargo.toml changed: {}", changes.root_package.join(", "));
            self.cause(&name, ReasonKind::Manifest, Some("Cargo.toml"), text);
        }
        Ok(())
    }

    fn lockfile(&mut self) -> Outcome<()> {
        let (base, head) = self.both_tables("Cargo.lock")?;
        let changes = match (base, head) {
            (Some(b), Some(h)) => manifest::lock_changes(&b, &h),
            (None, Some(h)) => manifest::lock_changes(&toml::Table::new(), &h),
            (_, None) => return Ok(()),
        };
        for c in changes {
            let from = if c.previous.is_empty() {
                "added".to_string()
            } else {
                format!("{} → {}", c.previous.join(", "), c.version)
            };
            for (i, n) in self.ws.nodes.iter().enumerate() {
                if n.name == c.name
                    && n.version == c.version
                    && n.source.as_deref().is_none_or(|s| s == c.source)
                {
                    self.node_causes.push((
                        i,
                        Cause {
                            kind: ReasonKind::Lockfile,
                            path: Some("Cargo.lock".into()),
                            text: format!("Cargo.lock: {} {from}", c.name),
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    /// Packages that reference `path` (or a directory containing it).
    fn referenced(&mut self, path: &str) -> Outcome<Vec<(String, RefKind)>> {
        if self.refs.is_none() {
            self.refs = Some(super::base::workspace_refs(self.ws)?);
        }
        let refs = self.refs.as_ref().expect("scanned above");
        let mut out: Vec<(String, RefKind)> = refs
            .iter()
            .filter(|(t, _, _)| {
                path == t
                    || path
                        .strip_prefix(t.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .map(|(_, p, k)| (p.clone(), *k))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup();
        Ok(out)
    }

    fn base_owner(&mut self, path: &str) -> Outcome<Option<(String, String, Vec<String>)>> {
        if self.base_packages.is_none() {
            self.base_packages = Some(super::base::base_packages(
                self.ws,
                self.git,
                self.diff.from,
                &self.prefix,
            )?);
        }
        let pkgs = self.base_packages.as_ref().expect("loaded above");
        Ok(pkgs
            .iter()
            .filter(|(dir, _, _)| {
                dir.is_empty()
                    || path
                        .strip_prefix(dir.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .max_by_key(|(dir, _, _)| dir.len())
            .cloned())
    }

    fn report(self) -> Report {
        let ws = self.ws;
        let changed_paths = self.changed_paths();
        let mut by_package: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, s) in ws.services.iter().enumerate() {
            by_package.entry(s.package.as_str()).or_default().push(i);
        }
        let mut reasons: BTreeMap<usize, Vec<Reason>> = self.service_reasons;
        let mut start: Vec<(usize, Cause)> = self.node_causes;
        for (pkg, causes) in self.package_causes {
            if let Some(p) = ws.package(&pkg) {
                start.extend(causes.into_iter().map(|c| (p.node, c)));
            }
        }
        // One backwards walk per distinct changed node; shortest chain to each service.
        let mut walked: HashMap<usize, Vec<(usize, Vec<String>)>> = HashMap::new();
        for (node, cause) in start {
            let hits = walked
                .entry(node)
                .or_insert_with(|| walk_to_services(ws, node, &by_package));
            for (svc, via) in hits.iter() {
                reasons.entry(*svc).or_default().push(Reason {
                    kind: cause.kind,
                    path: cause.path.clone(),
                    via: via.clone(),
                    text: cause.text.clone(),
                });
            }
        }
        for r in &self.global_reasons {
            for i in 0..ws.services.len() {
                reasons.entry(i).or_default().push(r.clone());
            }
        }
        let mut affected = Vec::new();
        let mut unaffected = Vec::new();
        for (i, s) in ws.services.iter().enumerate() {
            match reasons.remove(&i) {
                Some(mut rs) => {
                    rs.sort_by(|a, b| {
                        a.via
                            .len()
                            .cmp(&b.via.len())
                            .then(a.kind.cmp(&b.kind))
                            .then(a.path.cmp(&b.path))
                    });
                    rs.dedup();
                    affected.push(AffectedService {
                        service: s.name.clone(),
                        package: s.package.clone(),
                        reasons: rs,
                    });
                }
                None => unaffected.push(s.name.clone()),
            }
        }
        Report {
            base: String::new(),
            head: super::Head::Worktree,
            affected,
            unaffected,
            removed: self.removed.into_iter().collect(),
            fail_closed: None,
            unowned_paths: Vec::new(),
            changed_paths,
        }
    }
}

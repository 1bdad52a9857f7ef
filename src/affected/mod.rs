//! Which services a change affects, and why.
//!
//! The stage reads the workspace model (`cargo metadata`) and the git change set, classifies every
//! changed path (see [`classify`]), and walks the normal and build dependency graph backwards from
//! each changed package to the services that contain it.

mod base;
mod classify;
pub mod images;
pub mod manifest;
pub mod owners;
pub mod refs;
mod settings;

use crate::changes::{self, Base, ChangesError, Git};
use crate::workspace::{self, Workspace, WorkspaceError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AffectedError {
    /// Bad input (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

impl From<ChangesError> for AffectedError {
    fn from(e: ChangesError) -> Self {
        AffectedError::Usage(e.to_string())
    }
}

#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Directory to start looking for the workspace from (`-C`).
    pub dir: Option<PathBuf>,
    pub manifest_path: Option<PathBuf>,
    pub base: Option<String>,
    /// `None`: the working tree.
    pub head: Option<String>,
    /// Target triple whose dependency graph counts (default: config, then the host).
    pub target: Option<String>,
    pub offline: bool,
    /// The environment to see the configuration in (`--env`).
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonKind {
    /// A file of a package in the service's dependency closure changed.
    File,
    /// A package manifest changed in a way that can change the binary.
    Manifest,
    /// A resolved dependency changed in `Cargo.lock`.
    Lockfile,
    /// An inherited `[workspace.dependencies]` entry changed.
    WorkspaceDependency,
    /// An inherited `[workspace.package]` key changed.
    WorkspacePackage,
    /// A global input changed (`global-inputs`, or a global section of the root manifest).
    Global,
    /// One of the service's own `inputs` changed.
    Input,
    /// A file embedded with `include_str!`/`include_bytes!`/`include!` changed.
    Include,
    /// A build script input (`rerun-if-changed`) changed.
    BuildInput,
    /// A file the service's image carries (`files`) changed.
    ImageFile,
    /// A `Dockerfile*` in the service's package directory changed.
    Dockerfile,
    /// A file one of the service's Dockerfiles copies into its image changed.
    DockerfileCopy,
    /// The analysis could not be trusted, so every service counts.
    FailClosed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// The changed file, when there is one.
    pub path: Option<String>,
    /// Packages from the service down to the changed package.
    pub via: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedService {
    pub service: String,
    pub package: String,
    /// Shortest chains first.
    pub reasons: Vec<Reason>,
}

/// What a change goes up to: a commit, or the working tree (uncommitted changes included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Head {
    #[default]
    Worktree,
    /// A full commit id.
    Commit(String),
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Head::Worktree => f.write_str("WORKTREE"),
            Head::Commit(id) => f.write_str(id),
        }
    }
}

impl Serialize for Head {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub base: String,
    pub head: Head,
    pub affected: Vec<AffectedService>,
    pub unaffected: Vec<String>,
    pub removed: Vec<String>,
    pub fail_closed: Option<String>,
    /// Every changed path (workspace-relative, sorted) that belongs to no package and is no build
    /// input: when there is one, the analysis failed closed for them.
    pub unowned_paths: Vec<String>,
    /// Changed paths (repository-relative) the analysis looked at.
    #[serde(skip)]
    pub changed_paths: Vec<String>,
}

impl Report {
    pub fn service(&self, name: &str) -> Option<&AffectedService> {
        self.affected.iter().find(|a| a.service == name)
    }

    fn fail_closed(ws: &Workspace, base: String, head: Head, why: String) -> Report {
        let reason = Reason {
            kind: ReasonKind::FailClosed,
            path: None,
            via: Vec::new(),
            text: why.clone(),
        };
        Report {
            base,
            head,
            affected: ws
                .services
                .iter()
                .map(|s| AffectedService {
                    service: s.name.clone(),
                    package: s.package.clone(),
                    reasons: vec![reason.clone()],
                })
                .collect(),
            unaffected: Vec::new(),
            removed: Vec::new(),
            fail_closed: Some(why),
            unowned_paths: Vec::new(),
            changed_paths: Vec::new(),
        }
    }

    /// [`Report::unowned_paths`] grouped by their top-level directory (a file in the workspace
    /// root is a group of its own), sorted by name.
    pub fn unowned_groups(&self) -> Vec<PathGroup> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for path in &self.unowned_paths {
            let name = match path.split_once('/') {
                Some((top, _)) => format!("{top}/"),
                None => path.clone(),
            };
            groups.entry(name).or_default().push(path.clone());
        }
        groups
            .into_iter()
            .map(|(name, paths)| PathGroup { name, paths })
            .collect()
    }
}

/// Changed paths under one top-level directory (`scripts/`), or one file of the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGroup {
    /// The directory with a trailing `/`, or the root file's name.
    pub name: String,
    /// Workspace-relative, sorted.
    pub paths: Vec<String>,
}

impl std::fmt::Display for PathGroup {
    /// `scripts/ (12 files)`; a group of one path is that path (`tools/gen.sh`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.paths.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "{} ({} files)", self.name, many.len()),
        }
    }
}

/// Load the workspace (cargo metadata runs while git is read).
pub fn load_workspace(opts: &Options) -> Result<Workspace, AffectedError> {
    let manifest = workspace::locate_manifest(opts.dir.as_deref(), opts.manifest_path.as_deref())?;
    let target = opts
        .target
        .clone()
        .unwrap_or_else(|| workspace::host_target().to_string());
    let meta = workspace::cargo_metadata(&manifest, &target, opts.offline)?;
    reload_for_config_target(Workspace::from_metadata(meta, &target)?, &manifest, opts)
}

/// `ws` in the environment of `opts`, when it names one.
fn in_environment(ws: Workspace, opts: &Options) -> Result<Workspace, AffectedError> {
    Ok(match &opts.environment {
        Some(name) => ws.in_environment(name)?,
        None => ws,
    })
}

/// The workspace's members, services and configuration without the dependency graph
/// ([`Workspace::resolved`] is false): enough to build or deploy named services, and quicker.
pub fn load_members(opts: &Options) -> Result<Workspace, AffectedError> {
    let manifest = workspace::locate_manifest(opts.dir.as_deref(), opts.manifest_path.as_deref())?;
    let meta = workspace::cargo_metadata_members(&manifest, opts.offline)?;
    let host = workspace::host_target().to_string();
    let ws = Workspace::from_metadata(meta, opts.target.as_deref().unwrap_or(&host))?;
    let ws = match (&opts.target, ws.config.target.clone()) {
        (None, Some(t)) if t != ws.target => Workspace { target: t, ..ws },
        _ => ws,
    };
    in_environment(ws, opts)
}

/// The workspace again for the configured target when no `--target` was given and the first
/// load was for another one; then the graphs of the services with features of their own.
fn reload_for_config_target(
    ws: Workspace,
    manifest: &std::path::Path,
    opts: &Options,
) -> Result<Workspace, AffectedError> {
    let mut ws = match (&opts.target, &ws.config.target) {
        (None, Some(t)) if *t != ws.target => {
            let meta = workspace::cargo_metadata(manifest, t, opts.offline)?;
            Workspace::from_metadata(meta, t)?
        }
        _ => ws,
    };
    crate::workspace::features::resolve_graphs(&mut ws, opts.offline)?;
    in_environment(ws, opts)
}

/// Run the whole analysis: load the workspace (cargo metadata runs while git is read) and
/// compare.
pub fn analyze(opts: &Options) -> Result<(Workspace, Report), AffectedError> {
    let manifest = workspace::locate_manifest(opts.dir.as_deref(), opts.manifest_path.as_deref())?;
    let target = opts
        .target
        .clone()
        .unwrap_or_else(|| workspace::host_target().to_string());
    let meta = {
        let (manifest, target, offline) = (manifest.clone(), target.clone(), opts.offline);
        std::thread::spawn(move || workspace::cargo_metadata(&manifest, &target, offline))
    };
    let git = Git::open(manifest.parent().unwrap_or(std::path::Path::new(".")))?;
    let base = git.resolve_base(opts.base.as_deref())?;
    let head = opts
        .head
        .as_deref()
        .map(|h| git.resolve_commit(h))
        .transpose()?;
    let meta = meta
        .join()
        .map_err(|_| AffectedError::Usage("cargo metadata thread panicked".into()))??;
    let ws = reload_for_config_target(Workspace::from_metadata(meta, &target)?, &manifest, opts)?;
    let report = compare(&ws, &git, base, head)?;
    Ok((ws, report))
}

/// The analysis of a workspace already loaded, from `base` (default: as [`analyze`]) to the
/// working tree: for comparing with several bases without running cargo metadata again.
pub fn analyze_loaded(ws: &Workspace, base: Option<&str>) -> Result<Report, AffectedError> {
    let git = Git::open(&ws.root)?;
    let base = git.resolve_base(base)?;
    compare(ws, &git, base, None)
}

/// The change from `base` to `head` (`None`: the working tree), classified.
fn compare(
    ws: &Workspace,
    git: &Git,
    base: Base,
    head: Option<gix::ObjectId>,
) -> Result<Report, AffectedError> {
    let head_label = head.map_or(Head::Worktree, |h| Head::Commit(h.to_string()));
    let base_id = match base {
        Base::Commit { id, .. } => id,
        Base::Missing(hex) => {
            let why = if git.is_shallow() {
                format!(
                    "base commit {hex} is not in this repository (shallow clone: fetch more history)"
                )
            } else {
                format!("base commit {hex} is not in this repository")
            };
            return Ok(Report::fail_closed(ws, hex, head_label, why));
        }
    };
    let diff = match git.diff(base_id, head) {
        Ok(d) => d,
        Err(ChangesError::Usage(e)) => return Err(AffectedError::Usage(e)),
        Err(ChangesError::Analysis(why)) => {
            return Ok(Report::fail_closed(
                ws,
                base_id.to_string(),
                head_label,
                why,
            ));
        }
    };
    Ok(match classify::Analyzer::new(ws, git, &diff)?.run() {
        Ok(mut r) => {
            r.base = base_id.to_string();
            r.head = head_label;
            r
        }
        Err(why) => Report::fail_closed(ws, base_id.to_string(), head_label, why),
    })
}

pub use changes::DEFAULT_BASES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unowned_paths_group_by_top_level_directory() {
        let report = Report {
            base: String::new(),
            head: Head::Worktree,
            affected: Vec::new(),
            unaffected: Vec::new(),
            removed: Vec::new(),
            fail_closed: Some("unowned path: .circleci/a.yml (and 4 more)".into()),
            unowned_paths: [
                ".circleci/a.yml",
                ".circleci/b/c.yml",
                "pyproject.toml",
                "scripts/x.sh",
                "tools/gen.sh",
            ]
            .map(String::from)
            .to_vec(),
            changed_paths: Vec::new(),
        };
        let groups: Vec<String> = report
            .unowned_groups()
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(
            groups,
            [
                ".circleci/ (2 files)",
                "pyproject.toml",
                "scripts/x.sh",
                "tools/gen.sh"
            ]
        );
        assert_eq!(report.unowned_groups()[0].paths.len(), 2);
    }
}

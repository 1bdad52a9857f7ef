//! Which services a change affects, and why.
//!
//! The stage reads the workspace model (`cargo metadata`) and the git change set, classifies every
//! changed path (see [`classify`]), and walks the normal and build dependency graph backwards from
//! each changed package to the services that contain it.

mod base;
mod classify;
pub mod manifest;
pub mod refs;

use crate::changes::{self, Base, ChangesError, Git};
use crate::workspace::{self, Workspace, WorkspaceError};
use serde::Serialize;
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

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub base: String,
    pub head: String,
    pub affected: Vec<AffectedService>,
    pub unaffected: Vec<String>,
    pub removed: Vec<String>,
    pub fail_closed: Option<String>,
    /// Changed paths (repository-relative) the analysis looked at.
    #[serde(skip)]
    pub changed_paths: Vec<String>,
}

impl Report {
    pub fn service(&self, name: &str) -> Option<&AffectedService> {
        self.affected.iter().find(|a| a.service == name)
    }

    fn fail_closed(ws: &Workspace, base: String, head: String, why: String) -> Report {
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
            changed_paths: Vec::new(),
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

/// The workspace's members, services and configuration without the dependency graph
/// ([`Workspace::resolved`] is false): enough to build or deploy named services, and quicker.
pub fn load_members(opts: &Options) -> Result<Workspace, AffectedError> {
    let manifest = workspace::locate_manifest(opts.dir.as_deref(), opts.manifest_path.as_deref())?;
    let meta = workspace::cargo_metadata_members(&manifest, opts.offline)?;
    let host = workspace::host_target().to_string();
    let ws = Workspace::from_metadata(meta, opts.target.as_deref().unwrap_or(&host))?;
    match (&opts.target, ws.config.target.clone()) {
        (None, Some(t)) if t != ws.target => Ok(Workspace { target: t, ..ws }),
        _ => Ok(ws),
    }
}

fn reload_for_config_target(
    ws: Workspace,
    manifest: &std::path::Path,
    opts: &Options,
) -> Result<Workspace, AffectedError> {
    match (&opts.target, &ws.config.target) {
        (None, Some(t)) if *t != ws.target => {
            let meta = workspace::cargo_metadata(manifest, t, opts.offline)?;
            Ok(Workspace::from_metadata(meta, t)?)
        }
        _ => Ok(ws),
    }
}

/// Run the whole analysis.
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
    let head_label = head
        .map(|h| h.to_string())
        .unwrap_or_else(|| "WORKTREE".into());

    let base_id = match base {
        Base::Commit { id, .. } => id,
        Base::Missing(hex) => {
            let why = if git.is_shallow() {
                format!("base commit {hex} is not in this repository (shallow clone: fetch more history)")
            } else {
                format!("base commit {hex} is not in this repository")
            };
            let report = Report::fail_closed(&ws, hex, head_label, why);
            return Ok((ws, report));
        }
    }
    .to_string();
    let base_oid = gix::ObjectId::from_hex(base_id.as_bytes()).expect("hex from an object id");
    let diff = match git.diff(base_oid, head) {
        Ok(d) => d,
        Err(ChangesError::Usage(e)) => return Err(AffectedError::Usage(e)),
        Err(ChangesError::Analysis(why)) => {
            let report = Report::fail_closed(&ws, base_id, head_label, why);
            return Ok((ws, report));
        }
    };
    let report = match classify::Analyzer::new(&ws, &git, &diff)?.run() {
        Ok(mut r) => {
            r.base = base_id;
            r.head = head_label;
            r
        }
        Err(why) => Report::fail_closed(&ws, base_id, head_label, why),
    };
    Ok((ws, report))
}

pub use changes::DEFAULT_BASES;

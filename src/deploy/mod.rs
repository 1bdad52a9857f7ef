//! `monoship deploy` and `monoship rollback`: change a service's image on its Deployment, follow
//! that one rollout to a verdict, and roll back what fails.
//!
//! The pieces, in the order a deploy uses them: [`images`] (which digest), [`plan`] (which
//! Deployment, in which order), [`container`] (which of its containers), [`patch`] (the
//! change), [`track`] + [`verdict`] + [`budget`] (following it), [`report`] (what went wrong),
//! [`rollback`] (undoing it); [`run`] wires them for many services and emits [`Event`]s, which
//! the command line renders.

pub mod access;
pub mod apply;
pub mod applyset;
pub mod budget;
pub mod container;
pub mod diff;
pub mod error;
pub mod history;
pub mod images;
pub mod lease;
pub mod logs;
pub mod manifests;
pub mod objects;
pub mod patch;
pub mod plan;
pub mod recover;
pub mod report;
pub mod revisions;
pub mod rollback;
pub mod run;
pub mod service;
pub mod set;
pub mod status;
pub mod stop;
pub mod track;
pub mod verdict;

pub use error::DeployError;
pub use stop::Stop;

use serde::Serialize;
use std::time::Duration;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rollouts at a time.
    pub parallel: usize,
    /// A fixed time limit per rollout (else the deadline from the probes).
    pub timeout: Option<Duration>,
    pub max_restarts: i32,
    pub no_rollback: bool,
    /// After the first failure, start no more services.
    pub fail_fast: bool,
    /// Show the changes (server-side dry run), change nothing.
    pub dry_run: bool,
    /// What to do when another monoship run holds a service's lease.
    pub others: Others,
    /// The first SIGINT/SIGTERM: start nothing more, roll back what is in flight.
    pub stop: Stop,
    /// Server-side apply takes over fields another field manager owns (else a conflict is
    /// an error).
    pub force_conflicts: bool,
}

/// Another monoship run is deploying a service (it holds the service's Lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Others {
    /// Refuse before changing anything ([`DeployError::Busy`]).
    #[default]
    Refuse,
    /// Wait until the other run is done.
    Wait,
    /// Take the lease over (`--force`).
    Force,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallel: 4,
            timeout: None,
            max_restarts: 2,
            no_rollback: false,
            fail_fast: false,
            dry_run: false,
            others: Others::Refuse,
            stop: Stop::never(),
            force_conflicts: false,
        }
    }
}

/// What a service's Deployment ran before, or runs after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Version {
    /// The git revision (`monoship.dev/revision`), when known.
    pub revision: Option<String>,
    /// `sha256:…` of the image, when pinned by digest.
    pub digest: Option<String>,
    pub image: Option<String>,
}

/// How one service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The new image rolled out and is available.
    Deployed,
    /// It already ran that digest and was healthy: nothing was changed.
    Unchanged,
    /// `--dry-run`: this change would be made.
    WouldDeploy,
    /// The rollout failed and the previous revision is back and available.
    RolledBack,
    /// The rollout failed and so did (or could) the rollback.
    RollbackFailed,
    /// The rollout failed and was left as it is (`--no-rollback`).
    Failed,
    /// Not started: a dependency failed, or `--fail-fast` after a failure.
    Skipped,
    /// Could not be deployed or followed: superseded by another change, an API error.
    Error,
    /// A signal stopped the run: not started, or rolled back (within a bound) when in flight.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::Unchanged => "unchanged",
            Outcome::WouldDeploy => "would-deploy",
            Outcome::RolledBack => "rolled-back",
            Outcome::RollbackFailed => "rollback-failed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Exit code 0 for a run where every service ended like this.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Outcome::Deployed | Outcome::Unchanged | Outcome::WouldDeploy
        )
    }
}

/// The rollback after a failed rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackResult {
    /// The revision rolled back to (`deployment.kubernetes.io/revision` of its ReplicaSet).
    pub revision: Option<i64>,
    pub ok: bool,
    pub reason: Option<String>,
    pub report: Option<report::Report>,
    /// When the Deployment was already failing before the deploy: that, and where it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One service's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceResult {
    pub service: String,
    pub namespace: String,
    pub deployment: String,
    pub from: Version,
    pub to: Version,
    pub result: Outcome,
    pub duration_ms: u64,
    pub reason: Option<String>,
    /// Why the rollout failed: verdict, pods, events, logs.
    pub report: Option<report::Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackResult>,
    /// `--dry-run`: the fields the change sets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<patch::FieldChange>,
    /// The kubeconfig context of the cluster, in an environment of several (`contexts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// What a run reports while it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// The services and the order (waves) they go in.
    Planned {
        waves: Vec<Vec<String>>,
    },
    Started {
        service: String,
        deployment: String,
        from: Version,
        to: Version,
    },
    /// The change is made; the rollout of `generation` is followed.
    Patched {
        service: String,
        generation: i64,
    },
    Progress {
        service: String,
        message: String,
    },
    Disconnected {
        service: String,
        message: String,
    },
    Reconnected {
        service: String,
    },
    /// The rollout failed (a rollback may follow).
    RolloutFailed {
        service: String,
        code: String,
        message: String,
    },
    RollingBack {
        service: String,
        revision: Option<i64>,
    },
    Finished(Box<ServiceResult>),
    /// An environment of several clusters: the rollouts in the cluster of `context` start.
    Cluster {
        context: String,
        services: Vec<String>,
    },
}

impl Event {
    /// The service an event is about.
    pub fn service(&self) -> Option<&str> {
        match self {
            Event::Planned { .. } | Event::Cluster { .. } => None,
            Event::Started { service, .. }
            | Event::Patched { service, .. }
            | Event::Progress { service, .. }
            | Event::Disconnected { service, .. }
            | Event::Reconnected { service }
            | Event::RolloutFailed { service, .. }
            | Event::RollingBack { service, .. } => Some(service),
            Event::Finished(r) => Some(&r.service),
        }
    }
}

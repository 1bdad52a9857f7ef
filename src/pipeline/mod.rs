//! `monoship ship`, the whole flow in one place:
//!
//! 1. **affected** — which services changed since the base (or, with `--since-deployed`, since
//!    the revision each Deployment runs), each with its first reason ([`Selected`]);
//! 2. **build** — one [`Builder`] run for all of them: a [`builder::Output`] (build record and
//!    OCI layout), handed on in memory;
//! 3. **publish** — the [`Publisher`] turns each built image into the reference to deploy
//!    ([`Published`]): pushed to a registry, or, in a dry run, the reference a push would make;
//! 4. **deploy** — the [`Cluster`] rolls each service out ([`deploy::run`]): waves from
//!    `depends-on`, verdicts, rollbacks.
//!
//! Every stage reports through one [`Event`] type and nothing here prints; the caller owns the
//! async runtime and renders. The seams are small traits so that the orchestration (order,
//! skips, failures) is unit-tested with fakes, while the real stages are tested against real
//! cargo, registries and a real API server.

mod clusters;
pub mod drift;
pub mod objects;
pub mod promote;
#[cfg(test)]
mod promote_tests;
mod seams;
mod select;
#[cfg(test)]
mod tests;

pub use clusters::Clusters;
pub use seams::{
    BoxFuture, BuildJob, Builder, CargoBuilder, Cluster, ContainerBuilder, DeployJob, Deploying,
    DryRunPublisher, KubeCluster, LayoutPublisher, PublishJob, PublishMode, Published, Publisher,
    Publishing, RegistryPublisher,
};
pub use select::{
    NEVER_DEPLOYED, Selected, deploy_target, deployed_revisions, first_reason, group_by_revision,
    locate, naming, publish_options, select_from_report, select_since,
};

use crate::affected::{self, AffectedError, Head};
use crate::builder::{self, BuildError};
use crate::deploy::{self, DeployError, ServiceResult};
use crate::publish::{self, PublishError};
use crate::workspace::Workspace;
use serde::Serialize;
use std::collections::BTreeMap;

/// Which services a ship run takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Those affected since `base` (default: the merge-base with main, as `affected`).
    Since(Option<String>),
    /// Per service, those changed since the revision its Deployment runs; services monoship
    /// never deployed all go.
    SinceDeployed,
}

#[derive(Debug, Clone)]
pub struct ShipOptions {
    pub selection: Selection,
    /// `--namespace`: over the configuration and the kubeconfig context.
    pub namespace: Option<String>,
    pub deploy: deploy::Options,
}

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Affected,
    Build { services: usize },
    Publish(PublishMode),
    Deploy { dry_run: bool },
}

/// What a ship run reports while it goes.
#[derive(Debug, Clone)]
pub enum Event {
    Stage(Stage),
    /// The services to ship, and why.
    Selected(Vec<Selected>),
    Build(builder::Event),
    Publish(publish::Event),
    Deploy(deploy::Event),
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Affected(#[from] AffectedError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// A service that cannot be deployed as named or configured (exit code 2).
    #[error(transparent)]
    Invalid(#[from] crate::invalid::Invalid),
    /// A stage left out a service it was given.
    #[error("{0}: no image was published")]
    NotPublished(String),
}

/// One service's line of a ship run.
#[derive(Debug, Clone, Serialize)]
pub struct ShipRow {
    pub service: String,
    /// The cluster (kubeconfig context), in an environment of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub reason: String,
    /// `sha256:…` of the image built.
    pub digest: String,
    /// Bytes uploaded for its image (0 in a dry run, or when every blob was there).
    pub pushed_bytes: u64,
    /// The deploy result (`deployed`, `unchanged`, `would-deploy`, `rolled-back`, …).
    pub result: String,
    pub duration_ms: u64,
    /// The rollout's failure report, if it failed.
    pub report: Option<crate::deploy::report::Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The image reference deployed.
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The outcome of a ship run: one row per selected service, and the deploy results behind
/// them (empty when nothing was affected).
#[derive(Debug, Clone)]
pub struct ShipReport {
    /// The base revision, or `deployed` with `--since-deployed`.
    pub base: String,
    pub head: Head,
    pub rows: Vec<ShipRow>,
    pub results: Vec<ServiceResult>,
}

impl ShipReport {
    /// Every service deployed, unchanged or (dry run) would deploy.
    pub fn ok(&self) -> bool {
        self.results.iter().all(|r| r.result.is_success())
    }
}

/// The three stages after the analysis.
#[derive(Clone, Copy)]
pub struct Stages<'a> {
    pub builder: &'a dyn Builder,
    pub publisher: &'a dyn Publisher,
    pub cluster: &'a dyn Cluster,
}

/// Ship what changed in `ws`: affected → build → publish → deploy. The network stages run on
/// `rt`; the build runs beside it (it drives cargo, and pulls base images on its own).
pub fn ship(
    rt: &tokio::runtime::Runtime,
    ws: &Workspace,
    opts: &ShipOptions,
    stages: Stages<'_>,
    emit: &mut dyn FnMut(Event),
) -> Result<ShipReport, ShipError> {
    emit(Event::Stage(Stage::Affected));
    let (base, head, selected) = select(rt, ws, opts, stages.cluster)?;
    emit(Event::Selected(selected.clone()));
    if selected.is_empty() {
        return Ok(ShipReport {
            base,
            head,
            rows: Vec::new(),
            results: Vec::new(),
        });
    }
    let services: Vec<String> = selected.iter().map(|s| s.service.clone()).collect();
    stages.publisher.check()?;

    emit(Event::Stage(Stage::Build {
        services: services.len(),
    }));
    let built = stages.builder.build(BuildJob {
        ws,
        services: &services,
        emit: &mut |e| emit(Event::Build(e)),
        runtime: Some(rt.handle()),
    })?;

    emit(Event::Stage(Stage::Publish(stages.publisher.mode())));
    let published = rt.block_on(stages.publisher.publish(PublishJob {
        built: &built,
        services: &services,
        emit: &mut |e| emit(Event::Publish(e)),
    }))?;

    emit(Event::Stage(Stage::Deploy {
        dry_run: opts.deploy.dry_run,
    }));
    let mut targets = Vec::new();
    for s in &services {
        let p = published
            .get(s)
            .ok_or_else(|| ShipError::NotPublished(s.clone()))?;
        targets.push(
            deploy_target(
                ws,
                s,
                p.artifact.clone(),
                opts.namespace.as_deref(),
                stages.cluster.namespace(),
            )
            .map_err(ShipError::from)?,
        );
    }
    let known = |s: &str| ws.service(s).is_some();
    let results = rt.block_on(stages.cluster.deploy(DeployJob {
        targets,
        known: &known,
        opts: &opts.deploy,
        emit: &mut |e| emit(Event::Deploy(e)),
    }))?;
    let rows = rows(&selected, &built, &published, &results);
    Ok(ShipReport {
        base,
        head,
        rows,
        results,
    })
}

/// The services to ship, with the base and head they were compared at.
fn select(
    rt: &tokio::runtime::Runtime,
    ws: &Workspace,
    opts: &ShipOptions,
    cluster: &dyn Cluster,
) -> Result<(String, Head, Vec<Selected>), ShipError> {
    match &opts.selection {
        Selection::Since(base) => {
            let report = affected::analyze_loaded(ws, base.as_deref())?;
            let selected = select_from_report(&report, None);
            Ok((report.base, report.head, selected))
        }
        Selection::SinceDeployed => {
            let deployed =
                rt.block_on(cluster.deployed_revisions(ws, opts.namespace.as_deref()))?;
            let groups = group_by_revision(&deployed);
            let selected = select_since(&groups, |rev| {
                affected::analyze_loaded(ws, Some(rev)).map_err(|e| e.to_string())
            })
            .map_err(|e| ShipError::Invalid(e.into()))?;
            Ok(("deployed".to_string(), Head::Worktree, selected))
        }
    }
}

fn rows(
    selected: &[Selected],
    built: &builder::Output,
    published: &BTreeMap<String, Published>,
    results: &[ServiceResult],
) -> Vec<ShipRow> {
    selected
        .iter()
        .flat_map(|s| {
            let mine: Vec<&ServiceResult> =
                results.iter().filter(|r| r.service == s.service).collect();
            // One row per cluster it went to (one when there is one cluster, or no result).
            let each: Vec<Option<&ServiceResult>> = if mine.is_empty() {
                vec![None]
            } else {
                mine.into_iter().map(Some).collect()
            };
            each.into_iter().map(move |r| (s, r))
        })
        .map(|(s, r)| {
            let p = published.get(&s.service);
            ShipRow {
                cluster: r.and_then(|r| r.cluster.clone()),
                service: s.service.clone(),
                reason: s.reason.clone(),
                digest: built
                    .record
                    .services
                    .iter()
                    .find(|b| b.service == s.service)
                    .map(|b| b.image_digest.clone())
                    .unwrap_or_default(),
                pushed_bytes: p.map_or(0, |p| p.uploaded_bytes),
                result: r.map_or("error", |r| r.result.as_str()).to_string(),
                duration_ms: r.map_or(0, |r| r.duration_ms),
                report: r.and_then(|r| r.report.clone()),
                base: s.base.clone(),
                reference: p.map(|p| p.artifact.reference.clone()).unwrap_or_default(),
                failure: r.and_then(|r| r.reason.clone()),
            }
        })
        .collect()
}

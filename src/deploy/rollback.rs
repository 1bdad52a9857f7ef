//! Rolling back: `rollout undo` semantics (the previous revision's pod template, without
//! `pod-template-hash`, goes back into the Deployment), followed like any rollout. Used after a
//! failed deploy and by `monoship rollback`.

use super::container::version_of;
use super::patch::{self, undo_patch};
use super::report::{self, Report};
use super::revisions;
use super::track::{self, Note, OnStop, TrackSpec, Tracked};
use super::{DeployError, Event, Options, Outcome, ServiceResult};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::Client;
use std::time::Instant;

/// Forward tracking notes as events of `service`.
pub fn notes<'a>(
    service: &'a str,
    emit: &'a mut (dyn FnMut(Event) + Send),
) -> impl FnMut(Note) + Send + 'a {
    move |n| {
        let service = service.to_string();
        emit(match n {
            Note::Progress(message) => Event::Progress { service, message },
            Note::Disconnected(message) => Event::Disconnected { service, message },
            Note::Reconnected => Event::Reconnected { service },
        })
    }
}

/// How an undo went.
pub struct Undone {
    pub revision: Option<i64>,
    pub tracked: Tracked,
    pub report: Option<Report>,
}

/// Put `target`'s template back into `current` (patched with `current`'s resourceVersion, so
/// a change by someone else in between is a conflict) and follow that rollout.
pub async fn undo(
    client: &Client,
    current: &Deployment,
    target: &ReplicaSet,
    service: &str,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
) -> Result<Undone, DeployError> {
    let namespace = current.metadata.namespace.clone().unwrap_or_default();
    let name = current.metadata.name.clone().unwrap_or_default();
    let revision = revisions::revision_of(target);
    emit(Event::RollingBack {
        service: service.to_string(),
        revision,
    });
    let patched_at = k8s_openapi::jiff::Timestamp::now();
    let patched = patch::send(
        client,
        &namespace,
        &name,
        &undo_patch(current, target),
        false,
    )
    .await?;
    let spec = TrackSpec {
        namespace: namespace.clone(),
        deployment: name,
        selector: patched.spec.clone().unwrap_or_default().selector,
        generation: patched.metadata.generation.unwrap_or(0),
        template: patched.spec.clone().unwrap_or_default().template,
        max_restarts: opts.max_restarts,
        timeout: opts.timeout,
        stop: opts.stop.clone(),
        on_stop: OnStop::Bound,
    };
    emit(Event::Patched {
        service: service.to_string(),
        generation: spec.generation,
    });
    let (tracked, snap) = track::track(client, &spec, &mut notes(service, emit)).await;
    let report = match &tracked {
        Tracked::Failed(f) => {
            Some(report::gather(client, &namespace, &spec.template, f, &snap, patched_at).await)
        }
        _ => None,
    };
    Ok(Undone {
        revision,
        tracked,
        report,
    })
}

/// `monoship rollback`: undo the Deployment to revision `to` (else the previous one) and
/// follow it. A paused Deployment is refused (usage error).
#[allow(clippy::too_many_arguments)]
pub async fn rollback(
    client: &Client,
    namespace: &str,
    deployment: &str,
    container: Option<&str>,
    service: &str,
    to: Option<i64>,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
) -> Result<ServiceResult, DeployError> {
    let started = Instant::now();
    let (d, target) = find_target(client, namespace, deployment, to).await?;
    let from = version_of(
        d.spec.as_ref().map(|s| &s.template),
        &d.metadata,
        container,
        service,
    );
    let target_template = target.spec.as_ref().and_then(|s| s.template.as_ref());
    let to_version = version_of(target_template, &target.metadata, container, service);
    let mut result = ServiceResult {
        service: service.to_string(),
        namespace: namespace.to_string(),
        deployment: deployment.to_string(),
        from: from.clone(),
        to: to_version.clone(),
        result: Outcome::Unchanged,
        duration_ms: 0,
        reason: None,
        report: None,
        rollback: None,
        changes: Vec::new(),
        cluster: None,
    };
    if let Some(already) = already_there(&d, &target) {
        result.reason = Some(already);
        result.duration_ms = millis(started);
        return Ok(result);
    }
    emit(Event::Started {
        service: service.to_string(),
        deployment: deployment.to_string(),
        from,
        to: to_version,
    });
    if opts.dry_run {
        let change = undo_patch(&d, &target);
        let after = patch::send(client, namespace, deployment, &change, true).await?;
        result.changes = patch::changes(&d, &after);
        result.result = Outcome::WouldDeploy;
        result.reason =
            revisions::revision_of(&target).map(|r| format!("would roll back to revision {r}"));
    } else {
        follow(client, &d, &target, opts, emit, &mut result).await?;
    }
    result.duration_ms = millis(started);
    Ok(result)
}

/// The Deployment, unless it is paused, and the ReplicaSet of revision `to` (else the
/// previous one).
async fn find_target(
    client: &Client,
    namespace: &str,
    deployment: &str,
    to: Option<i64>,
) -> Result<(Deployment, ReplicaSet), DeployError> {
    let d = revisions::find_deployment(client, namespace, deployment).await?;
    if d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
        return Err(DeployError::Invalid(crate::invalid::Invalid::from(
            format!(
                "deployment {namespace}/{deployment} is paused: resume it first \
             (kubectl rollout resume deployment/{deployment})"
            ),
        )));
    }
    let rss = revisions::replica_sets_of(client, namespace, &d).await?;
    let target = revisions::rollback_target(&rss, to)
        .map_err(|e| {
            DeployError::Invalid(crate::invalid::Invalid::from(format!(
                "deployment {namespace}/{deployment}: {e}"
            )))
        })?
        .clone();
    Ok((d, target))
}

/// Why there is nothing to do: the Deployment already has `target`'s template.
fn already_there(d: &Deployment, target: &ReplicaSet) -> Option<String> {
    let current = d.spec.as_ref().map(|s| &s.template)?;
    let wanted = target.spec.as_ref().and_then(|s| s.template.as_ref())?;
    revisions::equal_ignore_hash(current, wanted).then(|| {
        format!(
            "already at the template of revision {}",
            revisions::revision_of(target).map_or("?".to_string(), |r| r.to_string())
        )
    })
}

/// Undo `d` to `target` holding the service's lease, follow it, and put the outcome in
/// `result`.
async fn follow(
    client: &Client,
    d: &Deployment,
    target: &ReplicaSet,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
    result: &mut ServiceResult,
) -> Result<(), DeployError> {
    let (namespace, deployment) = (result.namespace.as_str(), result.deployment.as_str());
    super::access::check(client, namespace, super::access::ROLLOUT).await?;
    let holder = super::lease::holder_identity();
    let held = super::lease::acquire(
        client,
        namespace,
        deployment,
        &result.service,
        &holder,
        opts.others,
        &opts.stop,
    )
    .await?;
    let keeper = super::lease::Keeper::start(client, vec![held]);
    let undone = undo(client, d, target, &result.service, opts, emit).await;
    keeper.release().await;
    let undone = undone?;
    let revision = revisions::revision_of(target);
    let (outcome, reason) = outcome_of(&undone.tracked, revision, opts.stop.reason());
    result.result = outcome;
    result.reason = reason;
    result.report = undone.report;
    Ok(())
}

/// The result of a rollback that was followed to `tracked`, `stopped` by a signal or not.
fn outcome_of(
    tracked: &Tracked,
    revision: Option<i64>,
    stopped: Option<&'static str>,
) -> (Outcome, Option<String>) {
    let (outcome, reason) = match tracked {
        Tracked::Complete(_) => (
            Outcome::RolledBack,
            revision.map(|r| format!("rolled back to revision {r}")),
        ),
        Tracked::Failed(f) => (
            Outcome::RollbackFailed,
            Some(format!("{}: {}", f.code, f.message)),
        ),
        Tracked::Superseded(m) | Tracked::Denied(m) => (Outcome::Error, Some(m.clone())),
        Tracked::Interrupted(why) => (Outcome::Interrupted, Some(format!("interrupted by {why}"))),
    };
    // A signal during the rollback: it was followed a little longer, and says how it ended.
    match (stopped, outcome) {
        (Some(why), Outcome::RolledBack) => (
            Outcome::Interrupted,
            Some(format!(
                "interrupted by {why}: {}",
                reason.unwrap_or_else(|| "rolled back".into())
            )),
        ),
        (Some(why), Outcome::RollbackFailed) => (
            Outcome::Interrupted,
            Some(format!(
                "interrupted by {why}: rollback not finished: {}",
                reason.unwrap_or_default()
            )),
        ),
        other => (other.1, reason),
    }
}

/// Milliseconds since `started`, saturating.
fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

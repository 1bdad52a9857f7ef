//! Deploying one service: read its Deployment, skip it when it already runs the digest and is
//! healthy, patch the image (conditional on the resourceVersion read), follow that rollout, and
//! on failure gather a report and roll back.

use super::container::{self, version_of};
use super::patch::{self, ImageChange};
use super::plan::ServicePlan;
use super::recover;
use super::report;
use super::revisions::{self, MONOSHIP_HEALTHY, equal_ignore_hash};
use super::rollback::notes;
use super::track::{self, OnStop, Snapshot, TrackSpec, Tracked};
use super::verdict::{Failure, code};
use super::{DeployError, Event, Options, Others, Outcome, RollbackResult, ServiceResult, Version};
use super::{diff, manifests};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Client;
use std::time::Instant;

/// Attempts at a patch that conflicts with a concurrent update of the Deployment.
const PATCH_ATTEMPTS: usize = 3;

/// A service checked against the cluster before anything changes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: ServicePlan,
    pub container: String,
    pub from: Version,
    pub to: Version,
    pub unchanged: bool,
    /// The fields the change sets (from the server's dry run), unless unchanged.
    pub changes: Vec<patch::FieldChange>,
}

/// Rolled out and healthy by kubectl's rule, for its current generation.
pub fn healthy(d: &Deployment) -> bool {
    let Some(spec) = d.spec.as_ref() else {
        return false;
    };
    let status = d.status.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let timed_out =
        status.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some(code::PROGRESS_DEADLINE)
        });
    spec.paused != Some(true)
        && !timed_out
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
        && updated >= desired
        && status.replicas.unwrap_or(0) <= updated
        && status.available_replicas.unwrap_or(0) >= updated
}

/// A change of the Deployment the controller has not acted on yet (generation ≠ observed):
/// someone else's rollout is starting.
pub fn in_progress(d: &Deployment) -> Option<String> {
    let generation = d.metadata.generation?;
    let observed = d.status.as_ref().and_then(|s| s.observed_generation);
    match observed {
        Some(o) if o >= generation => None,
        _ => Some(format!(
            "has a change in progress that this run did not make (generation {generation}, \
             observed {})",
            observed.map_or("none".to_string(), |o| o.to_string())
        )),
    }
}

/// It already runs `digest` in `container` and is healthy.
pub fn is_unchanged(d: &Deployment, container: &str, digest: &str) -> bool {
    patch::container_image(d, container).and_then(container::digest_of) == Some(digest)
        && healthy(d)
}

/// What `container` of the Deployment runs (nothing for a missing Deployment).
fn version_in(d: Option<&Deployment>, container: &str, service: &str) -> Version {
    d.map_or_else(Version::default, |d| {
        let template = d.spec.as_ref().map(|s| &s.template);
        version_of(template, &d.metadata, Some(container), service)
    })
}

fn change<'a>(t: &'a ServicePlan, container: &'a str) -> ImageChange<'a> {
    ImageChange {
        service: &t.service,
        container,
        image: &t.artifact.reference,
        revision: t.artifact.revision.as_deref(),
        promoted_from: t.artifact.promoted_from.as_ref().map(|p| p.annotation()),
    }
}

/// The Deployment, or `None` when it is missing and `--manifests` will create it.
async fn existing(client: &Client, t: &ServicePlan) -> Result<Option<Deployment>, DeployError> {
    match revisions::find_deployment(client, &t.namespace, &t.deployment).await {
        Ok(d) => Ok(Some(d)),
        Err(DeployError::DeploymentNotFound { .. }) if t.manifest.is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Check a service against the cluster, changing nothing: its Deployment exists (unless
/// `--manifests` creates it) and is not paused, the container is known, and (unless it is
/// unchanged) the API server accepts the change in a dry run — which also checks RBAC.
pub async fn prepare(
    client: &Client,
    target: ServicePlan,
    opts: &Options,
) -> Result<Prepared, DeployError> {
    let found = existing(client, &target).await?;
    if found.is_none() && !opts.dry_run {
        super::access::check(client, &target.namespace, &[super::access::CREATE]).await?;
    }
    if let Some(d) = &found {
        refuse(&target, d, opts.others)?;
    }
    if target.manifest.is_some() {
        return prepare_manifest(client, target, found, opts).await;
    }
    let Some(d) = found else {
        return Err(DeployError::DeploymentNotFound {
            namespace: target.namespace.clone(),
            name: target.deployment.clone(),
        });
    };
    prepare_patch(client, target, d).await
}

/// A Deployment not to touch: someone else's change in progress (unless `others` says to wait
/// or take over), or paused.
fn refuse(target: &ServicePlan, d: &Deployment, others: Others) -> Result<(), DeployError> {
    let ns = &target.namespace;
    if let Some(why) = in_progress(d)
        && others == Others::Refuse
    {
        return Err(DeployError::Busy(format!(
            "{}: deployment {ns}/{} {why}; nothing was changed: wait for it, or pass \
                 --force",
            target.service, target.deployment
        )));
    }
    if d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
        return Err(DeployError::Api(format!(
            "{}: deployment {ns}/{} is paused: resume it first (kubectl rollout resume \
             deployment/{})",
            target.service, target.deployment, target.deployment
        )));
    }
    Ok(())
}

impl Prepared {
    /// A service prepared to go `from` its running version to its target's artifact.
    fn new(
        target: ServicePlan,
        container: String,
        from: Version,
        unchanged: bool,
        changes: Vec<patch::FieldChange>,
    ) -> Self {
        let to = Version {
            revision: target.artifact.revision.clone(),
            digest: Some(target.artifact.digest.clone()),
            image: Some(target.artifact.reference.clone()),
        };
        Prepared {
            target,
            container,
            from,
            to,
            unchanged,
            changes,
        }
    }
}

/// A whole Deployment to apply (and its set's other objects): the server's dry runs say what
/// changes. When the Deployment already runs the digest, it keeps its revision stamp, so a new
/// commit that changes nothing the service runs leaves it as it is.
async fn prepare_manifest(
    client: &Client,
    mut target: ServicePlan,
    found: Option<Deployment>,
    opts: &Options,
) -> Result<Prepared, DeployError> {
    if let (Some(d), Some(object)) = (&found, target.manifest.as_mut()) {
        manifests::keep_stamp(d, object, &target.artifact.digest);
    }
    let object = target.manifest.clone().unwrap_or_default();
    let after = manifests::apply(client, &target.namespace, &object, None, true).await?;
    let set_changes = match &target.set {
        Some(set) => set.dry_run(client, opts.force_conflicts).await?,
        None => Vec::new(),
    };
    let mut p = manifest_prepared(target, found, &after);
    if !set_changes.is_empty() {
        p.unchanged = false;
        p.changes.extend(set_changes);
    }
    Ok(p)
}

/// `--manifests`: what changes from `found` (the Deployment, when it exists) to `after`, the
/// server-side apply's dry run.
fn manifest_prepared(
    target: ServicePlan,
    found: Option<Deployment>,
    after: &Deployment,
) -> Prepared {
    let container = target.container.clone().unwrap_or_default();
    let from = version_in(found.as_ref(), &container, &target.service);
    let unchanged = found
        .as_ref()
        .is_some_and(|d| d.metadata.generation == after.metadata.generation && healthy(d));
    let changes = if unchanged {
        Vec::new()
    } else {
        diff::changes(found.as_ref(), after)
    };
    Prepared::new(target, container, from, unchanged, changes)
}

/// The image patch of the service's container: its dry run says what changes.
async fn prepare_patch(
    client: &Client,
    target: ServicePlan,
    d: Deployment,
) -> Result<Prepared, DeployError> {
    let template = d
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let container = container::choose(
        &template.spec.unwrap_or_default(),
        template.metadata.as_ref(),
        target.container.as_deref(),
        &target.service,
    )
    .map_err(|e| {
        let owner = format!("deployment {}", target.deployment);
        DeployError::Invalid(crate::invalid::Invalid::from(format!(
            "{}: {}",
            target.service,
            e.message(&owner)
        )))
    })?
    .name
    .clone();
    let from = version_in(Some(&d), &container, &target.service);
    let unchanged = is_unchanged(&d, &container, &target.artifact.digest);
    let mut changes = Vec::new();
    if !unchanged {
        let p = patch::image_patch(&change(&target, &container), None);
        let after = patch::send(client, &target.namespace, &target.deployment, &p, true).await?;
        changes = patch::changes(&d, &after);
    }
    Ok(Prepared::new(target, container, from, unchanged, changes))
}

/// The result of a prepared service in a dry run.
pub fn dry_run_result(p: &Prepared) -> ServiceResult {
    let mut r = result_of(
        p,
        if p.unchanged {
            Outcome::Unchanged
        } else {
            Outcome::WouldDeploy
        },
    );
    r.changes = p.changes.clone();
    r
}

/// A result without timing, reason or report yet.
pub fn result_of(p: &Prepared, outcome: Outcome) -> ServiceResult {
    ServiceResult {
        service: p.target.service.clone(),
        namespace: p.target.namespace.clone(),
        deployment: p.target.deployment.clone(),
        from: p.from.clone(),
        to: p.to.clone(),
        result: outcome,
        duration_ms: 0,
        reason: None,
        report: None,
        rollback: None,
        changes: Vec::new(),
        cluster: None,
    }
}

/// Deploy one prepared service; every problem ends up in the result.
pub async fn deploy(
    client: &Client,
    p: &Prepared,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
) -> ServiceResult {
    let started = Instant::now();
    let mut result = result_of(p, Outcome::Error);
    let (outcome, reason) = match deploy_inner(client, p, opts, emit, &mut result).await {
        Ok(done) => done,
        Err(e) => (Outcome::Error, Some(e.to_string())),
    };
    result.result = outcome;
    result.reason = reason;
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result
}

/// The change as it was made.
struct Changed {
    before: Option<Deployment>,
    patched: Deployment,
    /// The Deployment was healthy before the change; the ReplicaSet then recorded as healthy.
    before_healthy: bool,
    recorded: Option<String>,
}

/// Make the change (again after a conflict, up to [`PATCH_ATTEMPTS`]); `None` when the
/// Deployment already runs the image and is healthy.
async fn change_it(
    client: &Client,
    p: &Prepared,
    emit: &mut (dyn FnMut(Event) + Send),
    result: &mut ServiceResult,
) -> Result<Option<Changed>, DeployError> {
    let t = &p.target;
    let ns = t.namespace.as_str();
    let mut attempt: usize = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let d = existing(client, t).await?;
        if let (Some(d), None) = (&d, &t.manifest)
            && is_unchanged(d, &p.container, &t.artifact.digest)
        {
            return Ok(None);
        }
        if attempt == 1 {
            result.from = version_in(d.as_ref(), &p.container, &t.service);
            emit(Event::Started {
                service: t.service.clone(),
                deployment: t.deployment.clone(),
                from: result.from.clone(),
                to: p.to.clone(),
            });
        }
        let before_healthy = d.as_ref().is_some_and(healthy);
        let recorded = match &d {
            Some(d) if before_healthy => revisions::replica_sets_of(client, ns, d)
                .await?
                .iter()
                .find(|rs| {
                    rs.spec
                        .as_ref()
                        .and_then(|s| s.template.as_ref())
                        .is_some_and(|tt| {
                            d.spec
                                .as_ref()
                                .is_some_and(|s| equal_ignore_hash(tt, &s.template))
                        })
                })
                .and_then(|rs| rs.metadata.name.clone()),
            Some(d) => revisions::annotation(&d.metadata, MONOSHIP_HEALTHY).map(str::to_string),
            None => None,
        };
        let rv = d.as_ref().and_then(|d| d.metadata.resource_version.clone());
        let sent = match &t.manifest {
            Some(object) => manifests::apply(client, ns, object, rv.as_deref(), false).await,
            None => {
                let mut patch = patch::image_patch(&change(t, &p.container), rv.as_deref());
                if let Some(name) = recorded.as_deref().filter(|_| before_healthy) {
                    patch["metadata"]["annotations"][MONOSHIP_HEALTHY] = name.into();
                }
                patch::send(client, ns, &t.deployment, &patch, false).await
            }
        };
        match sent {
            Ok(patched) => {
                return Ok(Some(Changed {
                    before: d,
                    patched,
                    before_healthy,
                    recorded,
                }));
            }
            Err(DeployError::Conflict(_)) if attempt < PATCH_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn deploy_inner(
    client: &Client,
    p: &Prepared,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
    result: &mut ServiceResult,
) -> Result<(Outcome, Option<String>), DeployError> {
    let t = &p.target;
    if t.manifest.is_some() && p.unchanged {
        return Ok((Outcome::Unchanged, None));
    }
    if let Some(why) = opts.stop.reason() {
        return Ok((
            Outcome::Interrupted,
            Some(format!("not started: interrupted by {why}")),
        ));
    }
    let patched_at = k8s_openapi::jiff::Timestamp::now();
    if let (Some(set), Some(object)) = (&t.set, &t.manifest) {
        set.apply(client, object, opts.force_conflicts).await?;
    }
    let Some(changed) = change_it(client, p, emit, result).await? else {
        return Ok((Outcome::Unchanged, None));
    };
    let spec = track_spec(t, &changed.patched, opts);
    emit(Event::Patched {
        service: t.service.clone(),
        generation: spec.generation,
    });
    let (tracked, snap) = track::track(client, &spec, &mut notes(&t.service, emit)).await;
    let ours = InFlight {
        target: t,
        template: spec.template,
        before: changed.before(),
        patched_at,
    };
    let failure = match tracked {
        Tracked::Complete(_) => return Ok((Outcome::Deployed, pruned(client, t, &changed).await)),
        Tracked::Superseded(m) => return Ok((Outcome::Error, Some(m))),
        Tracked::Denied(m) if opts.no_rollback => {
            return Ok((
                Outcome::Error,
                Some(format!(
                    "{m}: the rollout cannot be followed (not rolled back: --no-rollback)"
                )),
            ));
        }
        Tracked::Denied(m) => {
            let rb = ours.roll_back(client, opts, emit).await;
            let text = recover::denied_reason(&m, &rb);
            return Ok((rolled_back(result, rb), Some(text)));
        }
        Tracked::Interrupted(why) => {
            let rb = ours.roll_back(client, opts, emit).await;
            let text = recover::interrupted_reason(why, &rb);
            result.rollback = Some(rb);
            return Ok((Outcome::Interrupted, Some(text)));
        }
        Tracked::Failed(f) => f,
    };
    Ok(ours
        .failed(client, failure, &snap, opts, emit, result)
        .await)
}

/// After a successful rollout, prune what left the service's set; a failure to prune is said
/// in the result's reason (the rollout itself succeeded).
async fn pruned(client: &Client, t: &ServicePlan, changed: &Changed) -> Option<String> {
    let (Some(set), Some(object)) = (&t.set, &t.manifest) else {
        return None;
    };
    match set.prune(client, object, &changed.patched).await {
        Ok(_) => None,
        Err(e) => Some(format!(
            "deployed; pruning the objects that left the set failed: {e}"
        )),
    }
}

/// Following the rollout of our change to `patched`.
fn track_spec(t: &ServicePlan, patched: &Deployment, opts: &Options) -> TrackSpec {
    let spec = patched.spec.clone().unwrap_or_default();
    TrackSpec {
        namespace: t.namespace.clone(),
        deployment: t.deployment.clone(),
        selector: spec.selector,
        generation: patched.metadata.generation.unwrap_or(0),
        template: spec.template,
        max_restarts: opts.max_restarts,
        timeout: opts.timeout,
        stop: opts.stop.clone(),
        on_stop: OnStop::End,
    }
}

impl Changed {
    /// What a rollback of the change goes back to.
    fn before(&self) -> recover::Before {
        recover::Before {
            template: self
                .before
                .as_ref()
                .and_then(|b| b.spec.as_ref())
                .map(|s| s.template.clone()),
            healthy: self.before_healthy,
            recorded: self.recorded.clone(),
            failing: self
                .before
                .as_ref()
                .filter(|_| !self.before_healthy)
                .map(recover::failing_note),
        }
    }
}

/// Our change, being followed: what undoing it needs.
struct InFlight<'a> {
    target: &'a ServicePlan,
    /// The pod template our change produced.
    template: PodTemplateSpec,
    before: recover::Before,
    patched_at: k8s_openapi::jiff::Timestamp,
}

impl InFlight<'_> {
    async fn roll_back(
        &self,
        client: &Client,
        opts: &Options,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> RollbackResult {
        recover::roll_back(
            client,
            self.target,
            &self.template,
            &self.before,
            opts,
            emit,
        )
        .await
        .unwrap_or_else(|e| recover::failed(e.to_string()))
    }

    /// The rollout failed: say so, gather the report, roll back (unless `--no-rollback`).
    async fn failed(
        &self,
        client: &Client,
        failure: Failure,
        snap: &Snapshot,
        opts: &Options,
        emit: &mut (dyn FnMut(Event) + Send),
        result: &mut ServiceResult,
    ) -> (Outcome, Option<String>) {
        let t = self.target;
        emit(Event::RolloutFailed {
            service: t.service.clone(),
            code: failure.code.clone(),
            message: failure.message.clone(),
        });
        let reason = format!("{}: {}", failure.code, failure.message);
        let report = report::gather(
            client,
            &t.namespace,
            &self.template,
            &failure,
            snap,
            self.patched_at,
        );
        result.report = Some(report.await);
        if opts.no_rollback {
            return (
                Outcome::Failed,
                Some(format!("{reason} (not rolled back: --no-rollback)")),
            );
        }
        let rb = self.roll_back(client, opts, emit).await;
        let reason = recover::failed_reason(reason, &rb);
        (rolled_back(result, rb), Some(reason))
    }
}

/// Record the rollback in `result`: rolled back, or the rollback failed.
fn rolled_back(result: &mut ServiceResult, rb: RollbackResult) -> Outcome {
    let outcome = if rb.ok {
        Outcome::RolledBack
    } else {
        Outcome::RollbackFailed
    };
    result.rollback = Some(rb);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, observed: Option<i64>) -> Deployment {
        let mut d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "users", "generation": generation},
            "spec": {"selector": {}, "template": {}},
            "status": {}
        }))
        .unwrap();
        if let Some(s) = d.status.as_mut() {
            s.observed_generation = observed;
        }
        d
    }

    #[test]
    fn a_change_not_yet_observed_is_in_progress() {
        assert_eq!(in_progress(&deployment(3, Some(3))), None);
        let why = in_progress(&deployment(4, Some(3))).unwrap();
        assert!(
            why.contains("did not make") && why.contains("generation 4, observed 3"),
            "{why}"
        );
        assert!(in_progress(&deployment(1, None)).is_some());
    }
}

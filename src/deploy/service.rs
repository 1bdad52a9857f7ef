//! Deploying one service: read its Deployment, skip it when it already runs the digest and is
//! healthy, patch the image (conditional on the resourceVersion read), follow that rollout, and
//! on failure gather a report and roll back.

use super::patch::{self, ImageChange};
use super::plan::Target;
use super::report;
use super::revisions::{self, equal_ignore_hash};
use super::rollback::{self, notes, version_of};
use super::track::{self, TrackSpec, Tracked};
use super::verdict::code;
use super::{diff, manifests};
use super::{DeployError, Event, Options, Outcome, RollbackResult, ServiceResult, Version};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Client;
use std::time::Instant;

/// Attempts at a patch that conflicts with a concurrent update of the Deployment.
const PATCH_ATTEMPTS: usize = 3;

/// A service checked against the cluster before anything changes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: Target,
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

/// It already runs `digest` in `container` and is healthy.
pub fn is_unchanged(d: &Deployment, container: &str, digest: &str) -> bool {
    patch::container_image(d, container).and_then(patch::digest_of) == Some(digest) && healthy(d)
}

fn change<'a>(t: &'a Target, container: &'a str) -> ImageChange<'a> {
    ImageChange {
        service: &t.service,
        container,
        image: &t.artifact.reference,
        revision: t.artifact.revision.as_deref(),
    }
}

/// The Deployment, or `None` when it is missing and `--manifests` will create it.
async fn existing(client: &Client, t: &Target) -> Result<Option<Deployment>, DeployError> {
    match revisions::find_deployment(client, &t.namespace, &t.deployment).await {
        Ok(d) => Ok(Some(d)),
        Err(DeployError::DeploymentNotFound { .. }) if t.manifest.is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Check a service against the cluster, changing nothing: its Deployment exists (unless
/// `--manifests` creates it) and is not paused, the container is known, and (unless it is
/// unchanged) the API server accepts the change in a dry run — which also checks RBAC.
pub async fn prepare(client: &Client, target: Target) -> Result<Prepared, DeployError> {
    let ns = target.namespace.as_str();
    let found = existing(client, &target).await?;
    if found
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.paused)
        == Some(true)
    {
        return Err(DeployError::Api(format!(
            "{}: deployment {ns}/{} is paused: resume it first (kubectl rollout resume \
             deployment/{})",
            target.service, target.deployment, target.deployment
        )));
    }
    let to = Version {
        revision: target.artifact.revision.clone(),
        digest: Some(target.artifact.digest.clone()),
        image: Some(target.artifact.reference.clone()),
    };
    let template = found
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .map(|s| &s.template);
    if let Some(object) = &target.manifest {
        let container = target.container.clone().unwrap_or_default();
        let from = version_of(template, Some(&container));
        let after = manifests::apply(client, ns, object, None, true).await?;
        let unchanged = found
            .as_ref()
            .is_some_and(|d| d.metadata.generation == after.metadata.generation && healthy(d));
        let changes = if unchanged {
            Vec::new()
        } else {
            diff::changes(found.as_ref(), &after)
        };
        return Ok(Prepared {
            target,
            container,
            from,
            to,
            unchanged,
            changes,
        });
    }
    let d = found.expect("found without --manifests");
    let spec = d.spec.clone().unwrap_or_default();
    let container = patch::choose_container(
        &spec.template.spec.clone().unwrap_or_default(),
        target.container.as_deref(),
        &target.service,
        &target.deployment,
    )
    .map_err(|e| DeployError::Usage(format!("{}: {e}", target.service)))?;
    let from = version_of(Some(&spec.template), Some(&container));
    let unchanged = is_unchanged(&d, &container, &target.artifact.digest);
    let mut changes = Vec::new();
    if !unchanged {
        let p = patch::image_patch(&change(&target, &container), None);
        let after = patch::send(client, ns, &target.deployment, &p, true).await?;
        changes = patch::changes(&d, &after);
    }
    Ok(Prepared {
        target,
        container,
        from,
        to,
        unchanged,
        changes,
    })
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
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

async fn deploy_inner(
    client: &Client,
    p: &Prepared,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
    result: &mut ServiceResult,
) -> Result<(Outcome, Option<String>), DeployError> {
    let t = &p.target;
    let ns = t.namespace.as_str();
    let service = t.service.as_str();
    let mut attempt = 0;
    let patched_at = k8s_openapi::jiff::Timestamp::now();
    if t.manifest.is_some() && p.unchanged {
        return Ok((Outcome::Unchanged, None));
    }
    let (before, patched) = loop {
        attempt += 1;
        let d = existing(client, t).await?;
        if let (Some(d), None) = (&d, &t.manifest) {
            if is_unchanged(d, &p.container, &t.artifact.digest) {
                return Ok((Outcome::Unchanged, None));
            }
        }
        if attempt == 1 {
            let template = d
                .as_ref()
                .and_then(|d| d.spec.as_ref())
                .map(|s| &s.template);
            result.from = version_of(template, Some(&p.container));
            emit(Event::Started {
                service: service.to_string(),
                deployment: t.deployment.clone(),
                from: result.from.clone(),
                to: p.to.clone(),
            });
        }
        let rv = d.as_ref().and_then(|d| d.metadata.resource_version.clone());
        let sent = match &t.manifest {
            Some(object) => manifests::apply(client, ns, object, rv.as_deref(), false).await,
            None => {
                let patch = patch::image_patch(&change(t, &p.container), rv.as_deref());
                patch::send(client, ns, &t.deployment, &patch, false).await
            }
        };
        match sent {
            Ok(patched) => break (d, patched),
            Err(DeployError::Conflict(_)) if attempt < PATCH_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    };
    let old_template = before.and_then(|b| b.spec).map(|s| s.template);
    let spec = patched.spec.clone().unwrap_or_default();
    let track_spec = TrackSpec {
        namespace: ns.to_string(),
        deployment: t.deployment.clone(),
        selector: spec.selector.clone(),
        generation: patched.metadata.generation.unwrap_or(0),
        template: spec.template.clone(),
        max_restarts: opts.max_restarts,
        timeout: opts.timeout,
    };
    emit(Event::Patched {
        service: service.to_string(),
        generation: track_spec.generation,
    });
    let (tracked, snap) = track::track(client, &track_spec, &mut notes(service, emit)).await;
    let failure = match tracked {
        Tracked::Complete(_) => return Ok((Outcome::Deployed, None)),
        Tracked::Superseded(m) => return Ok((Outcome::Error, Some(m))),
        Tracked::Failed(f) => f,
    };
    emit(Event::RolloutFailed {
        service: service.to_string(),
        code: failure.code.clone(),
        message: failure.message.clone(),
    });
    let reason = format!("{}: {}", failure.code, failure.message);
    result.report = Some(
        report::gather(
            client,
            ns,
            &track_spec.template,
            &failure,
            &snap,
            patched_at,
        )
        .await,
    );
    if opts.no_rollback {
        return Ok((
            Outcome::Failed,
            Some(format!("{reason} (not rolled back: --no-rollback)")),
        ));
    }
    let rb = roll_back(
        client,
        t,
        &track_spec.template,
        old_template.as_ref(),
        opts,
        emit,
    )
    .await;
    let outcome = match &rb {
        Ok(r) if r.ok => Outcome::RolledBack,
        Ok(_) => Outcome::RollbackFailed,
        Err(_) => Outcome::RollbackFailed,
    };
    let rb = rb.unwrap_or_else(|e| RollbackResult {
        revision: None,
        ok: false,
        reason: Some(e.to_string()),
        report: None,
    });
    let reason = match (&rb.ok, &rb.reason) {
        (false, Some(why)) => format!("{reason}; rollback failed: {why}"),
        _ => reason,
    };
    result.rollback = Some(rb);
    Ok((outcome, Some(reason)))
}

/// Undo our change: back to the ReplicaSet of the template the Deployment had before it
/// (else the previous revision; there is none for a Deployment `--manifests` created), unless
/// someone else has changed the Deployment since.
async fn roll_back(
    client: &Client,
    t: &Target,
    ours: &PodTemplateSpec,
    old: Option<&PodTemplateSpec>,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
) -> Result<RollbackResult, DeployError> {
    let failed = |reason: String| RollbackResult {
        revision: None,
        ok: false,
        reason: Some(reason),
        report: None,
    };
    let mut attempt = 0;
    let undone = loop {
        attempt += 1;
        let current = revisions::find_deployment(client, &t.namespace, &t.deployment).await?;
        let now = current.spec.as_ref().map(|s| &s.template);
        if !now.is_some_and(|n| equal_ignore_hash(n, ours)) {
            return Ok(failed(
                "the deployment was changed by someone else meanwhile; not rolled back".into(),
            ));
        }
        let rss = revisions::replica_sets_of(client, &t.namespace, &current).await?;
        let target = match old.and_then(|o| revisions::replica_set_for_template(o, &rss)) {
            Some(rs) => rs.clone(),
            None => match revisions::rollback_target(&rss, None) {
                Ok(rs) => rs.clone(),
                Err(e) => return Ok(failed(e)),
            },
        };
        if target
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|tt| equal_ignore_hash(tt, ours))
        {
            return Ok(failed(
                "the previous revision has the same pod template as the failed one".into(),
            ));
        }
        match rollback::undo(client, &current, &target, &t.service, opts, emit).await {
            Ok(u) => break u,
            Err(DeployError::Conflict(_)) if attempt < PATCH_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    };
    Ok(match undone.tracked {
        Tracked::Complete(_) => RollbackResult {
            revision: undone.revision,
            ok: true,
            reason: None,
            report: None,
        },
        Tracked::Failed(f) => RollbackResult {
            revision: undone.revision,
            ok: false,
            reason: Some(format!("{}: {}", f.code, f.message)),
            report: undone.report,
        },
        Tracked::Superseded(m) => RollbackResult {
            revision: undone.revision,
            ok: false,
            reason: Some(m),
            report: None,
        },
    })
}

//! Undoing a deploy's change after its rollout failed or a signal interrupted it: back to the
//! last revision that ran complete and available ([`revisions::back_to`]), not blindly to the
//! template from before the change, which may have been failing too; and say so when it was.

use super::plan::ServicePlan;
use super::revisions::{self, equal_ignore_hash};
use super::rollback;
use super::track::Tracked;
use super::verdict::code;
use super::{DeployError, Event, Options, RollbackResult};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Client;

/// Attempts at an undo that conflicts with a concurrent update of the Deployment: the
/// controller updates it right after our change, and an interrupted run must not give up.
const UNDO_ATTEMPTS: usize = 10;

/// What the Deployment was before the change.
#[derive(Debug, Clone, Default)]
pub struct Before {
    pub template: Option<PodTemplateSpec>,
    /// Complete and available.
    pub healthy: bool,
    /// The ReplicaSet recorded as the last healthy one (`monoship.dev/healthy-replica-set`).
    pub recorded: Option<String>,
    /// When it was failing: how ([`failing_note`]).
    pub failing: Option<String>,
}

/// `the deployment was already failing before this deploy (revision 2: 0 of 2 updated pods
/// available; ProgressDeadlineExceeded: …)`.
pub fn failing_note(d: &Deployment) -> String {
    let status = d.status.clone().unwrap_or_default();
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let mut facts = vec![format!(
        "{} of {desired} desired pods available, {} updated",
        status.available_replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0)
    )];
    if let Some(c) =
        status.conditions.iter().flatten().find(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some(code::PROGRESS_DEADLINE)
        })
    {
        facts.push(format!(
            "{}: {}",
            code::PROGRESS_DEADLINE,
            c.message.as_deref().unwrap_or("")
        ));
    }
    let revision = revisions::deployment_revision(d)
        .map(|r| format!("revision {r}: "))
        .unwrap_or_default();
    format!(
        "the deployment was already failing before this deploy ({revision}{})",
        facts.join("; ")
    )
}

/// A rollback that could not be attempted or followed, and why.
pub fn failed(reason: String) -> RollbackResult {
    RollbackResult {
        revision: None,
        ok: false,
        reason: Some(reason),
        report: None,
        note: None,
    }
}

/// Undo our change (template `ours`), unless someone else has changed the Deployment since.
pub async fn roll_back(
    client: &Client,
    t: &ServicePlan,
    ours: &PodTemplateSpec,
    before: &Before,
    opts: &Options,
    emit: &mut (dyn FnMut(Event) + Send),
) -> Result<RollbackResult, DeployError> {
    let mut attempt: usize = 0;
    let (undone, healthy) = loop {
        attempt = attempt.saturating_add(1);
        let current = revisions::find_deployment(client, &t.namespace, &t.deployment).await?;
        let now = current.spec.as_ref().map(|s| &s.template);
        if !now.is_some_and(|n| equal_ignore_hash(n, ours)) {
            return Ok(failed(
                "the deployment was changed by someone else meanwhile; not rolled back".into(),
            ));
        }
        let rss = revisions::replica_sets_of(client, &t.namespace, &current).await?;
        let back = revisions::back_to(
            &rss,
            ours,
            before.template.as_ref(),
            before.healthy,
            before.recorded.as_deref(),
        );
        let (target, healthy) = match back {
            Some(b) => (b.replica_set.clone(), b.healthy),
            None => match revisions::rollback_target(&rss, None) {
                Ok(rs) => (rs.clone(), before.failing.is_none()),
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
            Ok(u) => break (u, healthy),
            Err(DeployError::Conflict(_)) if attempt < UNDO_ATTEMPTS => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e),
        }
    };
    let note = before.failing.as_ref().map(|f| {
        let rev = undone
            .revision
            .map_or("the previous revision".to_string(), |r| {
                format!("revision {r}")
            });
        if healthy {
            format!("{f}; rolled back to {rev}, the last one that was available")
        } else {
            format!("{f}, and no earlier revision is available: back to that failing template")
        }
    });
    let (ok, reason) = match undone.tracked {
        Tracked::Complete(_) => (true, None),
        Tracked::Failed(f) => (false, Some(format!("{}: {}", f.code, f.message))),
        Tracked::Superseded(m) | Tracked::Denied(m) => (false, Some(m)),
        Tracked::Interrupted(why) => (false, Some(format!("interrupted by {why}"))),
    };
    Ok(RollbackResult {
        revision: undone.revision,
        ok,
        reason,
        report: undone.report,
        note,
    })
}

/// A failed rollout's reason with its rollback's.
pub fn failed_reason(reason: String, rb: &RollbackResult) -> String {
    let text = match (&rb.ok, &rb.reason) {
        (false, Some(why)) => format!("{reason}; rollback failed: {why}"),
        _ => reason,
    };
    with_note(text, rb)
}

/// `text`, then the rollback's note (e.g. that the deployment was already failing), if any.
fn with_note(mut text: String, rb: &RollbackResult) -> String {
    if let Some(n) = &rb.note {
        text.push_str("; ");
        text.push_str(n);
    }
    text
}

/// An interrupted rollout's reason: the signal, and how its rollback went.
pub fn interrupted_reason(why: &str, rb: &RollbackResult) -> String {
    let text = match (rb.ok, rb.revision, &rb.reason) {
        (true, Some(r), _) => format!("interrupted by {why}: rolled back to revision {r}"),
        (true, None, _) => format!("interrupted by {why}: rolled back"),
        (false, _, Some(e)) => format!("interrupted by {why}: rollback failed: {e}"),
        (false, _, None) => format!("interrupted by {why}: rollback failed"),
    };
    with_note(text, rb)
}

/// A rollout that could no longer be followed (401/403), with its rollback's outcome: a
/// rollback applied but not followable either says so, rather than that it failed.
pub fn denied_reason(denied: &str, rb: &RollbackResult) -> String {
    let head = format!("{denied}: the rollout cannot be followed");
    let text = match (rb.ok, rb.revision, &rb.reason) {
        (true, Some(r), _) => format!("{head}; rolled back to revision {r}"),
        (true, None, _) => format!("{head}; rolled back"),
        (false, Some(r), Some(e)) => {
            format!("{head}; rolled back to revision {r}, which cannot be followed either: {e}")
        }
        (false, _, Some(e)) => format!("{head}; rollback failed: {e}"),
        (false, _, None) => format!("{head}; rollback failed"),
    };
    with_note(text, rb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failing_deployment_is_described() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "users", "annotations": {revisions::REVISION: "2"}},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"updatedReplicas": 1, "availableReplicas": 2, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet \"users-2\" has timed out progressing."}]}
        }))
        .unwrap();
        let n = failing_note(&d);
        assert!(
            n.starts_with("the deployment was already failing before this deploy (revision 2: "),
            "{n}"
        );
        assert!(
            n.contains("2 of 2 desired pods available, 1 updated"),
            "{n}"
        );
        assert!(n.contains("ProgressDeadlineExceeded: ReplicaSet"), "{n}");
    }

    #[test]
    fn reasons_name_the_signal_and_the_rollback() {
        let mut rb = RollbackResult {
            revision: Some(3),
            ok: true,
            reason: None,
            report: None,
            note: None,
        };
        assert_eq!(
            interrupted_reason("SIGINT", &rb),
            "interrupted by SIGINT: rolled back to revision 3"
        );
        rb.note = Some("the deployment was already failing before this deploy (…)".into());
        assert!(
            failed_reason("CrashLoopBackOff: x".into(), &rb)
                .ends_with("; the deployment was already failing before this deploy (…)")
        );
        rb.ok = false;
        rb.reason = Some("Timeout: slow".into());
        assert!(
            interrupted_reason("SIGTERM", &rb)
                .starts_with("interrupted by SIGTERM: rollback failed: Timeout: slow")
        );
    }
}

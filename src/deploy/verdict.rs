//! The verdict on one rollout, from what the cluster shows: pure functions over a Deployment,
//! its ReplicaSets, their Pods (and those pods' Events).
//!
//! The verdict is pinned to one change: the generation our patch returned and the pod template
//! it set. Status is ignored until the controller has observed that generation, only the
//! ReplicaSet of that template is the new one, and only its pods are judged. A later
//! generation with another template means someone else changed the Deployment: superseded.

use super::budget::ContainerBudget;
use super::revisions::{self, controlled_by, equal_ignore_hash};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Event, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

/// Reason codes of a failed rollout.
pub mod code {
    pub const CRASH_LOOP: &str = "CrashLoopBackOff";
    pub const OOM_KILLED: &str = "OOMKilled";
    pub const PROBE_FAILED: &str = "ProbeFailed";
    pub const TOO_MANY_RESTARTS: &str = "TooManyRestarts";
    pub const READINESS_TIMEOUT: &str = "ReadinessTimeout";
    pub const PROGRESS_DEADLINE: &str = "ProgressDeadlineExceeded";
    pub const TIMEOUT: &str = "Timeout";
    /// Waiting reasons of a container that are failures as they are.
    pub const IMAGE: &[&str] = &[
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
    ];
    pub const CONFIG: &[&str] = &[
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    ];
}

/// What the cluster shows of one Deployment.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub deployment: &'a Deployment,
    /// The ReplicaSets matching its selector (others' are ignored by owner).
    pub replica_sets: &'a [ReplicaSet],
    /// The pods matching its selector.
    pub pods: &'a [Pod],
    /// Events of those pods (may be empty; only used to tell probe kills from crashes).
    pub events: &'a [Event],
}

/// The change being tracked.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// `metadata.generation` our patch returned.
    pub generation: i64,
    /// The pod template our patch produced.
    pub template: &'a PodTemplateSpec,
    /// Restarts of a new container tolerated before OOM kills, probe kills or exits fail it.
    pub max_restarts: i32,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The new ReplicaSet, once it exists.
    pub replica_set: Option<String>,
    pub revision: Option<i64>,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// Available replicas of the new ReplicaSet.
    pub new_available: i32,
    /// Replicas of older ReplicaSets still there.
    pub old: i32,
}

impl Progress {
    pub fn message(&self) -> String {
        let mut s = format!(
            "{} of {} new replicas updated, {} available",
            self.updated, self.desired, self.available
        );
        if self.old > 0 {
            s.push_str(&format!(", {} old pending termination", self.old));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// One of [`code`]'s codes, or a container's waiting reason.
    pub code: String,
    pub message: String,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// The container has terminated at least once: its previous instance has the logs.
    pub crashed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The controller has not observed our generation yet.
    Waiting(String),
    Progressing(Progress),
    Complete(Progress),
    Failed(Failure),
    /// The Deployment now has another template than ours.
    Superseded(String),
}

/// Judge the rollout of `expect` from `obs`.
pub fn assess(obs: Observed<'_>, expect: Expect<'_>) -> Verdict {
    let d = obs.deployment;
    let generation = d.metadata.generation.unwrap_or(0);
    let template = d.spec.as_ref().map(|s| &s.template);
    if generation > expect.generation
        && !template.is_some_and(|t| equal_ignore_hash(t, expect.template))
    {
        return Verdict::Superseded(superseded_message(expect.template, template));
    }
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if observed < expect.generation {
        return Verdict::Waiting(format!(
            "waiting for the deployment controller to observe generation {} (at {observed})",
            expect.generation
        ));
    }
    let uid = d.metadata.uid.as_deref().unwrap_or_default();
    let owned: Vec<ReplicaSet> = obs
        .replica_sets
        .iter()
        .filter(|rs| controlled_by(&rs.metadata, uid))
        .cloned()
        .collect();
    let new_rs = revisions::replica_set_for_template(expect.template, &owned);
    let progress = progress_of(d, new_rs);
    let failing = new_rs.and_then(|rs| failing_pod(&obs, rs, &expect));
    if let Some(f) = failing.or_else(|| deadline_exceeded(&status)) {
        return Verdict::Failed(f);
    }
    // kubectl rollout status: all updated, no old replicas left, all updated available.
    let updated = progress.updated;
    if new_rs.is_some()
        && updated >= progress.desired
        && status.replicas.unwrap_or(0) <= updated
        && progress.available >= updated
    {
        return Verdict::Complete(progress);
    }
    Verdict::Progressing(progress)
}

/// Where the rollout of the Deployment to `new_rs` (our template's ReplicaSet) stands.
fn progress_of(d: &Deployment, new_rs: Option<&ReplicaSet>) -> Progress {
    let status = d.status.clone().unwrap_or_default();
    let updated = status.updated_replicas.unwrap_or(0);
    Progress {
        replica_set: new_rs.and_then(|r| r.metadata.name.clone()),
        revision: new_rs.and_then(revisions::revision_of),
        desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        updated,
        ready: status.ready_replicas.unwrap_or(0).min(updated),
        available: status.available_replicas.unwrap_or(0),
        new_available: new_rs
            .and_then(|r| r.status.as_ref())
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
        old: status.replicas.unwrap_or(0).saturating_sub(updated).max(0),
    }
}

/// The first failing pod of `rs` (by name), not being deleted.
fn failing_pod(obs: &Observed<'_>, rs: &ReplicaSet, expect: &Expect<'_>) -> Option<Failure> {
    let rs_uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let mut pods: Vec<&Pod> = obs
        .pods
        .iter()
        .filter(|p| controlled_by(&p.metadata, rs_uid))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.into_iter()
        .find_map(|pod| judge_pod(pod, obs.events, expect))
}

/// The Deployment's `ProgressDeadlineExceeded`, as a failure.
fn deadline_exceeded(status: &DeploymentStatus) -> Option<Failure> {
    let c = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some(code::PROGRESS_DEADLINE)
    })?;
    Some(Failure {
        code: code::PROGRESS_DEADLINE.into(),
        message: c
            .message
            .clone()
            .unwrap_or_else(|| "the deployment exceeded its progress deadline".to_string()),
        pod: None,
        container: None,
        crashed: false,
    })
}

fn superseded_message(ours: &PodTemplateSpec, now: Option<&PodTemplateSpec>) -> String {
    let images = |t: Option<&PodTemplateSpec>| -> Vec<(String, String)> {
        t.and_then(|t| t.spec.as_ref())
            .map(|s| {
                s.containers
                    .iter()
                    .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = images(Some(ours));
    let changed: Vec<String> = images(now)
        .into_iter()
        .filter(|c| !before.contains(c))
        .map(|(name, image)| format!("container {name} is now {image}"))
        .collect();
    if changed.is_empty() {
        "superseded by another change to the deployment's pod template".to_string()
    } else {
        format!("superseded by another change: {}", changed.join(", "))
    }
}

/// The first failure among a pod's containers (init containers first).
fn judge_pod(pod: &Pod, events: &[Event], expect: &Expect<'_>) -> Option<Failure> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref()?;
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    let spec = pod.spec.as_ref();
    for cs in statuses {
        let container = spec.and_then(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(&s.containers)
                .find(|c| c.name == cs.name)
        });
        if let Some(f) = judge_container(&name, cs, container, events, expect.max_restarts) {
            return Some(f);
        }
    }
    // Readiness past the probe budget.
    let spec = spec?;
    for cs in status.container_statuses.iter().flatten() {
        let running = cs.state.as_ref().and_then(|s| s.running.as_ref());
        let (Some(running), false) = (running, cs.ready) else {
            continue;
        };
        let Some(container) = spec.containers.iter().find(|c| c.name == cs.name) else {
            continue;
        };
        let Some(budget) = ContainerBudget::of(container).ready_within() else {
            continue;
        };
        let Some(started) = running.started_at.as_ref() else {
            continue;
        };
        let since = expect.now.duration_since(started.0);
        if since.as_secs_f64() > budget.as_secs_f64() {
            return Some(Failure {
                code: code::READINESS_TIMEOUT.into(),
                message: format!(
                    "container {} of pod {name} is not Ready {:.0} s after it started \
                     (probe budget {} s)",
                    cs.name,
                    since.as_secs_f64(),
                    budget.as_secs()
                ),
                pod: Some(name),
                container: Some(cs.name.clone()),
                crashed: cs.restart_count > 0,
            });
        }
    }
    None
}

fn judge_container(
    pod: &str,
    cs: &ContainerStatus,
    container: Option<&Container>,
    events: &[Event],
    max_restarts: i32,
) -> Option<Failure> {
    let failure = |code: &str, message: String| Failure {
        code: code.to_string(),
        message,
        pod: Some(pod.to_string()),
        container: Some(cs.name.clone()),
        crashed: cs.restart_count > 0 || last_terminated(cs).is_some(),
    };
    let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
    if let Some(w) = waiting {
        let reason = w.reason.as_deref().unwrap_or_default();
        let detail = w.message.as_deref().unwrap_or_default();
        // A container killed for memory or by its probes backs off too; those restarts are
        // counted against `max_restarts` below, and then named for their cause.
        if reason == code::CRASH_LOOP && !killed(pod, cs, container, events) {
            return Some(failure(
                reason,
                format!(
                    "container {} of pod {pod} is crash-looping: restarted {} time(s){}",
                    cs.name,
                    cs.restart_count,
                    last_exit_text(cs)
                ),
            ));
        }
        if code::IMAGE.contains(&reason) {
            return Some(failure(
                reason,
                format!(
                    "container {} of pod {pod} cannot pull image {}: {}",
                    cs.name,
                    cs.image,
                    if detail.is_empty() { reason } else { detail }
                ),
            ));
        }
        if code::CONFIG.contains(&reason) {
            return Some(failure(
                reason,
                format!("container {} of pod {pod}: {reason}: {detail}", cs.name),
            ));
        }
    }
    if cs.restart_count > max_restarts {
        let last = last_terminated(cs);
        let code = if last.and_then(|t| t.reason.as_deref()) == Some(code::OOM_KILLED) {
            code::OOM_KILLED
        } else if probe_kill(pod, &cs.name, events).is_some() {
            code::PROBE_FAILED
        } else {
            code::TOO_MANY_RESTARTS
        };
        let why = match probe_kill(pod, &cs.name, events) {
            Some(m) if code == code::PROBE_FAILED => format!(": {m}"),
            _ => last_exit_text(cs),
        };
        return Some(failure(
            code,
            format!(
                "container {} of pod {pod} restarted {} times (more than {max_restarts}){why}",
                cs.name, cs.restart_count
            ),
        ));
    }
    None
}

/// Whether the last instance of the container was killed rather than exiting on its own: by
/// the kernel for memory (`OOMKilled`), or, for a container with a liveness or startup probe,
/// by the kubelet after the probe failed. The kubelet stops it with SIGTERM, then SIGKILL after
/// the grace period (exit code 143 or 137), and says why in an event, when events are at hand.
fn killed(
    pod: &str,
    cs: &ContainerStatus,
    container: Option<&Container>,
    events: &[Event],
) -> bool {
    let Some(last) = last_terminated(cs) else {
        return false;
    };
    if last.reason.as_deref() == Some(code::OOM_KILLED) {
        return true;
    }
    let probed = container.is_some_and(|c| c.liveness_probe.is_some() || c.startup_probe.is_some());
    probed && (matches!(last.exit_code, 137 | 143) || probe_kill(pod, &cs.name, events).is_some())
}

fn last_terminated(
    cs: &ContainerStatus,
) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    cs.last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| cs.state.as_ref().and_then(|s| s.terminated.as_ref()))
}

fn last_exit_text(cs: &ContainerStatus) -> String {
    match last_terminated(cs) {
        Some(t) => format!(
            ", last exit code {}{}",
            t.exit_code,
            t.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => String::new(),
    }
}

/// The most restarted container of the new ReplicaSet's pods (the one with `template`), for a
/// rollout that ran out of time: "pod P: container C restarted N times, last exit code X
/// (Reason)". `None` when nothing restarted.
pub fn restarts_note(
    template: &PodTemplateSpec,
    rss: &[ReplicaSet],
    pods: &[Pod],
) -> Option<String> {
    let rs = revisions::replica_set_for_template(template, rss)?;
    let uid = rs.metadata.uid.as_deref()?;
    let (pod, cs) = pods
        .iter()
        .filter(|p| controlled_by(&p.metadata, uid))
        .flat_map(|p| {
            let status = p.status.iter();
            status
                .flat_map(|s| s.container_statuses.iter().flatten())
                .map(move |cs| (p, cs))
        })
        .filter(|(_, cs)| cs.restart_count > 0)
        .max_by_key(|(_, cs)| cs.restart_count)?;
    Some(format!(
        "pod {}: container {} restarted {} time{}{}",
        pod.metadata.name.as_deref().unwrap_or("?"),
        cs.name,
        cs.restart_count,
        if cs.restart_count == 1 { "" } else { "s" },
        last_exit_text(cs)
    ))
}

/// The message of the latest event saying a liveness or startup probe of `container` in `pod`
/// failed, when one did.
pub fn probe_kill(pod: &str, container: &str, events: &[Event]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .filter(|e| {
            let path = e.involved_object.field_path.as_deref().unwrap_or_default();
            path.is_empty() || path.contains(&format!("{{{container}}}"))
        })
        .filter(|e| {
            let m = event_message(e);
            match e.reason.as_deref() {
                Some("Unhealthy") => {
                    m.starts_with("Liveness probe failed") || m.starts_with("Startup probe failed")
                }
                Some("Killing") => {
                    m.contains("failed liveness probe") || m.contains("failed startup probe")
                }
                _ => false,
            }
        })
        .max_by_key(|e| {
            let last = e.last_timestamp.as_ref().map(|t| t.0);
            last.or_else(|| e.event_time.as_ref().map(|t| t.0))
        })
        .map(|e| event_message(e).to_string())
}

/// An event's message without the prefix a recorder adds when it folds similar events with
/// different messages into one.
fn event_message(e: &Event) -> &str {
    let m = e.message.as_deref().unwrap_or_default();
    m.strip_prefix("(combined from similar events): ")
        .unwrap_or(m)
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;

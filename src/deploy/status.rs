//! `monoship status`: for each service, its Deployment's replica counts, what it runs (image
//! digest, monoship revision) and where its rollout stands.
//!
//! The rules are pure functions of the Deployment, its ReplicaSets and their pods
//! ([`report`], [`rollout_state`], [`pod_problem`]); reading ([`snapshot`]) and watching
//! ([`watch`]) the cluster come last.
//!
//! A rollout is **complete** when the controller has seen the latest spec
//! (`observedGeneration >= generation`) and every replica is updated and available
//! (`updated == desired`, `replicas == updated`, `available >= updated`) — the rule of
//! `kubectl rollout status`, pinned to the generation. It has **failed** when the Deployment reports
//! `ProgressDeadlineExceeded`, or when a pod of the new ReplicaSet is crash-looping or cannot
//! pull its image. Anything else is **progressing**; a Deployment that does not exist is
//! **missing**.

use super::container::version_of;
use super::error::DeployError;
use super::revisions::{controlled_by, new_replica_set, owned_replica_sets};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Waiting reasons of a container that will not start without a change to the pod: its image
/// cannot be pulled or its configuration is wrong.
pub const PULL_FAILURES: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Where a service's rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Complete,
    Progressing,
    Failed,
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Progressing => "progressing",
            State::Failed => "failed",
            State::Missing => "missing",
        }
    }
}

/// One service's row. Counts, digest, revision and age are `None` for a missing Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub namespace: String,
    pub deployment: String,
    pub desired: Option<i32>,
    pub updated: Option<i32>,
    pub ready: Option<i32>,
    pub available: Option<i32>,
    /// The image of the service container, as the Deployment names it.
    pub image: Option<String>,
    /// The image digest (`sha256:…`) of the service container, when pinned by digest.
    pub digest: Option<String>,
    /// The git revision monoship deployed (`monoship.dev/revision`, while it describes the
    /// running digest; see [`version_of`]).
    pub revision: Option<String>,
    pub state: State,
    /// Why the rollout is progressing or failed.
    pub reason: Option<String>,
    /// Seconds since the Deployment was created.
    pub age_seconds: Option<i64>,
}

/// The status of every requested service in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub namespace: String,
    pub services: Vec<ServiceStatus>,
}

impl StatusReport {
    /// Equal apart from the ages (which change every second).
    pub fn same_state(&self, other: &StatusReport) -> bool {
        let strip = |r: &StatusReport| {
            let mut r = r.clone();
            r.services.iter_mut().for_each(|s| s.age_seconds = None);
            r
        };
        strip(self) == strip(other)
    }
}

/// A service and the Deployment (and container) it runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub service: String,
    pub namespace: String,
    pub deployment: String,
    /// The configured container of the service (else chosen as [`super::container`] says).
    pub container: Option<String>,
}

/// The objects of a namespace the report is computed from.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Snapshot {
    pub deployments: Vec<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
}

/// Snapshots by namespace.
pub type Snapshots = BTreeMap<String, Snapshot>;

/// The report for `targets`, in their order; `namespace` is the one the command was pointed at
/// (a service configured with its own namespace is looked up there).
pub fn report(
    namespace: &str,
    targets: &[ServiceRef],
    snaps: &Snapshots,
    now: Timestamp,
) -> StatusReport {
    let empty = Snapshot::default();
    StatusReport {
        namespace: namespace.to_string(),
        services: targets
            .iter()
            .map(|t| service_status(t, snaps.get(&t.namespace).unwrap_or(&empty), now))
            .collect(),
    }
}

/// One service's row.
pub fn service_status(target: &ServiceRef, snap: &Snapshot, now: Timestamp) -> ServiceStatus {
    let Some(d) = snap
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(&target.deployment))
    else {
        return ServiceStatus {
            service: target.service.clone(),
            namespace: target.namespace.clone(),
            deployment: target.deployment.clone(),
            desired: None,
            updated: None,
            ready: None,
            available: None,
            image: None,
            digest: None,
            revision: None,
            state: State::Missing,
            reason: None,
            age_seconds: None,
        };
    };
    let new_pods = new_pods(d, snap);
    let (state, reason) = rollout_state(d, &new_pods);
    let status = d.status.clone().unwrap_or_default();
    let version = version_of(
        d.spec.as_ref().map(|s| &s.template),
        &d.metadata,
        target.container.as_deref(),
        &target.service,
    );
    ServiceStatus {
        service: target.service.clone(),
        namespace: target.namespace.clone(),
        deployment: target.deployment.clone(),
        desired: Some(desired(d)),
        updated: Some(status.updated_replicas.unwrap_or(0)),
        ready: Some(status.ready_replicas.unwrap_or(0)),
        available: Some(status.available_replicas.unwrap_or(0)),
        image: version.image,
        digest: version.digest,
        revision: version.revision,
        state,
        reason,
        age_seconds: d
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| now.as_second().saturating_sub(t.0.as_second())),
    }
}

/// The pods of the Deployment's new ReplicaSet (none if it has no new ReplicaSet yet).
pub fn new_pods<'a>(d: &Deployment, snap: &'a Snapshot) -> Vec<&'a Pod> {
    let owned = owned_replica_sets(d, snap.replica_sets.clone());
    let Some(uid) = new_replica_set(d, &owned).and_then(|rs| rs.metadata.uid.clone()) else {
        return Vec::new();
    };
    snap.pods
        .iter()
        .filter(|p| controlled_by(&p.metadata, &uid) && p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// `spec.replicas`, 1 when unset.
pub fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The state of the Deployment's rollout and why (for anything but complete), given the pods
/// of its new ReplicaSet.
pub fn rollout_state(d: &Deployment, new_pods: &[&Pod]) -> (State, Option<String>) {
    let status = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let observed = status.observed_generation.unwrap_or(0);
    if observed < generation {
        return (
            State::Progressing,
            Some(format!(
                "waiting for the controller to observe generation {generation} (observed {observed})"
            )),
        );
    }
    let deadline = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(c) = deadline {
        let secs = d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600);
        let mut reason = format!("progress deadline ({secs}s) exceeded");
        if let Some(p) = new_pods.iter().find_map(|p| pod_problem(p)) {
            reason.push_str(&format!(": {p}"));
        } else if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
            reason.push_str(&format!(": {m}"));
        }
        return (State::Failed, Some(reason));
    }
    let failing: Vec<(&Pod, String)> = new_pods
        .iter()
        .filter_map(|p| pod_problem(p).map(|why| (*p, why)))
        .collect();
    if let Some((pod, why)) = failing.first() {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        let reason = if failing.len() > 1 {
            format!(
                "{} of {} new pods failing; {name}: {why}",
                failing.len(),
                new_pods.len()
            )
        } else {
            format!("{name}: {why}")
        };
        return (State::Failed, Some(reason));
    }
    let want = desired(d);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let why = if updated < want {
        format!("{updated} of {want} new replicas updated")
    } else if replicas > updated {
        let old = replicas.saturating_sub(updated);
        format!(
            "{old} old replica{} pending termination",
            if old == 1 { "" } else { "s" }
        )
    } else if available < updated {
        format!("{available} of {updated} updated replicas available")
    } else {
        return (State::Complete, None);
    };
    let why = if paused {
        format!("paused; {why}")
    } else {
        why
    };
    (State::Progressing, Some(why))
}

/// Why a pod will not become ready by waiting: a container crash-looping (waiting in
/// `CrashLoopBackOff`, or restarted after a failure and still not ready) or unable to pull its
/// image. `None` for a healthy or merely slow pod.
pub fn pod_problem(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let all = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    all.filter(|c| !c.ready).find_map(container_problem)
}

fn container_problem(c: &ContainerStatus) -> Option<String> {
    let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
    let waiting_reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or("");
    let last_exit = c
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| c.state.as_ref().and_then(|s| s.terminated.as_ref()));
    if PULL_FAILURES.contains(&waiting_reason) {
        let message = waiting
            .and_then(|w| w.message.as_deref())
            .map(|m| format!(": {}", one_line(m)))
            .unwrap_or_default();
        return Some(format!(
            "container {} cannot start ({waiting_reason}){message}",
            c.name
        ));
    }
    let crashed = last_exit.is_some_and(|t| t.exit_code != 0);
    if waiting_reason == "CrashLoopBackOff" || (c.restart_count > 0 && crashed) {
        let exit = last_exit
            .map(|t| {
                let why = t.reason.as_deref().unwrap_or("exited");
                format!("{why}, exit code {}", t.exit_code)
            })
            .unwrap_or_else(|| "exited".to_string());
        return Some(format!(
            "container {} crash-looping ({exit}, {} restart{})",
            c.name,
            c.restart_count,
            if c.restart_count == 1 { "" } else { "s" }
        ));
    }
    None
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `sha256:` and the first 12 hex digits.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(12).collect(),
    }
}

/// The first 12 characters of a git revision.
pub fn short_revision(revision: &str) -> String {
    revision.chars().take(12).collect()
}

/// An age as kubectl shows it: `45s`, `12m`, `5h`, `3d`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

// ---------------------------------------------------------------- the cluster

/// A snapshot of each namespace `targets` live in, read once per namespace.
pub async fn snapshots(
    client: &kube::Client,
    targets: &[ServiceRef],
) -> Result<Snapshots, DeployError> {
    let mut snaps = Snapshots::new();
    for t in targets {
        if !snaps.contains_key(&t.namespace) {
            let snap = snapshot(client, &t.namespace).await?;
            snaps.insert(t.namespace.clone(), snap);
        }
    }
    Ok(snaps)
}

/// Deployments, ReplicaSets and pods of `namespace`: three list calls for all services.
pub async fn snapshot(client: &kube::Client, namespace: &str) -> Result<Snapshot, DeployError> {
    use kube::api::{Api, ListParams};
    let lp = ListParams::default();
    let what = |kind: &str| format!("listing {kind} in namespace {namespace}");
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| DeployError::from_kube(e, &what("deployments")))?;
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| DeployError::from_kube(e, &what("replicasets")))?;
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| DeployError::from_kube(e, &what("pods")))?;
    Ok(Snapshot {
        deployments: deployments.items,
        replica_sets: replica_sets.items,
        pods: pods.items,
    })
}

/// Whether the namespace exists (`None` when that cannot be known, e.g. without the right to
/// read namespaces).
pub async fn namespace_exists(client: &kube::Client, namespace: &str) -> Option<bool> {
    use k8s_openapi::api::core::v1::Namespace;
    match kube::api::Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await
    {
        Ok(found) => Some(found.is_some()),
        Err(_) => None,
    }
}

#[path = "status_watch.rs"]
mod watch;
pub use watch::{WatchEvent, watch};

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;

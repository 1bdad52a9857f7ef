//! The failure report of a rollout: the verdict, the new pods' container states, their recent
//! Events and the last lines of the failing container's logs (its previous instance after a
//! crash). Logs that cannot be read are noted in the report, never an error.

use super::revisions::{controlled_by, replica_set_for_template};
use super::track::Snapshot;
use super::verdict::Failure;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Event, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, LogParams};
use serde::Serialize;
use std::time::Duration;

/// Lines of logs in a report.
pub const LOG_LINES: i64 = 20;
/// Events in a report (the most recent).
pub const EVENTS: usize = 15;
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub code: String,
    pub message: String,
    /// The new ReplicaSet and its revision.
    pub replica_set: Option<String>,
    pub revision: Option<i64>,
    pub pods: Vec<PodState>,
    pub events: Vec<EventLine>,
    pub logs: Logs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodState {
    pub pod: String,
    pub phase: Option<String>,
    pub node: Option<String>,
    pub ready: bool,
    pub containers: Vec<ContainerLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerLine {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restarts: i32,
    /// `running since …`, `waiting: CrashLoopBackOff (…)`, `terminated: exit 1 (Error)`.
    pub state: String,
    pub last_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventLine {
    pub time: Option<String>,
    pub object: String,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub count: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Logs {
    pub pod: Option<String>,
    pub container: Option<String>,
    /// Of the previous (crashed) instance.
    pub previous: bool,
    pub lines: Vec<String>,
    /// Why there are no lines, when there are none.
    pub unavailable: Option<String>,
}

/// A state in a few words.
pub fn state_text(s: Option<&ContainerState>) -> Option<String> {
    let s = s?;
    if let Some(w) = &s.waiting {
        let reason = w.reason.as_deref().unwrap_or("waiting");
        return Some(match w.message.as_deref() {
            Some(m) if !m.is_empty() => format!("waiting: {reason} ({m})"),
            _ => format!("waiting: {reason}"),
        });
    }
    if let Some(t) = &s.terminated {
        return Some(format!(
            "terminated: exit {}{}",
            t.exit_code,
            t.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    if let Some(r) = &s.running {
        return Some(match &r.started_at {
            Some(t) => format!("running since {}", t.0),
            None => "running".to_string(),
        });
    }
    None
}

fn container_line(cs: &ContainerStatus) -> ContainerLine {
    ContainerLine {
        name: cs.name.clone(),
        image: cs.image.clone(),
        ready: cs.ready,
        restarts: cs.restart_count,
        state: state_text(cs.state.as_ref()).unwrap_or_else(|| "unknown".into()),
        last_state: state_text(cs.last_state.as_ref()),
    }
}

/// The state of one pod (pure).
pub fn pod_state(p: &Pod) -> PodState {
    let status = p.status.as_ref();
    PodState {
        pod: p.metadata.name.clone().unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()),
        node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        containers: status
            .into_iter()
            .flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            })
            .map(container_line)
            .collect(),
    }
}

/// Events about `objects` last seen at `since` or later (a few seconds of clock skew
/// allowed), oldest first, the last [`EVENTS`] (pure).
pub fn event_lines(events: &[Event], objects: &[String], since: Timestamp) -> Vec<EventLine> {
    let time = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    };
    let earliest = since
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(5))
        .unwrap_or(since);
    let mut relevant: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.involved_object
                .name
                .as_ref()
                .is_some_and(|n| objects.contains(n))
        })
        .filter(|e| time(e).is_none_or(|t| t >= earliest))
        .collect();
    relevant.sort_by_key(|e| time(e));
    let skip = relevant.len().saturating_sub(EVENTS);
    relevant
        .into_iter()
        .skip(skip)
        .map(|e| EventLine {
            time: time(e).map(|t| t.to_string()),
            object: format!(
                "{}/{}",
                e.involved_object
                    .kind
                    .as_deref()
                    .unwrap_or("")
                    .to_lowercase(),
                e.involved_object.name.as_deref().unwrap_or("")
            ),
            type_: e.type_.clone(),
            reason: e.reason.clone(),
            message: e.message.clone(),
            count: e.count,
        })
        .collect()
}

/// Gather the report of `failure` from the last state `snap` (for the rollout of
/// `template`), reading events and logs from the cluster.
pub async fn gather(
    client: &Client,
    namespace: &str,
    template: &PodTemplateSpec,
    failure: &Failure,
    snap: &Snapshot,
    since: Timestamp,
) -> Report {
    let (new_rs, pods) = new_pods(snap, template);
    let new_rs = new_rs.as_ref();
    let mut objects: Vec<String> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    objects.extend(new_rs.and_then(|r| r.metadata.name.clone()));
    objects.extend(
        snap.deployment
            .as_ref()
            .and_then(|d| d.metadata.name.clone()),
    );
    let events = read_events(client, namespace, &objects, snap).await;
    let log_pod = failure
        .pod
        .clone()
        .or_else(|| pods.first().and_then(|p| p.metadata.name.clone()));
    let log_container = failure.container.clone().or_else(|| {
        pods.first()
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
    });
    let logs = read_logs(
        client,
        namespace,
        log_pod.as_deref(),
        log_container.as_deref(),
        failure.crashed,
    )
    .await;
    Report {
        code: failure.code.clone(),
        message: failure.message.clone(),
        replica_set: new_rs.and_then(|r| r.metadata.name.clone()),
        revision: new_rs.and_then(super::revisions::revision_of),
        pods: pods.into_iter().map(pod_state).collect(),
        events: event_lines(&events, &objects, since),
        logs,
    }
}

/// The ReplicaSet of `template` among the Deployment's in `snap`, and its pods by name.
fn new_pods<'a>(
    snap: &'a Snapshot,
    template: &PodTemplateSpec,
) -> (Option<ReplicaSet>, Vec<&'a Pod>) {
    let uid = snap
        .deployment
        .as_ref()
        .and_then(|d| d.metadata.uid.clone())
        .unwrap_or_default();
    let owned: Vec<ReplicaSet> = snap
        .replica_sets
        .iter()
        .filter(|rs| controlled_by(&rs.metadata, &uid))
        .cloned()
        .collect();
    let new_rs = replica_set_for_template(template, &owned).cloned();
    let rs_uid = new_rs
        .as_ref()
        .and_then(|r| r.metadata.uid.clone())
        .unwrap_or_default();
    let mut pods: Vec<&Pod> = snap
        .pods
        .iter()
        .filter(|p| controlled_by(&p.metadata, &rs_uid))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    (new_rs, pods)
}

/// The events of the first 8 `objects`, else (when they cannot be read) those the tracking
/// saw.
async fn read_events(
    client: &Client,
    namespace: &str,
    objects: &[String],
    snap: &Snapshot,
) -> Vec<Event> {
    let events_api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut events = Vec::new();
    for name in objects.iter().take(8) {
        let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
        match events_api.list(&lp).await {
            Ok(list) => events.extend(list.items),
            Err(_) => return snap.events.clone(),
        }
    }
    events
}

async fn read_logs(
    client: &Client,
    namespace: &str,
    pod: Option<&str>,
    container: Option<&str>,
    previous: bool,
) -> Logs {
    let mut logs = Logs {
        pod: pod.map(str::to_string),
        container: container.map(str::to_string),
        previous,
        lines: Vec::new(),
        unavailable: None,
    };
    let Some(pod) = pod else {
        logs.unavailable = Some("no pod of the new ReplicaSet to read logs from".into());
        return logs;
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = LogParams {
        container: container.map(str::to_string),
        previous,
        tail_lines: Some(LOG_LINES),
        ..Default::default()
    };
    match tokio::time::timeout(LOG_TIMEOUT, api.logs(pod, &lp)).await {
        Ok(Ok(text)) => {
            logs.lines = text.lines().map(str::to_string).collect();
            if logs.lines.is_empty() {
                logs.unavailable = Some("the container wrote no logs".into());
            }
        }
        Ok(Err(e)) => {
            let why = match e {
                kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
                other => other.to_string(),
            };
            logs.unavailable = Some(format!(
                "logs unavailable: {}",
                super::error::one_line(&why)
            ));
        }
        Err(_) => {
            logs.unavailable = Some(format!(
                "logs unavailable: no answer in {} s",
                LOG_TIMEOUT.as_secs()
            ));
        }
    }
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_state_of_a_crash_loop() {
        let pod: Pod = serde_json::from_str(include_str!("fixtures/pod-crashloop.json")).unwrap();
        let s = pod_state(&pod);
        assert_eq!(s.pod, "users-5c4b3a2d1e-x7k2p");
        assert!(!s.ready);
        let c = &s.containers[0];
        assert_eq!(c.restarts, 1);
        assert!(
            c.state.starts_with("waiting: CrashLoopBackOff (back-off"),
            "{}",
            c.state
        );
        assert_eq!(c.last_state.as_deref(), Some("terminated: exit 1 (Error)"));
    }

    #[test]
    fn events_of_the_objects_only_most_recent_last() {
        let events: Vec<Event> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "a"}, "involvedObject": {"kind": "Pod", "name": "p1"},
             "reason": "BackOff", "message": "Back-off restarting", "lastTimestamp": "2025-05-01T10:00:05Z"},
            {"metadata": {"name": "b"}, "involvedObject": {"kind": "Pod", "name": "other"},
             "reason": "Scheduled", "lastTimestamp": "2025-05-01T10:00:01Z"},
            {"metadata": {"name": "c"}, "involvedObject": {"kind": "Pod", "name": "p1"},
             "reason": "Scheduled", "lastTimestamp": "2025-05-01T10:00:00Z"}
        ]))
        .unwrap();
        let since: Timestamp = "2025-05-01T10:00:00Z".parse().unwrap();
        let lines = event_lines(&events, &["p1".to_string()], since);
        let reasons: Vec<_> = lines.iter().map(|l| l.reason.clone().unwrap()).collect();
        assert_eq!(reasons, ["Scheduled", "BackOff"]);
        assert_eq!(lines[1].object, "pod/p1");
        let later: Timestamp = "2025-05-01T10:00:08Z".parse().unwrap();
        assert_eq!(event_lines(&events, &["p1".to_string()], later).len(), 1);
    }
}

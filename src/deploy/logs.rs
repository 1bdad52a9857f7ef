//! `monoship logs`: the logs of a service's pods (the Deployment's selector), every line with
//! its pod's name; with `follow`, all pods at once, pods that appear later included.
//!
//! Following reads each pod's log with timestamps again and again, each time from the last
//! second seen, and drops what it has already passed on ([`Cursor`]): the same lines a stream
//! would give, with the client's plain requests.
//!
//! A node that does not serve logs (a simulated node, a kubelet the API server cannot reach)
//! is told apart from other errors ([`classify`]): `the node does not serve logs`.
//!
//! The choices — container, cursor, error classes — are pure functions; [`logs`] talks to the
//! cluster and sends [`LogEvent`]s; the library never prints.

use super::container;
use super::error::{DeployError, one_line};
use super::revisions::selector_string;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, LogParams};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub follow: bool,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
    /// Lines from the end of each pod's log (default: all).
    pub tail: Option<i64>,
    /// The container (`--container`); else the service's ([`container::choose`]).
    pub container: Option<String>,
    /// How often a followed log (and the list of pods) is read again.
    pub interval: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            follow: false,
            previous: false,
            tail: None,
            container: None,
            interval: Duration::from_secs(1),
        }
    }
}

/// Why a pod's log cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogProblem {
    /// The API server could not get it from the pod's node (no kubelet log endpoint).
    NodeServesNoLogs {
        node: Option<String>,
    },
    /// The container has not started (or, with `previous`, has no previous instance).
    NotYet(String),
    /// The pod is gone.
    Gone,
    Other(String),
}

impl std::fmt::Display for LogProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogProblem::NodeServesNoLogs { node: Some(n) } => {
                write!(f, "the node does not serve logs (node {n})")
            }
            LogProblem::NodeServesNoLogs { node: None } => {
                write!(f, "the node does not serve logs")
            }
            LogProblem::NotYet(m) | LogProblem::Other(m) => write!(f, "{m}"),
            LogProblem::Gone => write!(f, "the pod is gone"),
        }
    }
}

/// What [`logs`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    Line {
        pod: String,
        container: String,
        text: String,
    },
    /// A pod's log cannot be read (with `follow`, reading goes on unless the node serves none).
    Unavailable { pod: String, problem: LogProblem },
    /// `follow`: a pod appeared and is being followed.
    Following { pod: String, container: String },
    /// `follow`: a pod is gone.
    Ended { pod: String },
}

/// How a run went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSummary {
    pub pods: usize,
    pub lines: usize,
    /// Pods whose log could not be read, and why.
    pub unavailable: BTreeMap<String, LogProblem>,
}

impl LogSummary {
    /// Every pod's node refused: nothing could be read at all.
    pub fn no_node_serves_logs(&self) -> bool {
        self.pods > 0
            && self.lines == 0
            && self.unavailable.len() == self.pods
            && self
                .unavailable
                .values()
                .all(|p| matches!(p, LogProblem::NodeServesNoLogs { .. }))
    }

    /// `Ok` when some log was read (or there was none to read), else why not.
    pub fn verdict(&self, service: &str, namespace: &str, deployment: &str) -> Result<(), NoLogs> {
        if self.pods == 0 {
            return Err(NoLogs::NoPods {
                service: service.to_string(),
                deployment: format!("{namespace}/{deployment}"),
            });
        }
        if self.no_node_serves_logs() {
            let mut nodes: Vec<String> = self
                .unavailable
                .values()
                .filter_map(|p| match p {
                    LogProblem::NodeServesNoLogs { node } => node.clone(),
                    _ => None,
                })
                .collect();
            nodes.sort();
            nodes.dedup();
            return Err(NoLogs::NoNodeServes {
                service: service.to_string(),
                pods: self.pods,
                nodes,
            });
        }
        if self.lines == 0 && self.unavailable.len() == self.pods {
            let (pod, why) = self.unavailable.iter().next().expect("pods > 0");
            return Err(NoLogs::Unreadable {
                service: service.to_string(),
                pod: pod.clone(),
                why: why.to_string(),
            });
        }
        Ok(())
    }
}

/// Why `logs` read nothing.
#[derive(Debug, thiserror::Error)]
pub enum NoLogs {
    #[error("service `{service}`: deployment {deployment} has no pods")]
    NoPods { service: String, deployment: String },
    /// Every pod's node serves no logs (the API server reads them from the kubelet).
    #[error(
        "no logs of `{service}`: the node does not serve logs ({pods} pod{} on {}; the API \
         server reads logs from the kubelet of a pod's node, and these nodes serve none)",
        if *.pods == 1 { "" } else { "s" },
        nodes_phrase(.nodes)
    )]
    NoNodeServes {
        service: String,
        pods: usize,
        nodes: Vec<String>,
    },
    #[error("no logs of `{service}` could be read ({pod}: {why})")]
    Unreadable {
        service: String,
        pod: String,
        why: String,
    },
}

fn nodes_phrase(nodes: &[String]) -> String {
    match nodes {
        [] => "their nodes".to_string(),
        [one] => format!("node {one}"),
        _ => format!("nodes {}", nodes.join(", ")),
    }
}

/// The container whose log to read: an init container when `requested` names one, else the
/// service's container ([`container::choose`], asking for `requested`, else `configured`).
pub fn container_for(
    pod: &Pod,
    requested: Option<&str>,
    configured: Option<&str>,
    service: &str,
) -> Result<String, String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let init = spec.init_containers.iter().flatten();
    if let Some(c) = requested.filter(|r| init.clone().any(|c| c.name == *r)) {
        return Ok(c.to_string());
    }
    container::choose(
        &spec,
        Some(&pod.metadata),
        requested.or(configured),
        service,
    )
    .map(|c| c.name.clone())
    .map_err(|e| {
        e.message(&format!(
            "pod {}",
            pod.metadata.name.as_deref().unwrap_or("?")
        ))
    })
}

/// Classify an error of a log request by its HTTP status code, the `details.kind` of the
/// `Status` and its message.
pub fn classify(code: Option<u16>, kind: &str, message: &str, node: Option<&str>) -> LogProblem {
    let node = node.map(str::to_string);
    let lower = message.to_ascii_lowercase();
    // The API server reaches the kubelet at the node's address and daemon endpoint port: a
    // node without a log endpoint answers 404 for `pods/log`, or cannot be dialled at all.
    let unreachable_kubelet = [
        "dial tcp",
        "connection refused",
        "no route to host",
        "i/o timeout",
        "kubelet",
    ]
    .iter()
    .any(|s| lower.contains(s));
    match code {
        Some(404) if kind == "pods/log" => LogProblem::NodeServesNoLogs { node },
        Some(404) => LogProblem::Gone,
        Some(400)
            if lower.contains("waiting to start")
                || lower.contains("previous terminated container")
                || lower.contains("not found for pod")
                || lower.contains("does not have a host assigned") =>
        {
            LogProblem::NotYet(one_line(message))
        }
        Some(500 | 502 | 503) if unreachable_kubelet => LogProblem::NodeServesNoLogs { node },
        _ => LogProblem::Other(one_line(message)),
    }
}

fn classify_error(e: &kube::Error, node: Option<&str>) -> LogProblem {
    match e {
        kube::Error::Api(s) => {
            let kind = s.details.as_ref().map(|d| d.kind.as_str()).unwrap_or("");
            classify(Some(s.code), kind, &s.message, node)
        }
        other => LogProblem::Other(one_line(&other.to_string())),
    }
}

/// Split a line read with `timestamps=true` into its timestamp and text.
pub fn split_timestamp(line: &str) -> (Option<Timestamp>, &str) {
    match line.split_once(' ') {
        Some((ts, text)) => match ts.parse::<Timestamp>() {
            Ok(t) => (Some(t), text),
            Err(_) => (None, line),
        },
        None => match line.parse::<Timestamp>() {
            Ok(t) => (Some(t), ""),
            Err(_) => (None, line),
        },
    }
}

/// Where a followed log is: the last timestamp passed on, and how many lines had it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    last: Option<Timestamp>,
    at_last: usize,
}

impl Cursor {
    /// The `sinceTime` of the next read: the last second seen (whole seconds, rounded down, as
    /// the API takes them), or none before the first line.
    pub fn since(&self) -> Option<Timestamp> {
        self.last
            .and_then(|t| Timestamp::from_second(t.as_second()).ok())
    }

    /// Of a read's lines (with timestamps), the ones not passed on before, in order.
    pub fn new_lines<'a>(&mut self, text: &'a str) -> Vec<&'a str> {
        let (before, before_count) = (self.last, self.at_last);
        let mut same_as_before: usize = 0;
        let mut out = Vec::new();
        for line in text.lines() {
            let (ts, body) = split_timestamp(line);
            let Some(ts) = ts else {
                out.push(line);
                continue;
            };
            match before {
                Some(b) if ts < b => continue,
                Some(b) if ts == b => {
                    same_as_before = same_as_before.saturating_add(1);
                    if same_as_before <= before_count {
                        continue;
                    }
                }
                _ => {}
            }
            out.push(body);
            if self.last == Some(ts) {
                self.at_last = self.at_last.saturating_add(1);
            } else if self.last.is_none_or(|l| ts > l) {
                self.last = Some(ts);
                self.at_last = 1;
            }
        }
        out
    }
}

/// The pods of the Deployment (its selector), not being deleted, by name.
pub async fn pods_of(
    client: &Client,
    namespace: &str,
    d: &Deployment,
) -> Result<Vec<Pod>, DeployError> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let selector = d
        .spec
        .as_ref()
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default();
    if selector.is_empty() {
        return Err(DeployError::Api(format!(
            "deployment {namespace}/{name} has an empty selector"
        )));
    }
    let list = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| DeployError::from_kube(e, &format!("listing pods of {namespace}/{name}")))?;
    let mut pods: Vec<Pod> = list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(pods)
}

/// One pod to read.
#[derive(Debug, Clone)]
struct Source {
    pod: String,
    container: String,
    node: Option<String>,
}

fn sources(
    pods: &[Pod],
    opts: &LogOptions,
    configured: Option<&str>,
    service: &str,
) -> Result<Vec<Source>, DeployError> {
    pods.iter()
        .map(|p| {
            let container = container_for(p, opts.container.as_deref(), configured, service)
                .map_err(|e| DeployError::Invalid(e.into()))?;
            Ok(Source {
                pod: p.metadata.name.clone().unwrap_or_default(),
                container,
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            })
        })
        .collect()
}

/// Read the logs of the Deployment's pods and send them to `tx`: without `follow` each pod's
/// lines together, pods by name; with `follow` as they come, until every pod is gone or no
/// node serves logs (or the caller stops awaiting).
pub async fn logs(
    client: &Client,
    namespace: &str,
    d: &Deployment,
    service: &str,
    configured_container: Option<&str>,
    opts: &LogOptions,
    tx: UnboundedSender<LogEvent>,
) -> Result<LogSummary, DeployError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = pods_of(client, namespace, d).await?;
    let first = sources(&pods, opts, configured_container, service)?;
    if !opts.follow {
        return read_once(&api, first, opts, &tx).await;
    }
    let mut summary = LogSummary::default();
    let (done_tx, mut done_rx) = unbounded_channel::<(String, Option<LogProblem>)>();
    let lines = Arc::new(AtomicUsize::new(0));
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut next = first;
    loop {
        for s in next.drain(..) {
            if !started.insert(s.pod.clone()) {
                continue;
            }
            summary.pods = summary.pods.saturating_add(1);
            running.insert(s.pod.clone());
            let _ = tx.send(LogEvent::Following {
                pod: s.pod.clone(),
                container: s.container.clone(),
            });
            tokio::spawn(follow_pod(
                api.clone(),
                s,
                opts.clone(),
                tx.clone(),
                done_tx.clone(),
                Arc::clone(&lines),
            ));
        }
        tokio::time::sleep(opts.interval.saturating_mul(2)).await;
        while let Ok((pod, problem)) = done_rx.try_recv() {
            running.remove(&pod);
            if let Some(p) = problem {
                summary.unavailable.insert(pod, p);
            }
        }
        summary.lines = lines.load(Ordering::Relaxed);
        // Pods that appeared since (a rollout, a restarted Deployment) are followed too.
        if let Ok(pods) = pods_of(client, namespace, d).await {
            let fresh: Vec<Pod> = pods
                .into_iter()
                .filter(|p| !started.contains(p.metadata.name.as_deref().unwrap_or_default()))
                .collect();
            next = sources(&fresh, opts, configured_container, service).unwrap_or_default();
        }
        if running.is_empty() && next.is_empty() {
            return Ok(summary);
        }
    }
}

async fn read_once(
    api: &Api<Pod>,
    sources: Vec<Source>,
    opts: &LogOptions,
    tx: &UnboundedSender<LogEvent>,
) -> Result<LogSummary, DeployError> {
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in sources.into_iter().enumerate() {
        let api = api.clone();
        let lp = LogParams {
            container: Some(s.container.clone()),
            previous: opts.previous,
            tail_lines: opts.tail,
            ..LogParams::default()
        };
        set.spawn(async move {
            let result = api.logs(&s.pod, &lp).await;
            (i, s, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        results.push(joined.map_err(|e| DeployError::Api(format!("reading logs: {e}")))?);
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut summary = LogSummary::default();
    for (_, s, result) in results {
        summary.pods = summary.pods.saturating_add(1);
        match result {
            Ok(text) => {
                for line in text.lines() {
                    summary.lines = summary.lines.saturating_add(1);
                    let _ = tx.send(LogEvent::Line {
                        pod: s.pod.clone(),
                        container: s.container.clone(),
                        text: line.to_string(),
                    });
                }
            }
            Err(e) => {
                let problem = classify_error(&e, s.node.as_deref());
                summary.unavailable.insert(s.pod.clone(), problem.clone());
                let _ = tx.send(LogEvent::Unavailable {
                    pod: s.pod,
                    problem,
                });
            }
        }
    }
    Ok(summary)
}

/// Follow one pod until it is gone or its node serves no logs; tells `done` why it stopped.
async fn follow_pod(
    api: Api<Pod>,
    s: Source,
    opts: LogOptions,
    tx: UnboundedSender<LogEvent>,
    done: UnboundedSender<(String, Option<LogProblem>)>,
    lines: Arc<AtomicUsize>,
) {
    let mut cursor = Cursor::default();
    let mut first = true;
    let mut last_problem: Option<LogProblem> = None;
    loop {
        let lp = LogParams {
            container: Some(s.container.clone()),
            previous: opts.previous,
            timestamps: true,
            tail_lines: if first { opts.tail } else { None },
            since_time: cursor.since(),
            ..LogParams::default()
        };
        match api.logs(&s.pod, &lp).await {
            Ok(text) => {
                first = false;
                last_problem = None;
                for line in cursor.new_lines(&text) {
                    lines.fetch_add(1, Ordering::Relaxed);
                    let sent = tx.send(LogEvent::Line {
                        pod: s.pod.clone(),
                        container: s.container.clone(),
                        text: line.to_string(),
                    });
                    if sent.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let problem = classify_error(&e, s.node.as_deref());
                match problem {
                    LogProblem::Gone => {
                        let _ = tx.send(LogEvent::Ended { pod: s.pod.clone() });
                        let _ = done.send((s.pod, None));
                        return;
                    }
                    LogProblem::NodeServesNoLogs { .. } => {
                        let _ = tx.send(LogEvent::Unavailable {
                            pod: s.pod.clone(),
                            problem: problem.clone(),
                        });
                        let _ = done.send((s.pod, Some(problem)));
                        return;
                    }
                    _ if last_problem.as_ref() != Some(&problem) => {
                        // Said once; reading goes on (a container starting, a blip).
                        let _ = tx.send(LogEvent::Unavailable {
                            pod: s.pod.clone(),
                            problem: problem.clone(),
                        });
                        last_problem = Some(problem);
                    }
                    _ => {}
                }
            }
        }
        if opts.previous {
            // A previous instance does not grow.
            let _ = done.send((s.pod, last_problem));
            return;
        }
        tokio::time::sleep(opts.interval).await;
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;

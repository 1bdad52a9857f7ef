//! Following one rollout to a verdict: watches of the Deployment, its ReplicaSets and pods
//! (reconnecting after errors, relisting when the API server asks for it), judged by
//! [`verdict::assess`] after every change and every half second, against a deadline.
//!
//! The watches only feed the verdict: an interrupted watch (an API server restart) leaves the
//! last state in place, which cannot pass for success because success needs the controller
//! to have observed our generation.

use super::budget;
use super::revisions::selector_string;
use super::verdict::{self, code, Expect, Failure, Observed, Progress, Verdict};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Client, Resource};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// The rollout to follow.
#[derive(Debug, Clone)]
pub struct TrackSpec {
    pub namespace: String,
    pub deployment: String,
    /// The Deployment's `spec.selector`.
    pub selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    /// The generation and template our change produced.
    pub generation: i64,
    pub template: PodTemplateSpec,
    pub max_restarts: i32,
    /// A fixed time limit (`--timeout`); without it, the deadline from the probes, counted
    /// from the start and again from each new replica that becomes available.
    pub timeout: Option<Duration>,
}

/// What tracking ends with.
#[derive(Debug, Clone)]
pub enum Tracked {
    Complete(Progress),
    Failed(Failure),
    Superseded(String),
}

/// The last state seen, for failure reports.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub deployment: Option<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub events: Vec<Event>,
}

/// What tracking reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Progress(String),
    /// A watch failed; it is retried with back-off.
    Disconnected(String),
    Reconnected,
}

/// One kind of object as a watch reports it: a map by uid, replaced as a whole on relists.
struct Cache<K> {
    items: BTreeMap<String, K>,
    relist: Option<BTreeMap<String, K>>,
    ready: bool,
}

impl<K: Resource + Clone> Cache<K> {
    fn new() -> Self {
        Cache {
            items: BTreeMap::new(),
            relist: None,
            ready: false,
        }
    }

    fn key(o: &K) -> String {
        let m = o.meta();
        m.uid.clone().or_else(|| m.name.clone()).unwrap_or_default()
    }

    fn apply(&mut self, event: watcher::Event<K>) {
        match event {
            watcher::Event::Apply(o) => {
                self.items.insert(Self::key(&o), o);
            }
            watcher::Event::Delete(o) => {
                self.items.remove(&Self::key(&o));
            }
            watcher::Event::Init => self.relist = Some(BTreeMap::new()),
            watcher::Event::InitApply(o) => {
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(Self::key(&o), o);
            }
            watcher::Event::InitDone => {
                self.items = self.relist.take().unwrap_or_default();
                self.ready = true;
            }
        }
    }

    fn values(&self) -> Vec<K> {
        self.items.values().cloned().collect()
    }
}

/// The next item of a stream (the watcher streams implement `Stream` through
/// `WatchStreamExt`).
async fn next_item<S: WatchStreamExt + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Follow the rollout of `spec` until a verdict; `note` hears about progress and the
/// connection.
pub async fn track(
    client: &Client,
    spec: &TrackSpec,
    note: &mut (dyn FnMut(Note) + Send),
) -> (Tracked, Snapshot) {
    let ns = spec.namespace.as_str();
    let selector = selector_string(&spec.selector);
    let by_name = watcher::Config::default().fields(&format!("metadata.name={}", spec.deployment));
    let by_selector = watcher::Config::default().labels(&selector);
    let mut deployments = Box::pin(
        watcher(Api::<Deployment>::namespaced(client.clone(), ns), by_name).default_backoff(),
    );
    let mut replica_sets = Box::pin(
        watcher(
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            by_selector.clone(),
        )
        .default_backoff(),
    );
    let mut pods = Box::pin(
        watcher(Api::<Pod>::namespaced(client.clone(), ns), by_selector).default_backoff(),
    );
    let events_api: Api<Event> = Api::namespaced(client.clone(), ns);

    let mut d_cache = Cache::<Deployment>::new();
    let mut rs_cache = Cache::<ReplicaSet>::new();
    let mut pod_cache = Cache::<Pod>::new();
    let mut events: Vec<Event> = Vec::new();
    let mut events_at: Option<Instant> = None;

    let template_spec = spec.template.spec.clone().unwrap_or_default();
    let derived = budget::deadline(&template_spec);
    let started = Instant::now();
    let mut deadline = started + spec.timeout.unwrap_or(derived);
    let mut best_available = 0;
    let mut disconnected: Option<String> = None;
    let mut last_note = String::new();
    let mut last_progress: Option<Progress> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));

    loop {
        let outcome = tokio::select! {
            Some(e) = next_item(&mut deployments) => Some(e.map(|e| d_cache.apply(e))),
            Some(e) = next_item(&mut replica_sets) => Some(e.map(|e| rs_cache.apply(e))),
            Some(e) = next_item(&mut pods) => Some(e.map(|e| pod_cache.apply(e))),
            _ = tick.tick() => None,
        };
        match outcome {
            Some(Err(e)) => {
                let m = super::error::one_line(&e.to_string());
                if disconnected.is_none() {
                    note(Note::Disconnected(m.clone()));
                }
                disconnected = Some(m);
            }
            Some(Ok(())) if disconnected.is_some() => {
                disconnected = None;
                note(Note::Reconnected);
            }
            _ => {}
        }
        let snapshot = |events: &[Event]| Snapshot {
            deployment: d_cache.values().into_iter().next(),
            replica_sets: rs_cache.values(),
            pods: pod_cache.values(),
            events: events.to_vec(),
        };
        let timed_out = Instant::now() >= deadline;
        if !(d_cache.ready && rs_cache.ready && pod_cache.ready) {
            if timed_out {
                let f = timeout_failure(
                    spec,
                    &template_spec,
                    started,
                    None,
                    None,
                    disconnected.as_deref(),
                );
                return (Tracked::Failed(f), snapshot(&events));
            }
            continue;
        }
        let Some(deployment) = d_cache.items.values().next().cloned() else {
            return (
                Tracked::Superseded("the deployment was deleted".into()),
                snapshot(&events),
            );
        };
        let rss = rs_cache.values();
        let pod_list = pod_cache.values();
        if needs_events(&pod_list, spec.max_restarts)
            && events_at.is_none_or(|t| t.elapsed() > Duration::from_secs(2))
        {
            events_at = Some(Instant::now());
            let lp = ListParams::default().fields("involvedObject.kind=Pod");
            if let Ok(list) = events_api.list(&lp).await {
                events = list.items;
            }
        }
        let verdict = verdict::assess(
            Observed {
                deployment: &deployment,
                replica_sets: &rss,
                pods: &pod_list,
                events: &events,
            },
            Expect {
                generation: spec.generation,
                template: &spec.template,
                max_restarts: spec.max_restarts,
                now: Timestamp::now(),
            },
        );
        let message = match verdict {
            Verdict::Complete(p) => return (Tracked::Complete(p), snapshot(&events)),
            Verdict::Failed(f) => return (Tracked::Failed(f), snapshot(&events)),
            Verdict::Superseded(m) => return (Tracked::Superseded(m), snapshot(&events)),
            Verdict::Waiting(m) => m,
            Verdict::Progressing(p) => {
                if p.new_available > best_available {
                    best_available = p.new_available;
                    if spec.timeout.is_none() {
                        deadline = Instant::now() + derived;
                    }
                }
                let m = p.message();
                last_progress = Some(p);
                m
            }
        };
        if message != last_note {
            note(Note::Progress(message.clone()));
            last_note = message;
        }
        if timed_out {
            let restarts = verdict::restarts_note(&spec.template, &rss, &pod_list);
            let f = timeout_failure(
                spec,
                &template_spec,
                started,
                last_progress.as_ref(),
                restarts.as_deref(),
                disconnected.as_deref(),
            );
            return (Tracked::Failed(f), snapshot(&events));
        }
    }
}

/// Events are only needed to tell probe kills from other restarts.
fn needs_events(pods: &[Pod], max_restarts: i32) -> bool {
    pods.iter().any(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.restart_count > max_restarts))
    })
}

fn timeout_failure(
    spec: &TrackSpec,
    template: &k8s_openapi::api::core::v1::PodSpec,
    started: Instant,
    last: Option<&Progress>,
    restarts: Option<&str>,
    disconnected: Option<&str>,
) -> Failure {
    let elapsed = started.elapsed().as_secs();
    let limit = match spec.timeout {
        Some(t) => format!("--timeout {} s", t.as_secs()),
        None => format!(
            "deadline {} s without progress, from the probes ({})",
            budget::deadline(template).as_secs(),
            budget::explain(template)
        ),
    };
    let mut message = format!("the rollout did not complete in {elapsed} s ({limit})");
    if let Some(p) = last {
        message.push_str(&format!("; last: {}", p.message()));
    }
    if let Some(r) = restarts {
        message.push_str(&format!("; {r}"));
    }
    if let Some(d) = disconnected {
        message.push_str(&format!("; the API server was unreachable: {d}"));
    }
    Failure {
        code: code::TIMEOUT.into(),
        message,
        pod: None,
        container: None,
        crashed: false,
    }
}

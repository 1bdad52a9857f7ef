//! Following one rollout to a verdict: watches of the Deployment, its ReplicaSets and pods
//! (reconnecting after errors, relisting when the API server asks for it), judged by
//! [`verdict::assess`] after every change and every half second, against a deadline.
//!
//! The watches only feed the verdict: an interrupted watch (an API server restart) leaves the
//! last state in place, which cannot pass for success because success needs the controller
//! to have observed our generation.

use super::budget;
use super::objects::Objects;
use super::revisions::selector_string;
use super::stop::{self, Stop};
use super::verdict::{self, Expect, Failure, Observed, Progress, Verdict, code};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
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
    /// A signal's stop request, and what it does to this tracking.
    pub stop: Stop,
    pub on_stop: OnStop,
}

/// What a stop request does to a tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStop {
    /// End it at once ([`Tracked::Interrupted`]): a rollout to roll back.
    End,
    /// Follow it for at most [`stop::GRACE`] more: a rollback.
    Bound,
}

/// What tracking ends with.
#[derive(Debug, Clone)]
pub enum Tracked {
    Complete(Progress),
    Failed(Failure),
    Superseded(String),
    /// The API server refused to show the rollout (401, 403): it cannot be followed.
    Denied(String),
    /// A stop request ended the tracking ([`OnStop::End`]).
    Interrupted(&'static str),
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
    let mut f = Follow::new(client, spec);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut stop = spec.stop.clone();
    loop {
        let item = tokio::select! {
            Some(e) = next_item(&mut deployments) => Some((0, e.map(|e| f.d_cache.apply(e)))),
            Some(e) = next_item(&mut replica_sets) => Some((1, e.map(|e| f.rs_cache.apply(e)))),
            Some(e) = next_item(&mut pods) => Some((2, e.map(|e| f.pod_cache.apply(e)))),
            why = stop.requested(), if f.stopped.is_none() => {
                if spec.on_stop == OnStop::End {
                    return (Tracked::Interrupted(why), Snapshot::default());
                }
                f.stopped = Some(why);
                f.deadline = f.deadline.min(budget::later(Instant::now(), stop::GRACE));
                None
            }
            _ = tick.tick() => None,
        };
        if let Some((watch, result)) = item
            && let Some(end) = f.on_item(watch, result, note)
        {
            return (end, Snapshot::default());
        }
        if let Some(end) = f.judge(note).await {
            return (end, f.snapshot());
        }
    }
}

/// The state of one tracking between two inputs.
struct Follow<'a> {
    spec: &'a TrackSpec,
    template_spec: k8s_openapi::api::core::v1::PodSpec,
    derived: Duration,
    started: Instant,
    deadline: Instant,
    best_available: i32,
    disconnected: Option<String>,
    stopped: Option<&'static str>,
    last_note: String,
    last_progress: Option<Progress>,
    links: Links,
    d_cache: Objects<Deployment>,
    rs_cache: Objects<ReplicaSet>,
    pod_cache: Objects<Pod>,
    events_api: Api<Event>,
    events: Vec<Event>,
    events_at: Option<Instant>,
}

impl<'a> Follow<'a> {
    fn new(client: &Client, spec: &'a TrackSpec) -> Follow<'a> {
        let template_spec = spec.template.spec.clone().unwrap_or_default();
        let derived = budget::deadline(&template_spec);
        let started = Instant::now();
        Follow {
            spec,
            template_spec,
            derived,
            started,
            deadline: budget::later(started, spec.timeout.unwrap_or(derived)),
            best_available: 0,
            disconnected: None,
            stopped: None,
            last_note: String::new(),
            last_progress: None,
            links: Links::default(),
            d_cache: Objects::new(),
            rs_cache: Objects::new(),
            pod_cache: Objects::new(),
            events_api: Api::namespaced(client.clone(), &spec.namespace),
            events: Vec::new(),
            events_at: None,
        }
    }

    /// A watch delivered an item: note the connection; a denial ends the tracking.
    fn on_item(
        &mut self,
        watch: usize,
        result: Result<(), watcher::Error>,
        note: &mut (dyn FnMut(Note) + Send),
    ) -> Option<Tracked> {
        if let Err(e) = &result
            && let Some(m) = denied(e)
        {
            return Some(Tracked::Denied(m));
        }
        let error = result.err().map(|e| super::error::one_line(&e.to_string()));
        match self.links.update(watch, error) {
            Some(Note::Disconnected(m)) => {
                self.disconnected = Some(m.clone());
                note(Note::Disconnected(m));
            }
            Some(n) => {
                self.disconnected = None;
                note(n);
            }
            None => {}
        }
        None
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            deployment: self.d_cache.first().cloned(),
            replica_sets: self.rs_cache.values(),
            pods: self.pod_cache.values(),
            events: self.events.clone(),
        }
    }

    fn timeout(&self, restarts: Option<&str>) -> Tracked {
        Tracked::Failed(timeout_failure(
            self.spec,
            &self.template_spec,
            self.started,
            self.last_progress.as_ref(),
            restarts,
            self.disconnected.as_deref(),
            self.stopped,
        ))
    }

    /// Judge what the watches show; the end of the tracking, if this is it.
    async fn judge(&mut self, note: &mut (dyn FnMut(Note) + Send)) -> Option<Tracked> {
        let spec = self.spec;
        let timed_out = Instant::now() >= self.deadline;
        if !(self.d_cache.ready() && self.rs_cache.ready() && self.pod_cache.ready()) {
            return timed_out.then(|| self.timeout(None));
        }
        let Some(deployment) = self.d_cache.first().cloned() else {
            return Some(Tracked::Superseded("the deployment was deleted".into()));
        };
        let rss = self.rs_cache.values();
        let pod_list = self.pod_cache.values();
        self.refresh_events(&pod_list).await;
        let verdict = verdict::assess(
            Observed {
                deployment: &deployment,
                replica_sets: &rss,
                pods: &pod_list,
                events: &self.events,
            },
            Expect {
                generation: spec.generation,
                template: &spec.template,
                max_restarts: spec.max_restarts,
                now: Timestamp::now(),
            },
        );
        let message = match verdict {
            Verdict::Complete(p) => return Some(Tracked::Complete(p)),
            Verdict::Failed(f) => return Some(Tracked::Failed(f)),
            Verdict::Superseded(m) => return Some(Tracked::Superseded(m)),
            Verdict::Waiting(m) => m,
            Verdict::Progressing(p) => {
                if p.new_available > self.best_available {
                    self.best_available = p.new_available;
                    if spec.timeout.is_none() && self.stopped.is_none() {
                        self.deadline = budget::later(Instant::now(), self.derived);
                    }
                }
                let m = p.message();
                self.last_progress = Some(p);
                m
            }
        };
        if message != self.last_note {
            note(Note::Progress(message.clone()));
            self.last_note = message;
        }
        timed_out.then(|| {
            let restarts = verdict::restarts_note(&spec.template, &rss, &pod_list);
            self.timeout(restarts.as_deref())
        })
    }

    /// Events tell probe kills from other restarts: read them (at most every 2 s) once a
    /// container restarted past the budget.
    async fn refresh_events(&mut self, pods: &[Pod]) {
        if needs_events(pods, self.spec.max_restarts)
            && self
                .events_at
                .is_none_or(|t| t.elapsed() > Duration::from_secs(2))
        {
            self.events_at = Some(Instant::now());
            let lp = ListParams::default().fields("involvedObject.kind=Pod");
            if let Ok(list) = self.events_api.list(&lp).await {
                self.events = list.items;
            }
        }
    }
}

/// The three watches' connections, for saying once that the API server is lost and once
/// that it is back, however many of them fail and recover in between.
#[derive(Debug, Default)]
struct Links {
    failed: [bool; 3],
}

impl Links {
    /// Watch `watch` delivered an item (`error`: a failed one); the note to give, if any.
    fn update(&mut self, watch: usize, error: Option<String>) -> Option<Note> {
        let was_down = self.failed.iter().any(|f| *f);
        if let Some(slot) = self.failed.get_mut(watch) {
            *slot = error.is_some();
        }
        let down = self.failed.iter().any(|f| *f);
        match (was_down, down, error) {
            (false, true, Some(m)) => Some(Note::Disconnected(m)),
            (true, false, _) => Some(Note::Reconnected),
            _ => None,
        }
    }
}

/// A watch error that retrying cannot fix (401, 403), as one line.
fn denied(e: &watcher::Error) -> Option<String> {
    use super::error::is_denied;
    let text = match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k)
            if is_denied(k) =>
        {
            match k {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            }
        }
        watcher::Error::WatchError(s) if matches!(s.code, 401 | 403) => s.message.clone(),
        _ => return None,
    };
    Some(
        if text.contains("forbidden") || e.to_string().contains("403") {
            super::error::forbidden_line(&text)
        } else {
            format!("unauthorized: {}", super::error::one_line(&text))
        },
    )
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
    stopped: Option<&str>,
) -> Failure {
    let elapsed = started.elapsed().as_secs();
    let limit = match (stopped, spec.timeout) {
        (Some(why), _) => format!(
            "followed for at most {} s after {why}",
            stop::GRACE.as_secs()
        ),
        (None, Some(t)) => format!("--timeout {} s", t.as_secs()),
        (None, None) => format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> Box<kube::core::Status> {
        Box::new(kube::core::Status {
            code,
            message: message.into(),
            ..Default::default()
        })
    }

    #[test]
    fn denials_end_the_tracking_other_errors_do_not() {
        let forbidden = "pods is forbidden: User \"ci\" cannot watch resource \"pods\"";
        let e = watcher::Error::WatchStartFailed(kube::Error::Api(status(403, forbidden)));
        assert_eq!(
            denied(&e).as_deref(),
            Some("forbidden: User \"ci\" cannot watch resource \"pods\"")
        );
        let e = watcher::Error::InitialListFailed(kube::Error::Api(status(401, "Unauthorized")));
        assert_eq!(denied(&e).as_deref(), Some("unauthorized: Unauthorized"));
        let e = watcher::Error::WatchError(status(403, forbidden));
        assert!(denied(&e).is_some());
        let e = watcher::Error::InitialListFailed(kube::Error::Api(status(503, "unavailable")));
        assert_eq!(denied(&e), None);
        assert_eq!(denied(&watcher::Error::NoResourceVersion), None);
    }

    #[test]
    fn an_outage_of_several_watches_is_one_disconnect_and_one_reconnect() {
        let mut l = Links::default();
        assert_eq!(
            l.update(0, Some("refused".into())),
            Some(Note::Disconnected("refused".into()))
        );
        assert_eq!(l.update(1, Some("refused".into())), None);
        assert_eq!(l.update(0, None), None);
        assert_eq!(l.update(2, None), None);
        assert_eq!(l.update(1, None), Some(Note::Reconnected));
        assert_eq!(l.update(1, None), None);
    }
}

//! `monoship status --watch`: the report again whenever the Deployments, ReplicaSets or pods
//! of the services' namespaces change, from watches that reconnect on their own.

use super::{ServiceRef, Snapshot, Snapshots, StatusReport, report, snapshot};
use crate::deploy::error::{DeployError, one_line};
use crate::deploy::objects::Objects;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use std::collections::{BTreeMap, BTreeSet};

/// What [`watch`] reports.
#[derive(Debug)]
pub enum WatchEvent<'a> {
    /// The first report, and every one that differs from the last in more than ages.
    Report(&'a StatusReport),
    /// A watch broke; it is retried with back-off.
    Disconnected(String),
    /// Every watch is back.
    Reconnected,
}

struct Namespace {
    deployments: Objects<Deployment>,
    replica_sets: Objects<ReplicaSet>,
    pods: Objects<Pod>,
}

impl Namespace {
    /// Start the three watches of `namespace`, sending to `tx`; the objects are empty until
    /// the watches have listed them.
    fn watch(client: &kube::Client, namespace: &str, tx: &Sender) -> Namespace {
        use kube::Api;
        let ns = || namespace.to_string();
        let c = client.clone();
        spawn_watch(
            Api::namespaced(c.clone(), namespace),
            ns(),
            0,
            Update::Deployment,
            tx.clone(),
        );
        spawn_watch(
            Api::namespaced(c.clone(), namespace),
            ns(),
            1,
            Update::ReplicaSet,
            tx.clone(),
        );
        spawn_watch(
            Api::namespaced(c, namespace),
            ns(),
            2,
            Update::Pod,
            tx.clone(),
        );
        Namespace {
            deployments: Objects::new(),
            replica_sets: Objects::new(),
            pods: Objects::new(),
        }
    }

    /// Every watch has listed its objects.
    fn ready(&self) -> bool {
        self.deployments.ready() && self.replica_sets.ready() && self.pods.ready()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            deployments: self.deployments.values(),
            replica_sets: self.replica_sets.values(),
            pods: self.pods.values(),
        }
    }
}

enum Update {
    Deployment(watcher::Event<Deployment>),
    ReplicaSet(watcher::Event<ReplicaSet>),
    Pod(watcher::Event<Pod>),
}

/// One watch's news: (namespace, which watch, the event or the error).
type Message = (String, usize, Result<Update, String>);
type Sender = tokio::sync::mpsc::UnboundedSender<Message>;

/// The next item of a stream (watcher streams are `Stream`s through `WatchStreamExt`).
async fn next_item<S: WatchStreamExt + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

fn spawn_watch<K>(
    api: kube::Api<K>,
    namespace: String,
    index: usize,
    wrap: fn(watcher::Event<K>) -> Update,
    tx: Sender,
) where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    tokio::spawn(async move {
        let mut stream = Box::pin(watcher(api, watcher::Config::default()).default_backoff());
        while let Some(item) = next_item(&mut stream).await {
            let msg = item.map(wrap).map_err(|e| one_line(&e.to_string()));
            if tx.send((namespace.clone(), index, msg)).is_err() {
                return;
            }
        }
    });
}

/// Take one watch's news into `state`, telling `on` when the connection breaks or is back.
fn apply(
    state: &mut BTreeMap<String, Namespace>,
    broken: &mut BTreeSet<(String, usize)>,
    (ns, index, msg): Message,
    on: &mut (dyn FnMut(WatchEvent<'_>) + Send),
) {
    let key = (ns.clone(), index);
    match msg {
        Err(e) => {
            if broken.is_empty() {
                on(WatchEvent::Disconnected(e));
            }
            broken.insert(key);
        }
        Ok(update) => {
            if broken.remove(&key) && broken.is_empty() {
                on(WatchEvent::Reconnected);
            }
            if let Some(n) = state.get_mut(&ns) {
                match update {
                    Update::Deployment(e) => n.deployments.apply(e),
                    Update::ReplicaSet(e) => n.replica_sets.apply(e),
                    Update::Pod(e) => n.pods.apply(e),
                }
            }
        }
    }
}

/// Report the status of `targets` now and again whenever it changes, until the caller stops
/// awaiting. Watches reconnect with back-off on their own ([`WatchEvent::Disconnected`],
/// [`WatchEvent::Reconnected`]).
pub async fn watch(
    client: &kube::Client,
    namespace: &str,
    targets: &[ServiceRef],
    on: &mut (dyn FnMut(WatchEvent<'_>) + Send),
) -> Result<(), DeployError> {
    let namespaces: BTreeSet<String> = targets.iter().map(|t| t.namespace.clone()).collect();
    let mut snaps = Snapshots::new();
    for ns in &namespaces {
        snaps.insert(ns.clone(), snapshot(client, ns).await?);
    }
    let mut last = report(namespace, targets, &snaps, Timestamp::now());
    on(WatchEvent::Report(&last));

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let mut state: BTreeMap<String, Namespace> = namespaces
        .iter()
        .map(|ns| (ns.clone(), Namespace::watch(client, ns, &tx)))
        .collect();
    drop(tx);
    let mut broken: BTreeSet<(String, usize)> = BTreeSet::new();
    let settle = std::time::Duration::from_millis(150);
    loop {
        let Some(msg) = rx.recv().await else {
            return Err(DeployError::Api("the watches of the cluster ended".into()));
        };
        apply(&mut state, &mut broken, msg, on);
        // Let a burst of changes (a rollout touches many objects) settle into one report.
        let until = crate::deploy::budget::later(tokio::time::Instant::now(), settle);
        while let Ok(Some(msg)) = tokio::time::timeout_at(until, rx.recv()).await {
            apply(&mut state, &mut broken, msg, on);
        }
        if !state.values().all(Namespace::ready) {
            continue;
        }
        let snaps: Snapshots = state
            .iter()
            .map(|(ns, n)| (ns.clone(), n.snapshot()))
            .collect();
        let now = report(namespace, targets, &snaps, Timestamp::now());
        if !now.same_state(&last) {
            on(WatchEvent::Report(&now));
            last = now;
        }
    }
}

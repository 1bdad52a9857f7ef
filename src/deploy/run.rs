//! A deploy run over many services: check everything first (namespaces, Deployments, RBAC
//! through a server-side dry run) so that a run that cannot work changes nothing, then roll
//! out up to `parallel` services at a time in `depends-on` order. A failed service skips its
//! dependents; `fail_fast` stops starting new services after the first failure.

use super::plan::{self, ServicePlan};
use super::service::{self, Prepared};
use super::{DeployError, Event, Options, Outcome, ServiceResult, lease};
use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::mpsc;

/// Check that each namespace exists (a user who may not read namespaces gets the benefit of
/// the doubt: the Deployment lookup will say what is missing).
async fn check_namespaces(client: &Client, targets: &[ServicePlan]) -> Result<(), DeployError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let names: BTreeSet<&str> = targets.iter().map(|t| t.namespace.as_str()).collect();
    for ns in names {
        match api.get_opt(ns).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(DeployError::NamespaceNotFound(ns.to_string())),
            Err(e) if super::error::status_code(&e).is_some() => {}
            Err(e) => {
                return Err(DeployError::from_kube(
                    e,
                    &format!("reading namespace {ns}"),
                ));
            }
        }
    }
    Ok(())
}

/// Deploy `targets`. `known` says whether a name is a service (for `depends-on`). Errors are
/// those found before anything changed; everything after is in the results.
pub async fn run(
    client: &Client,
    targets: Vec<ServicePlan>,
    known: &dyn Fn(&str) -> bool,
    opts: &Options,
    emit: &mut dyn FnMut(Event),
) -> Result<Vec<ServiceResult>, DeployError> {
    let waves = plan::waves(&targets, known).map_err(|e| DeployError::Invalid(e.into()))?;
    emit(Event::Planned {
        waves: waves.clone(),
    });
    check_namespaces(client, &targets).await?;
    if !opts.dry_run {
        let names: BTreeSet<&str> = targets.iter().map(|t| t.namespace.as_str()).collect();
        for ns in names {
            super::access::check(client, ns, super::access::ROLLOUT).await?;
        }
    }
    let mut prepared: BTreeMap<String, Prepared> = BTreeMap::new();
    for t in targets {
        let p = service::prepare(client, t, opts).await?;
        prepared.insert(p.target.service.clone(), p);
    }
    let order: Vec<String> = waves.into_iter().flatten().collect();
    if opts.dry_run {
        let results: Vec<ServiceResult> = order
            .iter()
            .map(|s| service::dry_run_result(&prepared[s]))
            .collect();
        for r in &results {
            emit(Event::Finished(Box::new(r.clone())));
        }
        return Ok(results);
    }
    let keeper = take_leases(client, &prepared, opts).await?;
    let results = schedule(client, order, prepared, opts, emit).await;
    keeper.release().await;
    Ok(results)
}

/// One lease per service to change, all taken before anything changes (given back if one
/// cannot be).
async fn take_leases(
    client: &Client,
    prepared: &BTreeMap<String, Prepared>,
    opts: &Options,
) -> Result<lease::Keeper, DeployError> {
    let holder = lease::holder_identity();
    let mut held = Vec::new();
    for p in prepared.values().filter(|p| !p.unchanged) {
        let t = &p.target;
        let taken = lease::acquire(
            client,
            &t.namespace,
            &t.deployment,
            &t.service,
            &holder,
            opts.others,
            &opts.stop,
        )
        .await;
        match taken {
            Ok(h) => held.push(h),
            Err(e) => {
                lease::Keeper::start(client, held).release().await;
                return Err(e);
            }
        }
    }
    Ok(lease::Keeper::start(client, held))
}

/// Why a pending service cannot start, if it never will.
fn blocked(
    p: &Prepared,
    done: &BTreeMap<String, Outcome>,
    stopped: bool,
    opts: &Options,
) -> Option<(Outcome, String)> {
    if let Some(why) = opts.stop.reason() {
        return Some((
            Outcome::Interrupted,
            format!("not started: interrupted by {why}"),
        ));
    }
    blocked_by(p, done, stopped).map(|why| (Outcome::Skipped, why))
}

fn blocked_by(p: &Prepared, done: &BTreeMap<String, Outcome>, stopped: bool) -> Option<String> {
    if let Some(dep) = p
        .target
        .depends_on
        .iter()
        .find(|d| done.get(*d).is_some_and(|o| !o.is_success()))
    {
        return Some(format!("dependency {dep} failed"));
    }
    stopped.then(|| "an earlier service failed (--fail-fast)".to_string())
}

fn ready(p: &Prepared, in_run: &BTreeSet<String>, done: &BTreeMap<String, Outcome>) -> bool {
    p.target
        .depends_on
        .iter()
        .filter(|d| in_run.contains(*d))
        .all(|d| done.get(d).is_some_and(|o| o.is_success()))
}

/// Start the prepared services in `order` as their dependencies allow, at most `parallel` at
/// a time, until every one has a result (in `order`).
async fn schedule(
    client: &Client,
    order: Vec<String>,
    prepared: BTreeMap<String, Prepared>,
    opts: &Options,
    emit: &mut dyn FnMut(Event),
) -> Vec<ServiceResult> {
    let mut board = Board::new(order, prepared);
    let mut tasks = tokio::task::JoinSet::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    loop {
        board.advance(opts, emit, &mut |p| start(&mut tasks, client, p, opts, &tx));
        if board.running.is_empty() {
            break;
        }
        let mut stop = opts.stop.clone();
        tokio::select! {
            // Settle what is pending at once.
            _ = stop.requested(), if opts.stop.reason().is_none() => {}
            Some(event) = rx.recv() => board.take(event, opts, emit),
            Some(joined) = tasks.join_next_with_id() => {
                let (id, panic) = match joined {
                    Ok((id, ())) => (id, None),
                    Err(e) => (e.id(), Some(e.to_string())),
                };
                if let Some(name) = board.running.remove(&id) {
                    // Its events are all sent before the task ends; take them first.
                    while let Ok(event) = rx.try_recv() {
                        board.take(event, opts, emit);
                    }
                    board.ended(name, panic, opts, emit);
                }
            }
        }
    }
    while let Ok(event) = rx.try_recv() {
        emit(event);
    }
    let Board {
        order, mut results, ..
    } = board;
    order.iter().filter_map(|s| results.remove(s)).collect()
}

/// Where the services of a run are: pending, running (by task), done.
struct Board {
    order: Vec<String>,
    in_run: BTreeSet<String>,
    pending: Vec<String>,
    prepared: BTreeMap<String, Prepared>,
    running: BTreeMap<tokio::task::Id, String>,
    done: BTreeMap<String, Outcome>,
    results: BTreeMap<String, ServiceResult>,
    /// `--fail-fast` after a failure: start nothing more.
    stopped: bool,
}

impl Board {
    fn new(order: Vec<String>, prepared: BTreeMap<String, Prepared>) -> Board {
        Board {
            in_run: order.iter().cloned().collect(),
            pending: order.clone(),
            order,
            prepared,
            running: BTreeMap::new(),
            done: BTreeMap::new(),
            results: BTreeMap::new(),
            stopped: false,
        }
    }

    /// Settle what can never start, `start` what can.
    fn advance(
        &mut self,
        opts: &Options,
        emit: &mut dyn FnMut(Event),
        start: &mut dyn FnMut(Prepared) -> tokio::task::Id,
    ) {
        let parallel = opts.parallel.max(1);
        let mut i = 0;
        while i < self.pending.len() {
            let p = &self.prepared[&self.pending[i]];
            if let Some((outcome, why)) = blocked(p, &self.done, self.stopped, opts) {
                let mut r = service::result_of(p, outcome);
                r.reason = Some(why);
                self.pending.remove(i);
                self.finish(r, emit);
                i = 0;
                continue;
            }
            if self.running.len() < parallel && ready(p, &self.in_run, &self.done) {
                let name = self.pending.remove(i);
                let Some(p) = self.prepared.remove(&name) else {
                    continue;
                };
                self.running.insert(start(p), name);
                continue;
            }
            i = i.saturating_add(1);
        }
    }

    /// An event of a running service: keep its result when it is finished, and pass it on.
    fn take(&mut self, event: Event, opts: &Options, emit: &mut dyn FnMut(Event)) {
        self.stopped |= record(&event, &mut self.done, &mut self.results, opts);
        emit(event);
    }

    /// A service's task ended (`panic`: how it crashed): an error unless it sent its result.
    fn ended(
        &mut self,
        name: String,
        panic: Option<String>,
        opts: &Options,
        emit: &mut dyn FnMut(Event),
    ) {
        if self.done.contains_key(&name) {
            return;
        }
        let why = panic.unwrap_or_else(|| "ended without a result".into());
        self.stopped |= opts.fail_fast;
        self.finish(crashed(&name, &why), emit);
    }

    fn finish(&mut self, r: ServiceResult, emit: &mut dyn FnMut(Event)) {
        self.done.insert(r.service.clone(), r.result);
        emit(Event::Finished(Box::new(r.clone())));
        self.results.insert(r.service.clone(), r);
    }
}

/// Deploy `p` in a task of its own, its events sent to `tx`.
fn start(
    tasks: &mut tokio::task::JoinSet<()>,
    client: &Client,
    p: Prepared,
    opts: &Options,
    tx: &mpsc::UnboundedSender<Event>,
) -> tokio::task::Id {
    let (client, opts, tx) = (client.clone(), opts.clone(), tx.clone());
    tasks
        .spawn(async move {
            let mut send = |e: Event| {
                let _ = tx.send(e);
            };
            let r = service::deploy(&client, &p, &opts, &mut send).await;
            let _ = tx.send(Event::Finished(Box::new(r)));
        })
        .id()
}

/// Keep a finished service's result; `true` when it stops the run (`--fail-fast`).
fn record(
    event: &Event,
    done: &mut BTreeMap<String, Outcome>,
    results: &mut BTreeMap<String, ServiceResult>,
    opts: &Options,
) -> bool {
    let Event::Finished(r) = event else {
        return false;
    };
    done.insert(r.service.clone(), r.result);
    results.insert(r.service.clone(), (**r).clone());
    !r.result.is_success() && opts.fail_fast
}

fn crashed(service: &str, why: &str) -> ServiceResult {
    ServiceResult {
        service: service.to_string(),
        namespace: String::new(),
        deployment: String::new(),
        from: Default::default(),
        to: Default::default(),
        result: Outcome::Error,
        duration_ms: 0,
        reason: Some(format!("internal error: {why}")),
        report: None,
        rollback: None,
        changes: Vec::new(),
        cluster: None,
    }
}

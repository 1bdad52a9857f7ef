//! One monoship run at a time per service: a coordination.k8s.io Lease `monoship-<deployment>`
//! next to the Deployment, taken before the change and held (renewed) until the service's
//! rollout and any rollback are done. A second run finds it held and refuses
//! ([`DeployError::Busy`]), waits for it ([`Others::Wait`]) or takes it over
//! ([`Others::Force`]). A run that dies leaves a lease that expires after [`DURATION_SECS`].

use super::{DeployError, Others, Stop};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use std::time::Duration;

/// How long a lease holds without renewal.
pub const DURATION_SECS: i32 = 30;
/// How often a held lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiting run looks again.
const POLL: Duration = Duration::from_secs(2);

/// A lease this run holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub namespace: String,
    pub name: String,
    pub holder: String,
}

/// The Lease's name for a Deployment.
pub fn lease_name(deployment: &str) -> String {
    let mut name = format!("monoship-{deployment}");
    name.truncate(253);
    name
}

/// This process, as a lease holder: `monoship@HOST pid N <start time>`.
pub fn holder_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let now = Timestamp::now();
    format!("monoship@{host} pid {} {now}", std::process::id())
}

/// Is `lease` held by someone other than `holder` at `now`? Its holder and the seconds since
/// its last renewal when it is.
pub fn held_by_other(lease: &Lease, holder: &str, now: Timestamp) -> Option<(String, i64)> {
    let spec = lease.spec.as_ref()?;
    let other = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
    if other == holder {
        return None;
    }
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let age = now.as_second().saturating_sub(renewed.as_second());
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(DURATION_SECS).max(1));
    (age <= duration).then(|| (other.to_string(), age.max(0)))
}

fn spec_for(holder: &str, now: Timestamp, previous: Option<&LeaseSpec>) -> LeaseSpec {
    let same = previous.and_then(|p| p.holder_identity.as_deref()) == Some(holder);
    LeaseSpec {
        holder_identity: Some(holder.to_string()),
        lease_duration_seconds: Some(DURATION_SECS),
        acquire_time: if same {
            previous.and_then(|p| p.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: previous
            .and_then(|p| p.lease_transitions)
            .map(|t| if same { t } else { t.saturating_add(1) }),
        ..Default::default()
    }
}

fn kube_error(e: kube::Error, what: &str) -> DeployError {
    DeployError::from_kube(e, what)
}

/// Take the lease of Deployment `deployment` for `service`.
pub async fn acquire(
    client: &Client,
    namespace: &str,
    deployment: &str,
    service: &str,
    holder: &str,
    others: Others,
    stop: &Stop,
) -> Result<Held, DeployError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let name = lease_name(deployment);
    let what = format!("taking lease {namespace}/{name}");
    let held = Held {
        namespace: namespace.to_string(),
        name: name.clone(),
        holder: holder.to_string(),
    };
    loop {
        let now = Timestamp::now();
        let found = super::error::with_retries(|| api.get_opt(&name))
            .await
            .map_err(|e| kube_error(e, &what))?;
        let result = match found {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec_for(holder, now, None)),
                };
                api.create(&PostParams::default(), &lease).await
            }
            Some(lease) => {
                if let Some((other, age)) = held_by_other(&lease, holder, now) {
                    match others {
                        Others::Force => {}
                        Others::Wait if stop.reason().is_none() => {
                            tokio::time::sleep(POLL).await;
                            continue;
                        }
                        _ => return Err(busy(service, namespace, deployment, &other, age)),
                    }
                }
                let mut next = lease.clone();
                next.spec = Some(spec_for(holder, now, lease.spec.as_ref()));
                api.replace(&name, &PostParams::default(), &next).await
            }
        };
        match result {
            Ok(_) => return Ok(held),
            // Someone else created or renewed it in between: look again.
            Err(e) if super::error::status_code(&e) == Some(409) => continue,
            Err(e) => return Err(kube_error(e, &what)),
        }
    }
}

fn busy(service: &str, namespace: &str, deployment: &str, other: &str, age: i64) -> DeployError {
    DeployError::Busy(format!(
        "{service}: another monoship run ({other}) is deploying deployment \
         {namespace}/{deployment} (its lease monoship-{deployment} was renewed {age} s ago); \
         nothing was changed: wait for it, or pass --wait-for-others (or --force to take over)"
    ))
}

/// Renew a held lease; `false` when it is no longer ours (taken over, deleted).
pub async fn renew(client: &Client, held: &Held) -> bool {
    let api: Api<Lease> = Api::namespaced(client.clone(), &held.namespace);
    let Ok(Some(lease)) = api.get_opt(&held.name).await else {
        return false;
    };
    let ours = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        == Some(held.holder.as_str());
    if !ours {
        return false;
    }
    let mut next = lease.clone();
    next.spec = Some(spec_for(
        &held.holder,
        Timestamp::now(),
        lease.spec.as_ref(),
    ));
    api.replace(&held.name, &PostParams::default(), &next)
        .await
        .is_ok()
}

/// Give a held lease back (delete it, if it is still ours).
pub async fn release(client: &Client, held: &Held) {
    let api: Api<Lease> = Api::namespaced(client.clone(), &held.namespace);
    if let Ok(Some(lease)) = api.get_opt(&held.name).await {
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(held.holder.as_str());
        if ours {
            let _ = api.delete(&held.name, &DeleteParams::default()).await;
        }
    }
}

/// Keep `held` renewed until the returned guard is dropped or released.
pub struct Keeper {
    task: tokio::task::JoinHandle<()>,
    client: Client,
    held: Vec<Held>,
}

impl Keeper {
    /// Start renewing `held` every [`RENEW_EVERY`].
    pub fn start(client: &Client, held: Vec<Held>) -> Keeper {
        let (c, h) = (client.clone(), held.clone());
        let task = tokio::spawn(async move {
            let mut live = h;
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let mut still = Vec::new();
                for l in live {
                    if renew(&c, &l).await {
                        still.push(l);
                    }
                }
                live = still;
            }
        });
        Keeper {
            task,
            client: client.clone(),
            held,
        }
    }

    /// Stop renewing and give every lease back.
    pub async fn release(self) {
        self.task.abort();
        for l in &self.held {
            release(&self.client, l).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: &str, duration: i32) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(duration),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_lease_is_held_until_it_expires() {
        let now: Timestamp = "2026-12-01T10:00:30Z".parse().unwrap();
        let l = lease("other", "2026-12-01T10:00:10Z", 30);
        assert_eq!(held_by_other(&l, "me", now), Some(("other".into(), 20)));
        assert_eq!(held_by_other(&l, "other", now), None);
        let old = lease("other", "2026-12-01T09:59:00Z", 30);
        assert_eq!(held_by_other(&old, "me", now), None);
        let empty = lease("", "2026-12-01T10:00:29Z", 30);
        assert_eq!(held_by_other(&empty, "me", now), None);
        // A lease that says it lasts i32::MAX seconds does not overflow anything.
        let long = lease("other", "2026-12-01T10:00:29Z", i32::MAX);
        assert!(held_by_other(&long, "me", now).is_some());
    }

    #[test]
    fn renewal_keeps_acquire_time_and_counts_transitions() {
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-12-01T10:00:10Z".parse().unwrap();
        let mut first = spec_for("me", t0, None);
        first.lease_transitions = Some(1);
        let again = spec_for("me", t1, Some(&first));
        assert_eq!(again.acquire_time, Some(MicroTime(t0)));
        assert_eq!(again.renew_time, Some(MicroTime(t1)));
        assert_eq!(again.lease_transitions, Some(1));
        let taken = spec_for("you", t1, Some(&first));
        assert_eq!(taken.acquire_time, Some(MicroTime(t1)));
        assert_eq!(taken.lease_transitions, Some(2));
        assert_eq!(lease_name("users"), "monoship-users");
    }
}

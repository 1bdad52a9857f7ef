//! An environment of several clusters (`contexts = [...]`) as one [`Cluster`]: rollouts go
//! cluster by cluster in the order configured (the first is the canary). A service that does
//! not succeed in one cluster is rolled back there (as `deploy` does) and not started in the
//! next ones (`skipped`); every result names its cluster.

use super::seams::{BoxFuture, Cluster, DeployJob, Deploying};
use crate::deploy::plan::ServicePlan;
use crate::deploy::status::{ServiceStatus, State};
use crate::deploy::{self, DeployError, Outcome, ServiceResult, Version};
use crate::workspace::Workspace;
use std::collections::{BTreeMap, BTreeSet};

/// The clusters of one environment, by kubeconfig context, in rollout order.
pub struct Clusters<'a> {
    pub clusters: Vec<(String, &'a dyn Cluster)>,
}

impl Cluster for Clusters<'_> {
    /// The first cluster's.
    fn namespace(&self) -> &str {
        self.clusters
            .first()
            .map_or("default", |(_, c)| c.namespace())
    }

    /// The first cluster's (the canary runs what the others run, or newer).
    fn deployed_revisions<'a>(
        &'a self,
        ws: &'a Workspace,
        namespace_flag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Option<String>>, DeployError>> {
        match self.clusters.first() {
            Some((_, c)) => c.deployed_revisions(ws, namespace_flag),
            None => Box::pin(async { Ok(BTreeMap::new()) }),
        }
    }

    fn deploy<'a>(&'a self, job: DeployJob<'a>) -> Deploying<'a> {
        Box::pin(async move {
            let (targets, opts, emit) = (job.targets, job.opts, job.emit);
            let several = self.clusters.len() > 1;
            let mut results = Vec::new();
            // Service → the context it did not succeed in.
            let mut failed: BTreeMap<String, String> = BTreeMap::new();
            for (context, cluster) in &self.clusters {
                let (go, held): (Vec<ServicePlan>, Vec<ServicePlan>) = targets
                    .iter()
                    .cloned()
                    .partition(|t| !failed.contains_key(&t.service));
                results.extend(held.iter().map(|t| {
                    let why = format!("not started: it failed in cluster {}", failed[&t.service]);
                    not_started(t, context, Outcome::Skipped, why)
                }));
                if let Some(signal) = opts.stop.reason() {
                    let why = format!("not started: interrupted by {signal}");
                    results.extend(
                        go.iter()
                            .map(|t| not_started(t, context, Outcome::Interrupted, why.clone())),
                    );
                    continue;
                }
                if go.is_empty() {
                    continue;
                }
                if several {
                    emit(deploy::Event::Cluster {
                        context: context.clone(),
                        services: go.iter().map(|t| t.service.clone()).collect(),
                    });
                }
                let done = cluster
                    .deploy(DeployJob {
                        targets: go,
                        known: job.known,
                        opts,
                        emit: &mut *emit,
                    })
                    .await?;
                for mut r in done {
                    if !r.result.is_success() {
                        failed.insert(r.service.clone(), context.clone());
                    }
                    if several {
                        r.cluster = Some(context.clone());
                    }
                    results.push(r);
                }
            }
            Ok(results)
        })
    }

    /// Per service, the first cluster where it is not complete, else the first cluster's;
    /// clusters that run different digests make it `progressing`.
    fn statuses<'a>(
        &'a self,
        ws: &'a Workspace,
        services: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ServiceStatus>, DeployError>> {
        if let [(_, only)] = self.clusters.as_slice() {
            return only.statuses(ws, services);
        }
        Box::pin(async move {
            let mut all = Vec::new();
            for (context, c) in &self.clusters {
                all.push((context.as_str(), c.statuses(ws, services).await?));
            }
            Ok(merge(&all))
        })
    }
}

/// One status per service out of each cluster's (same order in each).
fn merge(all: &[(&str, Vec<ServiceStatus>)]) -> Vec<ServiceStatus> {
    let Some((first_context, first)) = all.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(i, lead)| {
            let each: Vec<(&str, &ServiceStatus)> = all
                .iter()
                .filter_map(|(ctx, s)| s.get(i).map(|s| (*ctx, s)))
                .collect();
            if let Some((ctx, s)) = each.iter().find(|(_, s)| s.state != State::Complete) {
                let mut s = (*s).clone();
                s.reason = Some(match &s.reason {
                    Some(r) => format!("in cluster {ctx}: {r}"),
                    None => format!("in cluster {ctx}"),
                });
                return s;
            }
            let digests: BTreeSet<&Option<String>> = each.iter().map(|(_, s)| &s.digest).collect();
            let mut s = lead.clone();
            if digests.len() > 1 {
                s.state = State::Progressing;
                s.reason = Some(format!(
                    "the clusters run different digests ({first_context}: {})",
                    lead.digest.as_deref().unwrap_or("none")
                ));
            }
            s
        })
        .collect()
}

/// The row of a service not started in `context`.
fn not_started(t: &ServicePlan, context: &str, result: Outcome, why: String) -> ServiceResult {
    ServiceResult {
        service: t.service.clone(),
        namespace: t.namespace.clone(),
        deployment: t.deployment.clone(),
        from: Version::default(),
        to: Version {
            revision: t.artifact.revision.clone(),
            digest: Some(t.artifact.digest.clone()),
            image: Some(t.artifact.reference.clone()),
        },
        result,
        duration_ms: 0,
        reason: Some(why),
        report: None,
        rollback: None,
        changes: Vec::new(),
        cluster: Some(context.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::images::Artifact;
    use crate::pipeline::tests::{FakeCluster, Log};

    fn plan(service: &str) -> ServicePlan {
        ServicePlan {
            service: service.into(),
            namespace: "shop".into(),
            deployment: service.into(),
            container: None,
            depends_on: Vec::new(),
            artifact: Artifact {
                reference: format!("r.test/{service}@sha256:{service}"),
                digest: format!("sha256:{service}"),
                revision: Some("0123".into()),
                source: String::new(),
                promoted_from: None,
            },
            manifest: None,
            set: None,
        }
    }

    fn fake<'a>(log: &'a Log, fails: Option<&'static str>) -> FakeCluster<'a> {
        FakeCluster {
            log,
            deployed: BTreeMap::new(),
            outcomes: fails
                .map(|f| (f, Outcome::RolledBack))
                .into_iter()
                .collect(),
            statuses: Vec::new(),
        }
    }

    #[test]
    fn a_failure_in_one_cluster_skips_the_service_in_the_next() {
        let (eu_log, us_log) = (Log::default(), Log::default());
        let (eu, us) = (fake(&eu_log, Some("orders")), fake(&us_log, None));
        let clusters = Clusters {
            clusters: vec![("eu".into(), &eu as &dyn Cluster), ("us".into(), &us)],
        };
        let mut started = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let results = rt
            .block_on(clusters.deploy(DeployJob {
                targets: vec![plan("users"), plan("orders")],
                known: &|_| true,
                opts: &deploy::Options::default(),
                emit: &mut |e| {
                    if let deploy::Event::Cluster { context, services } = e {
                        started.push(format!("{context}: {}", services.join(" ")));
                    }
                },
            }))
            .unwrap();
        assert_eq!(started, ["eu: users orders", "us: users"]);
        assert_eq!(
            us_log.take(),
            ["deploy shop/users=r.test/users@sha256:users"]
        );
        let rows: Vec<(&str, &str, &str)> = results
            .iter()
            .map(|r| {
                (
                    r.service.as_str(),
                    r.cluster.as_deref().unwrap(),
                    r.result.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("users", "eu", "deployed"),
                ("orders", "eu", "rolled-back"),
                ("orders", "us", "skipped"),
                ("users", "us", "deployed"),
            ]
        );
        assert_eq!(
            results[2].reason.as_deref(),
            Some("not started: it failed in cluster eu")
        );
    }

    #[test]
    fn one_cluster_names_none() {
        let log = Log::default();
        let only = fake(&log, None);
        let clusters = Clusters {
            clusters: vec![("ctx".into(), &only as &dyn Cluster)],
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let results = rt
            .block_on(clusters.deploy(DeployJob {
                targets: vec![plan("users")],
                known: &|_| true,
                opts: &deploy::Options::default(),
                emit: &mut |_| {},
            }))
            .unwrap();
        assert_eq!(results[0].cluster, None);
    }
}

//! Smoke test of the Kubernetes control plane started by scripts/testenv/up:
//! the real deployment and replicaset controllers roll a Deployment out on
//! kwok's fake nodes, and pod behaviour follows the image (see
//! scripts/testenv/README.md): `crashloop`, `pullfail`, `neverready`.

use crate::support::{cluster, testenv};
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);
const APP: &str = "smoke";

type Result<T> = std::result::Result<T, String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Adds what was being done to an error (or a missing value).
trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.ok_or_else(|| what.to_string())
    }
}

async fn client() -> Client {
    let path = testenv::env("MONOSHIP_TEST_KUBECONFIG");
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {path}: {e}"));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bad kubeconfig {path}: {e}"));
    // Two rustls crypto backends are linked into this crate (ring through kube,
    // aws-lc-rs through the registry client), so pick one as monoship does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_from(config).expect("cannot build a Kubernetes client")
}

/// Polls `check` every 250 ms until it returns `Ok(Some(_))`; `Ok(None)` means
/// "not yet", `Err` fails at once. On timeout the last state seen is reported.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<std::result::Result<T, String>>>,
{
    let start = Instant::now();
    loop {
        match check().await? {
            Ok(value) => return Ok(value),
            Err(state) if start.elapsed() > TIMEOUT => {
                return Err(format!(
                    "timed out after {TIMEOUT:?} waiting for {what}; last state: {state}"
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn image_of_rs(rs: &ReplicaSet) -> Option<&str> {
    rs.spec
        .as_ref()?
        .template
        .as_ref()?
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

fn image_of_pod(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.containers.first()?.image.as_deref()
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_summary(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    format!(
        "{} image={:?} phase={:?} ready={} containerStatuses={}",
        pod.metadata.name.as_deref().unwrap_or("?"),
        image_of_pod(pod),
        status.and_then(|s| s.phase.as_deref()),
        pod_ready(pod),
        serde_json::to_string(&status.and_then(|s| s.container_statuses.as_ref())).unwrap()
    )
}

struct Cluster {
    deployments: Api<Deployment>,
    replicasets: Api<ReplicaSet>,
    pods: Api<Pod>,
}

impl Cluster {
    async fn deployment_status(&self) -> Result<(i64, i64, i32, i32, i32)> {
        let d = self
            .deployments
            .get(APP)
            .await
            .context("getting the Deployment")?;
        let s = d.status.unwrap_or_default();
        Ok((
            d.metadata.generation.unwrap_or_default(),
            s.observed_generation.unwrap_or_default(),
            s.replicas.unwrap_or_default(),
            s.updated_replicas.unwrap_or_default(),
            s.available_replicas.unwrap_or_default(),
        ))
    }

    async fn replicaset_for(&self, image: &str) -> Result<Option<ReplicaSet>> {
        let list = self
            .replicasets
            .list(&ListParams::default().labels(&format!("app={APP}")))
            .await
            .context("listing")?;
        Ok(list
            .items
            .into_iter()
            .find(|rs| image_of_rs(rs) == Some(image)))
    }

    async fn pods_with_image(&self, image: &str) -> Result<Vec<Pod>> {
        let list = self
            .pods
            .list(&ListParams::default().labels(&format!("app={APP}")))
            .await
            .context("listing")?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| image_of_pod(p) == Some(image))
            .collect())
    }

    async fn set_image(&self, image: &str) -> Result<()> {
        let patch = json!({ "spec": { "template": { "spec": {
            "containers": [{ "name": "app", "image": image }]
        } } } });
        self.deployments
            .patch(APP, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .context(format!("setting the image to {image}"))?;
        Ok(())
    }

    /// The rollout to a working `old` image stays in place: 2 available pods.
    async fn old_pods_stay_available(&self, old: &str) -> Result<()> {
        let (_, _, _, _, available) = self.deployment_status().await?;
        ensure!(
            available == 2,
            "deployment availableReplicas is {available}, expected 2"
        );
        let rs = self
            .replicaset_for(old)
            .await?
            .context("the ReplicaSet of the old image is gone")?;
        let rs_available = rs
            .status
            .and_then(|s| s.available_replicas)
            .unwrap_or_default();
        ensure!(
            rs_available == 2,
            "old ReplicaSet ({old}) has {rs_available} available pods"
        );
        Ok(())
    }

    /// Rolls out to a broken `image` and waits until one of its pods satisfies
    /// `broken` (a description of the pod when it does not), checking on every
    /// poll that the pods of `old` stay available.
    async fn roll_out_broken(
        &self,
        old: &str,
        image: &str,
        broken: fn(&Pod) -> Result<()>,
    ) -> Result<Pod> {
        self.set_image(image).await?;
        wait_for(
            &format!("a pod of {image} to show the expected failure"),
            || async {
                self.old_pods_stay_available(old).await?;
                let pods = self.pods_with_image(image).await?;
                let mut states = Vec::new();
                for pod in pods {
                    match broken(&pod) {
                        Ok(()) => return Ok(Ok(pod)),
                        Err(why) => states.push(format!("{why}: {}", pod_summary(&pod))),
                    }
                }
                Ok(Err(if states.is_empty() {
                    "no pod yet".into()
                } else {
                    states.join("; ")
                }))
            },
        )
        .await
    }
}

fn crash_looping(pod: &Pod) -> Result<()> {
    let cs = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .ok_or("no container status")?;
    let waiting = cs
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .ok_or("not waiting")?;
    if waiting.reason.as_deref() != Some("CrashLoopBackOff") {
        return Err(format!("waiting reason {:?}", waiting.reason));
    }
    if cs.restart_count < 1 {
        return Err("restartCount 0".into());
    }
    let terminated = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .ok_or("no lastState.terminated")?;
    if terminated.exit_code != 1 || terminated.reason.as_deref() != Some("Error") {
        return Err(format!("lastState.terminated {terminated:?}"));
    }
    if cs.ready || pod_ready(pod) {
        return Err("Ready".into());
    }
    Ok(())
}

fn pull_failing(pod: &Pod) -> Result<()> {
    let status = pod.status.as_ref().ok_or("no status")?;
    let reason = status
        .container_statuses
        .as_ref()
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref())
        .ok_or("not waiting")?;
    if reason != "ErrImagePull" && reason != "ImagePullBackOff" {
        return Err(format!("waiting reason {reason}"));
    }
    if status.phase.as_deref() != Some("Pending") || pod_ready(pod) {
        return Err("not Pending, or Ready".into());
    }
    Ok(())
}

fn running_not_ready(pod: &Pod) -> Result<()> {
    let status = pod.status.as_ref().ok_or("no status")?;
    let running = status
        .container_statuses
        .as_ref()
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some());
    if status.phase.as_deref() != Some("Running") || !running {
        return Err("not Running".into());
    }
    if pod_ready(pod) {
        return Err("Ready".into());
    }
    Ok(())
}

async fn scenario(client: &Client, ns: &str) -> Result<()> {
    ensure_fake_nodes(client).await?;
    let cluster = Cluster {
        deployments: Api::namespaced(client.clone(), ns),
        replicasets: Api::namespaced(client.clone(), ns),
        pods: Api::namespaced(client.clone(), ns),
    };
    let v1 = "example.test/app:v1";
    let v2 = "example.test/app:v2";
    create_and_roll_out(&cluster, v1, v2).await?;
    broken_versions(&cluster, v2).await
}

/// At least two of kwok's fake nodes are Ready.
async fn ensure_fake_nodes(client: &Client) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let ready_nodes = nodes
        .list(&ListParams::default().labels("monoship-testenv=fake"))
        .await
        .context("listing nodes")?
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    ensure!(
        ready_nodes >= 2,
        "expected at least 2 Ready fake nodes, found {ready_nodes}"
    );
    Ok(())
}

/// A Deployment of `v1` made available, then rolled to `v2` by the real deployment controller.
async fn create_and_roll_out(cluster: &Cluster, v1: &str, v2: &str) -> Result<()> {
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": APP },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": APP } },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 }
            },
            "template": {
                "metadata": { "labels": { "app": APP } },
                "spec": { "containers": [{ "name": "app", "image": v1 }] }
            }
        }
    }))
    .context("building the Deployment")?;
    cluster
        .deployments
        .create(&PostParams::default(), &deployment)
        .await
        .context("creating the Deployment")?;

    wait_for("the Deployment to become available", || async {
        let status = cluster.deployment_status().await?;
        let (generation, observed, replicas, updated, available) = status;
        Ok(
            if observed >= generation && replicas == 2 && updated == 2 && available == 2 {
                Ok(())
            } else {
                Err(format!(
                    "(generation, observed, replicas, updated, available) = {status:?}"
                ))
            },
        )
    })
    .await?;

    // A rolling update by the real deployment controller.
    cluster.set_image(v2).await?;
    wait_for("the rollout to v2 to complete", || async {
        let status = cluster.deployment_status().await?;
        let (generation, observed, replicas, updated, available) = status;
        let new_rs = cluster.replicaset_for(v2).await?;
        let old_rs = cluster.replicaset_for(v1).await?;
        let new_available = new_rs.as_ref().and_then(|rs| rs.status.as_ref()?.available_replicas).unwrap_or(0);
        let old_spec = old_rs.as_ref().and_then(|rs| rs.spec.as_ref()?.replicas);
        let old_status = old_rs.as_ref().and_then(|rs| rs.status.as_ref()).map(|s| s.replicas);
        let old_pods = cluster.pods_with_image(v1).await?.len();
        let done = observed >= generation
            && (replicas, updated, available) == (2, 2, 2)
            && new_available == 2
            && old_spec == Some(0)
            && old_status == Some(0)
            && old_pods == 0;
        Ok(if done {
            Ok(())
        } else {
            Err(format!(
                "deployment (generation, observed, replicas, updated, available) = {status:?}, \
                 new RS available {new_available}, old RS spec.replicas {old_spec:?} status.replicas {old_status:?}, \
                 {old_pods} old pods"
            ))
        })
    })
    .await
}

/// Broken versions: the controller surges one new pod and keeps both `v2` pods.
async fn broken_versions(cluster: &Cluster, v2: &str) -> Result<()> {
    let crashloop = "example.test/app-crashloop:v3";
    let pod = cluster
        .roll_out_broken(v2, crashloop, crash_looping)
        .await?;
    let restarts = pod.status.unwrap().container_statuses.unwrap()[0].restart_count;
    let rs = cluster
        .replicaset_for(crashloop)
        .await?
        .context("no ReplicaSet for the crashloop image")?;
    ensure!(
        rs.spec.and_then(|s| s.replicas) == Some(1),
        "the crashloop ReplicaSet should be scaled to 1 (maxSurge)"
    );
    eprintln!("crashloop pod in CrashLoopBackOff with restartCount {restarts}");

    let pullfail = "example.test/app-pullfail:v4";
    cluster.roll_out_broken(v2, pullfail, pull_failing).await?;

    let neverready = "example.test/app-neverready:v5";
    let pod = cluster
        .roll_out_broken(v2, neverready, running_not_ready)
        .await?;
    // It stays unready.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let name = pod.metadata.name.unwrap();
    let pod = cluster
        .pods
        .get(&name)
        .await
        .context("getting the neverready pod")?;
    running_not_ready(&pod).map_err(|why| format!("{why}: {}", pod_summary(&pod)))?;
    cluster.old_pods_stay_available(v2).await?;
    Ok(())
}

#[test]
fn rollouts_and_pod_failures_on_the_test_cluster() {
    let _cluster = cluster::share();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(rollouts_and_pod_failures());
}

async fn rollouts_and_pod_failures() {
    let client = client().await;
    let ns = format!("monoship-smoke-{}", testenv::unique());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": ns } })).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("creating the test namespace");

    let result = scenario(&client, &ns).await;
    let deleted = namespaces.delete(&ns, &DeleteParams::default()).await;
    if let Err(e) = result {
        panic!("{e}");
    }
    deleted.expect("deleting the test namespace");
}

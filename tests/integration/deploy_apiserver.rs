//! The API server restarting in the middle of a rollout (test cluster of scripts/testenv/up):
//! monoship's watches reconnect, the rollout is neither lost nor taken for a success early,
//! and the outcome is the right one. The test has the cluster alone (`cluster::alone`), so
//! that no other test runs against it while the API server is down.

use crate::support::apiserver;
use crate::support::cluster::{self, Cluster, Probe, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::result_of;
use crate::support::run::Run;
use serde_json::{Value, json};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The Role of ServiceAccount `deployer`: every verb deploy needs, or all but watching pods.
fn deployer_role(c: &Cluster, watch_pods: bool) {
    let pods: &[&str] = if watch_pods {
        &["get", "list", "watch"]
    } else {
        &["get", "list"]
    };
    let rules = json!([
        {"apiGroups": ["apps"], "resources": ["deployments"],
         "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": pods},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "create", "update", "delete"]},
    ]);
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "deployer"}, "rules": rules});
    c.apply(&role.to_string());
}

/// Start `monoship deploy --image users=IMAGE` in the background.
fn deploy_in_background(c: &Cluster, fleet: &Fleet, image: &str) -> JoinHandle<Run> {
    deploy_as(c, fleet, image, &c.kubeconfig)
}

/// The same with `kubeconfig`.
fn deploy_as(c: &Cluster, fleet: &Fleet, image: &str, kubeconfig: &Path) -> JoinHandle<Run> {
    fleet
        .monoship()
        .args(["--format", "json", "deploy", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--namespace", &c.namespace])
        .args(["--image", &format!("users={image}")])
        .in_background()
}

fn outcome(run: &Run) -> (i32, Value, String) {
    let json = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr:\n{}", run.stderr));
    (run.code, json, run.stderr.clone())
}

/// A readiness budget the slow pods (Ready 20 s after start) stay within.
const GENEROUS: Probe = Probe {
    period: 10,
    failures: 6,
};

#[test]
fn apiserver_restart_mid_rollout() {
    // No other test uses the cluster meanwhile; and one test function, so the scenarios do not
    // overlap (each takes the API server away).
    let _alone = cluster::alone();
    slow_rollout_survives_a_restart();
    crash_loop_while_away_is_rolled_back();
    frozen_apiserver_is_waited_out();
    rights_taken_away_end_the_tracking();
    apiserver::settle();
}

/// A slow rollout (Ready 20 s after start) survives an API server restart and succeeds, but
/// only after the new pods really are available.
fn slow_rollout_survives_a_restart() {
    let c = Cluster::new("apiserver-slow");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), GENEROUS);
    let generation = c.generation("users");
    let slow = image("slowstart", "users", 2);
    let handle = deploy_in_background(&c, &fleet, &slow);
    c.wait_until("monoship's patch", || c.generation("users") > generation);
    apiserver::restart(Duration::from_secs(2));
    let (code, json, stderr) = outcome(&handle.join().unwrap());
    assert_eq!(code, 0, "{stderr}");
    let r = result_of(&json, "users");
    assert_eq!(r["result"], "deployed", "{r:#}");
    assert!(
        stderr.contains("lost the API server, reconnecting"),
        "the restart went unnoticed:\n{stderr}"
    );
    // Said once, however many watches lost it.
    assert_eq!(
        stderr.matches("lost the API server, reconnecting").count(),
        1,
        "{stderr}"
    );
    let d = c.deployment("users");
    assert_eq!(c.image_of("users"), slow);
    assert_eq!(d["status"]["updatedReplicas"], 2, "{d:#}");
    assert_eq!(d["status"]["availableReplicas"], 2, "{d:#}");
    assert!(
        r["duration_ms"].as_u64().unwrap() >= 20_000,
        "reported success before the slow pods could be Ready: {r:#}"
    );
}

/// A crash loop that starts while the API server is away is still caught and rolled back.
fn crash_loop_while_away_is_rolled_back() {
    let c = Cluster::new("apiserver-crash");
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment("users", &good, GENEROUS);
    let generation = c.generation("users");
    let handle = deploy_in_background(&c, &fleet, &image("crashloop", "users", 3));
    c.wait_until("monoship's patch", || c.generation("users") > generation);
    apiserver::restart(Duration::from_secs(2));
    let (code, json, stderr) = outcome(&handle.join().unwrap());
    assert_eq!(code, 4, "{stderr}");
    let r = result_of(&json, "users");
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    assert_eq!(r["report"]["code"], "CrashLoopBackOff", "{r:#}");
    assert_eq!(c.image_of("users"), good);
}

/// An API server that freezes mid-rollout (connections open, no answer) is waited out.
fn frozen_apiserver_is_waited_out() {
    let c = Cluster::new("apiserver-frozen");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), GENEROUS);
    let generation = c.generation("users");
    let slow = image("slowstart", "users", 4);
    let handle = deploy_in_background(&c, &fleet, &slow);
    c.wait_until("monoship's patch", || c.generation("users") > generation);
    apiserver::freeze(Duration::from_secs(15));
    let (code, json, stderr) = outcome(&handle.join().unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(result_of(&json, "users")["result"], "deployed", "{json:#}");
    assert_eq!(c.image_of("users"), slow);
    assert_eq!(c.deployment("users")["status"]["availableReplicas"], 2);
}

/// Rights taken away mid-rollout: open watches keep theirs, so the API server restarts and they
/// are asked again. The 403 ends the tracking at once (no outage retried for minutes), the
/// rollback is attempted and applied, and the report says it cannot be followed either.
fn rights_taken_away_end_the_tracking() {
    let c = Cluster::new("apiserver-denied");
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment("users", &good, GENEROUS);
    c.kubectl_ok(&["create", "serviceaccount", "deployer"]);
    deployer_role(&c, true);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "deployer",
        "--role=deployer",
        &format!("--serviceaccount={}:deployer", c.namespace),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = c.service_account_kubeconfig("deployer", dir.path());
    let generation = c.generation("users");
    let handle = deploy_as(&c, &fleet, &image("slowstart", "users", 5), &kubeconfig);
    c.wait_until("monoship's patch", || c.generation("users") > generation);
    deployer_role(&c, false);
    apiserver::restart(Duration::from_secs(2));
    let restarted = Instant::now();
    let (code, json, stderr) = outcome(&handle.join().unwrap());
    let after = restarted.elapsed();
    assert_eq!(code, 5, "{stderr}");
    let r = result_of(&json, "users");
    assert_eq!(r["result"], "rollback-failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("forbidden")
            && reason.contains("deployer")
            && reason.contains("pods")
            && reason.contains("cannot be followed either"),
        "{reason}"
    );
    assert!(
        after < Duration::from_secs(30),
        "a denial was waited on for {after:?}:\n{stderr}"
    );
    assert_eq!(c.image_of("users"), good, "the rollback was not applied");
    c.wait_until("the previous revision available again", || {
        c.deployment("users")["status"]["availableReplicas"] == 2
    });
}

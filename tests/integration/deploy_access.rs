//! Errors of `monoship deploy` found before anything changes, against the test cluster
//! (scripts/testenv/up): RBAC without `patch`, a missing namespace or Deployment, a cluster
//! nobody answers for. Each is one line on stderr, its exit code (7 denied, 6 unreachable, 1
//! otherwise), and nothing is changed.

use crate::support::cluster::{self, Cluster, FAST_PROBE, image};
use crate::support::fleet::Fleet;
use crate::support::run::Run;

/// Exit code `code` and one `error:` line on stderr.
fn failed_line(run: &Run, code: i32) -> &str {
    assert_eq!(
        run.code, code,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let line = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(line.starts_with("error:"), "stderr: {}", run.stderr);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    line
}

#[test]
fn a_user_without_patch_rights_gets_one_forbidden_line_and_nothing_changes() {
    let c = Cluster::new("acc-rbac");
    let fleet = Fleet::new();
    let before = image("fleet", "users", 1);
    c.create_deployment("users", &before, FAST_PROBE);
    c.kubectl_ok(&["create", "serviceaccount", "viewer"]);
    c.kubectl_ok(&[
        "create",
        "role",
        "viewer",
        "--verb=get,list,watch",
        "--resource=deployments.apps,replicasets.apps,pods,events",
    ]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "viewer",
        "--role=viewer",
        &format!("--serviceaccount={}:viewer", c.namespace),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = c.service_account_kubeconfig("viewer", dir.path());
    let generation = c.generation("users");
    let run = fleet.run(&[
        "deploy",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--image",
        &format!("users={}", image("fleet", "users", 2)),
    ]);
    let line = failed_line(&run, 7);
    assert!(
        line.contains("forbidden:") && line.contains("cannot patch resource \"deployments\""),
        "{line}"
    );
    assert!(
        line.contains(&format!("system:serviceaccount:{}:viewer", c.namespace)),
        "{line}"
    );
    assert_eq!(c.generation("users"), generation);
    assert_eq!(c.image_of("users"), before);
}

#[test]
fn a_missing_namespace_is_named() {
    let c = Cluster::new("acc-ns");
    let fleet = Fleet::new();
    let kubeconfig = c.kubeconfig.display().to_string();
    let missing = format!("{}-nope", c.namespace);
    let run = fleet.run(&[
        "deploy",
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &missing,
        "--image",
        &format!("users={}", image("fleet", "users", 2)),
    ]);
    let line = failed_line(&run, 1);
    assert_eq!(line, format!("error: namespace `{missing}` does not exist"));
}

#[test]
fn a_missing_deployment_names_manifests_and_generate() {
    let c = Cluster::new("acc-deploy");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let kubeconfig = c.kubeconfig.display().to_string();
    let generation = c.generation("users");
    let run = fleet.run(&[
        "deploy",
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &c.namespace,
        "--image",
        &format!("users={}", image("fleet", "users", 2)),
        "--image",
        &format!("orders={}", image("fleet", "orders", 2)),
        "users",
        "orders",
    ]);
    let line = failed_line(&run, 1);
    assert!(
        line.contains("deployment `orders` not found")
            && line.contains("--manifests")
            && line.contains("monoship generate k8s"),
        "{line}"
    );
    // Checked before anything changed: users was not deployed either.
    assert_eq!(c.generation("users"), generation);
}

#[test]
fn an_unreachable_cluster_is_one_line() {
    let fleet = Fleet::new();
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, port) = cluster::unreachable_kubeconfig(dir.path(), "x");
    let run = fleet.run(&[
        "deploy",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--image",
        &format!("users={}", image("fleet", "users", 2)),
    ]);
    let line = failed_line(&run, 6);
    assert!(
        line.contains("cannot reach the Kubernetes API server")
            && line.contains(&format!("127.0.0.1:{port}")),
        "{line}"
    );
}

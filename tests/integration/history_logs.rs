//! `monoship history` and `monoship logs` against the test cluster (scripts/testenv/up), on a
//! copy of `examples/fleet`, with Deployments changed through kubectl.

use crate::support::cluster::{self, Cluster, wait_for};
use crate::support::fleet::Fleet;
use serde_json::Value;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);
const DIGEST: &str = "sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";
const GIT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

fn deployment_revision(ns: &Cluster, name: &str) -> String {
    ns.deployment(name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Wait until the deployment controller has made revision `n`.
fn wait_revision(ns: &Cluster, name: &str, n: &str) {
    wait_for(&format!("revision {n} of {name}"), TIMEOUT, || {
        let r = deployment_revision(ns, name);
        if r == n {
            Ok(())
        } else {
            Err(format!("revision {r:?}"))
        }
    });
}

/// Deployment catalog with three revisions: made with kubectl, its image set with kubectl, and
/// pinned by digest with the annotations `monoship deploy` writes.
fn catalog_with_three_revisions(ns: &Cluster) {
    ns.create_annotated(
        "catalog",
        "registry.example/catalog:1",
        1,
        &[("kubernetes.io/change-cause", "create catalog:1")],
    );
    wait_revision(ns, "catalog", "1");
    ns.kubectl_ok(&[
        "set",
        "image",
        "deployment/catalog",
        "catalog=registry.example/catalog:2",
    ]);
    ns.kubectl_ok(&[
        "annotate",
        "--overwrite",
        "deployment/catalog",
        "kubernetes.io/change-cause=catalog:2",
    ]);
    wait_revision(ns, "catalog", "2");
    // The third as `monoship deploy` makes it: pinned by digest, with its annotations.
    let third = cluster::deployment_manifest(
        "catalog",
        &format!("registry.example/catalog@{DIGEST}"),
        1,
        &[
            ("kubernetes.io/change-cause", "monoship deploy catalog"),
            ("monoship.dev/digest", DIGEST),
            ("monoship.dev/revision", GIT),
        ],
    );
    ns.apply(&third.to_string());
    wait_revision(ns, "catalog", "3");
}

#[test]
fn history_after_two_image_changes_and_a_rollback() {
    let ns = Cluster::new("ms-history");
    let fleet = Fleet::new();
    catalog_with_three_revisions(&ns);

    let run = ns.monoship(&fleet, &["--format", "json", "history", "catalog"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let h = run.json();
    assert_eq!(
        (h["service"].as_str(), h["deployment"].as_str()),
        (Some("catalog"), Some("catalog"))
    );
    assert_eq!(h["namespace"], ns.namespace.as_str());
    assert_eq!(h["current_revision"], 3);
    let revs = h["revisions"].as_array().unwrap();
    let summary: Vec<(i64, bool, &str)> = revs
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["current"].as_bool().unwrap(),
                r["change_cause"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, false, "create catalog:1"),
            (2, false, "catalog:2"),
            (3, true, "monoship deploy catalog")
        ]
    );
    assert_eq!(revs[0]["image"], "registry.example/catalog:1");
    assert_eq!(revs[0]["digest"], Value::Null);
    assert_eq!(revs[2]["digest"], DIGEST);
    assert_eq!(revs[2]["git_revision"], GIT);
    assert!(revs[2]["created"].as_str().unwrap().ends_with('Z'), "{h:#}");

    // Back to revision 2: it becomes 4 (and remembers it was 2), and is current.
    ns.kubectl_ok(&["rollout", "undo", "deployment/catalog", "--to-revision=2"]);
    wait_revision(&ns, "catalog", "4");
    let run = ns.monoship(&fleet, &["history", "catalog"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].contains("current revision 4"), "{}", run.stdout);
    assert!(
        lines[1].contains("REVISION") && lines[1].ends_with("CHANGE-CAUSE"),
        "{}",
        run.stdout
    );
    let current: Vec<&&str> = lines.iter().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "{}", run.stdout);
    let row: Vec<&str> = current[0].split_whitespace().collect();
    assert_eq!(row[1..4], ["4", "(was", "2)"], "{}", run.stdout);
    assert!(current[0].ends_with("catalog:2"), "{}", run.stdout);
    let third_row = lines
        .iter()
        .find(|l| l.trim_start().starts_with("3 "))
        .unwrap();
    assert!(third_row.contains("sha256:9e8d7c6b5a4f") && third_row.contains("a1b2c3d4e5f6"));

    let run = ns.monoship(&fleet, &["history", "billing"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("deployment `billing` not found in namespace"),
        "{}",
        run.stderr
    );
}

/// Whether the cluster's nodes serve logs (kwok's log simulation): asked with kubectl.
fn nodes_serve_logs(ns: &Cluster, pod: &str) -> bool {
    let (ok, _, stderr) = ns.kubectl_try(&["logs", pod]);
    assert!(
        ok || stderr.contains("NotFound") || stderr.contains("dial tcp"),
        "kubectl logs failed unexpectedly: {stderr}"
    );
    ok
}

fn ready_pods(ns: &Cluster, app: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} ready pods of {app}"), TIMEOUT, || {
        let out = ns.kubectl_ok(&[
            "get",
            "pods",
            "-l",
            &format!("app={app}"),
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].ready}{\"\\n\"}{end}",
        ]);
        let ready: Vec<String> = out
            .lines()
            .filter(|l| l.ends_with(" true"))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        if ready.len() == n && out.lines().count() == n {
            Ok(ready)
        } else {
            Err(out)
        }
    })
}

#[test]
fn logs_of_every_pod_prefixed_or_the_node_serves_none() {
    let ns = Cluster::new("ms-logs");
    let fleet = Fleet::new();
    ns.create_annotated("users", "registry.example/users:1", 2, &[]);
    let pods = ready_pods(&ns, "users", 2);
    let run = ns.monoship(&fleet, &["logs", "users", "--tail", "5"]);
    if nodes_serve_logs(&ns, &pods[0]) {
        assert_eq!(run.code, 0, "{}", run.stderr);
        for pod in &pods {
            let theirs = ns.kubectl_ok(&["logs", pod, "--tail", "5"]);
            let ours: Vec<&str> = run
                .stdout
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("[{pod}] ")))
                .collect();
            assert_eq!(ours, theirs.lines().collect::<Vec<_>>(), "{}", run.stdout);
        }
        let json = ns.monoship(
            &fleet,
            &["--format", "json", "logs", "users", "--tail", "1"],
        );
        for line in json.stdout.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(pods.iter().any(|p| v["pod"] == p.as_str()) && v["container"] == "users");
        }
    } else {
        // The simulated nodes run no kubelet log endpoint: one clear line, exit code 1.
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let line = run.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{}", run.stderr);
        assert!(
            line.starts_with("error: no logs of `users`: the node does not serve logs (2 pods on"),
            "{line}"
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }

    follow_every_pod(&ns, &fleet, &pods);

    let run = ns.monoship(&fleet, &["logs", "users", "--container", "sidecar"]);
    let line = run.usage_error();
    assert!(
        line.contains("has no container `sidecar` (containers: users)"),
        "{line}"
    );
    let run = ns.monoship(&fleet, &["logs", "orders"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("deployment `orders` not found"),
        "{}",
        run.stderr
    );
}

/// --follow on all pods at once: lines as they come (then Ctrl-C ends it with 0), or the same
/// clear error as soon as every node has refused.
fn follow_every_pod(ns: &Cluster, fleet: &Fleet, pods: &[String]) {
    let served = nodes_serve_logs(ns, &pods[0]);
    let mut child = ns
        .monoship_command(fleet, &["logs", "users", "--follow", "--tail", "1"])
        .spawn();
    if served {
        std::thread::sleep(Duration::from_secs(4));
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
    }
    let status = wait_for("logs --follow to end", Duration::from_secs(10), || {
        child
            .try_wait()
            .unwrap()
            .ok_or_else(|| "running".to_string())
    });
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    for pod in pods {
        assert!(
            stderr.contains(&format!("following pod {pod} (container users)")),
            "{stderr}"
        );
    }
    if served {
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(
            stdout
                .lines()
                .all(|l| pods.iter().any(|p| l.starts_with(&format!("[{p}] "))))
        );
    } else {
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error: no logs of `users`: the node does not serve logs"),
            "{stderr}"
        );
    }
}

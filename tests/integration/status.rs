//! `monoship status` against the test cluster (scripts/testenv/up): Deployments made with
//! kubectl for services of a copy of `examples/fleet`, read through the real binary — the
//! table, the JSON, a crash-looping rollout, a missing Deployment, and `--watch`.

use crate::support::cluster::{Cluster, wait_for};
use crate::support::fleet::{self, Fleet};
use crate::support::snapshot;
use serde_json::Value;
use std::io::BufRead;
use std::sync::mpsc;
use std::time::Duration;

const DIGEST: &str = "sha256:5f0c1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeef";
const GIT: &str = "4c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5";
const TIMEOUT: Duration = Duration::from_secs(90);

fn service<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("{name} is not in {report:#}"))
}

/// users: digest-pinned with monoship's annotations, 2 replicas; orders: crash-looping.
fn users_and_orders(ns: &Cluster) {
    ns.create_annotated(
        "users",
        &format!("registry.example/users@{DIGEST}"),
        2,
        &[
            ("monoship.dev/digest", DIGEST),
            ("monoship.dev/revision", GIT),
        ],
    );
    ns.create_annotated("orders", "registry.example/orders-crashloop:1", 1, &[]);
}

/// `status --format json` of `services` until `done` says the report is the one expected.
fn status_until(
    ns: &Cluster,
    fleet: &Fleet,
    services: &[&str],
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut args = vec!["--format", "json", "status"];
    args.extend_from_slice(services);
    wait_for("the expected status", TIMEOUT, || {
        let run = ns.monoship(fleet, &args);
        if run.code != 0 {
            panic!("status failed ({}): {}", run.code, run.stderr);
        }
        let report = run.json();
        if done(&report) {
            Ok(report)
        } else {
            Err(report.to_string())
        }
    })
}

#[test]
fn complete_failed_and_missing_in_json_and_table() {
    let ns = Cluster::new("ms-status");
    let fleet = Fleet::new();
    users_and_orders(&ns);
    let report = status_until(&ns, &fleet, &["users", "orders", "billing"], |r| {
        service(r, "users")["state"] == "complete" && service(r, "orders")["state"] == "failed"
    });
    assert_eq!(report["namespace"], ns.namespace.as_str());
    let names: Vec<&str> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["users", "orders", "billing"], "in the order asked");

    let users = service(&report, "users");
    assert_eq!(users["deployment"], "users");
    for key in ["desired", "updated", "ready", "available"] {
        assert_eq!(users[key], 2, "{key}: {users:#}");
    }
    assert_eq!(users["digest"], DIGEST);
    assert_eq!(users["revision"], GIT);
    assert_eq!(users["reason"], Value::Null);
    assert!(users["age_seconds"].as_i64().unwrap() >= 0, "{users:#}");

    let orders = service(&report, "orders");
    let reason = orders["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("orders-") && reason.contains("container orders crash-looping"),
        "{reason}"
    );
    assert!(reason.contains("exit code 1"), "{reason}");
    assert_eq!(orders["available"], 0);

    let billing = service(&report, "billing");
    assert_eq!(billing["state"], "missing");
    for key in ["desired", "digest", "revision", "age_seconds", "reason"] {
        assert_eq!(billing[key], Value::Null, "{key}: {billing:#}");
    }

    // The table: the rows in the order asked, digest and revision shortened, the failure's
    // reason, `-` for what a missing Deployment cannot tell.
    let run = ns.monoship(&fleet, &["status", "users", "orders", "billing"]);
    let _redacted = snapshot::redact()
        .ages()
        .pods_of("orders")
        .pattern(r"\b\d+ restarts?\)", "[N] restarts)")
        .columns()
        .scope();
    insta::assert_snapshot!("table", run.ok().stdout);
}

#[test]
fn every_service_by_default_and_the_namespace_from_the_configuration() {
    let ns = Cluster::new("ms-status-all");
    let fleet = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            &format!(
                "\n[workspace.metadata.monoship]\nnamespace = \"{}\"\ndeployment = \"svc-{{service}}\"\n",
                ns.namespace
            ),
        );
    });
    ns.create_annotated("svc-search", "registry.example/search:1", 1, &[]);
    let report = wait_for("search complete", TIMEOUT, || {
        let run = fleet.run(&[
            "--format",
            "json",
            "status",
            "--kubeconfig",
            ns.kubeconfig_arg(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let r = run.json();
        if service(&r, "search")["state"] == "complete" {
            Ok(r)
        } else {
            Err(r.to_string())
        }
    });
    assert_eq!(report["namespace"], ns.namespace.as_str());
    assert_eq!(
        report["services"].as_array().unwrap().len(),
        fleet::ALL.len()
    );
    assert_eq!(service(&report, "search")["deployment"], "svc-search");
    assert_eq!(service(&report, "users")["state"], "missing");
    // The table has a DEPLOYMENT column when a name differs from its service's.
    let run = fleet.run(&["status", "--kubeconfig", ns.kubeconfig_arg()]);
    let _redacted = snapshot::redact().ages().columns().scope();
    insta::assert_snapshot!("every_service", run.ok().stdout);

    let run = ns.monoship(&fleet, &["status", "nosuchservice"]);
    let line = run.usage_error();
    assert!(line.contains("unknown service `nosuchservice`"), "{line}");
}

#[test]
fn watch_renders_each_change_until_interrupted() {
    let ns = Cluster::new("ms-status-watch");
    let fleet = Fleet::new();
    users_and_orders(&ns);
    status_until(&ns, &fleet, &["users"], |r| {
        service(r, "users")["state"] == "complete"
    });

    let mut child = ns
        .monoship_command(&fleet, &["--format", "json", "status", "users", "--watch"])
        .spawn();
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("--watch --format json line is not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("no report while waiting for {what}"))
    };
    let first = next("the first report");
    assert_eq!(service(&first, "users")["state"], "complete");

    // A new image without monoship's annotations: progressing, then complete again with no
    // digest.
    ns.kubectl_ok(&[
        "set",
        "image",
        "deployment/users",
        "users=registry.example/users:2",
    ]);
    let mut states = Vec::new();
    loop {
        let r = next("the rollout of users:2");
        let u = service(&r, "users");
        states.push(u["state"].as_str().unwrap().to_string());
        if u["state"] == "complete" {
            assert_eq!(u["digest"], Value::Null, "{u:#}");
            break;
        }
        assert_eq!(u["state"], "progressing", "{u:#}");
    }
    assert!(states.len() >= 2, "every change is rendered: {states:?}");

    // Ctrl-C ends watching with exit code 0.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = wait_for("monoship to exit", Duration::from_secs(10), || {
        child
            .try_wait()
            .unwrap()
            .ok_or_else(|| "still running".to_string())
    });
    assert_eq!(status.code(), Some(0));
}

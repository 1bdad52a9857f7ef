//! Failed rollouts on the test cluster (scripts/testenv/up): each failure is detected with its
//! reason, reported, and rolled back while the previous pods stay available; a Deployment
//! changed by someone else mid-rollout is not rolled back; dependencies and --fail-fast skip.

use crate::support::cluster::{Cluster, FAST_PROBE, Probe, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of, rolled_back, seconds_between};

#[test]
fn crash_loop_is_detected_reported_and_rolled_back() {
    let bad = image("crashloop", "users", 2);
    let (r, stderr) = rolled_back("fail-crash", &bad, &["CrashLoopBackOff"], FAST_PROBE);
    let latency = seconds_between(&stderr, "users: patched", "users: rollout failed");
    eprintln!("crash-loop verdict {latency:.1} s after the patch");
    assert!(latency < 20.0, "verdict after {latency} s:\n{stderr}");
    let report = &r["report"];
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("last exit code 1")
    );
    let container = &report["pods"][0]["containers"][0];
    assert!(
        container["state"]
            .as_str()
            .unwrap()
            .starts_with("waiting: CrashLoopBackOff"),
        "{container:#}"
    );
    assert_eq!(container["last_state"], "terminated: exit 1 (Error)");
    // Logs of the crashed instance are asked for; the fake nodes have none to give.
    assert_eq!(report["logs"]["previous"], true);
}

#[test]
fn image_pull_failure_is_detected_and_rolled_back() {
    let bad = image("pullfail", "users", 3);
    let (r, _) = rolled_back(
        "fail-pull",
        &bad,
        &["ErrImagePull", "ImagePullBackOff"],
        FAST_PROBE,
    );
    assert!(r["reason"].as_str().unwrap().contains("cannot pull image"));
}

#[test]
fn never_ready_fails_at_the_readiness_probe_budget() {
    // Readiness every 1 s, 2 failures: the budget is 2 s + 5 s grace after the start.
    let probe = Probe {
        period: 1,
        failures: 2,
    };
    let bad = image("neverready", "users", 4);
    let (r, stderr) = rolled_back("fail-ready", &bad, &["ReadinessTimeout"], probe);
    assert!(
        r["reason"].as_str().unwrap().contains("probe budget 7 s"),
        "{r:#}"
    );
    let latency = seconds_between(&stderr, "users: patched", "users: rollout failed");
    assert!(
        (7.0..25.0).contains(&latency),
        "verdict after {latency} s:\n{stderr}"
    );
}

#[test]
fn never_ready_without_a_readiness_probe_ends_at_the_deadline_from_the_probes() {
    let c = Cluster::new("fail-deadline");
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    // A startup probe only: 0 s + 1 × 1 s, so the deadline is 1 s + 30 s margin.
    c.create_deployment_with(
        "users",
        &good,
        serde_json::json!({"startupProbe": {"tcpSocket": {"port": 9100},
                                            "periodSeconds": 1, "failureThreshold": 1}}),
    );
    let bad = image("neverready", "users", 6);
    let run = monoship(&c, &fleet, "deploy", &["--image", &format!("users={bad}")]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = run.json();
    let r = result_of(&out, "users");
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    assert_eq!(r["report"]["code"], "Timeout");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("deadline 31 s without progress, from the probes"),
        "{reason}"
    );
    let latency = seconds_between(&run.stderr, "users: patched", "users: rollout failed");
    assert!((31.0..45.0).contains(&latency), "verdict after {latency} s");
    assert_eq!(c.image_of("users"), good);
}

#[test]
fn timeout_fails_a_rollout_that_is_too_slow() {
    let c = Cluster::new("fail-timeout");
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    // A generous readiness budget, so only --timeout can end it: slowstart is Ready after 20 s.
    c.create_deployment(
        "users",
        &good,
        Probe {
            period: 10,
            failures: 6,
        },
    );
    let slow = image("slowstart", "users", 5);
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &["--timeout", "5s", "--image", &format!("users={slow}")],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = run.json();
    let r = result_of(&out, "users");
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    assert_eq!(r["report"]["code"], "Timeout");
    assert!(
        r["reason"].as_str().unwrap().contains("--timeout 5 s"),
        "{r:#}"
    );
    assert_eq!(c.image_of("users"), good);
}

#[test]
fn one_good_one_bad_service_in_the_same_run() {
    let c = Cluster::new("fail-mixed");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    c.create_deployment("orders", &image("fleet", "orders", 1), FAST_PROBE);
    let good = image("fleet", "users", 2);
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &[
            "--image",
            &format!("users={good}"),
            "--image",
            &format!("orders={}", image("crashloop", "orders", 2)),
        ],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = run.json();
    assert_eq!(result_of(&out, "users")["result"], "deployed");
    assert_eq!(result_of(&out, "orders")["result"], "rolled-back");
    assert_eq!(c.image_of("users"), good);
    assert_eq!(c.image_of("orders"), image("fleet", "orders", 1));
}

#[test]
fn a_failed_dependency_skips_its_dependents_and_fail_fast_skips_the_rest() {
    let c = Cluster::new("fail-deps");
    let fleet = Fleet::new_with(|f| {
        f.append(
            "apps/orders/Cargo.toml",
            "\n[package.metadata.monoship]\ndepends-on = [\"users\"]\n",
        );
    });
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    c.create_deployment("orders", &image("fleet", "orders", 1), FAST_PROBE);
    c.create_deployment("email", &image("fleet", "email", 1), FAST_PROBE);
    let flags = [
        "--image".to_string(),
        format!("users={}", image("crashloop", "users", 2)),
        "--image".to_string(),
        format!("orders={}", image("fleet", "orders", 2)),
    ];
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = run.json();
    assert_eq!(result_of(&out, "users")["result"], "rolled-back");
    let orders = result_of(&out, "orders");
    assert_eq!(orders["result"], "skipped");
    assert_eq!(orders["reason"], "dependency users failed");
    assert_eq!(c.image_of("orders"), image("fleet", "orders", 1));

    // One at a time, bad first: after it fails nothing more starts.
    let mut args = vec!["users", "email", "--parallel", "1", "--fail-fast"];
    let bad = format!("users={}", image("pullfail", "users", 3));
    let email = format!("email={}", image("fleet", "email", 3));
    args.extend(["--image", &bad, "--image", &email]);
    let fleet = Fleet::new();
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = run.json();
    let email = result_of(&out, "email");
    assert_eq!(email["result"], "skipped", "{out:#}");
    assert!(email["reason"].as_str().unwrap().contains("--fail-fast"));
    assert_eq!(c.image_of("email"), image("fleet", "email", 1));
}

#[test]
fn a_change_by_someone_else_mid_rollout_supersedes_without_a_rollback() {
    let c = Cluster::new("fail-superseded");
    let fleet = Fleet::new();
    c.create_deployment(
        "users",
        &image("fleet", "users", 1),
        Probe {
            period: 10,
            failures: 6,
        },
    );
    let generation = c.generation("users");
    let ours = image("slowstart", "users", 2);
    let theirs = image("fleet", "users", 9);
    let flag = format!("users={ours}");
    let handle = c
        .monoship_command(&fleet, &["--format", "json", "deploy", "--image", &flag])
        .in_background();
    c.wait_until("our patch", || c.generation("users") > generation);
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/users",
        &format!("users={theirs}"),
    ]);
    let run = handle.join().unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    let r = result_of(&json, "users");
    assert_eq!(r["result"], "error", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("superseded by another change") && reason.contains(&theirs),
        "{reason}"
    );
    assert!(r["rollback"].is_null(), "{r:#}");
    // Their change stands.
    assert_eq!(c.image_of("users"), theirs);
    c.kubectl_ok(&["rollout", "status", "deployment/users", "--timeout=60s"]);
    assert_eq!(c.image_of("users"), theirs);
}

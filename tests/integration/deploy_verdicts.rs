//! The reasons a rollout fails for, each shown by the test cluster's control plane
//! (scripts/testenv/up; the pods are played by the kwok stages of the image's mode): OOM kills
//! and liveness-probe kills past the restart budget, a container that cannot be created, and
//! the Deployment's own progress deadline. Each is detected with its code, named on stderr and
//! rolled back while the previous pods stay available.

use crate::support::cluster::{FAST_PROBE, Probe, image};
use crate::support::rollout::{Setup, rolled_back, rolled_back_with, seconds_between};
use serde_json::{Value, json};

/// The line on stderr that names the failure, and the seconds from the patch to it.
fn failure_line(stderr: &str, code: &str) -> f64 {
    let prefix = format!("users: rollout failed: {code}: ");
    assert!(
        stderr.lines().any(|l| l.contains(&prefix)),
        "no `{prefix}` on stderr:\n{stderr}"
    );
    seconds_between(stderr, "users: patched", "users: rollout failed")
}

/// The report's message for a container killed over and over, checked for what every kill loop
/// shows: the kubelet's CrashLoopBackOff between the kills is not the verdict, the third restart
/// is (1 s + 1 s, 2 s back-off, 1 s, 4 s back-off, 1 s after scheduling), past the budget of 2.
fn kill_loop_message<'a>(r: &'a Value, stderr: &str, code: &str) -> &'a str {
    let latency = failure_line(stderr, code);
    eprintln!("{code} verdict {latency:.1} s after the patch");
    assert!(
        (8.0..30.0).contains(&latency),
        "verdict after {latency} s:\n{stderr}"
    );
    let message = r["report"]["message"].as_str().unwrap();
    assert!(
        message.contains("restarted 3 times (more than 2)"),
        "{message}"
    );
    message
}

/// The first container of the first new pod in the failure report.
fn first_container(r: &Value) -> &Value {
    &r["report"]["pods"][0]["containers"][0]
}

#[test]
fn oom_kills_past_the_restart_budget_are_detected_and_rolled_back() {
    let bad = image("oomkill", "users", 7);
    let (r, stderr) = rolled_back("verdict-oom", &bad, &["OOMKilled"], FAST_PROBE);
    let message = kill_loop_message(&r, &stderr, "OOMKilled");
    assert!(
        message.contains("last exit code 137 (OOMKilled)"),
        "{message}"
    );
    let container = first_container(&r);
    assert_eq!(container["restarts"], 3, "{container:#}");
    assert_eq!(container["last_state"], "terminated: exit 137 (OOMKilled)");
    assert_eq!(r["report"]["logs"]["previous"], true);
}

#[test]
fn liveness_probe_kills_past_the_restart_budget_are_detected_and_rolled_back() {
    let mut probes = FAST_PROBE.readiness();
    probes["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": 9100},
                                     "periodSeconds": 1, "failureThreshold": 1});
    let setup = Setup {
        probes,
        spec: json!({}),
        args: &[],
    };
    let bad = image("probefail", "users", 8);
    let (r, stderr) = rolled_back_with("verdict-probe", &bad, &["ProbeFailed"], setup);
    // Why, from the pod's Unhealthy events; the exit code alone does not say.
    let message = kill_loop_message(&r, &stderr, "ProbeFailed");
    assert!(
        message.ends_with(": Liveness probe failed: HTTP probe failed with statuscode: 500"),
        "{message}"
    );
    let container = first_container(&r);
    assert_eq!(container["last_state"], "terminated: exit 137 (Error)");
    let events = r["report"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "Warning" && e["reason"] == "Unhealthy"),
        "{events:#?}"
    );
}

#[test]
fn a_container_that_cannot_be_created_is_detected_and_rolled_back() {
    let bad = image("configerror", "users", 9);
    let code = "CreateContainerConfigError";
    let (r, stderr) = rolled_back("verdict-config", &bad, &[code], FAST_PROBE);
    let latency = failure_line(&stderr, code);
    eprintln!("{code} verdict {latency:.1} s after the patch");
    assert!(latency < 15.0, "verdict after {latency} s:\n{stderr}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains(r#"CreateContainerConfigError: secret "app-secrets" not found"#),
        "{reason}"
    );
    let container = first_container(&r);
    assert!(
        container["state"]
            .as_str()
            .unwrap()
            .starts_with("waiting: CreateContainerConfigError"),
        "{container:#}"
    );
    assert_eq!(container["restarts"], 0, "{container:#}");
}

#[test]
fn the_deployments_progress_deadline_is_detected_and_rolled_back() {
    // Readiness every 10 s, 6 failures: the probe budget (65 s) and --timeout are far off, so
    // only the Deployment controller's progressDeadlineSeconds can end the rollout.
    let setup = Setup {
        probes: Probe {
            period: 10,
            failures: 6,
        }
        .readiness(),
        spec: json!({"progressDeadlineSeconds": 10}),
        args: &["--timeout", "90s"],
    };
    let bad = image("neverready", "users", 10);
    let code = "ProgressDeadlineExceeded";
    let (r, stderr) = rolled_back_with("verdict-deadline", &bad, &[code], setup);
    let latency = failure_line(&stderr, code);
    eprintln!("{code} verdict {latency:.1} s after the patch");
    // The controller counts the deadline from a condition time kept to the second, so it can
    // fire up to a second before 10 s have passed since the patch.
    assert!(
        (9.0..30.0).contains(&latency),
        "verdict after {latency} s:\n{stderr}"
    );
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("has timed out progressing"), "{reason}");
    // The new pod runs and is simply never Ready.
    let container = first_container(&r);
    assert!(
        container["state"].as_str().unwrap().starts_with("running"),
        "{container:#}"
    );
}

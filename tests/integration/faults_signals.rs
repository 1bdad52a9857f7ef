//! The fault suite, signals: `deploy` and `rollback` interrupted by SIGINT and SIGTERM on the
//! test cluster (scripts/testenv/up). A first signal starts no new rollout and rolls back the
//! ones in flight: the table says `interrupted`, the exit code is the signal's, the Deployment
//! ends on its previous healthy revision with its pods available; a second signal stops at once.
//! Cases assert as `fault::assert_fails` does, but for stdout, which holds the table.
//!
//! `MONOSHIP_FAULTS_BIN` runs the cases against another build of monoship.

use crate::support::cluster::{self, Cluster, FAST_PROBE, image};
use crate::support::deploy_faults::{
    After, assert_after, finish, kill, spawn, spawn_command, users, wait_for_line,
};
use crate::support::fault::{self, Expect};
use crate::support::fleet::Fleet;
use std::time::{Duration, Instant};

/// Interrupt a deploy of `bad` right after its patch: the rollout is rolled back, the table
/// says `interrupted`, the exit code is the signal's.
fn interrupted(prefix: &str, bad: &str, signal: &str, code: i32) {
    let c = Cluster::new(prefix);
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment("users", &good, FAST_PROBE);
    let flag = format!("users={bad}");
    let (child, rx) = spawn(&c, &fleet, &["--image", &flag]);
    let mut seen = Vec::new();
    wait_for_line(&rx, "users: patched", &mut seen);
    kill(&child, signal.trim_start_matches("SIG"));
    let out = finish(child, rx, seen);
    let case = format!("{bad} interrupted by {signal}");
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    let context = format!("case `{case}`:\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(out.code, code, "exit code of {context}");
    assert!(!stderr.contains("panicked"), "panic in {context}");
    fault::assert_no_secret(&[stdout, stderr], &case);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("users "))
        .unwrap_or_else(|| panic!("no row for users in {context}"));
    assert!(
        row.contains("interrupted")
            && row.contains(&format!("interrupted by {signal}: rolled back")),
        "{context}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line in {context}");
    assert!(
        errors[0].contains(&format!("interrupted by {signal}"))
            && errors[0].contains("1 rollout(s) rolled back"),
        "{context}"
    );
    assert_after(&c, &case, &After::Healthy(good), &(0, String::new()));
}

#[test]
fn sigint_during_a_slow_rollout() {
    interrupted(
        "fd-int-slow",
        &image("slowstart", "users", 2),
        "SIGINT",
        130,
    );
}

#[test]
fn sigterm_during_a_slow_rollout() {
    interrupted(
        "fd-term-slow",
        &image("slowstart", "users", 3),
        "SIGTERM",
        143,
    );
}

#[test]
fn sigint_during_a_crash_loop() {
    interrupted(
        "fd-int-crash",
        &image("crashloop", "users", 4),
        "SIGINT",
        130,
    );
}

#[test]
fn sigterm_during_a_crash_loop() {
    interrupted(
        "fd-term-crash",
        &image("crashloop", "users", 5),
        "SIGTERM",
        143,
    );
}

/// `rollback` interrupted: the rollback in flight is followed for at most 30 s more. This one
/// takes about 42 s (two pods, one at a time, each Ready 20 s after it starts): the run ends at
/// the bound with exit code 130 and says the rollback is not finished; the cluster finishes it.
#[test]
fn sigint_during_a_rollback() {
    let c = Cluster::new("fd-int-rb");
    let fleet = Fleet::new();
    let generous = cluster::Probe {
        period: 10,
        failures: 6,
    };
    let slow = image("slowstart", "users", 1);
    c.create_deployment("users", &slow, generous);
    c.kubectl_ok(&["set", "image", "deployment/users", &users(2)]);
    c.kubectl_ok(&["rollout", "status", "deployment/users", "--timeout=60s"]);
    let (child, rx) = spawn_command(&c, &fleet, "rollback", &["users"]);
    let mut seen = Vec::new();
    wait_for_line(&rx, "users: patched", &mut seen);
    kill(&child, "INT");
    let interrupted_at = Instant::now();
    let out = finish(child, rx, seen);
    let bound = interrupted_at.elapsed();
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    let context = format!("stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(out.code, 130, "{context}");
    assert!(
        (Duration::from_secs(25)..Duration::from_secs(40)).contains(&bound),
        "ended {bound:?} after the signal: {context}"
    );
    assert!(!stderr.contains("panicked"), "{context}");
    assert!(
        stdout.contains("interrupted by SIGINT: rollback not finished: Timeout")
            && stdout.contains("followed for at most 30 s after SIGINT"),
        "{context}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{context}"
    );
    assert_after(
        &c,
        "rollback interrupted",
        &After::Healthy(slow),
        &(0, String::new()),
    );
}

/// A second signal ends the run at once and names what it leaves unfinished.
#[test]
fn a_second_signal_stops_at_once() {
    let c = Cluster::new("fd-twice");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let flag = format!("users={}", image("slowstart", "users", 2));
    let (child, rx) = spawn(&c, &fleet, &["--image", &flag]);
    let mut seen = Vec::new();
    wait_for_line(&rx, "users: patched", &mut seen);
    kill(&child, "INT");
    wait_for_line(&rx, "SIGINT: stopping", &mut seen);
    kill(&child, "INT");
    let started = Instant::now();
    let out = finish(child, rx, seen);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not stop at once"
    );
    fault::assert_fails(
        &out,
        &Expect {
            case: "second SIGINT",
            code: 130,
            names: &["SIGINT again", "left unfinished", "users: its"],
        },
    );
}

//! The test cluster's kube-apiserver taken away under the tests' feet: killed and started
//! again, or frozen. Only a test holding the cluster alone ([`cluster::alone`]) may do it.

use super::cluster::{self, Cluster};
use super::testenv;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The test environment's kube-apiserver: its pid (checked against its command line), its
/// arguments, and its pid file.
fn apiserver() -> (i32, Vec<String>, PathBuf) {
    let state = PathBuf::from(testenv::env("MONOSHIP_TESTENV_STATE")).join("k8s");
    let pid_file = state.join("kube-apiserver.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(
        argv[0].ends_with("kube-apiserver"),
        "pid {pid} is not kube-apiserver: {argv:?}"
    );
    (pid, argv, pid_file)
}

/// Wait until the controllers work again after the API server came back (their watches can
/// take a minute or more to notice a restart): a Deployment made now is rolled out. For the
/// end of a test that has the cluster alone, so that the tests after it find it working.
pub fn settle() {
    cluster::assert_alone("settling the cluster");
    let c = Cluster::new("apiserver-settle");
    let image = cluster::image("fleet", "settle", 1);
    c.apply(&cluster::deployment_manifest("settle", &image, 2, &[]).to_string());
    cluster::wait_for(
        "the controllers after the API server",
        Duration::from_secs(300),
        || {
            let d = c.deployment("settle");
            let available = &d["status"]["availableReplicas"];
            (*available == 2)
                .then_some(())
                .ok_or_else(|| available.to_string())
        },
    );
}

/// Freeze the API server (SIGSTOP) for `frozen_for`: connections stay open and nothing answers.
pub fn freeze(frozen_for: Duration) {
    cluster::assert_alone("freezing the API server");
    let (pid, _, _) = apiserver();
    testenv::run_ok(Command::new("kill").args(["-STOP", &pid.to_string()]));
    std::thread::sleep(frozen_for);
    testenv::run_ok(Command::new("kill").args(["-CONT", &pid.to_string()]));
}

/// Restart the test cluster's kube-apiserver as if it crashed: kill the process recorded in
/// `$MONOSHIP_TESTENV_STATE/k8s/kube-apiserver.pid` (SIGKILL: a graceful stop can take a
/// minute draining requests), wait `down_for`, start it again with the same command line (as
/// scripts/testenv/k8s starts it: detached, output appended to its log) and record the new pid
/// there. Returns once /readyz answers. Keep `down_for` short: `scripts/testenv/up` run by
/// anyone meanwhile would take the environment for stale and recreate it.
pub fn restart(down_for: Duration) {
    cluster::assert_alone("restarting the API server");
    let (pid, argv, pid_file) = apiserver();
    let state = pid_file.parent().unwrap().to_path_buf();
    testenv::run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]));
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "kube-apiserver did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(down_for);
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(state.join("kube-apiserver.log"))
        .unwrap();
    let child = Command::new("setsid")
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting kube-apiserver");
    std::fs::write(&pid_file, format!("{}\n", child.id())).unwrap();
    // Not waited for: it runs on after the test, like the one scripts/testenv/k8s started.
    std::mem::forget(child);
    let kubectl = testenv::env("MONOSHIP_TEST_KUBECTL");
    let kubeconfig = testenv::env("MONOSHIP_TEST_KUBECONFIG");
    let start = Instant::now();
    loop {
        let out = Command::new(&kubectl)
            .args(["--kubeconfig", &kubeconfig, "get", "--raw", "/readyz"])
            .output()
            .unwrap();
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "kube-apiserver is not ready again"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

//! A namespace of its own on the test cluster (scripts/testenv/up), Deployments made with
//! kubectl, and a sampler of a Deployment's available replicas.
//!
//! Include it with `#[path = "support/cluster.rs"] mod cluster;` (it needs
//! `#[path = "support/testenv.rs"] mod testenv;` next to it).
#![allow(dead_code)]

use crate::testenv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `example.test/<path>/<service>@sha256:<n repeated>`; the path chooses the pod behaviour
/// (`fleet` normal, `crashloop`, `oomkill`, `probefail`, `configerror`, `pullfail`,
/// `neverready`, `slowstart`: scripts/testenv/README.md).
pub fn image(path: &str, service: &str, n: u8) -> String {
    let hex = format!("{:x}", n % 16).repeat(60);
    format!("example.test/{path}/{service}@sha256:{hex}{:04x}", n as u16)
}

/// The `sha256:…` of a digest reference.
pub fn digest(reference: &str) -> &str {
    reference.rsplit_once('@').unwrap().1
}

/// How a test Deployment probes readiness.
#[derive(Clone, Copy)]
pub struct Probe {
    pub period: u32,
    pub failures: u32,
}

impl Probe {
    /// `{"readinessProbe": …}` (TCP on port 9100) to merge into a container.
    pub fn readiness(self) -> Value {
        serde_json::json!({
            "readinessProbe": {"tcpSocket": {"port": 9100},
                "periodSeconds": self.period, "failureThreshold": self.failures}
        })
    }
}

pub const FAST_PROBE: Probe = Probe {
    period: 1,
    failures: 3,
};

pub struct Cluster {
    pub namespace: String,
    pub kubeconfig: PathBuf,
    kubectl: String,
}

impl Cluster {
    /// A fresh namespace named `<prefix>-<unique>`, deleted when dropped.
    pub fn new(prefix: &str) -> Cluster {
        let kubeconfig = PathBuf::from(testenv::env("MONOSHIP_TEST_KUBECONFIG"));
        let kubectl = testenv::env("MONOSHIP_TEST_KUBECTL");
        let namespace = format!("{prefix}-{}", testenv::unique()).to_lowercase();
        let c = Cluster {
            namespace,
            kubeconfig,
            kubectl,
        };
        c.kubectl_ok(&["create", "namespace", &c.namespace]);
        c
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args);
        cmd
    }

    /// Run kubectl in the namespace; it must succeed. Its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        testenv::run_ok(&mut self.command(args))
    }

    /// Run kubectl with `stdin` as input; it must succeed.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).unwrap()
    }

    /// A Deployment `name` (label app=name, one container `name`) with 2 replicas, rolling
    /// update maxSurge 1 / maxUnavailable 0 and a readiness probe, rolled out.
    pub fn create_deployment(&self, name: &str, image: &str, probe: Probe) {
        self.create_deployment_with(name, image, probe.readiness());
    }

    /// Like [`Cluster::create_deployment`], with `probes` (`readinessProbe`, `startupProbe`, …)
    /// merged into the container.
    pub fn create_deployment_with(&self, name: &str, image: &str, probes: Value) {
        self.create_deployment_spec(name, image, probes, serde_json::json!({}));
    }

    /// Like [`Cluster::create_deployment_with`], with `spec` (`progressDeadlineSeconds`, …)
    /// merged into the Deployment's spec.
    pub fn create_deployment_spec(&self, name: &str, image: &str, probes: Value, spec: Value) {
        let mut container = serde_json::json!({"name": name, "image": image});
        for (k, v) in probes.as_object().unwrap() {
            container[k] = v.clone();
        }
        let mut manifest = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [container]}
                }
            }
        });
        for (k, v) in spec.as_object().unwrap() {
            manifest["spec"][k] = v.clone();
        }
        self.kubectl_stdin(&["apply", "-f", "-"], &manifest.to_string());
        self.kubectl_ok(&[
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "--timeout=90s",
        ]);
    }

    pub fn deployment(&self, name: &str) -> Value {
        self.json(&["get", "deployment", name])
    }

    /// The image of the Deployment's first container.
    pub fn image_of(&self, name: &str) -> String {
        self.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn generation(&self, name: &str) -> i64 {
        self.deployment(name)["metadata"]["generation"]
            .as_i64()
            .unwrap()
    }

    /// The ReplicaSets of app=`name`.
    pub fn replica_sets(&self, name: &str) -> Vec<Value> {
        self.json(&["get", "replicasets", "-l", &format!("app={name}")])["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Wait (up to 60 s) until `check` holds.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sample `status.availableReplicas` of Deployment `name` until stopped.
    pub fn sample_available(&self, name: &str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let mut cmd_args = vec![
            "--kubeconfig".to_string(),
            self.kubeconfig.display().to_string(),
            "--namespace".to_string(),
            self.namespace.clone(),
        ];
        cmd_args.extend(
            [
                "get",
                "deployment",
                name,
                "-o",
                "jsonpath={.status.availableReplicas}",
            ]
            .map(String::from),
        );
        let kubectl = self.kubectl.clone();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok(out) = Command::new(&kubectl).args(&cmd_args).output()
                    && out.status.success() {
                        let text = String::from_utf8_lossy(&out.stdout);
                        samples.push(text.trim().parse::<i64>().unwrap_or(0));
                    }
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        Sampler { stop, handle }
    }

    /// A kubeconfig for ServiceAccount `sa` of this namespace (a token from `kubectl create
    /// token`), written into `dir`.
    pub fn service_account_kubeconfig(&self, sa: &str, dir: &Path) -> PathBuf {
        let token = self.kubectl_ok(&["create", "token", sa, "--duration=1h"]);
        let admin = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let field = |key: &str| {
            admin
                .lines()
                .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("no {key} in the admin kubeconfig"))
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    \
             certificate-authority-data: {}\nusers:\n- name: {sa}\n  user:\n    token: {}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: {sa}\n    \
             namespace: {}\ncurrent-context: test\n",
            field("server:"),
            field("certificate-authority-data:"),
            token.trim(),
            self.namespace
        );
        let path = dir.join(format!("{sa}.kubeconfig"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .output();
    }
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<i64>>,
}

impl Sampler {
    pub fn stop(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Restart the test cluster's kube-apiserver as if it crashed: kill the process recorded in
/// `$MONOSHIP_TESTENV_STATE/k8s/kube-apiserver.pid` (SIGKILL: a graceful stop can take a
/// minute draining requests), wait `down_for`, start it again with the same command line (as
/// scripts/testenv/k8s starts it: detached, output appended to its log) and record the new pid
/// there. Returns once /readyz answers. Keep `down_for` short: `scripts/testenv/up` run by
/// anyone meanwhile would take the environment for stale and recreate it.
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

/// Freeze the API server (SIGSTOP) for `frozen_for`: connections stay open and nothing answers.
pub fn freeze_apiserver(frozen_for: Duration) {
    let (pid, _, _) = apiserver();
    testenv::run_ok(Command::new("kill").args(["-STOP", &pid.to_string()]));
    std::thread::sleep(frozen_for);
    testenv::run_ok(Command::new("kill").args(["-CONT", &pid.to_string()]));
}

pub fn restart_apiserver(down_for: Duration) {
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

/// `monoship --format json COMMAND --kubeconfig … --namespace … ARGS` in the fleet.
pub fn monoship(
    c: &Cluster,
    fleet: &crate::fleet::Fleet,
    command: &str,
    args: &[&str],
) -> crate::fleet::Run {
    let kubeconfig = c.kubeconfig.display().to_string();
    let mut all = vec![
        "--format",
        "json",
        command,
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &c.namespace,
    ];
    all.extend_from_slice(args);
    fleet.run(&all)
}

/// How the Deployment users is made for [`rolled_back_with`], and how it is deployed.
pub struct Setup<'a> {
    /// Merged into its container (`readinessProbe`, `livenessProbe`, …).
    pub probes: Value,
    /// Merged into its spec (`progressDeadlineSeconds`, …).
    pub spec: Value,
    /// More arguments of `monoship deploy` (`--timeout`, …).
    pub args: &'a [&'a str],
}

impl Setup<'_> {
    /// A readiness probe as `probe` says, nothing else.
    pub fn probe(probe: Probe) -> Setup<'static> {
        Setup {
            probes: probe.readiness(),
            spec: serde_json::json!({}),
            args: &[],
        }
    }
}

/// Deploy `bad` to users, expect it rolled back for one of `codes`; the previous pods stay
/// available throughout. The JSON result of users and the run's stderr.
pub fn rolled_back(prefix: &str, bad: &str, codes: &[&str], probe: Probe) -> (Value, String) {
    rolled_back_with(prefix, bad, codes, Setup::probe(probe))
}

/// [`rolled_back`] with the Deployment and the deploy made as `setup` says.
pub fn rolled_back_with(
    prefix: &str,
    bad: &str,
    codes: &[&str],
    setup: Setup<'_>,
) -> (Value, String) {
    let c = Cluster::new(prefix);
    let fleet = crate::fleet::Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment_spec("users", &good, setup.probes, setup.spec);
    let sampler = c.sample_available("users");
    let started = Instant::now();
    let mut args = setup.args.to_vec();
    let flag = format!("users={bad}");
    args.extend(["--image", &flag]);
    let run = monoship(&c, &fleet, "deploy", &args);
    let elapsed = started.elapsed();
    let samples = sampler.stop();
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    let r = result_of(&out, "users").clone();
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    let report = &r["report"];
    assert!(
        codes.contains(&report["code"].as_str().unwrap()),
        "code {} not in {codes:?}: {r:#}",
        report["code"]
    );
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(report["code"].as_str().unwrap()),
        "{reason}"
    );
    // The report: the new pods with their container states, and a word on logs.
    let pods = report["pods"].as_array().unwrap();
    assert!(!pods.is_empty(), "{report:#}");
    assert!(pods[0]["containers"][0]["state"].is_string(), "{report:#}");
    let logs = &report["logs"];
    assert!(
        !logs["lines"].as_array().unwrap().is_empty() || logs["unavailable"].is_string(),
        "{logs:#}"
    );
    assert!(r["rollback"]["ok"].as_bool().unwrap(), "{r:#}");
    // Back on the previous template, fully available, and never below 2 available meanwhile.
    assert_eq!(c.image_of("users"), good);
    let d = c.deployment("users");
    assert_eq!(d["status"]["availableReplicas"], 2, "{d:#}");
    assert!(samples.len() >= 3, "too few samples: {samples:?}");
    assert!(
        samples.iter().all(|&n| n >= 2),
        "availableReplicas dropped below 2 during the run: {samples:?}"
    );
    assert!(
        elapsed < Duration::from_secs(120),
        "took {elapsed:?}, far from any deadline"
    );
    (r, run.stderr)
}

/// The result of `service` in a deploy's JSON output.
pub fn result_of<'a>(out: &'a Value, service: &str) -> &'a Value {
    out["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("no result for {service}: {out:#}"))
}

/// Seconds from the progress line containing `a` to the one containing `b` (the
/// `[   2.6s] …` lines on stderr).
pub fn seconds_between(stderr: &str, a: &str, b: &str) -> f64 {
    let at = |needle: &str| -> f64 {
        let line = stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{stderr}"));
        let inner = line.trim_start_matches('[');
        inner[..inner.find("s]").unwrap()].trim().parse().unwrap()
    };
    at(b) - at(a)
}

/// A kubeconfig in `dir` for an API server on a port of 127.0.0.1 that nothing listens on, with
/// a bearer `token`; returns its path and the port.
pub fn unreachable_kubeconfig(dir: &Path, token: &str) -> (PathBuf, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    \
             server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n\
             - name: u\n  user:\n    token: {token}\ncontexts:\n- name: gone\n  context:\n    \
             cluster: gone\n    user: u\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    (path, port)
}

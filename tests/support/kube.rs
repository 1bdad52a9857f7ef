//! A namespace of the test cluster (started by `scripts/testenv/up`), changed with kubectl and
//! read with the `monoship` binary, for the tests of `status`, `history` and `logs`.
//!
//! Include it with `#[path = "support/kube.rs"] mod kube;` next to `support/fleet.rs` and
//! `support/testenv.rs`.
#![allow(dead_code)]

use super::fleet::{Fleet, Run};
use super::testenv;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh namespace, deleted (without waiting) when dropped.
pub struct Namespace {
    pub name: String,
    pub kubeconfig: String,
    kubectl: String,
}

impl Namespace {
    /// `ms-<what>-<unique>`; fails (names `scripts/testenv/up`) without the test environment.
    pub fn new(what: &str) -> Namespace {
        let kubeconfig = testenv::env("MONOSHIP_TEST_KUBECONFIG");
        let kubectl = testenv::env("MONOSHIP_TEST_KUBECTL");
        let name = format!("ms-{what}-{}", testenv::unique()).to_lowercase();
        let ns = Namespace {
            name,
            kubeconfig,
            kubectl,
        };
        ns.kubectl_global(&["create", "namespace", &ns.name]);
        ns
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    fn kubectl_global(&self, args: &[&str]) -> String {
        testenv::run_ok(self.command().args(args))
    }

    /// `kubectl -n NS ARGS`, which must succeed; its stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        testenv::run_ok(self.command().arg("-n").arg(&self.name).args(args))
    }

    /// `kubectl -n NS ARGS` whatever it does: (success, stdout, stderr).
    pub fn kubectl_try(&self, args: &[&str]) -> (bool, String, String) {
        let out = testenv::run(self.command().arg("-n").arg(&self.name).args(args));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kubectl apply -f -` of a manifest (YAML or JSON).
    pub fn apply(&self, manifest: &str) {
        let mut child = self
            .command()
            .args(["-n", &self.name, "apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl apply");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(manifest.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl apply failed: {}\n{manifest}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Create Deployment `name` (label `app=<name>`, one container named `name`).
    pub fn deployment(&self, name: &str, image: &str, replicas: i32, annotations: &[(&str, &str)]) {
        self.apply(&deployment_manifest(name, image, replicas, annotations).to_string());
    }

    /// The Deployment as JSON.
    pub fn get_deployment(&self, name: &str) -> Value {
        serde_json::from_str(&self.kubectl(&["get", "deployment", name, "-o", "json"])).unwrap()
    }

    /// `monoship --kubeconfig K -n NS ARGS` on `fleet`.
    pub fn monoship(&self, fleet: &Fleet, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kubeconfig", &self.kubeconfig, "--namespace", &self.name]);
        fleet.run(&all)
    }

    /// The `monoship` command line of [`Namespace::monoship`], to spawn.
    pub fn monoship_command(&self, fleet: &Fleet, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_monoship"));
        cmd.arg("--offline")
            .arg("-C")
            .arg(fleet.path())
            .args(args)
            .args(["--kubeconfig", &self.kubeconfig, "--namespace", &self.name])
            .env("NO_COLOR", "1");
        cmd
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .output();
    }
}

/// A Deployment manifest; `annotations` go on the Deployment and its pod template (as
/// `monoship deploy` writes `monoship.dev/*`), except `kubernetes.io/change-cause`, which goes
/// on the Deployment only.
pub fn deployment_manifest(
    name: &str,
    image: &str,
    replicas: i32,
    annotations: &[(&str, &str)],
) -> Value {
    let all: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let template: serde_json::Map<String, Value> = all
        .iter()
        .filter(|(k, _)| k.as_str() != "kubernetes.io/change-cause")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": all},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": template},
                "spec": {"containers": [{"name": name, "image": image}]}
            }
        }
    })
}

/// Poll `check` every 300 ms for up to `timeout`: its `Ok` value, or a panic with the last
/// state it described.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(state) if start.elapsed() > timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last state: {state}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

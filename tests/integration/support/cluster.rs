//! A namespace of its own on the test cluster (scripts/testenv/up), Deployments made with
//! kubectl, `monoship` run against it, and a sampler of a Deployment's available replicas.
//!
//! Every test of the process shares the cluster, but for those that take its API server away
//! (support/apiserver.rs): a process-wide lock, taken for reading by each [`Cluster`] (and by
//! [`share`] for tests that reach the cluster otherwise) and for writing by [`alone`].

use super::fleet::Fleet;
use super::run::{Monoship, Run};
use super::testenv;
use serde_json::Value;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static CLUSTER: RwLock<()> = RwLock::new(());

/// What the current thread holds of [`CLUSTER`]. A thread takes the read guard once however
/// many [`Share`]s it has (a second `read()` could wait behind a waiting writer forever).
enum Hold {
    Nothing,
    Shared {
        shares: usize,
        _guard: RwLockReadGuard<'static, ()>,
    },
    Alone {
        _guard: RwLockWriteGuard<'static, ()>,
    },
}

thread_local! {
    static HOLD: RefCell<Hold> = const { RefCell::new(Hold::Nothing) };
}

/// A test's share of the cluster: other tests may use it too, but none takes it away. Held by
/// the thread that took it (so it is neither `Send` nor `Sync`).
pub struct Share(PhantomData<*const ()>);

/// Take a share of the cluster for the current thread (waits while a test has it alone).
pub fn share() -> Share {
    HOLD.with(|hold| {
        let mut hold = hold.borrow_mut();
        match &mut *hold {
            Hold::Nothing => {
                let _guard = CLUSTER.read().unwrap_or_else(PoisonError::into_inner);
                *hold = Hold::Shared { shares: 1, _guard };
            }
            Hold::Shared { shares, .. } => *shares += 1,
            Hold::Alone { .. } => {}
        }
    });
    Share(PhantomData)
}

impl Drop for Share {
    fn drop(&mut self) {
        HOLD.with(|hold| {
            let mut hold = hold.borrow_mut();
            if let Hold::Shared { shares, .. } = &mut *hold {
                *shares -= 1;
                if *shares == 0 {
                    *hold = Hold::Nothing;
                }
            }
        });
    }
}

/// The cluster for the current thread alone: no other test uses it until this is dropped.
pub struct Alone(PhantomData<*const ()>);

/// Wait until no other test uses the cluster, and keep it.
pub fn alone() -> Alone {
    HOLD.with(|hold| {
        let mut hold = hold.borrow_mut();
        assert!(
            matches!(*hold, Hold::Nothing),
            "the cluster is taken alone before any share of it"
        );
        let _guard = CLUSTER.write().unwrap_or_else(PoisonError::into_inner);
        *hold = Hold::Alone { _guard };
    });
    Alone(PhantomData)
}

impl Drop for Alone {
    fn drop(&mut self) {
        HOLD.with(|hold| *hold.borrow_mut() = Hold::Nothing);
    }
}

/// Panics unless the current thread has the cluster alone.
pub fn assert_alone(what: &str) {
    let alone = HOLD.with(|hold| matches!(*hold.borrow(), Hold::Alone { .. }));
    assert!(alone, "{what} needs the cluster alone (cluster::alone())");
}

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
    _share: Share,
}

impl Cluster {
    /// A fresh namespace named `<prefix>-<unique>`, deleted when dropped; fails (naming
    /// `scripts/testenv/up`) without the test environment.
    pub fn new(prefix: &str) -> Cluster {
        let _share = share();
        let kubeconfig = PathBuf::from(testenv::env("MONOSHIP_TEST_KUBECONFIG"));
        let kubectl = testenv::env("MONOSHIP_TEST_KUBECTL");
        let namespace = format!("{prefix}-{}", testenv::unique()).to_lowercase();
        let c = Cluster {
            namespace,
            kubeconfig,
            kubectl,
            _share,
        };
        c.kubectl_ok(&["create", "namespace", &c.namespace]);
        c
    }

    /// Namespace `namespace` (created, deleted when dropped) of the control plane of
    /// `kubeconfig`: the second one's (`MONOSHIP_TEST_KUBECONFIG_2`) for tests of several.
    pub fn on(kubeconfig: PathBuf, namespace: &str) -> Cluster {
        let c = Cluster {
            namespace: namespace.to_string(),
            kubeconfig,
            kubectl: testenv::env("MONOSHIP_TEST_KUBECTL"),
            _share: share(),
        };
        c.kubectl_ok(&["create", "namespace", &c.namespace]);
        c
    }

    /// The kubeconfig's path as a string, for arguments.
    pub fn kubeconfig_arg(&self) -> &str {
        self.kubeconfig.to_str().unwrap()
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

    /// A field of Deployment `name`, by a kubectl JSONPath (`{.spec.replicas}`).
    pub fn deployment_field(&self, name: &str, path: &str) -> String {
        self.kubectl_ok(&["get", "deployment", name, "-o", &format!("jsonpath={path}")])
    }

    /// Run kubectl in the namespace; it must succeed. Its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        testenv::run_ok(&mut self.command(args))
    }

    /// Run kubectl in the namespace whatever it does: (success, stdout, stderr).
    pub fn kubectl_try(&self, args: &[&str]) -> (bool, String, String) {
        let out = testenv::run(&mut self.command(args));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kubectl apply -f -` of a manifest (YAML or JSON); it must succeed.
    pub fn apply(&self, manifest: &str) {
        use std::io::Write;
        let mut child = self
            .command(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(manifest.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{manifest}",
            String::from_utf8_lossy(&out.stderr)
        );
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
        self.apply(&manifest.to_string());
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

    /// Create Deployment `name` (label `app=<name>`, one container named `name`, no probe)
    /// without waiting for it; `annotations` as [`deployment_manifest`] puts them.
    pub fn create_annotated(
        &self,
        name: &str,
        image: &str,
        replicas: i32,
        annotations: &[(&str, &str)],
    ) {
        self.apply(&deployment_manifest(name, image, replicas, annotations).to_string());
    }

    /// Wait (up to 60 s) until `check` holds.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let not_yet = || "not yet".to_string();
        wait_for(what, Duration::from_secs(60), || {
            check().then_some(()).ok_or_else(not_yet)
        });
    }

    /// `monoship --offline -C FLEET ARGS --kubeconfig … --namespace …`, to add to or spawn.
    pub fn monoship_command(&self, fleet: &Fleet, args: &[&str]) -> Monoship {
        fleet
            .monoship()
            .args(args)
            .args(["--kubeconfig", self.kubeconfig_arg()])
            .args(["--namespace", &self.namespace])
    }

    /// [`Cluster::monoship_command`] run to the end.
    pub fn monoship(&self, fleet: &Fleet, args: &[&str]) -> Run {
        self.monoship_command(fleet, args).run()
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
                    && out.status.success()
                {
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

/// Poll `check` every 200 ms for up to `timeout`: its `Ok` value, or a panic with the last
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
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

//! Helpers of the deploy fault suite (faults_deploy.rs, faults_signals.rs): the command, the
//! cases, the state of the Deployment after them, ServiceAccounts with chosen rights, runs in
//! the background.

use super::cluster::{Cluster, image};
use super::fault::{self, Expect};
use super::fleet::Fleet;
use super::run::{self, Monoship, Run};
use super::testenv;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The binary the fault cases run: `MONOSHIP_FAULTS_BIN` (another build of monoship, to see
/// the cases fail), or the one under test.
fn faults_bin() -> PathBuf {
    std::env::var_os("MONOSHIP_FAULTS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(run::binary)
}

/// `monoship --offline -C FLEET COMMAND --kubeconfig K [--namespace NS] ARGS`.
pub fn command(
    fleet: &Fleet,
    cmd: &str,
    kubeconfig: &Path,
    ns: Option<&str>,
    args: &[&str],
) -> Monoship {
    let c = Monoship::of(&faults_bin())
        .arg("--offline")
        .arg("-C")
        .arg(fleet.path())
        .arg(cmd)
        .arg("--kubeconfig")
        .arg(kubeconfig);
    let c = match ns {
        Some(ns) => c.args(["--namespace", ns]),
        None => c,
    };
    c.args(args)
}

/// What the Deployment `users` must look like after a case.
#[derive(Clone)]
pub enum After {
    /// Exactly as before: same generation, same image.
    Unchanged,
    /// Running `image`, every desired pod updated and available.
    Healthy(String),
}

/// One case: a command and what it must end with.
pub struct Case<'a> {
    pub name: &'a str,
    pub command: &'a str,
    pub args: Vec<String>,
    pub code: i32,
    pub names: Vec<String>,
    pub after: After,
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn state(c: &Cluster) -> (i64, String) {
    (c.generation("users"), c.image_of("users"))
}

/// Check the Deployment after a case.
pub fn assert_after(c: &Cluster, case: &str, after: &After, before: &(i64, String)) {
    match after {
        After::Unchanged => assert_eq!(&state(c), before, "case `{case}`: the deployment changed"),
        After::Healthy(image) => {
            c.wait_until(&format!("case `{case}`: users healthy on {image}"), || {
                let d = c.deployment("users");
                let s = &d["status"];
                d["spec"]["template"]["spec"]["containers"][0]["image"] == image.as_str()
                    && s["observedGeneration"] == d["metadata"]["generation"]
                    && s["updatedReplicas"] == 2
                    && s["availableReplicas"] == 2
                    && s["replicas"] == 2
            });
        }
    }
}

/// Run `case` against Deployment `users` of `c` as `kubeconfig`; assert it fails as expected.
pub fn run_case(c: &Cluster, fleet: &Fleet, kubeconfig: &Path, case: &Case) -> String {
    let before = state(c);
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    // A case that names its own namespace gets no other.
    let ns = (!args.contains(&"--namespace")).then_some(c.namespace.as_str());
    let out = command(fleet, case.command, kubeconfig, ns, &args).run();
    let names: Vec<&str> = case.names.iter().map(String::as_str).collect();
    let stderr = fault::assert_fails(
        &out,
        &Expect {
            case: case.name,
            code: case.code,
            names: &names,
        },
    );
    assert_after(c, case.name, &case.after, &before);
    stderr
}

pub fn users(n: u8) -> String {
    format!("users={}", image("fleet", "users", n))
}

/// A ServiceAccount `sa` bound to a Role with `rules`, and a kubeconfig for it in `dir`.
pub fn account(c: &Cluster, sa: &str, rules: Value, dir: &Path) -> PathBuf {
    c.kubectl_ok(&["create", "serviceaccount", sa]);
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": sa}, "rules": rules});
    c.apply(&role.to_string());
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        sa,
        &format!("--role={sa}"),
        &format!("--serviceaccount={}:{sa}", c.namespace),
    ]);
    c.service_account_kubeconfig(sa, dir)
}

pub fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

pub const LEASES: &[&str] = &["get", "create", "update", "delete"];

/// A deploy started in the background; its stderr lines go to the returned channel.
pub fn spawn(
    c: &Cluster,
    fleet: &Fleet,
    args: &[&str],
) -> (Child, std::sync::mpsc::Receiver<String>) {
    spawn_command(c, fleet, "deploy", args)
}

/// Like [`spawn`], for any command.
pub fn spawn_command(
    c: &Cluster,
    fleet: &Fleet,
    cmd: &str,
    args: &[&str],
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command(fleet, cmd, &c.kubeconfig, Some(&c.namespace), args).spawn();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Wait for a stderr line containing `needle`; every line read so far.
pub fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no stderr line with `{needle}` in:\n{}", seen.join("\n"));
}

/// The rest of a spawned run: its exit and its whole output.
pub fn finish(child: Child, rx: std::sync::mpsc::Receiver<String>, mut seen: Vec<String>) -> Run {
    let out = child.wait_with_output().unwrap();
    seen.extend(rx.iter());
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: format!("{}\n", seen.join("\n")),
    }
}

pub fn kill(child: &Child, signal: &str) {
    testenv::run_ok(Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]));
}

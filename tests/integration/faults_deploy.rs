//! The fault suite of `deploy`, `rollback` and `ship` against the test cluster
//! (scripts/testenv/up): each case is a command that must fail in a documented way. Cases that
//! end with an error assert it with `fault::assert_fails` (exit code, one `error:` line naming
//! the thing at fault, empty stdout, no panic, no planted secret); cases whose result is a
//! table (a signal, a failing rollout) assert the same but for stdout, which holds the table.
//! Every case then checks the Deployment: unchanged, or back on a healthy revision with its
//! pods available.
//!
//! `MONOSHIP_FAULTS_BIN` runs the cases against another build of monoship (an older one, to
//! see them fail).

use crate::support::cluster::{self, Cluster, FAST_PROBE, image};
use crate::support::deploy_faults::{
    After, Case, LEASES, account, assert_after, command, finish, rule, run_case, spawn, strings,
    users, wait_for_line,
};
use crate::support::fault::{self, Expect};
use crate::support::fleet::Fleet;
use crate::support::rollout;
use serde_json::{Value, json};
use std::time::Duration;

/// A service account with only `rules` in a new namespace running users v1: each of `cases`
/// (command, arguments, words of the error) is refused before anything changes.
fn refused_by_rbac(prefix: &str, sa: &str, rules: Value, cases: &[(&str, Vec<String>, &[&str])]) {
    let c = Cluster::new(prefix);
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let dir = tempfile::tempdir().unwrap();
    let k = account(&c, sa, rules, dir.path());
    for (command, args, names) in cases {
        if *command == "rollback" {
            // Something to roll back to, made by the admin.
            c.kubectl_ok(&["set", "image", "deployment/users", &users(3)]);
            c.kubectl_ok(&["rollout", "status", "deployment/users", "--timeout=60s"]);
        }
        let mut names = strings(names);
        names.push(format!("system:serviceaccount:{}:{sa}", c.namespace));
        run_case(
            &c,
            &fleet,
            &k,
            &Case {
                name: &format!("{command}: {prefix}"),
                command,
                args: args.clone(),
                code: 7,
                names,
                after: After::Unchanged,
            },
        );
    }
}

#[test]
fn rbac_without_patch() {
    let read = &["get", "list", "watch"];
    refused_by_rbac(
        "fd-nopatch",
        "viewer",
        json!([
            rule(&["apps"], &["deployments", "replicasets"], read),
            rule(&[""], &["pods", "events"], read),
            rule(&["coordination.k8s.io"], &["leases"], LEASES),
        ]),
        &[(
            "deploy",
            strings(&["--image", &users(2)]),
            &["forbidden:", "cannot patch resource \"deployments\""],
        )],
    );
}

/// May patch the Deployment but not watch what it does: refused before the change.
#[test]
fn rbac_without_watch() {
    let watch = &["forbidden:", "cannot watch resource \"deployments\""][..];
    refused_by_rbac(
        "fd-nowatch",
        "patcher",
        json!([
            rule(&["apps"], &["deployments"], &["get", "list", "patch"]),
            rule(&["apps"], &["replicasets"], &["get", "list"]),
            rule(&[""], &["pods", "events"], &["get", "list"]),
            rule(&["coordination.k8s.io"], &["leases"], LEASES),
        ]),
        &[
            ("deploy", strings(&["--image", &users(2)]), watch),
            ("rollback", strings(&["users"]), watch),
        ],
    );
}

#[test]
fn rbac_without_listing_pods() {
    refused_by_rbac(
        "fd-nolist",
        "blind",
        json!([
            rule(
                &["apps"],
                &["deployments"],
                &["get", "list", "watch", "patch"]
            ),
            rule(&["apps"], &["replicasets"], &["get", "list", "watch"]),
            rule(&[""], &["pods"], &["get"]),
            rule(&["coordination.k8s.io"], &["leases"], LEASES),
        ]),
        &[(
            "deploy",
            strings(&["--image", &users(2)]),
            &["forbidden:", "cannot list resource \"pods\""],
        )],
    );
}

/// A token the API server does not know: one line, and the token is never printed.
#[test]
fn an_unknown_token() {
    let c = Cluster::new("fd-token");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let admin = std::fs::read_to_string(&c.kubeconfig).unwrap();
    let field = |key: &str| {
        admin
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("kubeconfig");
    std::fs::write(
        &k,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\n    \
             certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    token: {}\n\
             contexts:\n- name: t\n  context:\n    cluster: t\n    user: u\n\
             current-context: t\n",
            field("server:"),
            field("certificate-authority-data:"),
            fault::SECRETS[0]
        ),
    )
    .unwrap();
    run_case(
        &c,
        &fleet,
        &k,
        &Case {
            name: "unknown token",
            command: "deploy",
            args: strings(&["--image", &users(2), "-v"]),
            code: 7,
            names: strings(&["Unauthorized"]),
            after: After::Unchanged,
        },
    );
}

#[test]
fn missing_namespace_and_deployment() {
    let c = Cluster::new("fd-missing");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let missing = format!("{}-nope", c.namespace);
    run_case(
        &c,
        &fleet,
        &c.kubeconfig,
        &Case {
            name: "missing namespace",
            command: "deploy",
            args: strings(&["--namespace", &missing, "--image", &users(2)]),
            code: 1,
            names: strings(&[&format!("namespace `{missing}` does not exist")]),
            after: After::Unchanged,
        },
    );
    let orders = format!("orders={}", image("fleet", "orders", 2));
    run_case(
        &c,
        &fleet,
        &c.kubeconfig,
        &Case {
            name: "missing deployment",
            command: "deploy",
            args: strings(&["users", "orders", "--image", &users(2), "--image", &orders]),
            code: 1,
            names: strings(&["deployment `orders` not found", "--manifests"]),
            after: After::Unchanged,
        },
    );
    run_case(
        &c,
        &fleet,
        &c.kubeconfig,
        &Case {
            name: "rollback of a missing deployment",
            command: "rollback",
            args: strings(&["orders"]),
            code: 1,
            names: strings(&["deployment `orders` not found"]),
            after: After::Unchanged,
        },
    );
}

#[test]
fn api_server_unreachable() {
    let fleet = Fleet::new();
    let dir = tempfile::tempdir().unwrap();
    let (k, port) = cluster::unreachable_kubeconfig(dir.path(), fault::SECRETS[0]);
    for cmd in ["deploy", "rollback"] {
        let args: &[&str] = if cmd == "deploy" {
            &[
                "--image",
                "users=example.test/fleet/users@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            ]
        } else {
            &["users"]
        };
        let out = command(&fleet, cmd, &k, None, args).run();
        fault::assert_fails(
            &out,
            &Expect {
                case: &format!("{cmd}: api server unreachable"),
                code: 6,
                names: &[
                    "cannot reach the Kubernetes API server",
                    &format!("127.0.0.1:{port}"),
                ],
            },
        );
    }
}

/// Durations that cannot be a timeout are rejected when the arguments are parsed, before the
/// cluster is touched (they used to patch and roll back at once, or panic after the patch).
#[test]
fn bad_timeouts() {
    let c = Cluster::new("fd-timeout");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let table: &[(&str, &str)] = &[
        ("deploy", "0"),
        ("deploy", "0s"),
        ("deploy", "18446744073709551615s"),
        ("deploy", "18446744073709551615s1s"),
        ("deploy", "307445734561825861m"),
        ("deploy", "721h"),
        ("rollback", "0"),
        ("rollback", "18446744073709551615s1s"),
        ("ship", "18446744073709551615s1s"),
    ];
    for (command, timeout) in table {
        let mut args = match *command {
            "deploy" => strings(&["--image", &users(2)]),
            "rollback" => strings(&["users"]),
            _ => Vec::new(),
        };
        args.extend(strings(&["--timeout", timeout]));
        run_case(
            &c,
            &fleet,
            &c.kubeconfig,
            &Case {
                name: &format!("{command} --timeout {timeout}"),
                command,
                args,
                code: 2,
                names: strings(&["--timeout", timeout]),
                after: After::Unchanged,
            },
        );
    }
}

/// Two deploys of one service 2 s apart: the second refuses, the first goes on undisturbed.
#[test]
fn concurrent_deploys_of_one_service() {
    let c = Cluster::new("fd-concurrent");
    let fleet = Fleet::new();
    // A readiness budget the slow pods (Ready after 20 s) stay within.
    let generous = cluster::Probe {
        period: 10,
        failures: 6,
    };
    c.create_deployment("users", &image("fleet", "users", 1), generous);
    let slow = image("slowstart", "users", 2);
    let flag = format!("users={slow}");
    let (first, rx) = spawn(&c, &fleet, &["--image", &flag]);
    let mut seen = Vec::new();
    wait_for_line(&rx, "users: patched", &mut seen);
    std::thread::sleep(Duration::from_secs(2));
    let generation = c.generation("users");
    let out = command(
        &fleet,
        "deploy",
        &c.kubeconfig,
        Some(&c.namespace),
        &["--image", &users(3)],
    )
    .run();
    fault::assert_fails(
        &out,
        &Expect {
            case: "concurrent deploy",
            code: 3,
            names: &["users", "another monoship run", "--wait-for-others"],
        },
    );
    assert_eq!(
        c.generation("users"),
        generation,
        "the second deploy changed it"
    );
    let out = finish(first, rx, seen);
    assert_eq!(out.code, 0, "the first deploy: {}", out.stderr);
    assert_after(
        &c,
        "concurrent deploy",
        &After::Healthy(slow.clone()),
        &(0, String::new()),
    );
    // The first run recorded the revision it found healthy, for a later rollback.
    let d = c.deployment("users");
    let recorded = d["metadata"]["annotations"]["monoship.dev/healthy-replica-set"].clone();
    let names: Vec<Value> = c
        .replica_sets("users")
        .iter()
        .map(|rs| rs["metadata"]["name"].clone())
        .collect();
    assert!(
        recorded.is_string() && names.contains(&recorded),
        "{recorded} of {names:?}"
    );

    // With --wait-for-others, a second run waits for the first and then deploys.
    let slower = image("slowstart", "users", 4);
    let flag = format!("users={slower}");
    let (first, rx) = spawn(&c, &fleet, &["--image", &flag]);
    let mut seen = Vec::new();
    wait_for_line(&rx, "users: patched", &mut seen);
    let waited = command(
        &fleet,
        "deploy",
        &c.kubeconfig,
        Some(&c.namespace),
        &["--wait-for-others", "--image", &users(5)],
    )
    .run();
    let out = finish(first, rx, seen);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert!(waited.stdout.contains("deployed"));
    assert_after(
        &c,
        "--wait-for-others",
        &After::Healthy(image("fleet", "users", 5)),
        &(0, String::new()),
    );
}

/// A probe with the largest period the API server accepts: no overflow, the crash loop is
/// caught and rolled back.
#[test]
fn the_largest_probe_period() {
    let c = Cluster::new("fd-probe");
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment_with(
        "users",
        &good,
        json!({"readinessProbe": {"tcpSocket": {"port": 9100}, "periodSeconds": i32::MAX,
                                  "failureThreshold": i32::MAX, "initialDelaySeconds": 0},
               "startupProbe": {"tcpSocket": {"port": 9100}, "periodSeconds": i32::MAX,
                                "failureThreshold": 1}}),
    );
    let bad = format!("users={}", image("crashloop", "users", 2));
    let out = command(
        &fleet,
        "deploy",
        &c.kubeconfig,
        Some(&c.namespace),
        &["--image", &bad],
    )
    .run();
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    assert_eq!(out.code, 4, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("rolled-back") && stdout.contains("CrashLoopBackOff"),
        "{stdout}"
    );
    assert_after(
        &c,
        "largest probe period",
        &After::Healthy(good),
        &(0, String::new()),
    );
}

/// A Deployment already failing before the deploy (a crash loop someone left): a failed
/// deploy goes back to the last revision that was available, not to the crash loop, and says
/// that it was failing.
#[test]
fn rollback_goes_to_the_last_healthy_revision() {
    let c = Cluster::new("fd-healthy");
    let fleet = Fleet::new();
    let good = image("fleet", "users", 1);
    c.create_deployment("users", &good, FAST_PROBE);
    c.kubectl_ok(&[
        "set",
        "image",
        "deployment/users",
        &format!("users={}", image("crashloop", "users", 2)),
    ]);
    c.wait_until("the crash loop", || {
        let pods = c.json(&["get", "pods", "-l", "app=users"]);
        pods["items"].as_array().unwrap().iter().any(|p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        }) && c.deployment("users")["status"]["observedGeneration"]
            == c.deployment("users")["metadata"]["generation"]
    });
    let bad = format!("users={}", image("pullfail", "users", 3));
    let out = command(
        &fleet,
        "deploy",
        &c.kubeconfig,
        Some(&c.namespace),
        &["--image", &bad],
    )
    .args(["--format", "json"])
    .run();
    assert!(!out.stderr.contains("panicked"), "panic:\n{}", out.stderr);
    assert_eq!(
        out.code, 4,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let json = out.json();
    let r = rollout::result_of(&json, "users");
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("the deployment was already failing before this deploy"),
        "{reason}"
    );
    assert_after(
        &c,
        "already failing",
        &After::Healthy(good),
        &(0, String::new()),
    );
}

//! An environment of several clusters (`contexts = [...]`): the test environment's two
//! control planes as `eu` (the canary) and `us`. A service whose image fails is rolled back in
//! the first and never started in the second; the others roll out in both, one row each.

use crate::support::cluster::{self, Cluster};
use crate::support::fleet::Fleet;
use crate::support::testenv;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `key: value` of a kubeconfig line, the first one with that key.
fn field(kubeconfig: &str, key: &str) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}: "))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no {key} in {kubeconfig}"))
}

/// One kubeconfig with contexts `eu` (the first control plane) and `us` (the second), each
/// in `namespace`.
fn two_clusters(dir: &Path, namespace: &str) -> PathBuf {
    let mut clusters = String::new();
    let mut users = String::new();
    let mut contexts = String::new();
    for (name, var) in [
        ("eu", "MONOSHIP_TEST_KUBECONFIG"),
        ("us", "MONOSHIP_TEST_KUBECONFIG_2"),
    ] {
        let kc = testenv::env(var);
        clusters += &format!(
            "- name: {name}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n",
            field(&kc, "server"),
            field(&kc, "certificate-authority-data")
        );
        users += &format!(
            "- name: {name}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            field(&kc, "client-certificate-data"),
            field(&kc, "client-key-data")
        );
        contexts += &format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: {namespace}\n"
        );
    }
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}current-context: eu\n"
        ),
    )
    .unwrap();
    path
}

fn rows<'a>(report: &'a Value, service: &str) -> Vec<&'a Value> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"] == service)
        .collect()
}

#[test]
fn a_failure_in_the_first_cluster_is_rolled_back_there_and_never_started_in_the_next() {
    let eu = Cluster::new("clusters");
    let us = Cluster::on(
        PathBuf::from(testenv::env("MONOSHIP_TEST_KUBECONFIG_2")),
        &eu.namespace,
    );
    let dir = tempfile::TempDir::new().unwrap();
    let kubeconfig = two_clusters(dir.path(), &eu.namespace);
    let fleet = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            "\n[workspace.metadata.monoship.environments.production]\ncontexts = [\"eu\", \"us\"]\n",
        )
    });
    let first = |s: &str| cluster::image("fleet", s, 1);
    for c in [&eu, &us] {
        for s in ["gateway", "search"] {
            c.create_annotated(s, &first(s), 1, &[]);
        }
    }
    let gateway = cluster::image("fleet", "gateway", 2);
    let search = cluster::image("crashloop", "search", 2);
    let run = fleet
        .monoship()
        .args(["--format", "json", "--env", "production", "deploy"])
        .args(["--image", &format!("gateway={gateway}")])
        .args(["--image", &format!("search={search}")])
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--timeout",
            "60s",
        ])
        .env_remove("MONOSHIP_ENV")
        .run();
    assert_eq!(run.code, 4, "{}", run.all_output());
    let report = run.json();

    let g = rows(&report, "gateway");
    let clusters: Vec<(&str, &str)> = g
        .iter()
        .map(|r| {
            (
                r["cluster"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        clusters,
        [("eu", "deployed"), ("us", "deployed")],
        "{report:#}"
    );
    let s = rows(&report, "search");
    assert_eq!(s.len(), 2, "{report:#}");
    assert_eq!(
        (s[0]["cluster"].as_str(), s[0]["result"].as_str()),
        (Some("eu"), Some("rolled-back"))
    );
    assert_eq!(
        (s[1]["cluster"].as_str(), s[1]["result"].as_str()),
        (Some("us"), Some("skipped"))
    );
    assert_eq!(
        s[1]["reason"], "not started: it failed in cluster eu",
        "{report:#}"
    );

    assert_eq!(eu.image_of("gateway"), gateway);
    assert_eq!(us.image_of("gateway"), gateway);
    assert_eq!(eu.image_of("search"), first("search"));
    // Never started in us: the Deployment was not changed at all.
    assert_eq!(us.image_of("search"), first("search"));
    assert_eq!(us.generation("search"), 1);

    // The human table has a row per service and cluster, and says where each went.
    let table = fleet
        .monoship()
        .args(["--env", "production", "deploy", "--dry-run"])
        .args(["--image", &format!("gateway={gateway}")])
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .env_remove("MONOSHIP_ENV")
        .run();
    let out = &table.ok().stdout;
    assert!(out.starts_with("SERVICE  CLUSTER"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("gateway")).count(),
        2,
        "{out}"
    );
}

#[test]
fn contexts_and_context_together_are_a_configuration_error() {
    let fleet = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            "\n[workspace.metadata.monoship.environments.production]\ncontext = \"eu\"\ncontexts = [\"eu\", \"us\"]\n",
        )
    });
    let run = fleet.run(&["--env", "production", "services"]);
    let err = run.usage_error();
    assert!(
        err.contains("environment `production`: give `context` or `contexts`, not both"),
        "{err}"
    );
    assert!(err.contains("Cargo.toml"), "{err}");
}

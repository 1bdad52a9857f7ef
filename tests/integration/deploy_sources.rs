//! A service's objects from its configured source: a directory (`manifests`), a Kustomize
//! overlay with a configMapGenerator (`kustomize`, rendered by `kubectl kustomize`), and the
//! errors of a source that cannot be used. The image is pinned without markers and a
//! config-only change rolls the pods.

use crate::support::cluster::{Cluster, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of};
use serde_json::Value;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: users}
spec:
  replicas: 1
  selector: {matchLabels: {app: users}}
  template:
    metadata: {labels: {app: users}}
    spec:
      containers:
      - name: users
        image: example.test/fleet/users:latest
        envFrom: [{configMapRef: {name: users-config}}]
      - name: proxy
        image: example.test/proxy:1
";

/// users with `kustomize = "deploy/users"`, an overlay generating `users-config` from `literals`.
fn kustomized(literals: &[&str]) -> Fleet {
    let fleet = Fleet::new();
    fleet.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\nkustomize = \"deploy/{service}\"\n",
    );
    fleet.write("deploy/users/deployment.yaml", DEPLOYMENT);
    write_generator(&fleet, literals);
    fleet.commit("users from kustomize");
    fleet
}

fn write_generator(fleet: &Fleet, literals: &[&str]) {
    let list: Vec<String> = literals.iter().map(|l| format!("  - {l}\n")).collect();
    fleet.write(
        "deploy/users/kustomization.yaml",
        &format!(
            "resources: [deployment.yaml]\nconfigMapGenerator:\n- name: users-config\n  \
             literals:\n{}",
            list.concat()
        ),
    );
}

/// The ConfigMap the Deployment's pods use now.
fn config_in_use(c: &Cluster) -> String {
    let d = c.deployment("users");
    d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

fn containers(d: &Value) -> Vec<(String, String)> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["image"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_kustomize_overlay_is_applied_with_the_image_pinned_and_config_rolls_the_pods() {
    let c = Cluster::new("sources-kustomize");
    let fleet = kustomized(&["GREETING=hello"]);
    let reference = image("fleet", "users", 6);
    let args = ["users", "--image", &format!("users={reference}")];
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "deployed");
    let d = c.deployment("users");
    assert_eq!(
        containers(&d),
        [
            ("users".to_string(), reference.clone()),
            ("proxy".to_string(), "example.test/proxy:1".to_string())
        ]
    );
    let first = config_in_use(&c);
    assert!(first.starts_with("users-config-"), "{first}");
    assert_eq!(
        c.json(&["get", "configmap", &first])["data"]["GREETING"],
        "hello"
    );

    // Only the config changes: a new hashed ConfigMap, the pods roll, the old one is kept
    // while the old ReplicaSet references it.
    write_generator(&fleet, &["GREETING=bonjour"]);
    fleet.commit("config only");
    let generation = c.generation("users");
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "deployed");
    assert!(c.generation("users") > generation);
    let second = config_in_use(&c);
    assert_ne!(second, first);
    assert_eq!(
        c.json(&["get", "configmap", &second])["data"]["GREETING"],
        "bonjour"
    );
    c.json(&["get", "configmap", &first]);

    // Nothing changes: unchanged, the generation stays.
    let generation = c.generation("users");
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "unchanged");
    assert_eq!(c.generation("users"), generation);
}

#[test]
fn a_directory_source_and_the_errors_of_sources() {
    let c = Cluster::new("sources-dir");
    let fleet = Fleet::new();
    fleet.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\nmanifests = \"deploy/k8s/{service}\"\n",
    );
    fleet.write(
        "deploy/k8s/users/deployment.yaml",
        &DEPLOYMENT.replace(
            "        envFrom: [{configMapRef: {name: users-config}}]\n",
            "",
        ),
    );
    fleet.write(
        "deploy/k8s/users/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: users}\nspec:\n  selector: {app: users}\n  \
         ports: [{port: 80}]\n",
    );
    fleet.commit("users from a directory");
    let reference = image("fleet", "users", 7);
    let args = ["users", "--image", &format!("users={reference}")];
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(c.image_of("users"), reference);
    c.json(&["get", "service", "users"]);

    // Objects that do not use the service's image.
    fleet.replace(
        "deploy/k8s/users/deployment.yaml",
        "example.test/fleet/users:latest",
        "example.test/other/thing:1",
    );
    let run = monoship(&c, &fleet, "deploy", &args);
    let line = run.usage_error();
    assert!(
        line.contains("users") && line.contains("no container image of repository"),
        "{line}"
    );
    fleet.replace(
        "deploy/k8s/users/deployment.yaml",
        "example.test/other/thing:1",
        "example.test/fleet/users:latest",
    );

    // A kustomization that does not render, and a renderer that is missing.
    fleet.replace(
        "apps/users/Cargo.toml",
        "manifests = \"deploy/k8s/{service}\"",
        "kustomize = \"deploy/nowhere\"",
    );
    let run = monoship(&c, &fleet, "deploy", &args);
    let line = run.usage_error();
    assert!(
        line.contains("users") && line.contains("kustomize"),
        "{line}"
    );
    fleet.replace(
        "apps/users/Cargo.toml",
        "kustomize = \"deploy/nowhere\"",
        "helm = { chart = \"deploy/charts/users\" }",
    );
    let path = path_without_helm();
    let run = c
        .monoship_command(&fleet, &["--format", "json", "deploy"])
        .args(args)
        .env("PATH", path.path())
        .run();
    let line = run.usage_error();
    assert!(line.contains("helm not found on PATH"), "{line}");
}

/// A PATH directory with cargo, rustc and git (the workspace is read with cargo) and no helm.
fn path_without_helm() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for program in ["cargo", "rustc", "git"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{program} is not on PATH"));
        std::os::unix::fs::symlink(found, dir.path().join(program)).unwrap();
    }
    dir
}

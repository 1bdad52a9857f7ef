//! `monoship generate k8s` with environments, on a copy of examples/fleet with `staging` (where
//! `orders` runs in a namespace of its own) and `production`: the base manifests move to
//! `base/`, each environment gets a kustomize overlay, `kubectl kustomize` renders each with the
//! environment's namespaces, replicas and resources, and a server-side dry run of
//! `kubectl apply -k` into the test cluster accepts every object without a warning.

use crate::generate_k8s::restricted;
use crate::support::cluster::Cluster;
use crate::support::fleet::{self, Fleet};
use crate::support::testenv;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// kubectl with the test kubeconfig and no namespace of its own: (success, stdout, stderr).
fn kubectl(c: &Cluster, args: &[&str]) -> (bool, String, String) {
    let out = testenv::run(
        Command::new(testenv::env("MONOSHIP_TEST_KUBECTL"))
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .args(args),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The objects `kubectl kustomize DIR` renders.
fn kustomize(c: &Cluster, dir: &Path) -> Vec<Value> {
    let (ok, stdout, stderr) = kubectl(c, &["kustomize", dir.to_str().unwrap()]);
    assert!(ok, "kubectl kustomize {}: {stderr}", dir.display());
    serde_saphyr::from_multiple(&stdout).unwrap()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn environments(f: &Fleet, staging: &str, orders: &str, production: &str) {
    f.append(
        "Cargo.toml",
        &format!(
            "\n[workspace.metadata.monoship.environments.staging]\nnamespace = \"{staging}\"\n\
             replicas = 1\nresources = {{ limits = {{ memory = \"256Mi\" }} }}\n\
             env = {{ LOG_LEVEL = \"debug\", FEATURE_X = \"on\" }}\n\
             [workspace.metadata.monoship.environments.production]\nnamespace = \"{production}\"\n\
             replicas = 3\npromote-from = \"staging\"\n"
        ),
    );
    f.append(
        "apps/orders/Cargo.toml",
        &format!(
            "\n[package.metadata.monoship.environments.staging]\nnamespace = \"{orders}\"\n\
             replicas = 2\nenv = {{ LOG_LEVEL = \"trace\" }}\n"
        ),
    );
}

#[test]
fn each_environment_gets_an_overlay_that_renders_and_applies() {
    let f = Fleet::new();
    let out = f.path().join("deploy/k8s");
    f.run(&["generate", "k8s"]).ok();
    assert!(out.join("users.yaml").is_file());

    let (staging, orders, production) = (restricted("stg"), restricted("ord"), restricted("prd"));
    environments(
        &f,
        &staging.namespace,
        &orders.namespace,
        &production.namespace,
    );
    let run = f.run(&["generate", "k8s"]);
    run.ok();
    // The flat files move to base/.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("removed")).count(),
        17,
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("created")).count(),
        17 + 3,
        "{}",
        run.stdout
    );
    assert!(!out.join("users.yaml").exists());
    for file in [
        "base/users.yaml",
        "base/kustomization.yaml",
        "overlays/staging/kustomization.yaml",
        "overlays/production/kustomization.yaml",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }

    let objects = kustomize(&staging, &out.join("overlays/staging"));
    assert_eq!(objects.len(), 34);
    for service in fleet::ALL {
        let d = find(&objects, "Deployment", service);
        let s = find(&objects, "Service", service);
        let (ns, replicas) = if *service == "orders" {
            (&orders.namespace, 2)
        } else {
            (&staging.namespace, 1)
        };
        assert_eq!(d["metadata"]["namespace"], ns.as_str(), "{service}");
        assert_eq!(s["metadata"]["namespace"], ns.as_str(), "{service}");
        assert_eq!(d["spec"]["replicas"], replicas, "{service}");
        let resources = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(resources["limits"]["memory"], "256Mi", "{service}");
        assert_eq!(resources["requests"]["cpu"], "50m", "{service}");
        // The environment's variables merged into the base's, the service's own winning.
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        let var = |n: &str| {
            env.iter()
                .find(|e| e["name"] == n)
                .map(|e| e["value"].clone())
        };
        let level = if *service == "orders" {
            "trace"
        } else {
            "debug"
        };
        assert_eq!(var("LOG_LEVEL"), Some(level.into()), "{service}: {env:?}");
        assert_eq!(var("FEATURE_X"), Some("on".into()), "{service}: {env:?}");
        assert!(
            var("PORT").is_some(),
            "{service}: the base's variables stay: {env:?}"
        );
    }
    let objects = kustomize(&production, &out.join("overlays/production"));
    for service in fleet::ALL {
        let d = find(&objects, "Deployment", service);
        assert_eq!(d["metadata"]["namespace"], production.namespace.as_str());
        assert_eq!(d["spec"]["replicas"], 3, "{service}");
        let resources = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(resources["limits"]["memory"], "128Mi", "{service}");
    }

    // A server-side dry run of each overlay: every object accepted, not one warning.
    for overlay in ["staging", "production"] {
        let dir = out.join("overlays").join(overlay);
        let (ok, stdout, stderr) = kubectl(
            &staging,
            &["apply", "--dry-run=server", "-k", dir.to_str().unwrap()],
        );
        assert!(
            ok && stderr.trim().is_empty(),
            "dry run of {overlay}:\n{stdout}\n{stderr}"
        );
        assert_eq!(stdout.lines().count(), 34, "{stdout}");
        assert!(
            stdout.contains("deployment.apps/users created (server dry run)"),
            "{stdout}"
        );
    }
    let run = f.run(&["--format", "json", "generate", "k8s", "--check"]);
    assert_eq!(run.ok().json()["up_to_date"], true);

    // The recipe of docs/generate.md: staging's rendering, deployed with `--manifests`; the
    // pods are admitted under `enforce=restricted` and become ready (kwok plays them).
    let rendered = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = kubectl(
        &staging,
        &[
            "kustomize",
            out.join("overlays/staging").to_str().unwrap(),
            "-o",
            rendered.path().to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let image = format!("example.test/users@sha256:{}", "cd".repeat(32));
    let args = [
        "--env",
        "staging",
        "deploy",
        "users",
        "--manifests",
        rendered.path().to_str().unwrap(),
        "--image",
        &format!("users={image}"),
    ];
    staging.monoship(&f, &args).ok();
    let get = |path: &str| staging.deployment_field("users", path);
    assert_eq!(get("{.spec.template.spec.containers[0].image}"), image);
    assert_eq!(get("{.spec.replicas}"), "1");
    assert_eq!(get("{.status.readyReplicas}"), "1");
    assert_eq!(
        get("{.spec.template.spec.containers[0].resources.limits.memory}"),
        "256Mi"
    );
}

#[test]
fn check_env_and_a_removed_environment() {
    let f = Fleet::files();
    environments(&f, "shop-staging", "orders-staging", "shop");
    let out = f.path().join("deploy/k8s");
    f.run(&["generate", "k8s"]).ok();

    // --check covers the overlays.
    f.remove("deploy/k8s/overlays/production");
    let run = f.run(&["generate", "k8s", "--check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("+++ overlays/production/kustomization.yaml (generated)"),
        "{}",
        run.stdout
    );
    // --env NAME: the base and that environment's overlay only; the others are left alone.
    f.run(&["--env", "staging", "generate", "k8s", "--check"])
        .ok();
    let run = f.run(&["--env", "staging", "generate", "k8s"]);
    run.ok();
    assert!(
        run.stdout.lines().all(|l| l.starts_with("unchanged")),
        "{}",
        run.stdout
    );
    assert!(!out.join("overlays/production").exists());
    let err = f
        .run(&["--env", "qa", "generate", "k8s"])
        .usage_error()
        .to_string();
    assert!(err.contains("unknown environment `qa`"), "{err}");
    // --env means nothing to the other generators.
    f.run(&["--env", "qa", "generate", "dockerfile", "--out", "docker"])
        .ok();

    // An environment that is gone loses its overlay, and its directory.
    f.run(&["generate", "k8s"]).ok();
    f.replace(
        "Cargo.toml",
        "[workspace.metadata.monoship.environments.production]\n",
        "[workspace.metadata.monoship.environments.production-eu]\n",
    );
    let run = f.run(&["generate", "k8s"]);
    run.ok();
    assert!(
        run.stdout.contains("removed    ")
            && run
                .stdout
                .contains("overlays/production/kustomization.yaml"),
        "{}",
        run.stdout
    );
    assert!(!out.join("overlays/production").exists());
    assert!(
        out.join("overlays/production-eu/kustomization.yaml")
            .is_file()
    );
}

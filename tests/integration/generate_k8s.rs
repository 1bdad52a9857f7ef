//! `monoship generate k8s` on a copy of examples/fleet: snapshots, `--check`, configuration, and
//! the manifests of all 17 services applied with a server-side dry run to the real
//! kube-apiserver of the test environment (scripts/testenv/up), in a namespace that enforces the
//! `restricted` Pod Security Standard.

use crate::support::cluster::Cluster;
use crate::support::fleet::{self, Fleet};
use crate::support::run::{Monoship, Run};
use std::fs;
use std::path::Path;

fn generate(f: &Fleet, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["generate", "k8s", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    f.run(&args)
}

/// A namespace for one test, deleted when dropped. It enforces (and warns about) the
/// `restricted` Pod Security Standard, so a Deployment whose pods would break it is reported.
pub(crate) fn restricted(what: &str) -> Cluster {
    let ns = Cluster::new(&format!("gen-{what}"));
    ns.kubectl_ok(&[
        "label",
        "namespace",
        &ns.namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    ns
}

/// `kubectl apply --dry-run=server` of `path` (a file or directory) into `ns`: must succeed
/// without a single warning; returns stdout.
fn dry_run(ns: &Cluster, path: &Path) -> String {
    let (ok, stdout, stderr) =
        ns.kubectl_try(&["apply", "--dry-run=server", "-f", path.to_str().unwrap()]);
    assert!(
        ok && stderr.trim().is_empty(),
        "server-side dry run of {} failed or warned:\nstdout: {stdout}\nstderr: {stderr}",
        path.display()
    );
    stdout
}

#[test]
fn snapshots_of_three_services() {
    let f = Fleet::files();
    let out = tempfile::tempdir().unwrap();
    let run = generate(&f, out.path(), &[]);
    run.ok();
    assert_eq!(run.stdout.lines().count(), 17, "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .all(|l| l.starts_with("created") && l.ends_with(".yaml"))
    );
    for service in ["users", "gateway", "payments"] {
        insta::assert_snapshot!(
            format!("k8s_{service}"),
            fs::read_to_string(out.path().join(format!("{service}.yaml"))).unwrap()
        );
    }
}

#[test]
fn all_17_services_pass_a_server_side_dry_run_under_restricted_pod_security() {
    let f = Fleet::files();
    let out = tempfile::tempdir().unwrap();
    generate(&f, out.path(), &[]).ok();
    let ns = restricted("fleet");
    let stdout = dry_run(&ns, out.path());
    for service in fleet::ALL {
        for kind in ["deployment.apps", "service"] {
            let line = format!("{kind}/{service} created (server dry run)");
            assert!(
                stdout.lines().any(|l| l == line),
                "no `{line}` in:\n{stdout}"
            );
        }
    }
    assert_eq!(stdout.lines().count(), 34, "{stdout}");
}

#[test]
fn configured_settings_reach_the_manifests_and_still_apply() {
    let f = Fleet::files();
    let ns = restricted("config");
    f.append(
        "Cargo.toml",
        &format!(
            "\n[workspace.metadata.monoship]\nprefix = \"nxtgauge-rust\"\n\
             deployment = \"{{prefix}}-{{service}}\"\nnamespace = \"{}\"\nreplicas = 3\n\
             port = 8080\nresources = {{ requests = {{ cpu = \"100m\" }}, \
             limits = {{ memory = \"256Mi\", cpu = \"1\" }} }}\n\
             probe = {{ path = \"/healthz\", scheme = \"HTTPS\" }}\n\
             ports = [{{ name = \"metrics\", port = 9090 }}]\n",
            ns.namespace
        ),
    );
    f.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\nreplicas = 1\nport = 9200\ncontainer = \"app\"\n\
         resources = { requests = { memory = \"128Mi\" }, limits = { cpu = \"\" } }\n\
         probe = { port = 9201 }\nports = []\n",
    );
    let out = tempfile::tempdir().unwrap();
    generate(&f, out.path(), &[]).ok();
    let users = fs::read_to_string(out.path().join("users.yaml")).unwrap();
    for piece in [
        "  name: nxtgauge-rust-users\n",
        &format!("  namespace: {}\n", ns.namespace),
        "    app: nxtgauge-rust-users\n",
        "    app.kubernetes.io/name: users\n",
        "  replicas: 1\n",
        "        - name: app\n",
        "          image: monoship.invalid/users:placeholder\n",
        "              containerPort: 9200\n",
        "              value: \"9200\"\n",
        "              path: /healthz\n              port: 9201\n              scheme: HTTPS\n",
        "            requests:\n              cpu: \"100m\"\n              memory: \"128Mi\"\n",
        "            limits:\n              memory: \"256Mi\"\n          securityContext:",
    ] {
        assert!(users.contains(piece), "missing `{piece}` in:\n{users}");
    }
    assert!(!users.contains("metrics"), "{users}");
    let orders = fs::read_to_string(out.path().join("orders.yaml")).unwrap();
    for piece in [
        "  replicas: 3\n",
        "        - name: orders\n",
        "              containerPort: 8080\n",
        "              cpu: \"1\"\n              memory: \"256Mi\"\n",
        "            - name: metrics\n              containerPort: 9090\n",
        "    - name: metrics\n      port: 9090\n      targetPort: metrics\n",
        "              path: /healthz\n              port: 8080\n              scheme: HTTPS\n",
    ] {
        assert!(orders.contains(piece), "missing `{piece}` in:\n{orders}");
    }
    let stdout = dry_run(&ns, out.path());
    assert!(
        stdout.contains("deployment.apps/nxtgauge-rust-users created (server dry run)"),
        "{stdout}"
    );
}

#[test]
fn after_a_deploy_a_server_side_apply_conflicts_on_the_image_instead_of_resetting_it() {
    // What docs/generate.md says about applying the manifests again after `monoship deploy`.
    let f = Fleet::files();
    let out = tempfile::tempdir().unwrap();
    generate(&f, out.path(), &[]).ok();
    let ns = restricted("ssa");
    let file = out.path().join("users.yaml");
    let file = file.to_str().unwrap();
    let apply = |file: &str| ns.kubectl_try(&["apply", "--server-side", "-f", file]);
    let first = apply(file);
    assert!(first.0, "{first:?}");
    // The image change `monoship deploy` makes: a strategic merge patch, field manager monoship.
    let image = format!("example.test/users@sha256:{}", "ab".repeat(32));
    let patch = format!(
        r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"users","image":"{image}"}}]}}}}}}}}"#
    );
    ns.kubectl_ok(&[
        "patch",
        "deployment",
        "users",
        "--type",
        "strategic",
        "--field-manager",
        "monoship",
        "-p",
        &patch,
    ]);
    let (again, _, stderr) = apply(file);
    assert!(!again, "{stderr}");
    assert!(
        stderr.contains(r#"conflict with "monoship""#)
            && stderr.contains(r#".spec.template.spec.containers[name="users"].image"#),
        "{stderr}"
    );
    // The documented way: apply with the running image in place of the placeholder.
    let current = ns.kubectl_ok(&[
        "get",
        "deployment",
        "users",
        "-o",
        r#"jsonpath={.spec.template.spec.containers[?(@.name=="users")].image}"#,
    ]);
    assert_eq!(current, image);
    let edited = out.path().join("users-current.yaml");
    fs::write(
        &edited,
        fs::read_to_string(file)
            .unwrap()
            .replace("monoship.invalid/users:placeholder", &current),
    )
    .unwrap();
    let fixed = apply(edited.to_str().unwrap());
    assert!(fixed.0, "{fixed:?}");
    // What the documentation warns about: a client-side apply puts the placeholder back.
    ns.kubectl_ok(&["apply", "-f", file]);
    let after = ns.kubectl_ok(&[
        "get",
        "deployment",
        "users",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(after, "monoship.invalid/users:placeholder");
}

#[test]
fn deploy_with_the_generated_manifests_creates_the_deployment_with_the_real_image() {
    // `monoship deploy --manifests DIR` applies the generated Deployment with the image set; its
    // pods are admitted under `enforce=restricted` and become ready (kwok plays the pods).
    let f = Fleet::new();
    f.run(&["generate", "k8s"]).ok();
    let ns = restricted("deploy");
    let image = format!("example.test/users@sha256:{}", "cd".repeat(32));
    let dir = f.path().join("deploy/k8s");
    let run = ns.monoship(
        &f,
        &[
            "deploy",
            "users",
            "--manifests",
            dir.to_str().unwrap(),
            "--image",
            &format!("users={image}"),
        ],
    );
    run.ok();
    let get = |path: &str| ns.deployment_field("users", path);
    assert_eq!(get("{.spec.template.spec.containers[0].image}"), image);
    assert_eq!(get("{.status.readyReplicas}"), "2");
    assert_eq!(
        get("{.metadata.labels.app\\.kubernetes\\.io/managed-by}"),
        "monoship"
    );
}

#[test]
fn default_directory_check_and_a_diff() {
    let f = Fleet::files();
    let run = f.run(&["generate", "k8s"]);
    run.ok();
    assert!(
        run.stdout
            .contains(&format!("{}/deploy/k8s/users.yaml", f.path().display())),
        "{}",
        run.stdout
    );
    let run = f.run(&["generate", "k8s", "--check"]);
    run.ok();
    assert!(
        run.stdout
            .starts_with("up to date: analytics.yaml, audit.yaml")
    );

    f.replace(
        "deploy/k8s/users.yaml",
        "  replicas: 2\n",
        "  replicas: 5\n",
    );
    f.remove("deploy/k8s/audit.yaml");
    let run = f.run(&["generate", "k8s", "--check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("--- users.yaml (on disk)\n+++ users.yaml (generated)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-  replicas: 5\n+  replicas: 2\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("--- /dev/null\n+++ audit.yaml (generated)\n"),
        "{}",
        run.stdout
    );
    let users = f.path().join("deploy/k8s/users.yaml");
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "warning: {} was changed by hand since monoship generated it\n\
             error: out of date: audit.yaml, users.yaml (run `monoship generate k8s`)",
            users.display()
        )
    );
    // The hand edit is kept until --force.
    assert_eq!(f.run(&["generate", "k8s"]).code, 1);
    assert!(
        fs::read_to_string(&users)
            .unwrap()
            .contains("  replicas: 5\n")
    );
    f.run(&["generate", "k8s", "--force"]).ok();
    f.run(&["generate", "k8s", "--check"]).ok();
}

#[test]
fn bad_settings_are_configuration_errors() {
    let f = Fleet::files();
    f.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\nresources = { requests = { memory = \"512Mi\" } }\n",
    );
    let run = f.run(&["generate", "k8s", "--check"]);
    let err = run.usage_error();
    assert!(
        err.contains("apps/users/Cargo.toml: service `users`: `resources.requests.memory` = \"512Mi\" is more than `resources.limits.memory` = \"128Mi\""),
        "{err}"
    );
    f.restore("apps/users/Cargo.toml");
    f.append(
        "Cargo.toml",
        "\n[workspace.metadata.monoship]\nresources = { requests = { gpu = \"1\" } }\n",
    );
    let err = f.run(&["generate", "k8s"]).usage_error().to_string();
    assert!(err.contains("unknown field `gpu`"), "{err}");
    f.restore("Cargo.toml");
    f.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\nprobe = { path = \"/healthz\", schema = \"HTTPS\" }\n",
    );
    let err = f.run(&["generate", "k8s"]).usage_error().to_string();
    assert!(
        err.contains("apps/users/Cargo.toml") && err.contains("unknown field `schema`"),
        "{err}"
    );
    f.restore("apps/users/Cargo.toml");
    f.append(
        "Cargo.toml",
        "\n[workspace.metadata.monoship]\nports = [{ name = \"Metrics\", port = 9090 }]\n",
    );
    let err = f.run(&["generate", "k8s"]).usage_error().to_string();
    assert!(
        err.contains("error: Cargo.toml: service `")
            && err.contains("name `Metrics` is not a valid Kubernetes port name"),
        "{err}"
    );
}

/// Probe and extra ports, rendered without a cluster (the dry run above checks them too).
#[test]
fn probe_and_extra_ports_are_rendered() {
    let f = Fleet::files();
    f.append(
        "apps/users/Cargo.toml",
        "\n[package.metadata.monoship]\nprobe = { path = \"/healthz\", port = 8081, \
         scheme = \"HTTPS\" }\nports = [{ name = \"metrics\", port = 9090 }]\n",
    );
    let out = tempfile::tempdir().unwrap();
    generate(&f, out.path(), &[]).ok();
    let users = fs::read_to_string(out.path().join("users.yaml")).unwrap();
    let probe = "            httpGet:\n              path: /healthz\n              port: 8081\n              scheme: HTTPS\n";
    assert_eq!(users.matches(probe).count(), 3, "{users}");
    for piece in [
        "            - name: http\n              containerPort: 9100\n              protocol: TCP\n            - name: metrics\n              containerPort: 9090\n              protocol: TCP\n",
        "      targetPort: http\n      protocol: TCP\n    - name: metrics\n      port: 9090\n      targetPort: metrics\n      protocol: TCP\n",
    ] {
        assert!(users.contains(piece), "missing `{piece}` in:\n{users}");
    }
    let orders = fs::read_to_string(out.path().join("orders.yaml")).unwrap();
    assert!(
        !orders.contains("metrics") && !orders.contains("scheme"),
        "{orders}"
    );
}

/// `-C DIR` is "as if started in DIR": relative paths in other arguments are relative to it,
/// wherever monoship is started from (these tests start it in the crate's directory).
#[test]
fn relative_paths_are_relative_to_the_directory_of_dash_c() {
    let f = Fleet::new();
    f.run(&["generate", "k8s", "--out", "generated"]).ok();
    assert!(f.path().join("generated/search.yaml").is_file());
    assert!(!Path::new("generated").exists());
    // A kubeconfig next to the manifests, for an API server that is not there: deploy reads
    // both through relative paths and only then fails to connect.
    f.write(
        "kc.yaml",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster: {server: \"https://127.0.0.1:1\"}\n\
         contexts:\n- name: none\n  context: {cluster: none, user: none}\ncurrent-context: none\n\
         users:\n- name: none\n  user: {token: none}\n",
    );
    let digest = format!("sha256:{}", "1".repeat(64));
    let image = format!("search=registry.example/search@{digest}");
    let run = f.run(&[
        "deploy",
        "search",
        "--image",
        &image,
        "--manifests",
        "generated",
        "--kubeconfig",
        "kc.yaml",
        "--dry-run",
    ]);
    assert_eq!(
        run.code, 6,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr
            .contains("cannot reach the Kubernetes API server at https://127.0.0.1:1"),
        "{}",
        run.stderr
    );
}

#[test]
fn dash_c_to_a_missing_directory_is_a_usage_error() {
    let run = Monoship::new()
        .args(["-C", "/nonexistent/monoship-test", "services"])
        .run();
    let line = run.usage_error();
    assert!(line.contains("-C /nonexistent/monoship-test"), "{line}");
}

/// A file `generate k8s` wrote for a service that is gone is flagged by `--check` and removed
/// by the next `generate k8s`; a copy made by hand (header kept) and files it did not write are
/// left alone.
#[test]
fn files_of_services_that_are_gone_are_flagged_then_removed() {
    let f = Fleet::new();
    let out = f.path().join("k8s");
    generate(&f, &out, &[]).ok();
    fs::copy(out.join("users.yaml"), out.join("users-canary.yaml")).unwrap();
    fs::write(out.join("notes.yaml"), "kind: ConfigMap\n").unwrap();
    f.remove("apps/search");

    let check = generate(&f, &out, &["--check"]);
    assert_eq!(
        check.code, 1,
        "stdout: {}\nstderr: {}",
        check.stdout, check.stderr
    );
    assert!(
        check.stderr.contains("out of date: search.yaml ("),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains("users-canary.yaml has the header"),
        "{}",
        check.stderr
    );
    assert!(!check.stderr.contains("notes.yaml"), "{}", check.stderr);
    assert!(
        check.stdout.contains("--- search.yaml (on disk)"),
        "{}",
        check.stdout
    );

    let canary = fs::read(out.join("users-canary.yaml")).unwrap();
    let run = generate(&f, &out, &[]);
    run.ok();
    let line = |status: &str, name: &str| {
        run.stdout
            .lines()
            .any(|l| l.starts_with(status) && l.ends_with(name))
    };
    assert!(line("removed", "/search.yaml"), "{}", run.stdout);
    assert!(line("kept", "/users-canary.yaml"), "{}", run.stdout);
    assert!(!out.join("search.yaml").exists());
    assert_eq!(fs::read(out.join("users-canary.yaml")).unwrap(), canary);
    assert!(out.join("notes.yaml").exists());
    generate(&f, &out, &["--check"]).ok();
}

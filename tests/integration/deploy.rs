//! `monoship deploy` against the test cluster (scripts/testenv/up): successful rollouts and
//! what they record, `unchanged`, `--dry-run`, waves, and the errors found before anything
//! changes. Each test has its own namespace and a copy of examples/fleet.

use crate::support::cluster::{Cluster, FAST_PROBE, digest, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of};
use crate::support::snapshot::{self, Redact};
use serde_json::Value;

fn annotation<'a>(obj: &'a Value, key: &str) -> &'a Value {
    &obj["metadata"]["annotations"][key]
}

/// The redactions of a deploy's table: the namespace, the fleet's head, durations. The
/// images' digests are the test's own, so they stay.
fn redact(c: &Cluster, fleet: &Fleet) -> Redact {
    snapshot::redact()
        .text(&c.namespace, "[NS]")
        .revision(&fleet.git(&["rev-parse", "HEAD"]), "[HEAD]")
        .columns()
}

#[test]
fn two_services_roll_out_with_annotations_on_deployment_and_replica_set() {
    let c = Cluster::new("deploy-two");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    c.create_deployment("orders", &image("fleet", "orders", 1), FAST_PROBE);
    let head = fleet.git(&["rev-parse", "HEAD"]);
    let (users, orders) = (image("fleet", "users", 2), image("fleet", "orders", 2));
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &[
            "--image",
            &format!("users={users}"),
            "--image",
            &format!("orders={orders}"),
        ],
    );
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    assert_eq!(out["namespace"], c.namespace.as_str());
    for (service, reference) in [("users", &users), ("orders", &orders)] {
        let r = result_of(&out, service);
        assert_eq!(r["result"], "deployed", "{r:#}");
        assert_eq!(r["deployment"], service);
        assert_eq!(r["to"]["digest"], digest(reference));
        assert_eq!(r["to"]["revision"], head.as_str());
        assert_eq!(r["from"]["digest"], digest(&image("fleet", service, 1)));
        assert!(r["duration_ms"].as_u64().unwrap() > 0);

        let d = c.deployment(service);
        assert_eq!(c.image_of(service), *reference);
        let cause = annotation(&d, "kubernetes.io/change-cause")
            .as_str()
            .unwrap();
        assert_eq!(
            cause,
            format!(
                "monoship deploy {service}: {} {}",
                &head[..12],
                digest(reference)
            )
        );
        assert_eq!(annotation(&d, "monoship.dev/revision"), head.as_str());
        assert_eq!(annotation(&d, "monoship.dev/digest"), digest(reference));
        let template = &d["spec"]["template"];
        assert_eq!(
            annotation(template, "monoship.dev/digest"),
            digest(reference)
        );
        // The new ReplicaSet records the change and is available.
        let rss = c.replica_sets(service);
        let new = rss
            .iter()
            .find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == *reference)
            .expect("the new ReplicaSet");
        assert_eq!(annotation(new, "kubernetes.io/change-cause"), cause);
        assert_eq!(
            annotation(&new["spec"]["template"], "monoship.dev/revision"),
            head.as_str()
        );
        assert_eq!(new["status"]["availableReplicas"], 2, "{new:#}");
        let old_replicas: i64 = rss
            .iter()
            .filter(|rs| rs["metadata"]["uid"] != new["metadata"]["uid"])
            .map(|rs| rs["status"]["replicas"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(old_replicas, 0);
    }
}

#[test]
fn a_second_run_with_the_same_digest_is_unchanged() {
    let c = Cluster::new("deploy-same");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let flag = format!("users={}", image("fleet", "users", 2));
    let first = monoship(&c, &fleet, "deploy", &["--image", &flag]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let generation = c.generation("users");
    let second = c.monoship(&fleet, &["deploy", "--image", &flag]);
    let _redacted = redact(&c, &fleet).scope();
    insta::assert_snapshot!("unchanged", second.ok().stdout);
    assert_eq!(c.generation("users"), generation, "nothing was patched");
    assert_eq!(c.replica_sets("users").len(), 2);
}

#[test]
fn dry_run_shows_the_change_and_makes_none() {
    let c = Cluster::new("deploy-dry");
    let fleet = Fleet::new();
    let before = image("fleet", "users", 1);
    c.create_deployment("users", &before, FAST_PROBE);
    let generation = c.generation("users");
    let after = image("fleet", "users", 7);
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &["--dry-run", "--image", &format!("users={after}")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    let r = result_of(&out, "users");
    assert_eq!(r["result"], "would-deploy");
    let changes = r["changes"].as_array().unwrap();
    let image_change = changes
        .iter()
        .find(|ch| ch["field"] == "spec.template.spec.containers[users].image")
        .expect("the image change");
    assert_eq!(image_change["from"], before.as_str());
    assert_eq!(image_change["to"], after.as_str());
    assert!(
        changes
            .iter()
            .any(|ch| ch["field"] == "metadata.annotations[kubernetes.io/change-cause]")
    );
    assert_eq!(c.generation("users"), generation);
    assert_eq!(c.image_of("users"), before);

    // The human form names each field and both values.
    let flag = format!("users={after}");
    let human = c.monoship(&fleet, &["deploy", "--dry-run", "--image", &flag]);
    let _redacted = redact(&c, &fleet).scope();
    insta::assert_snapshot!("dry_run", human.ok().stdout);
    assert_eq!(c.generation("users"), generation);
}

#[test]
fn namespace_from_the_configuration_and_waves_from_depends_on() {
    let c = Cluster::new("deploy-cfg");
    let ns = c.namespace.clone();
    let fleet = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            &format!("\n[workspace.metadata.monoship]\nnamespace = \"{ns}\"\n"),
        );
        f.append(
            "apps/orders/Cargo.toml",
            "\n[package.metadata.monoship]\ndepends-on = [\"users\"]\n",
        );
    });
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    c.create_deployment("orders", &image("fleet", "orders", 1), FAST_PROBE);
    let kubeconfig = c.kubeconfig.display().to_string();
    let run = fleet.run(&[
        "--format",
        "json",
        "deploy",
        "orders",
        "users",
        "--kubeconfig",
        &kubeconfig,
        "--image",
        &format!("users={}", image("fleet", "users", 2)),
        "--image",
        &format!("orders={}", image("fleet", "orders", 2)),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("deploying in waves: users → orders"),
        "{}",
        run.stderr
    );
    let out = run.json();
    assert_eq!(out["namespace"], ns.as_str());
    // users finished before orders started.
    let users_done = run.stderr.find("users: deployed").expect("users deployed");
    let orders_start = run
        .stderr
        .find("orders: deployment/orders")
        .expect("orders started");
    assert!(users_done < orders_start, "{}", run.stderr);
}

#[test]
fn references_must_be_pinned_by_digest() {
    let fleet = Fleet::new();
    let lines: Vec<String> = [
        "users=example.test/fleet/users:v2",
        "nosuch=example.test/x@sha256:00",
    ]
    .iter()
    .map(|flag| {
        fleet
            .run(&["deploy", "--image", flag])
            .usage_error()
            .to_string()
    })
    .collect();
    insta::assert_snapshot!("not_pinned", lines.join("\n"));
}

#[test]
fn no_published_reference_is_a_usage_error() {
    let fleet = Fleet::new();
    let run = fleet.run(&["deploy", "users"]);
    let _redacted = snapshot::redact().path(fleet.path(), "[FLEET]").scope();
    insta::assert_snapshot!("no_image", run.usage_error());
}

#[test]
fn manifests_are_applied_server_side_creating_the_deployment() {
    let c = Cluster::new("deploy-manifests");
    let fleet = Fleet::new();
    let dir = tempfile::tempdir().unwrap();
    let manifest = |replicas: u32| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other}}\ndata: {{a: b}}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: users\nspec:\n  \
             replicas: {replicas}\n  selector: {{matchLabels: {{app: users}}}}\n  template:\n    \
             metadata: {{labels: {{app: users}}}}\n    spec:\n      containers:\n      \
             - name: users\n        image: placeholder\n        readinessProbe:\n          \
             tcpSocket: {{port: 9100}}\n          periodSeconds: 1\n"
        )
    };
    std::fs::write(dir.path().join("users.yaml"), manifest(2)).unwrap();
    let reference = image("fleet", "users", 4);
    let args = [
        "--manifests",
        dir.path().to_str().unwrap(),
        "--image",
        &format!("users={reference}"),
    ];
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "deployed");
    let d = c.deployment("users");
    assert_eq!(c.image_of("users"), reference);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(annotation(&d, "monoship.dev/digest"), digest(&reference));
    let with_fields = c.json(&["get", "deployment", "users", "--show-managed-fields"]);
    let managers: Vec<&str> = with_fields["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["operation"] == "Apply")
        .map(|f| f["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["monoship"]);

    let again = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(result_of(&again.json(), "users")["result"], "unchanged");

    // Same image, another spec: applied.
    std::fs::write(dir.path().join("users.yaml"), manifest(3)).unwrap();
    let dry = monoship(
        &c,
        &fleet,
        "deploy",
        &[&["--dry-run"][..], &args[..]].concat(),
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let out = dry.json();
    let changes = result_of(&out, "users")["changes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["field"], "spec.replicas");
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "deployed");
    assert_eq!(c.deployment("users")["status"]["availableReplicas"], 3);

    // A Deployment the files do not have.
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &[
            "orders",
            "--manifests",
            dir.path().to_str().unwrap(),
            "--image",
            &format!("orders={}", image("fleet", "orders", 1)),
        ],
    );
    let line = run.usage_error();
    assert!(line.contains("no Deployment `orders`"), "{line}");
}

#[test]
fn affected_deploys_only_the_services_a_change_touches() {
    let c = Cluster::new("deploy-affected");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    fleet.append("apps/users/src/main.rs", "\n// a change\n");
    fleet.commit("users changed");
    // orders has no Deployment here: were it selected, the run would stop before any change.
    let users = image("fleet", "users", 2);
    let run = c.monoship(
        &fleet,
        &[
            "deploy",
            "--affected",
            "--base",
            "main",
            "--image",
            &format!("users={users}"),
            "--image",
            &format!("orders={}", image("fleet", "orders", 2)),
        ],
    );
    // One row: users, deployed.
    let _redacted = redact(&c, &fleet).scope();
    insta::assert_snapshot!("affected_only", run.ok().stdout);
    assert_eq!(c.image_of("users"), users);

    // Nothing changed since: nothing to deploy.
    let run = c.monoship(&fleet, &["deploy", "--affected", "--base", "HEAD"]);
    insta::assert_snapshot!("nothing_affected", run.ok().stdout);
}

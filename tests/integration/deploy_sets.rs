//! A service's whole set of objects with `deploy --manifests`: every object of its file is
//! applied server-side as a member of the service's ApplySet, an object that left the set is
//! pruned after the rollout succeeded, a new commit that changes nothing the service runs is
//! `unchanged`, and a field another manager owns is a conflict unless `--force-conflicts`.

use crate::support::cluster::{Cluster, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of};

const PART_OF: &str = "applyset.kubernetes.io/part-of";

/// The users Deployment (`replicas`), with a ConfigMap `extra` when `extra`.
fn manifest(replicas: u32, extra: bool) -> String {
    let mut text = String::new();
    if extra {
        text.push_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n---\n",
        );
    }
    text.push_str(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: users}}\nspec:\n  selector: {{app: users}}\n  \
         ports: [{{port: 80, targetPort: 9100}}]\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: users\nspec:\n  \
         replicas: {replicas}\n  selector: {{matchLabels: {{app: users}}}}\n  template:\n    \
         metadata: {{labels: {{app: users}}}}\n    spec:\n      containers:\n      \
         - name: users\n        image: placeholder\n"
    ));
    text
}

#[test]
fn every_object_is_applied_and_one_that_left_is_pruned_after_success() {
    let c = Cluster::new("sets-prune");
    let fleet = Fleet::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.yaml"), manifest(1, true)).unwrap();
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
    let cm = c.json(&["get", "configmap", "extra"]);
    let id = cm["metadata"]["labels"][PART_OF]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("applyset-"), "{id}");
    let svc = c.json(&["get", "service", "users"]);
    assert_eq!(svc["metadata"]["labels"][PART_OF], id.as_str());
    assert_eq!(
        c.deployment("users")["metadata"]["labels"][PART_OF],
        id.as_str()
    );
    let parent = c.json(&["get", "secret", "monoship-set-users"]);
    assert_eq!(
        parent["metadata"]["labels"]["applyset.kubernetes.io/id"],
        id.as_str()
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps,Service"
    );

    // The same objects at a newer commit: nothing the service runs changes.
    fleet.append("README.md", "\nanother commit\n");
    fleet.commit("elsewhere");
    let generation = c.generation("users");
    let again = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(result_of(&again.json(), "users")["result"], "unchanged");
    assert_eq!(c.generation("users"), generation);

    // A changed ConfigMap alone is a change (shown by the dry run) too.
    let changed = manifest(1, true).replace("{a: b}", "{a: c}");
    std::fs::write(dir.path().join("users.yaml"), changed).unwrap();
    let dry = monoship(
        &c,
        &fleet,
        "deploy",
        &[&["--dry-run"][..], &args[..]].concat(),
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let out = dry.json();
    let fields: Vec<&str> = result_of(&out, "users")["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ConfigMap/extra.data.a"]);

    // The ConfigMap leaves the set: pruned once the rollout succeeded.
    std::fs::write(dir.path().join("users.yaml"), manifest(2, false)).unwrap();
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "deployed");
    let (found, _, _) = c.kubectl_try(&["get", "configmap", "extra"]);
    assert!(!found, "the ConfigMap that left the set is still there");
    c.json(&["get", "service", "users"]);
    let parent = c.json(&["get", "secret", "monoship-set-users"]);
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "Deployment.apps,Service"
    );
}

#[test]
fn a_field_another_manager_owns_is_a_conflict_unless_forced() {
    let c = Cluster::new("sets-conflict");
    let fleet = Fleet::new();
    // kubectl's server-side apply owns `data.a` of the ConfigMap.
    let (ok, _, err) = c.kubectl_try(&[
        "create",
        "configmap",
        "extra",
        "--from-literal=a=theirs",
        "--field-manager=someone-else",
    ]);
    assert!(ok, "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.yaml"), manifest(1, true)).unwrap();
    let reference = image("fleet", "users", 5);
    let args = [
        "--manifests",
        dir.path().to_str().unwrap(),
        "--image",
        &format!("users={reference}"),
    ];
    let run = monoship(&c, &fleet, "deploy", &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("ConfigMap")
            && run.stderr.contains("extra")
            && run.stderr.contains("--force-conflicts"),
        "{}",
        run.stderr
    );
    let (exists, _, _) = c.kubectl_try(&["get", "deployment", "users"]);
    assert!(!exists, "a conflict must stop the run before any change");
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &[&["--force-conflicts"][..], &args[..]].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(c.json(&["get", "configmap", "extra"])["data"]["a"], "b");
}

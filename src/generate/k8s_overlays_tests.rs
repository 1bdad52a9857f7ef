//! Unit tests of the overlays of `generate k8s` (src/generate/k8s_overlays.rs).
use super::*;
use crate::config::WorkspaceConfig;
use serde_json::json;
use std::path::Path;

fn service(name: &str, config: serde_json::Value) -> Service {
    Context::test_service(name, config)
}

fn ctx(config: serde_json::Value, services: Vec<Service>) -> Context {
    let config =
        WorkspaceConfig::from_metadata(&json!({ "monoship": config }), Path::new("Cargo.toml"))
            .unwrap();
    Context::for_test(config, services)
}

fn file<'a>(files: &'a [GeneratedFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

/// What follows the header's comment lines.
fn body(text: &str) -> String {
    text.lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn fleet() -> Context {
    ctx(
        json!({
            "namespace": "shop",
            "environments": {
                "staging": {"namespace": "shop-staging", "replicas": 1,
                            "resources": {"limits": {"memory": "256Mi"}}},
                "production": {"promote-from": "staging"},
                "qa": {"namespace": "qa"}
            }
        }),
        vec![
            service(
                "orders",
                json!({"environments": {"staging": {"namespace": "orders-staging"}}}),
            ),
            service(
                "users",
                json!({"replicas": 3, "environments": {"production": {"replicas": 5}}}),
            ),
        ],
    )
}

#[test]
fn the_base_lists_every_manifest_and_each_environment_has_an_overlay() {
    let files = crate::generate::k8s::render(&fleet()).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "base/orders.yaml",
            "base/users.yaml",
            "base/kustomization.yaml",
            "overlays/production/kustomization.yaml",
            "overlays/qa/kustomization.yaml",
            "overlays/staging/kustomization.yaml",
        ]
    );
    assert_eq!(
        body(file(&files, "base/kustomization.yaml")),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  \
         - orders.yaml\n  - users.yaml\n"
    );
    // Every service in one namespace: kustomize's `namespace`, nothing else changes.
    assert_eq!(
        body(file(&files, "overlays/qa/kustomization.yaml")),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  \
         - ../../base\nnamespace: qa\n"
    );
}

#[test]
fn a_services_own_environment_table_wins_and_only_changes_are_patched() {
    let files = crate::generate::k8s::render(&fleet()).unwrap();
    let staging = file(&files, "overlays/staging/kustomization.yaml");
    assert!(
        staging.contains("#   create:       kubectl apply --server-side -k overlays/staging\n")
    );
    // orders runs elsewhere: no shared namespace, a namespace patch per service that moves.
    assert_eq!(
        body(staging),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  \
         - ../../base\npatches:\n\
         \x20 - target:\n      labelSelector: app.kubernetes.io/name=orders\n    patch: |-\n      \
         - op: add\n        path: /metadata/namespace\n        value: orders-staging\n\
         \x20 - target:\n      kind: Deployment\n      labelSelector: app.kubernetes.io/name=orders\n    \
         patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        \
         name: orders\n      spec:\n        replicas: 1\n        template:\n          spec:\n            \
         containers:\n              - name: orders\n                resources:\n                  \
         limits:\n                    memory: \"256Mi\"\n\
         \x20 - target:\n      labelSelector: app.kubernetes.io/name=users\n    patch: |-\n      \
         - op: add\n        path: /metadata/namespace\n        value: shop-staging\n\
         \x20 - target:\n      kind: Deployment\n      labelSelector: app.kubernetes.io/name=users\n    \
         patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        \
         name: users\n      spec:\n        replicas: 1\n        template:\n          spec:\n            \
         containers:\n              - name: users\n                resources:\n                  \
         limits:\n                    memory: \"256Mi\"\n"
    );
    // production sets no namespace (the base's, shared) and users' own replicas.
    let production = body(file(&files, "overlays/production/kustomization.yaml"));
    assert!(
        production.contains("namespace: shop\npatches:\n"),
        "{production}"
    );
    assert!(production.contains("name=users\n"), "{production}");
    assert!(!production.contains("name=orders\n"), "{production}");
    assert!(production.contains("        replicas: 5\n"), "{production}");
    assert!(!production.contains("template:"), "{production}");
}

#[test]
fn dropped_quantities_are_null() {
    let q = |l: &[(&str, &str)]| -> Vec<(String, String)> {
        l.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let base = q(&[("cpu", "50m"), ("memory", "64Mi")]);
    assert_eq!(quantities("requests", &base, &base), None);
    assert_eq!(
        quantities("requests", &base, &q(&[("memory", "32Mi")])).unwrap(),
        "                  requests:\n                    cpu: null\n                    \
         memory: \"32Mi\"\n"
    );
    assert_eq!(
        quantities("limits", &base, &[]).unwrap(),
        "                  limits: null\n"
    );
}

#[test]
fn only_one_environment_and_bad_names() {
    let mut c = fleet();
    c.only_environment = Some("qa".into());
    let files = crate::generate::k8s::render(&c).unwrap();
    let overlays: Vec<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.starts_with("overlays/"))
        .collect();
    assert_eq!(overlays, ["overlays/qa/kustomization.yaml"]);

    let c = ctx(
        json!({"environments": {"../x": {}}}),
        vec![service("users", json!({}))],
    );
    let e = render(&c).unwrap_err().to_string();
    assert!(
        e.contains("environment `../x` cannot name its overlay's directory"),
        "{e}"
    );

    // A bad value of an environment names it, and the file it comes from.
    let c = ctx(
        json!({"environments": {"staging": {}}}),
        vec![service(
            "users",
            json!({"environments": {"staging": {"namespace": "Bad_NS"}}}),
        )],
    );
    let e = render(&c).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "apps/users/Cargo.toml: environment `staging`: service `users`: namespace `Bad_NS`"
        ),
        "{e}"
    );
}

#[test]
fn an_environments_env_is_patched_into_each_container_and_a_services_own_wins() {
    let files = crate::generate::k8s::render(&ctx(
        json!({"environments": {"qa": {"namespace": "qa", "env": {"LOG": "debug", "N": "1"}}}}),
        vec![
            service(
                "orders",
                json!({"environments": {"qa": {"env": {"LOG": "trace"}}}}),
            ),
            service("users", json!({})),
        ],
    ))
    .unwrap();
    let qa = body(file(&files, "overlays/qa/kustomization.yaml"));
    let env_of = |name: &str, log: &str| {
        format!(
            "  - target:\n      kind: Deployment\n      labelSelector: app.kubernetes.io/name={name}\n    \
             patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        \
             name: {name}\n      spec:\n        template:\n          spec:\n            containers:\n              \
             - name: {name}\n                env:\n                  - name: LOG\n                    \
             value: {log}\n                  - name: \"N\"\n                    value: \"1\"\n"
        )
    };
    assert!(qa.contains(&env_of("orders", "trace")), "{qa}");
    assert!(qa.contains(&env_of("users", "debug")), "{qa}");
    // The base keeps its own variables; the environment's are merged in by name.
    assert!(!file(&files, "base/users.yaml").contains("LOG"));
}

#[test]
fn an_env_name_kubernetes_refuses_is_a_configuration_error() {
    let mut ws = crate::workspace::fake(&["users"]);
    ws.config.environments.insert(
        "qa".into(),
        crate::config::EnvironmentConfig {
            env: [("1BAD".to_string(), "x".to_string())].into(),
            ..Default::default()
        },
    );
    let err = crate::workspace::environment::check_for_test(&ws).unwrap_err();
    assert!(
        err.to_string()
            .contains("environment `qa`: `env`: `1BAD` is not a variable name"),
        "{err}"
    );
}

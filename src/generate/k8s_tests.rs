//! Unit tests of `generate k8s` (src/generate/k8s.rs).
use super::*;
use serde_json::json;
use std::path::Path;

fn service(name: &str, config: serde_json::Value) -> Service {
    super::super::Context::test_service(name, config)
}

fn workspace(config: serde_json::Value) -> WorkspaceConfig {
    WorkspaceConfig::from_metadata(&json!({ "monoship": config }), Path::new("Cargo.toml")).unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn defaults() {
    let m = manifest(&service("users", json!({})), &workspace(json!({}))).unwrap();
    assert_eq!(
        m,
        Manifest {
            service: "users".into(),
            name: "users".into(),
            namespace: None,
            app: "users".into(),
            container: "users".into(),
            port: 9100,
            extra_ports: Vec::new(),
            probe: HttpProbe {
                path: "/health".into(),
                port: 9100,
                https: false,
            },
            replicas: 2,
            requests: pairs(DEFAULT_REQUESTS),
            limits: pairs(DEFAULT_LIMITS),
        }
    );
}

#[test]
fn service_over_workspace_over_defaults() {
    let ws = workspace(json!({
        "prefix": "nxtgauge-rust", "deployment": "{prefix}-{service}", "namespace": "nxtgauge",
        "replicas": 3, "port": 8080,
        "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "256Mi", "cpu": "1"}}
    }));
    let svc = service(
        "users",
        json!({"replicas": 1, "container": "app", "namespace": "edge",
               "resources": {"requests": {"memory": "128Mi"}, "limits": {"cpu": ""}}}),
    );
    let m = manifest(&svc, &ws).unwrap();
    assert_eq!(m.name, "nxtgauge-rust-users");
    assert_eq!(m.app, "nxtgauge-rust-users");
    assert_eq!(m.namespace.as_deref(), Some("edge"));
    assert_eq!((m.container.as_str(), m.port, m.replicas), ("app", 8080, 1));
    assert_eq!(m.requests, pairs(&[("cpu", "100m"), ("memory", "128Mi")]));
    assert_eq!(m.limits, pairs(&[("memory", "256Mi")]));
    assert_eq!(app_label("shop-", "users"), "shop-users");
}

#[test]
fn bad_values_name_the_file_and_the_key() {
    let ws = workspace(json!({}));
    let e = manifest(
        &service(
            "users",
            json!({"resources": {"requests": {"memory": "lots"}}}),
        ),
        &ws,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("apps/users/Cargo.toml: service `users`: `resources.requests.memory`"),
        "{e}"
    );
    let e = manifest(
        &service(
            "users",
            json!({"resources": {"requests": {"memory": "512Mi"}}}),
        ),
        &ws,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("raise the limit"), "{e}");
    let e = manifest(&service("Users", json!({})), &ws)
        .unwrap_err()
        .to_string();
    assert!(e.contains("deployment `Users`"), "{e}");
    assert!(
        e.starts_with("apps/Users/Cargo.toml:") && e.contains("set `deployment` (say \"users\")"),
        "{e}"
    );
    assert_eq!(suggest_label("My_Service.v2"), "my-service-v2");
    assert_eq!(suggest_label("9lives"), "lives");
    let e = manifest(
        &service("users", json!({})),
        &workspace(json!({"deployment": "{svc}"})),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("Cargo.toml:") && e.contains("unknown placeholder `{svc}`"),
        "{e}"
    );
    let e = manifest(
        &service("users", json!({})),
        &workspace(json!({"deployment": "1-{service}"})),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("also names the Service"), "{e}");
    let bad: Result<WorkspaceConfig, _> = WorkspaceConfig::from_metadata(
        &json!({"monoship": {"resources": {"requests": {"gpu": "1"}}}}),
        Path::new("Cargo.toml"),
    );
    assert!(bad.unwrap_err().to_string().contains("gpu"));
}

#[test]
fn quantities() {
    for (q, v) in [
        ("50m", 0.05),
        ("1", 1.0),
        ("0.5", 0.5),
        ("64Mi", 67_108_864.0),
        ("1G", 1e9),
        ("1e3", 1000.0),
        ("+2k", 2000.0),
    ] {
        assert_eq!(quantity(q), Some(v), "{q}");
    }
    for q in ["", "m", "1.2.3", "64MB", "-1", "1e", "lots", "."] {
        assert_eq!(quantity(q), None, "{q}");
    }
}

#[test]
fn renders_without_leftovers_and_omits_empty_resources() {
    let ctx_ws = workspace(json!({"resources": {"requests": {"cpu": "", "memory": ""},
                                                "limits": {"memory": ""}}}));
    let m = manifest(&service("users", json!({})), &ctx_ws).unwrap();
    let out = template::render("t", TEMPLATE, &vars(&m)).unwrap();
    assert!(!out.contains("resources:"), "{out}");
    assert!(!out.contains("namespace:"), "{out}");
    assert!(!out.contains("{{") && !out.contains("}}"), "{out}");
    assert!(out.contains(super::super::MARKER));
    assert!(out.contains("image: monoship.invalid/users:placeholder\n"));
}

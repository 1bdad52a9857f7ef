//! What a change does to a Deployment, field by field, for `--dry-run`: the differences between
//! the object before and the API server's dry-run result, in its labels, annotations and spec.
//! Lists of named items (containers, ports, env) are matched by name.

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;
use serde_json::Value;

/// One field a change sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// `spec.template.spec.containers[users].image`, `metadata.annotations[…]`, …
    pub field: String,
    /// `None`: the field is added (or, for `to`, removed).
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The fields that differ between `before` (`None`: the Deployment is created) and `after`.
/// The deployment controller's own annotations are left out.
pub fn changes(before: Option<&Deployment>, after: &Deployment) -> Vec<FieldChange> {
    let pick = |d: Option<&Deployment>| -> Value {
        let v = d.map(serde_json::to_value).and_then(Result::ok);
        let v = v.unwrap_or(Value::Null);
        let mut annotations = v["metadata"]["annotations"].clone();
        if let Some(a) = annotations.as_object_mut() {
            a.retain(|k, _| !k.starts_with("deployment.kubernetes.io/"));
        }
        serde_json::json!({
            "metadata": {"labels": v["metadata"]["labels"], "annotations": annotations},
            "spec": v["spec"],
        })
    };
    let mut out = Vec::new();
    walk("", Some(&pick(before)), Some(&pick(Some(after))), &mut out);
    out
}

/// What applying `after` (a dry run's result) changes of `before` (`None`: it is created), for
/// any object of a service's set, its fields under `Kind/name`. Server bookkeeping and status
/// are left out, and a Secret's values never appear: only which keys change.
pub fn object_changes(before: Option<&Value>, after: &Value) -> Vec<FieldChange> {
    let kind = after["kind"].as_str().unwrap_or("object");
    let root = format!(
        "{kind}/{}",
        after["metadata"]["name"].as_str().unwrap_or("?")
    );
    let Some(before) = before else {
        return vec![FieldChange {
            field: root,
            from: None,
            to: Some("created".into()),
        }];
    };
    let pick = |v: &Value| -> Value {
        let mut o = v.clone();
        if let Some(map) = o.as_object_mut() {
            map.remove("status");
            map.insert(
                "metadata".into(),
                serde_json::json!({
                    "labels": v["metadata"]["labels"],
                    "annotations": v["metadata"]["annotations"],
                }),
            );
        }
        o
    };
    let mut out = Vec::new();
    walk(&root, Some(&pick(before)), Some(&pick(after)), &mut out);
    if kind == "Secret" {
        for c in &mut out {
            if !c.field.starts_with(&format!("{root}.metadata")) {
                let hide = |v: &mut Option<String>| {
                    if v.is_some() {
                        *v = Some("(hidden)".into());
                    }
                };
                hide(&mut c.from);
                hide(&mut c.to);
            }
        }
    }
    out
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else if key.contains(['.', '/']) {
        format!("{path}[{key}]")
    } else {
        format!("{path}.{key}")
    }
}

fn named(items: &[Value]) -> Option<Vec<&str>> {
    items.iter().map(|i| i["name"].as_str()).collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldChange>) {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    if a == b {
        return;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                walk(&child(path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => match (named(x), named(y)) {
            (Some(nx), Some(ny)) => {
                let mut names: Vec<&str> = nx.clone();
                names.extend(ny.iter().filter(|n| !nx.contains(n)));
                for n in names {
                    let find = |items: &'_ [Value]| items.iter().find(|i| i["name"] == n).cloned();
                    walk(
                        &format!("{path}[{n}]"),
                        find(x).as_ref(),
                        find(y).as_ref(),
                        out,
                    );
                }
            }
            _ => out.push(FieldChange {
                field: path.to_string(),
                from: a.map(text),
                to: b.map(text),
            }),
        },
        _ => out.push(FieldChange {
            field: path.to_string(),
            from: a.map(text),
            to: b.map(text),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Deployment {
        serde_json::from_str(include_str!("fixtures/deployment.json")).unwrap()
    }

    #[test]
    fn image_and_annotations_by_container_name() {
        let before = deployment();
        let mut v = serde_json::to_value(&before).unwrap();
        v["spec"]["template"]["spec"]["containers"][0]["image"] = json!("x@sha256:cccc");
        v["spec"]["template"]["metadata"]["annotations"]["monoship.dev/digest"] =
            json!("sha256:cccc");
        v["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("9");
        let after: Deployment = serde_json::from_value(v).unwrap();
        let c = changes(Some(&before), &after);
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.template.metadata.annotations[monoship.dev/digest]",
                "spec.template.spec.containers[users].image"
            ]
        );
        assert_eq!(c[0].from.as_deref(), Some("sha256:bbbb"));
        assert_eq!(c[1].to.as_deref(), Some("x@sha256:cccc"));
    }

    #[test]
    fn a_new_deployment_and_other_spec_fields() {
        let after = deployment();
        let created = changes(None, &after);
        assert!(
            created
                .iter()
                .any(|c| c.field == "spec" && c.from.is_none())
        );
        let mut v = serde_json::to_value(&after).unwrap();
        v["spec"]["replicas"] = json!(5);
        v["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "1"}]);
        let more: Deployment = serde_json::from_value(v).unwrap();
        let c = changes(Some(&after), &more);
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.replicas", "spec.template.spec.containers[users].env"]
        );
        assert_eq!(
            (c[0].from.as_deref(), c[0].to.as_deref()),
            (Some("2"), Some("5"))
        );
    }

    #[test]
    fn object_changes_hide_secret_values() {
        let before = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "resourceVersion": "3"}, "data": {"password": "b2xk"}});
        let after = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "resourceVersion": "4"}, "data": {"password": "bmV3"}});
        let c = object_changes(Some(&before), &after);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].field, "Secret/db.data.password");
        assert_eq!(c[0].to.as_deref(), Some("(hidden)"));
        let created = object_changes(None, &after);
        assert_eq!(created[0].to.as_deref(), Some("created"));
        let cm =
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
        let old =
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let c = object_changes(Some(&old), &cm);
        assert_eq!(
            (c[0].from.as_deref(), c[0].to.as_deref()),
            (Some("1"), Some("2"))
        );
    }
}

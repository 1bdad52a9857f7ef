//! `deploy --manifests DIR`: the services' Deployments come from YAML (or JSON) files, are
//! given the image and monoship's annotations, and are applied server-side (field manager
//! `monoship`), creating them when missing.

use super::DeployError;
use super::patch::{self, ImageChange};
use super::revisions::{CHANGE_CAUSE, MONOSHIP_DIGEST, MONOSHIP_PROMOTED_FROM, MONOSHIP_REVISION};
use crate::invalid::Invalid;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use std::path::Path;

pub use crate::objects::Manifest;

/// Every object in the `*.yaml`, `*.yml` and `*.json` files under `dir` (sorted by path;
/// several YAML documents per file; `kind: List` unpacked), or in the one file `dir` names.
pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, Invalid> {
    if !dir.exists() {
        return Err(Invalid(format!(
            "--manifests {}: no such file or directory",
            dir.display()
        )));
    }
    crate::objects::load(dir)
}

/// The Deployment named `name` (in `namespace`, or without one).
pub fn find<'a>(manifests: &'a [Manifest], name: &str, namespace: &str) -> Option<&'a Manifest> {
    manifests.iter().find(|m| {
        let o = &m.object;
        o["kind"] == "Deployment"
            && o["apiVersion"] == "apps/v1"
            && o["metadata"]["name"] == name
            && o["metadata"]["namespace"]
                .as_str()
                .is_none_or(|ns| ns == namespace)
    })
}

/// The objects of the service whose Deployment is `m`, `m` among them: every object of the
/// files in its file's directory when that is a directory of its own below `dir`
/// (`DIR/<service>/`), else of its file.
pub fn set_of(manifests: &[Manifest], m: &Manifest, dir: &Path) -> Vec<Manifest> {
    let own_dir = m.file.parent().filter(|p| *p != dir);
    manifests
        .iter()
        .filter(|o| match own_dir {
            Some(d) => o.file.parent() == Some(d),
            None => o.file == m.file,
        })
        .cloned()
        .collect()
}

/// The Deployment of `m` as applied for `change`: in `namespace`, the container's image set,
/// monoship's annotations on it and its pod template. The container is chosen as for a patch.
pub fn render(
    m: &Manifest,
    namespace: &str,
    service: &str,
    configured: Option<&str>,
    change: &ImageChange<'_>,
) -> Result<(Value, String), Invalid> {
    let parsed: Deployment = serde_json::from_value(m.object.clone())
        .map_err(|e| Invalid(format!("{}: not a Deployment: {e}", m.file.display())))?;
    let name = parsed.metadata.name.clone().unwrap_or_default();
    let template = parsed.spec.map(|s| s.template).unwrap_or_default();
    let pod_spec = template.spec.unwrap_or_default();
    let container =
        super::container::choose(&pod_spec, template.metadata.as_ref(), configured, service)
            .map_err(|e| e.message(&format!("deployment {name}")))?
            .name
            .clone();
    let change = ImageChange {
        container: &container,
        ..change.clone()
    };
    let mut o = m.object.clone();
    o["metadata"]["namespace"] = json!(namespace);
    let ours = |with_cause: bool| {
        let mut a = serde_json::Map::new();
        if let Some(r) = change.revision {
            a.insert(MONOSHIP_REVISION.into(), json!(r));
        }
        a.insert(MONOSHIP_DIGEST.into(), json!(change.digest()));
        if let Some(p) = &change.promoted_from {
            a.insert(MONOSHIP_PROMOTED_FROM.into(), json!(p));
        }
        if with_cause {
            a.insert(CHANGE_CAUSE.into(), json!(change.change_cause()));
        }
        a
    };
    merge_annotations(&mut o["metadata"], ours(true));
    merge_annotations(&mut o["spec"]["template"]["metadata"], ours(false));
    let containers = o["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .ok_or_else(|| {
            Invalid(format!(
                "{}: deployment {name} has no containers",
                m.file.display()
            ))
        })?;
    for c in containers.iter_mut() {
        if c["name"] == container.as_str() {
            c["image"] = json!(change.image);
        }
    }
    Ok((o, container))
}

/// When `d` already runs `digest`, `object` (rendered for it) keeps `d`'s revision stamp and
/// change cause: a new commit that changes nothing the service runs changes nothing.
pub fn keep_stamp(d: &Deployment, object: &mut Value, digest: &str) {
    let template = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
    let live = |m: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>, k: &str| {
        m.and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(k))
            .cloned()
    };
    if live(template, MONOSHIP_DIGEST).as_deref() != Some(digest) {
        return;
    }
    let mut top = serde_json::Map::new();
    let mut pod = serde_json::Map::new();
    for k in [MONOSHIP_REVISION, CHANGE_CAUSE, MONOSHIP_PROMOTED_FROM] {
        if let Some(v) = live(Some(&d.metadata), k) {
            top.insert(k.into(), json!(v));
        }
    }
    for k in [MONOSHIP_REVISION, MONOSHIP_PROMOTED_FROM] {
        if let Some(v) = live(template, k) {
            pod.insert(k.into(), json!(v));
        }
    }
    merge_annotations(&mut object["metadata"], top);
    merge_annotations(&mut object["spec"]["template"]["metadata"], pod);
}

fn merge_annotations(meta: &mut Value, add: serde_json::Map<String, Value>) {
    if !meta.is_object() {
        *meta = json!({});
    }
    let annotations = &mut meta["annotations"];
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(a) = annotations.as_object_mut() {
        a.extend(add);
    }
}

/// Server-side apply of a Deployment (field manager `monoship`, taking over fields other
/// managers set), optionally conditional on `resource_version`.
pub async fn apply(
    client: &kube::Client,
    namespace: &str,
    object: &Value,
    resource_version: Option<&str>,
    dry_run: bool,
) -> Result<Deployment, DeployError> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut body = object.clone();
    if let Some(rv) = resource_version {
        body["metadata"]["resourceVersion"] = json!(rv);
    }
    let api: kube::Api<Deployment> = kube::Api::namespaced(client.clone(), namespace);
    let mut pp = kube::api::PatchParams::apply(patch::FIELD_MANAGER).force();
    pp.dry_run = dry_run;
    let patch = kube::api::Patch::Apply(&body);
    super::error::with_retries(|| api.patch(&name, &pp, &patch))
        .await
        .map_err(|e| DeployError::from_kube(e, &format!("applying deployment {namespace}/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
apiVersion: v1
kind: Service
metadata: {name: users}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: users
  labels: {app: users}
spec:
  replicas: 3
  selector: {matchLabels: {app: users}}
  template:
    metadata: {labels: {app: users}}
    spec:
      containers:
      - name: users
        image: placeholder
        ports: [{containerPort: 9100}]
      - name: proxy
        image: example.test/proxy:1
---
";

    #[test]
    fn loads_documents_and_renders_the_deployment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.yaml"), YAML).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
        let all = load_dir(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert!(find(&all, "users", "shop").is_some());
        assert!(find(&all, "orders", "shop").is_none());
        let m = find(&all, "users", "shop").unwrap();
        let change = ImageChange {
            service: "users",
            container: "",
            image: "example.test/users@sha256:abcd",
            revision: Some("0123456789abcdef"),
            promoted_from: None,
        };
        let (o, container) = render(m, "shop", "users", None, &change).unwrap();
        assert_eq!(container, "users");
        assert_eq!(o["metadata"]["namespace"], "shop");
        assert_eq!(o["spec"]["replicas"], 3);
        let cs = &o["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["image"], "example.test/users@sha256:abcd");
        assert_eq!(cs[1]["image"], "example.test/proxy:1");
        assert_eq!(
            o["metadata"]["annotations"][CHANGE_CAUSE],
            "monoship deploy users: 0123456789ab sha256:abcd"
        );
        assert_eq!(
            o["spec"]["template"]["metadata"]["annotations"][MONOSHIP_DIGEST],
            "sha256:abcd"
        );
        assert_eq!(o["spec"]["template"]["metadata"]["labels"]["app"], "users");
    }

    #[test]
    fn bad_yaml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.yml"), "a: [1, 2\n").unwrap();
        let err = load_dir(dir.path()).unwrap_err().0;
        assert!(err.contains("bad.yml"), "{err}");
    }
}

//! Server-side apply of any namespaced object of a service's set (field manager `monoship`):
//! its resource found by discovery, a conflict with another field manager reported rather than
//! forced (unless `--force-conflicts`), and whether an apply changes anything.

use super::DeployError;
use super::patch::FIELD_MANAGER;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::Value;
use std::collections::BTreeMap;

/// The resources of the kinds a run applies, found once.
#[derive(Default)]
pub struct Resources {
    found: BTreeMap<(String, String), ApiResource>,
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// `Deployment.apps`, `ConfigMap` (the core group has no suffix): the ApplySet spelling.
pub fn group_kind(object: &Value) -> String {
    let (group, _) = group_version(object["apiVersion"].as_str().unwrap_or_default());
    let kind = object["kind"].as_str().unwrap_or_default();
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

/// `kind namespace/name` of an object, for messages.
pub fn describe(object: &Value, namespace: &str) -> String {
    format!(
        "{} {namespace}/{}",
        object["kind"].as_str().unwrap_or("object"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

impl Resources {
    /// The resource of `api_version` + `kind`; a kind the API server does not serve, or one
    /// that is not namespaced, is an error naming it.
    pub async fn of(
        &mut self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
    ) -> Result<ApiResource, DeployError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(r) = self.found.get(&key) {
            return Ok(r.clone());
        }
        let (group, version) = group_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) =
            super::error::with_retries(|| kube::discovery::pinned_kind(client, &gvk))
                .await
                .map_err(|e| {
                    DeployError::from_kube(
                        e,
                        &format!("finding the resource of {kind} ({api_version})"),
                    )
                })?;
        if caps.scope != Scope::Namespaced {
            return Err(DeployError::Invalid(crate::invalid::Invalid(format!(
                "{kind} ({api_version}) is not namespaced: a service's objects live in its \
                 namespace"
            ))));
        }
        self.found.insert(key, resource.clone());
        Ok(resource)
    }

    /// The API of `object`'s kind in `namespace`.
    pub async fn api(
        &mut self,
        client: &kube::Client,
        object: &Value,
        namespace: &str,
    ) -> Result<Api<DynamicObject>, DeployError> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let resource = self.of(client, api_version, kind).await?;
        Ok(Api::namespaced_with(client.clone(), namespace, &resource))
    }
}

/// Server-side apply of `object` in `namespace`. A conflict with another field manager is a
/// [`DeployError::FieldConflict`] unless `force`.
pub async fn apply(
    client: &kube::Client,
    resources: &mut Resources,
    namespace: &str,
    object: &Value,
    force: bool,
    dry_run: bool,
) -> Result<DynamicObject, DeployError> {
    let api = resources.api(client, object, namespace).await?;
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.force = force;
    pp.dry_run = dry_run;
    let patch = Patch::Apply(object);
    super::error::with_retries(|| api.patch(&name, &pp, &patch))
        .await
        .map_err(|e| conflict_or(e, &describe(object, namespace)))
}

/// An apply's 409 is another field manager owning fields we set.
fn conflict_or(e: kube::Error, what: &str) -> DeployError {
    match &e {
        kube::Error::Api(s) if s.code == 409 => DeployError::FieldConflict(format!(
            "applying {what}: {} (pass --force-conflicts to take these fields over)",
            super::error::one_line(&s.message)
        )),
        _ => DeployError::from_kube(e, &format!("applying {what}")),
    }
}

/// The live object of `object`'s kind and name, if there is one.
pub async fn live(
    client: &kube::Client,
    resources: &mut Resources,
    namespace: &str,
    object: &Value,
) -> Result<Option<DynamicObject>, DeployError> {
    let api = resources.api(client, object, namespace).await?;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    super::error::with_retries(|| api.get_opt(name))
        .await
        .map_err(|e| DeployError::from_kube(e, &format!("reading {}", describe(object, namespace))))
}

/// What the server keeps of an object that no apply sets: identity, bookkeeping and status.
fn content(o: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            meta.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

/// The apply (its dry run's result `after`) changes nothing of `before`.
pub fn same(before: Option<&DynamicObject>, after: &DynamicObject) -> bool {
    before.is_some_and(|b| content(b) == content(after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn group_kinds_and_descriptions() {
        let d =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "users"}});
        let c = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}});
        assert_eq!(group_kind(&d), "Deployment.apps");
        assert_eq!(group_kind(&c), "ConfigMap");
        assert_eq!(describe(&c, "shop"), "ConfigMap shop/cfg");
        assert_eq!(group_version("policy/v1"), ("policy", "v1"));
    }

    #[test]
    fn sameness_ignores_what_the_server_keeps() {
        let live = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "shop", "resourceVersion": "7",
                         "uid": "u", "managedFields": [{"manager": "monoship"}]},
            "data": {"a": "1"}
        }));
        let again = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "shop", "resourceVersion": "8",
                         "uid": "u", "managedFields": [{"manager": "monoship", "operation": "Apply"}]},
            "data": {"a": "1"}
        }));
        let changed = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "shop"},
            "data": {"a": "2"}
        }));
        assert!(same(Some(&live), &again));
        assert!(!same(Some(&live), &changed));
        assert!(!same(None, &again));
    }
}

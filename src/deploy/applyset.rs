//! A service's objects as one ApplySet (the `applyset.kubernetes.io/*` convention of
//! `kubectl apply --prune --applyset`): a parent Secret `monoship-set-<deployment>` in the
//! service's namespace names the group-kinds of the set, every member is labelled with the
//! set's id, and members that left the set are pruned after a rollout succeeds — except the
//! ConfigMaps and Secrets a ReplicaSet of the service still references, which a rollback needs.

use super::DeployError;
use super::apply;
use base64::Engine;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

pub const PART_OF: &str = "applyset.kubernetes.io/part-of";
pub const ID: &str = "applyset.kubernetes.io/id";
pub const TOOLING: &str = "applyset.kubernetes.io/tooling";
pub const CONTAINS: &str = "applyset.kubernetes.io/contains-group-kinds";

/// One service's set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    pub namespace: String,
    /// The parent Secret's name.
    pub parent: String,
    pub id: String,
}

/// A member of a set: its group-kind and name.
pub type Member = (String, String);

impl ApplySet {
    /// The set of the service whose workload is `workload` in `namespace`.
    pub fn new(namespace: &str, workload: &str) -> ApplySet {
        let parent = format!("monoship-set-{workload}");
        // The id kubectl computes for a Secret parent: base64url(sha256("name.ns.Secret.")).
        let digest = Sha256::digest(format!("{parent}.{namespace}.Secret.").as_bytes());
        let id = format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        );
        ApplySet {
            namespace: namespace.to_string(),
            parent,
            id,
        }
    }

    /// Label `object` as a member of the set.
    pub fn label(&self, object: &mut Value) {
        let meta = &mut object["metadata"];
        if !meta["labels"].is_object() {
            meta["labels"] = json!({});
        }
        meta["labels"][PART_OF] = json!(self.id);
    }

    /// The parent Secret naming `kinds`.
    pub fn parent_object(&self, kinds: &BTreeSet<String>) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.parent,
                "namespace": self.namespace,
                "labels": {ID: self.id},
                "annotations": {
                    TOOLING: format!("monoship/v{}", env!("CARGO_PKG_VERSION")),
                    CONTAINS: kinds.iter().cloned().collect::<Vec<_>>().join(","),
                },
            },
            "type": "Opaque",
        })
    }

    /// The group-kinds the parent names now (none when there is no parent yet).
    pub async fn recorded_kinds(
        &self,
        client: &kube::Client,
    ) -> Result<BTreeSet<String>, DeployError> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), &self.namespace);
        let found = super::error::with_retries(|| api.get_opt(&self.parent))
            .await
            .map_err(|e| DeployError::from_kube(e, &format!("reading secret {}", self.parent)))?;
        Ok(found
            .and_then(|s| s.metadata.annotations)
            .and_then(|a| a.get(CONTAINS).cloned())
            .map(|c| split_kinds(&c))
            .unwrap_or_default())
    }

    /// Write the parent naming `kinds` (before members of new kinds are applied, so a prune
    /// by any tool finds them).
    pub async fn record(
        &self,
        client: &kube::Client,
        kinds: &BTreeSet<String>,
        dry_run: bool,
    ) -> Result<(), DeployError> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), &self.namespace);
        let mut pp = PatchParams::apply(super::patch::FIELD_MANAGER).force();
        pp.dry_run = dry_run;
        let body = self.parent_object(kinds);
        let patch = Patch::Apply(&body);
        super::error::with_retries(|| api.patch(&self.parent, &pp, &patch))
            .await
            .map_err(|e| DeployError::from_kube(e, &format!("applying secret {}", self.parent)))?;
        Ok(())
    }

    /// Delete the members of `kinds` that are not in `keep` and not `referenced` (ConfigMaps
    /// and Secrets a ReplicaSet still uses); then record the kinds left. Returns the pruned
    /// objects (`Kind/name`).
    pub async fn prune(
        &self,
        client: &kube::Client,
        kinds: &BTreeSet<String>,
        keep: &BTreeSet<Member>,
        referenced: &BTreeSet<Member>,
    ) -> Result<Vec<String>, DeployError> {
        let mut pruned = Vec::new();
        let mut left: BTreeSet<String> = keep.iter().map(|(gk, _)| gk.clone()).collect();
        for gk in kinds {
            let (kind, group) = gk.split_once('.').unwrap_or((gk, ""));
            let api = self.api_of(client, group, kind).await?;
            let lp = ListParams::default().labels(&format!("{PART_OF}={}", self.id));
            let list = super::error::with_retries(|| api.list(&lp))
                .await
                .map_err(|e| DeployError::from_kube(e, &format!("listing {gk} of the set")))?;
            for o in list.items {
                let member = (gk.clone(), o.metadata.name.clone().unwrap_or_default());
                if keep.contains(&member) || referenced.contains(&member) {
                    left.insert(gk.clone());
                    continue;
                }
                let dp = DeleteParams::background();
                match super::error::with_retries(|| api.delete(&member.1, &dp)).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => {
                        let what = format!("pruning {kind} {}", member.1);
                        return Err(DeployError::from_kube(e, &what));
                    }
                }
                pruned.push(format!("{kind}/{}", member.1));
            }
        }
        self.record(client, &left, false).await?;
        Ok(pruned)
    }

    async fn api_of(
        &self,
        client: &kube::Client,
        group: &str,
        kind: &str,
    ) -> Result<Api<kube::api::DynamicObject>, DeployError> {
        let g = super::error::with_retries(|| kube::discovery::group(client, group))
            .await
            .map_err(|e| DeployError::from_kube(e, &format!("finding the API group `{group}`")))?;
        let (resource, _) = g.recommended_kind(kind).ok_or_else(|| {
            DeployError::Api(format!("the API server does not serve {kind} in `{group}`"))
        })?;
        Ok(Api::namespaced_with(
            client.clone(),
            &self.namespace,
            &resource,
        ))
    }
}

/// `Deployment.apps,ConfigMap` → the group-kinds.
fn split_kinds(text: &str) -> BTreeSet<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The members of `objects`.
pub fn members(objects: &[Value]) -> BTreeSet<Member> {
    objects
        .iter()
        .map(|o| {
            (
                apply::group_kind(o),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// The ConfigMaps and Secrets a pod spec references (volumes, projected volumes, `env`,
/// `envFrom` of its containers and init containers).
pub fn config_references(pod_spec: &Value) -> BTreeSet<Member> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, name: &Value| {
        if let Some(n) = name.as_str() {
            out.insert((kind.to_string(), n.to_string()));
        }
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    for v in list(&pod_spec["volumes"]) {
        add("ConfigMap", &v["configMap"]["name"]);
        add("Secret", &v["secret"]["secretName"]);
        for s in list(&v["projected"]["sources"]) {
            add("ConfigMap", &s["configMap"]["name"]);
            add("Secret", &s["secret"]["name"]);
        }
    }
    for c in list(&pod_spec["containers"])
        .into_iter()
        .chain(list(&pod_spec["initContainers"]))
    {
        for e in list(&c["envFrom"]) {
            add("ConfigMap", &e["configMapRef"]["name"]);
            add("Secret", &e["secretRef"]["name"]);
        }
        for e in list(&c["env"]) {
            add("ConfigMap", &e["valueFrom"]["configMapKeyRef"]["name"]);
            add("Secret", &e["valueFrom"]["secretKeyRef"]["name"]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_labels_and_parent_follow_the_convention() {
        let set = ApplySet::new("shop", "users");
        assert_eq!(set.parent, "monoship-set-users");
        assert!(
            set.id.starts_with("applyset-") && set.id.ends_with("-v1"),
            "{}",
            set.id
        );
        // base64url of 32 bytes, no padding: 43 characters.
        assert_eq!(set.id.len(), "applyset-".len() + 43 + "-v1".len());
        assert_ne!(set.id, ApplySet::new("other", "users").id);
        let mut o = json!({"kind": "ConfigMap", "metadata": {"name": "cfg"}});
        set.label(&mut o);
        assert_eq!(o["metadata"]["labels"][PART_OF], set.id.as_str());
        let kinds: BTreeSet<String> = ["Deployment.apps".into(), "ConfigMap".into()].into();
        let p = set.parent_object(&kinds);
        assert_eq!(
            p["metadata"]["annotations"][CONTAINS],
            "ConfigMap,Deployment.apps"
        );
        assert_eq!(p["metadata"]["labels"][ID], set.id.as_str());
        assert_eq!(split_kinds("ConfigMap, Deployment.apps,"), kinds);
    }

    #[test]
    fn config_references_of_a_pod_spec() {
        let spec = json!({
            "volumes": [{"name": "c", "configMap": {"name": "cfg-1"}},
                        {"name": "s", "secret": {"secretName": "tls"}},
                        {"name": "p", "projected": {"sources": [{"configMap": {"name": "extra"}}]}}],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "db"}}]}],
            "containers": [{"name": "users", "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg-1", "key": "a"}}},
                {"name": "B", "value": "plain"}]}]
        });
        let refs: Vec<(String, String)> = config_references(&spec).into_iter().collect();
        let want: Vec<(String, String)> = [
            ("ConfigMap", "cfg-1"),
            ("ConfigMap", "extra"),
            ("Secret", "db"),
            ("Secret", "tls"),
        ]
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
        assert_eq!(refs, want);
    }
}

//! The changes monoship makes to a Deployment, as patches: the narrowest one for a new image
//! (like `kubectl set image`, plus annotations), and `rollout undo`'s template restore. Both
//! carry the `resourceVersion` they were computed from, so a change made by someone else in
//! between is a conflict instead of being overwritten.

use super::revisions::{
    self, CHANGE_CAUSE, MONOSHIP_DIGEST, MONOSHIP_HEALTHY, MONOSHIP_PROMOTED_FROM,
    MONOSHIP_REVISION, REVISION,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Map, Value, json};

/// The field manager of monoship's changes.
pub const FIELD_MANAGER: &str = "monoship";

/// Annotations `rollout undo` neither copies from a ReplicaSet nor removes from the Deployment.
const UNDO_SKIP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
    MONOSHIP_HEALTHY,
];

/// The image of a container in a Deployment's template.
pub fn container_image<'a>(d: &'a Deployment, container: &str) -> Option<&'a str> {
    d.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == container)?
        .image
        .as_deref()
}

/// What a deploy sets.
#[derive(Debug, Clone)]
pub struct ImageChange<'a> {
    pub service: &'a str,
    pub container: &'a str,
    /// `repo@sha256:…`
    pub image: &'a str,
    /// The git revision (full) the image was built from, when known.
    pub revision: Option<&'a str>,
    /// `monoship.dev/promoted-from`, for an image `monoship promote` brought.
    pub promoted_from: Option<String>,
}

impl ImageChange<'_> {
    pub fn digest(&self) -> &str {
        super::container::digest_of(self.image).unwrap_or(self.image)
    }

    /// `monoship deploy users: 0123456789ab sha256:…`
    pub fn change_cause(&self) -> String {
        let rev: String = self
            .revision
            .unwrap_or("unknown")
            .chars()
            .take(12)
            .collect();
        format!("monoship deploy {}: {rev} {}", self.service, self.digest())
    }
}

/// The strategic merge patch of a deploy: the container's image, and the annotations on the
/// Deployment and its pod template (so they are recorded on the ReplicaSet).
pub fn image_patch(change: &ImageChange<'_>, resource_version: Option<&str>) -> Value {
    let mut ours = Map::new();
    if let Some(r) = change.revision {
        ours.insert(MONOSHIP_REVISION.into(), json!(r));
    }
    ours.insert(MONOSHIP_DIGEST.into(), json!(change.digest()));
    // A deploy that is no promotion clears an earlier one's record.
    ours.insert(
        MONOSHIP_PROMOTED_FROM.into(),
        change
            .promoted_from
            .as_deref()
            .map_or(Value::Null, |p| json!(p)),
    );
    let mut deployment_annotations = ours.clone();
    deployment_annotations.insert(CHANGE_CAUSE.into(), json!(change.change_cause()));
    let mut metadata = json!({ "annotations": deployment_annotations });
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    json!({
        "metadata": metadata,
        "spec": {"template": {
            "metadata": {"annotations": ours},
            "spec": {"containers": [{"name": change.container, "image": change.image}]}
        }}
    })
}

/// `rollout undo` as a strategic merge patch: `target`'s pod template without
/// `pod-template-hash` replaces the Deployment's, and the Deployment's annotations become the
/// ReplicaSet's (except the controller's own, which stay).
pub fn undo_patch(d: &Deployment, target: &ReplicaSet) -> Value {
    let template = target
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .map(revisions::template_without_hash)
        .unwrap_or_default();
    let mut template = serde_json::to_value(template).unwrap_or_default();
    template["$patch"] = json!("replace");
    let mut annotations = Map::new();
    for k in d.metadata.annotations.iter().flatten().map(|(k, _)| k) {
        if !UNDO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), Value::Null);
        }
    }
    for (k, v) in target.metadata.annotations.iter().flatten() {
        if !UNDO_SKIP.contains(&k.as_str()) {
            annotations.insert(k.clone(), json!(v));
        }
    }
    let mut metadata = json!({ "annotations": annotations });
    if let Some(rv) = &d.metadata.resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    json!({"metadata": metadata, "spec": {"template": template}})
}

/// Send a strategic merge patch to Deployment `name` as field manager `monoship`
/// (`dry_run`: the API server's dry run, nothing is stored).
pub async fn send(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    patch: &Value,
    dry_run: bool,
) -> Result<Deployment, super::DeployError> {
    let api: kube::Api<Deployment> = kube::Api::namespaced(client.clone(), namespace);
    let pp = kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        dry_run,
        ..Default::default()
    };
    let patch = kube::api::Patch::Strategic(patch);
    super::error::with_retries(|| api.patch(name, &pp, &patch))
        .await
        .map_err(|e| {
            super::DeployError::from_kube(e, &format!("patching deployment {namespace}/{name}"))
        })
}

pub use super::diff::FieldChange;

/// What differs between a Deployment and the result of patching it (see [`super::diff`]).
pub fn changes(before: &Deployment, after: &Deployment) -> Vec<FieldChange> {
    super::diff::changes(Some(before), after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Deployment {
        serde_json::from_str(include_str!("fixtures/deployment.json")).unwrap()
    }

    fn replica_sets() -> Vec<ReplicaSet> {
        serde_json::from_str(include_str!("fixtures/replicasets.json")).unwrap()
    }

    #[test]
    fn image_patch_is_narrow_and_annotated() {
        let change = ImageChange {
            service: "users",
            container: "users",
            image: "example.test/fleet/users@sha256:cccc",
            revision: Some("0123456789abcdef0123456789abcdef01234567"),
            promoted_from: None,
        };
        let p = image_patch(&change, Some("42"));
        assert_eq!(
            p["spec"]["template"]["spec"]["containers"],
            json!([{"name": "users", "image": "example.test/fleet/users@sha256:cccc"}])
        );
        assert_eq!(p["metadata"]["resourceVersion"], "42");
        assert_eq!(
            p["metadata"]["annotations"][CHANGE_CAUSE],
            "monoship deploy users: 0123456789ab sha256:cccc"
        );
        assert_eq!(
            p["spec"]["template"]["metadata"]["annotations"][MONOSHIP_DIGEST],
            "sha256:cccc"
        );
        assert!(
            p["spec"]["template"]["metadata"]["annotations"]
                .get(CHANGE_CAUSE)
                .is_none()
        );
    }

    #[test]
    fn undo_restores_the_template_without_hash_and_the_annotations() {
        let d = deployment();
        let rss = replica_sets();
        let p = undo_patch(&d, &rss[0]);
        let t = &p["spec"]["template"];
        assert_eq!(t["$patch"], "replace");
        assert_eq!(t["metadata"]["labels"], json!({"app": "users"}));
        assert_eq!(
            t["spec"]["containers"][0]["image"],
            "example.test/fleet/users@sha256:aaaa"
        );
        let a = &p["metadata"]["annotations"];
        assert!(a.get(REVISION).is_none(), "{a}");
        assert_eq!(
            a[CHANGE_CAUSE],
            "monoship deploy users: 00aa00aa00aa sha256:aaaa"
        );
    }
}

//! Which container of a pod (or a Deployment's pod template) is the service's, and what it
//! runs. `deploy` sets that container's image, `rollback`, `status` and `history` report it,
//! `logs` reads it — all by [`choose`]:
//!
//! 1. the container asked for (`logs --container`, else the configured `container`): it must
//!    exist;
//! 2. else the container named like the service;
//! 3. else the one the pod names in `kubectl.kubernetes.io/default-container` (as `kubectl logs`
//!    and `kubectl exec` pick theirs);
//! 4. else the only container;
//! 5. else none: an error naming the containers.

use super::Version;
use super::revisions::{MONOSHIP_DIGEST, MONOSHIP_REVISION, annotation};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The annotation naming the container `kubectl logs` and `kubectl exec` pick by default.
pub const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// Why no container is the service's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoContainer {
    /// The container asked for is not there.
    Missing { wanted: String, names: Vec<String> },
    /// The pod has no containers.
    Empty,
    /// Several containers, none named like the service and no default.
    Several { service: String, names: Vec<String> },
}

impl NoContainer {
    /// The error about `owner` (`deployment users`, `pod users-7c9f…`).
    pub fn message(&self, owner: &str) -> String {
        match self {
            NoContainer::Missing { wanted, names } => format!(
                "{owner} has no container `{wanted}` (containers: {})",
                names.join(", ")
            ),
            NoContainer::Empty => format!("{owner} has no containers"),
            NoContainer::Several { service, names } => format!(
                "{owner} has {} containers ({}) and none is named `{service}`: set `container` \
                 in the service's [package.metadata.monoship]",
                names.len(),
                names.join(", ")
            ),
        }
    }
}

/// The service's container of a pod with `spec` and `meta` (its annotations), `wanted` being
/// the container asked for, by the rule above.
pub fn choose<'a>(
    spec: &'a PodSpec,
    meta: Option<&ObjectMeta>,
    wanted: Option<&str>,
    service: &str,
) -> Result<&'a Container, NoContainer> {
    let containers = spec.containers.as_slice();
    let named = |name: &str| containers.iter().find(|c| c.name == name);
    let names = || containers.iter().map(|c| c.name.clone()).collect();
    if let Some(w) = wanted {
        return named(w).ok_or_else(|| NoContainer::Missing {
            wanted: w.to_string(),
            names: names(),
        });
    }
    let default = meta.and_then(|m| annotation(m, DEFAULT_CONTAINER));
    if let Some(c) = named(service).or_else(|| default.and_then(named)) {
        return Ok(c);
    }
    match containers {
        [only] => Ok(only),
        [] => Err(NoContainer::Empty),
        _ => Err(NoContainer::Several {
            service: service.to_string(),
            names: names(),
        }),
    }
}

/// [`choose`] in a pod template; `None` when it has no pod spec or no container is the
/// service's.
pub fn in_template<'a>(
    template: Option<&'a PodTemplateSpec>,
    wanted: Option<&str>,
    service: &str,
) -> Option<&'a Container> {
    let t = template?;
    choose(t.spec.as_ref()?, t.metadata.as_ref(), wanted, service).ok()
}

/// The digest of an image reference pinned by digest (`repo@sha256:…`).
pub fn digest_of(reference: &str) -> Option<&str> {
    reference
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| d.contains(':'))
}

/// What a pod template runs in the service's container (`wanted` as in [`choose`]): its
/// image, the image's digest when the reference is pinned by digest, and the git revision
/// monoship recorded for it. `monoship.dev/revision` counts only while `monoship.dev/digest` —
/// on the template, else on the object (`meta`, the Deployment or ReplicaSet) — names that same
/// digest: after a `kubectl set image` the annotations describe an earlier image.
pub fn version_of(
    template: Option<&PodTemplateSpec>,
    meta: &ObjectMeta,
    wanted: Option<&str>,
    service: &str,
) -> Version {
    let image = in_template(template, wanted, service).and_then(|c| c.image.clone());
    let digest = image.as_deref().and_then(digest_of).map(str::to_string);
    let recorded = |key: &str| {
        template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| annotation(m, key))
            .or_else(|| annotation(meta, key))
    };
    let revision = match (&digest, recorded(MONOSHIP_DIGEST)) {
        (Some(d), Some(r)) if d == r => recorded(MONOSHIP_REVISION).map(str::to_string),
        _ => None,
    };
    Version {
        revision,
        digest,
        image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(containers: &[&str], annotations: serde_json::Value) -> PodTemplateSpec {
        let cs: Vec<_> = containers
            .iter()
            .map(|c| json!({"name": c, "image": format!("r.test/{c}@sha256:{c}")}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"annotations": annotations},
            "spec": {"containers": cs}
        }))
        .unwrap()
    }

    fn chosen(t: &PodTemplateSpec, wanted: Option<&str>) -> Result<String, String> {
        choose(
            t.spec.as_ref().unwrap(),
            t.metadata.as_ref(),
            wanted,
            "users",
        )
        .map(|c| c.name.clone())
        .map_err(|e| e.message("deployment d"))
    }

    #[test]
    fn the_container_asked_for_must_exist() {
        let t = template(&["proxy", "users"], json!({}));
        assert_eq!(chosen(&t, Some("proxy")).unwrap(), "proxy");
        assert_eq!(
            chosen(&t, Some("app")).unwrap_err(),
            "deployment d has no container `app` (containers: proxy, users)"
        );
        // Asked for, it wins over a default too.
        let t = template(&["a", "b"], json!({DEFAULT_CONTAINER: "b"}));
        assert_eq!(chosen(&t, Some("a")).unwrap(), "a");
    }

    #[test]
    fn then_the_one_named_like_the_service_then_the_default_then_the_only_one() {
        let t = template(&["proxy", "users"], json!({DEFAULT_CONTAINER: "proxy"}));
        assert_eq!(chosen(&t, None).unwrap(), "users");
        let t = template(&["a", "b"], json!({DEFAULT_CONTAINER: "b"}));
        assert_eq!(chosen(&t, None).unwrap(), "b");
        // A default naming no container counts for nothing.
        let t = template(&["app"], json!({DEFAULT_CONTAINER: "gone"}));
        assert_eq!(chosen(&t, None).unwrap(), "app");
    }

    #[test]
    fn otherwise_an_error_naming_the_containers() {
        let t = template(&["a", "b"], json!({}));
        assert_eq!(
            chosen(&t, None).unwrap_err(),
            "deployment d has 2 containers (a, b) and none is named `users`: set `container` \
             in the service's [package.metadata.monoship]"
        );
        let t = template(&[], json!({}));
        assert_eq!(
            chosen(&t, None).unwrap_err(),
            "deployment d has no containers"
        );
        assert!(in_template(Some(&t), None, "users").is_none());
        assert!(in_template(None, None, "users").is_none());
    }

    #[test]
    fn digests_of_references() {
        assert_eq!(digest_of("r.test/a@sha256:abc"), Some("sha256:abc"));
        assert_eq!(digest_of("r.test:5000/a:1"), None);
        assert_eq!(digest_of("r.test/a@abc"), None);
    }

    #[test]
    fn the_version_is_the_service_containers() {
        let t = template(
            &["proxy", "users"],
            json!({MONOSHIP_DIGEST: "sha256:users", MONOSHIP_REVISION: "0123"}),
        );
        let v = version_of(Some(&t), &ObjectMeta::default(), None, "users");
        assert_eq!(
            v,
            Version {
                revision: Some("0123".into()),
                digest: Some("sha256:users".into()),
                image: Some("r.test/users@sha256:users".into()),
            }
        );
        // Another container's digest: the recorded revision is not its.
        let v = version_of(Some(&t), &ObjectMeta::default(), Some("proxy"), "users");
        assert_eq!(v.digest.as_deref(), Some("sha256:proxy"));
        assert_eq!(v.revision, None);
        let none = version_of(None, &ObjectMeta::default(), None, "users");
        assert_eq!(none, Version::default());
    }

    #[test]
    fn the_version_of_a_replica_set() {
        use k8s_openapi::api::apps::v1::ReplicaSet;
        let rss: Vec<ReplicaSet> =
            serde_json::from_str(include_str!("fixtures/replicasets.json")).unwrap();
        let t = rss[0].spec.as_ref().unwrap().template.as_ref();
        let v = version_of(t, &rss[0].metadata, None, "users");
        assert_eq!(v.revision.as_deref(), Some("00aa00aa00aa"));
        assert_eq!(v.digest.as_deref(), Some("sha256:aaaa"));
        assert_eq!(
            v.image.as_deref(),
            Some("example.test/fleet/users@sha256:aaaa")
        );
    }
}

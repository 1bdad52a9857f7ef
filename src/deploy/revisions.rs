//! A Deployment's revisions: its ReplicaSets, ordered by `deployment.kubernetes.io/revision`,
//! and the rules the deployment controller and `kubectl rollout` use to tell them apart (the
//! new ReplicaSet is the one whose pod template equals the Deployment's, ignoring
//! `pod-template-hash`; `rollout undo` goes back to the previous revision).
//!
//! Shared by `deploy`, `rollback`, `status` and `history`.

use super::error::DeployError;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Client;
use kube::api::{Api, ListParams};

/// The revision number the deployment controller writes on a Deployment and its ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label the deployment controller adds to a ReplicaSet's selector and pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Why a revision was made (`kubectl rollout history` shows it).
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The git revision monoship deployed (on the Deployment and its pod template).
pub const MONOSHIP_REVISION: &str = "monoship.dev/revision";
/// The image digest monoship deployed (on the Deployment and its pod template).
pub const MONOSHIP_DIGEST: &str = "monoship.dev/digest";
/// Where `monoship promote` took the image from: environment, digest, revision, time (JSON).
pub const MONOSHIP_PROMOTED_FROM: &str = "monoship.dev/promoted-from";

/// The ReplicaSet that last ran complete and available, recorded on the Deployment by a
/// deploy that found it so (a failed deploy goes back there, not to a failing template).
pub const MONOSHIP_HEALTHY: &str = "monoship.dev/healthy-replica-set";

/// The revision number of a ReplicaSet (`deployment.kubernetes.io/revision`).
pub fn revision_of(rs: &ReplicaSet) -> Option<i64> {
    annotation(&rs.metadata, REVISION)?.parse().ok()
}

/// The revision number a Deployment is at (`deployment.kubernetes.io/revision`).
pub fn deployment_revision(d: &Deployment) -> Option<i64> {
    annotation(&d.metadata, REVISION)?.parse().ok()
}

/// An annotation of an object.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// `meta` has a controller owner reference to the object with `uid`.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

/// A label selector as the `labelSelector` query parameter spells it.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    parts.join(",")
}

/// The Deployment `name` in `namespace`; a missing one is [`DeployError::DeploymentNotFound`]
/// (which names `--manifests` and `monoship generate k8s`).
pub async fn find_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Deployment, DeployError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    match super::error::with_retries(|| api.get_opt(name)).await {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(DeployError::DeploymentNotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }),
        Err(e) => Err(DeployError::from_kube(
            e,
            &format!("reading deployment {namespace}/{name}"),
        )),
    }
}

/// The ReplicaSets the Deployment controls, oldest revision first (those without a revision
/// number first of all, by name).
pub async fn replica_sets_of(
    client: &Client,
    namespace: &str,
    deployment: &Deployment,
) -> Result<Vec<ReplicaSet>, DeployError> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let mut lp = ListParams::default();
    if let Some(sel) = deployment.spec.as_ref().map(|s| &s.selector) {
        let s = selector_string(sel);
        if !s.is_empty() {
            lp = lp.labels(&s);
        }
    }
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let list = super::error::with_retries(|| api.list(&lp))
        .await
        .map_err(|e| {
            DeployError::from_kube(e, &format!("listing replicasets of {namespace}/{name}"))
        })?;
    Ok(owned_replica_sets(deployment, list.items))
}

/// Of `all`, the ReplicaSets `deployment` controls, sorted by revision.
pub fn owned_replica_sets(deployment: &Deployment, all: Vec<ReplicaSet>) -> Vec<ReplicaSet> {
    let uid = deployment.metadata.uid.as_deref().unwrap_or_default();
    let mut owned: Vec<ReplicaSet> = all
        .into_iter()
        .filter(|rs| controlled_by(&rs.metadata, uid))
        .collect();
    sort_by_revision(&mut owned);
    owned
}

/// Oldest revision first; ReplicaSets without a revision number first, by name.
pub fn sort_by_revision(rss: &mut [ReplicaSet]) {
    rss.sort_by(|a, b| {
        (revision_of(a), a.metadata.name.as_deref())
            .cmp(&(revision_of(b), b.metadata.name.as_deref()))
    });
}

/// A pod template without the `pod-template-hash` label (what a ReplicaSet's template looks
/// like in the Deployment it came from).
pub fn template_without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(meta) = t.metadata.as_mut()
        && let Some(labels) = meta.labels.as_mut()
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// The two templates are equal apart from `pod-template-hash` (the controller's rule for
/// "this ReplicaSet belongs to this template").
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let normal = |t: &PodTemplateSpec| {
        let mut v = serde_json::to_value(template_without_hash(t)).unwrap_or_default();
        // An empty label map and no label map are the same template.
        if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for key in ["labels", "annotations"] {
                if meta
                    .get(key)
                    .and_then(|l| l.as_object())
                    .is_some_and(|l| l.is_empty())
                {
                    meta.remove(key);
                }
            }
        }
        v
    };
    normal(a) == normal(b)
}

fn rs_template(rs: &ReplicaSet) -> Option<&PodTemplateSpec> {
    rs.spec.as_ref()?.template.as_ref()
}

/// The ReplicaSet whose template equals `template` (ignoring `pod-template-hash`); the one
/// with the highest revision if several do.
pub fn replica_set_for_template<'a>(
    template: &PodTemplateSpec,
    rss: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    rss.iter()
        .rev()
        .find(|rs| rs_template(rs).is_some_and(|t| equal_ignore_hash(t, template)))
}

/// The Deployment's new ReplicaSet: the one whose template is the Deployment's.
pub fn new_replica_set<'a>(d: &Deployment, rss: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    replica_set_for_template(&d.spec.as_ref()?.template, rss)
}

/// What `rollout undo` goes back to: revision `to`, or (without it) the highest revision below
/// the highest one. `rss` as [`replica_sets_of`] returns them.
pub fn rollback_target(rss: &[ReplicaSet], to: Option<i64>) -> Result<&ReplicaSet, String> {
    let numbered: Vec<(i64, &ReplicaSet)> = rss
        .iter()
        .filter_map(|rs| revision_of(rs).map(|r| (r, rs)))
        .collect();
    match to {
        Some(n) => numbered
            .iter()
            .find(|(r, _)| *r == n)
            .map(|(_, rs)| *rs)
            .ok_or_else(|| {
                let known: Vec<String> = numbered.iter().map(|(r, _)| r.to_string()).collect();
                format!(
                    "revision {n} is not in the history (known revisions: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            }),
        None => {
            let max = numbered.iter().map(|(r, _)| *r).max();
            numbered
                .iter()
                .filter(|(r, _)| Some(*r) < max)
                .max_by_key(|(r, _)| *r)
                .map(|(_, rs)| *rs)
                .ok_or_else(|| "no previous revision in the history".to_string())
        }
    }
}

/// Where a failed rollout goes back to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Back<'a> {
    pub replica_set: &'a ReplicaSet,
    /// It ran complete and available (else it is only the template from before the change,
    /// which was failing too).
    pub healthy: bool,
}

/// The ReplicaSet a failed rollout of `ours` goes back to, of `rss` (as
/// [`replica_sets_of`] returns them): the one of the template `before` had when that was
/// healthy (`before_healthy`); else the one named by `recorded` ([`MONOSHIP_HEALTHY`]); else the
/// newest one that still has available pods; else, with nothing better, the template from
/// before the change. Never one with the template of `ours` or of a failing `before`.
pub fn back_to<'a>(
    rss: &'a [ReplicaSet],
    ours: &PodTemplateSpec,
    before: Option<&PodTemplateSpec>,
    before_healthy: bool,
    recorded: Option<&str>,
) -> Option<Back<'a>> {
    let old = before.and_then(|b| replica_set_for_template(b, rss));
    let is = |rs: &ReplicaSet, t: Option<&PodTemplateSpec>| matches!((rs_template(rs), t), (Some(a), Some(b)) if equal_ignore_hash(a, b));
    let usable = |rs: &&ReplicaSet| !is(rs, Some(ours)) && !is(rs, before);
    if before_healthy && let Some(rs) = old.filter(|rs| !is(rs, Some(ours))) {
        return Some(Back {
            replica_set: rs,
            healthy: true,
        });
    }
    let named = recorded.and_then(|n| {
        rss.iter()
            .find(|rs| rs.metadata.name.as_deref() == Some(n))
            .filter(usable)
    });
    let available = || {
        rss.iter()
            .rev()
            .filter(usable)
            .find(|rs| available_replicas(rs) > 0)
    };
    if let Some(rs) = named.or_else(available) {
        return Some(Back {
            replica_set: rs,
            healthy: true,
        });
    }
    old.filter(|rs| !is(rs, Some(ours))).map(|rs| Back {
        replica_set: rs,
        healthy: false,
    })
}

fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// One revision of a Deployment, as `history` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevisionInfo {
    pub revision: Option<i64>,
    pub replica_set: String,
    /// `container=image` of each container.
    pub images: Vec<(String, String)>,
    pub change_cause: Option<String>,
    /// `monoship.dev/revision` and `monoship.dev/digest` of its pod template.
    pub git_revision: Option<String>,
    pub digest: Option<String>,
    pub replicas: i32,
    pub ready_replicas: i32,
    pub created: Option<String>,
}

/// The facts of one ReplicaSet as a revision.
pub fn describe(rs: &ReplicaSet) -> RevisionInfo {
    let template = rs_template(rs);
    let template_annotation = |key: &str| {
        template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| annotation(m, key))
            .map(str::to_string)
    };
    let images = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let status = rs.status.as_ref();
    RevisionInfo {
        revision: revision_of(rs),
        replica_set: rs.metadata.name.clone().unwrap_or_default(),
        images,
        change_cause: annotation(&rs.metadata, CHANGE_CAUSE).map(str::to_string),
        git_revision: template_annotation(MONOSHIP_REVISION),
        digest: template_annotation(MONOSHIP_DIGEST),
        replicas: status.map(|s| s.replicas).unwrap_or(0),
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        created: rs
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, revision: Option<i64>, image: &str, owner: &str) -> ReplicaSet {
        let mut annotations = serde_json::Map::new();
        if let Some(r) = revision {
            annotations.insert(REVISION.into(), json!(r.to_string()));
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": "users", "uid": owner, "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "users"}},
                "template": {"metadata": {"labels": {"app": "users", POD_TEMPLATE_HASH: name}},
                    "spec": {"containers": [{"name": "users", "image": image}]}}}
        }))
        .unwrap()
    }

    fn deployment(image: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "users", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "users"}},
                "template": {"metadata": {"labels": {"app": "users"}},
                    "spec": {"containers": [{"name": "users", "image": image}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn sorted_by_revision_and_owned_only() {
        let all = vec![
            rs("c", Some(10), "x@sha256:c", "u1"),
            rs("a", Some(2), "x@sha256:a", "u1"),
            rs("z", Some(1), "x@sha256:z", "someone-else"),
            rs("b", Some(9), "x@sha256:b", "u1"),
        ];
        let owned = owned_replica_sets(&deployment("x@sha256:c"), all);
        let names: Vec<_> = owned
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(revision_of(&owned[2]), Some(10));
    }

    #[test]
    fn new_replica_set_ignores_the_hash_label() {
        let rss = vec![
            rs("a", Some(1), "x@sha256:a", "u1"),
            rs("b", Some(2), "x@sha256:b", "u1"),
        ];
        let d = deployment("x@sha256:a");
        assert_eq!(
            new_replica_set(&d, &rss).and_then(|r| r.metadata.name.as_deref()),
            Some("a")
        );
        assert!(new_replica_set(&deployment("x@sha256:q"), &rss).is_none());
    }

    #[test]
    fn rollback_target_is_the_previous_or_the_named_revision() {
        let rss = vec![
            rs("a", Some(1), "x@sha256:a", "u1"),
            rs("b", Some(3), "x@sha256:b", "u1"),
            rs("c", Some(4), "x@sha256:c", "u1"),
        ];
        assert_eq!(revision_of(rollback_target(&rss, None).unwrap()), Some(3));
        assert_eq!(
            revision_of(rollback_target(&rss, Some(1)).unwrap()),
            Some(1)
        );
        let err = rollback_target(&rss, Some(2)).unwrap_err();
        assert!(err.contains("1, 3, 4"), "{err}");
        assert!(rollback_target(&rss[..1], None).is_err());
    }

    fn with_available(mut rs: ReplicaSet, n: i32) -> ReplicaSet {
        rs.status = Some(k8s_openapi::api::apps::v1::ReplicaSetStatus {
            available_replicas: Some(n),
            replicas: n,
            ..Default::default()
        });
        rs
    }

    fn template(rs: &ReplicaSet) -> PodTemplateSpec {
        rs.spec.as_ref().unwrap().template.clone().unwrap()
    }

    #[test]
    fn back_to_a_healthy_revision() {
        // 1 ran fine and still serves, 2 is a crash loop someone left, 3 is our failed one.
        let rss = vec![
            with_available(rs("a", Some(1), "x@sha256:a", "u1"), 2),
            rs("b", Some(2), "x@sha256:b", "u1"),
            rs("c", Some(3), "x@sha256:c", "u1"),
        ];
        let (a, b, c) = (template(&rss[0]), template(&rss[1]), template(&rss[2]));
        let name = |back: Option<Back<'_>>| {
            back.map(|b| (b.replica_set.metadata.name.clone().unwrap(), b.healthy))
        };
        // Healthy before: back to the template from before the change.
        assert_eq!(
            name(back_to(&rss, &c, Some(&b), true, None)),
            Some(("b".into(), true))
        );
        // Failing before: the newest revision with available pods, not the failing one.
        assert_eq!(
            name(back_to(&rss, &c, Some(&b), false, None)),
            Some(("a".into(), true))
        );
        // What a deploy recorded wins, even without available pods.
        let none_available = vec![
            rs("a", Some(1), "x@sha256:a", "u1"),
            rs("b", Some(2), "x@sha256:b", "u1"),
            rs("c", Some(3), "x@sha256:c", "u1"),
        ];
        assert_eq!(
            name(back_to(&none_available, &c, Some(&b), false, Some("a"))),
            Some(("a".into(), true))
        );
        // A record naming the failing template is ignored; with nothing else, back as it was.
        assert_eq!(
            name(back_to(&none_available, &c, Some(&b), false, Some("b"))),
            Some(("b".into(), false))
        );
        // Never our own template.
        assert_eq!(name(back_to(&rss, &a, Some(&a), true, None)), None);
    }

    #[test]
    fn selector_with_expressions() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "users"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert_eq!(selector_string(&sel), "app=users,tier in (a,b),!canary");
    }
}

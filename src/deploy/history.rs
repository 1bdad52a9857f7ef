//! `monoship history`: a service's Deployment revisions, from its ReplicaSets'
//! `deployment.kubernetes.io/revision` — what each ran (digest, image, git revision), why
//! (`kubernetes.io/change-cause`), when it was made, and which one is current.
//!
//! [`history`] is a pure function of the Deployment and the ReplicaSets (unit-tested with
//! objects captured from a cluster); [`read`] fetches them.

use super::container::version_of;
use super::error::DeployError;
use super::revisions::{
    self, annotation, deployment_revision, new_replica_set, owned_replica_sets, revision_of,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde::Serialize;

/// Earlier revision numbers a ReplicaSet had before a rollback reused it.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// One revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// `deployment.kubernetes.io/revision` (`None` for a ReplicaSet without one).
    pub revision: Option<i64>,
    /// Revision numbers this ReplicaSet had before (a rollback reuses the ReplicaSet).
    pub earlier_revisions: Vec<i64>,
    pub replica_set: String,
    /// The Deployment's pod template is this revision's.
    pub current: bool,
    pub change_cause: Option<String>,
    /// The digest of the service container's image, when pinned by digest.
    pub digest: Option<String>,
    /// The service container's image.
    pub image: Option<String>,
    /// `monoship.dev/revision`: the git revision monoship deployed (while its
    /// `monoship.dev/digest` is the image's).
    pub git_revision: Option<String>,
    /// RFC 3339.
    pub created: Option<String>,
    pub replicas: i32,
    pub ready_replicas: i32,
}

/// A service's revisions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct History {
    pub service: String,
    pub namespace: String,
    pub deployment: String,
    /// The Deployment's own revision number.
    pub current_revision: Option<i64>,
    pub revisions: Vec<Revision>,
}

/// The revisions of `d` among `all` ReplicaSets (others are ignored), oldest first.
/// `container` is the configured container (else chosen as [`super::container`] says).
pub fn history(
    service: &str,
    container: Option<&str>,
    d: &Deployment,
    all: Vec<ReplicaSet>,
) -> History {
    let owned = owned_replica_sets(d, all);
    let current_uid = new_replica_set(d, &owned)
        .and_then(|rs| rs.metadata.uid.clone())
        .or_else(|| {
            // The controller has not made the new ReplicaSet yet, or the templates differ in
            // defaults: fall back to the revision number.
            let want = deployment_revision(d)?;
            owned
                .iter()
                .find(|rs| revision_of(rs) == Some(want))
                .and_then(|rs| rs.metadata.uid.clone())
        });
    let revisions = owned
        .iter()
        .map(|rs| {
            let info = revisions::describe(rs);
            let template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
            let version = version_of(template, &rs.metadata, container, service);
            Revision {
                revision: info.revision,
                earlier_revisions: annotation(&rs.metadata, REVISION_HISTORY)
                    .map(|h| h.split(',').filter_map(|r| r.trim().parse().ok()).collect())
                    .unwrap_or_default(),
                replica_set: info.replica_set,
                current: rs.metadata.uid.is_some() && rs.metadata.uid == current_uid,
                change_cause: info.change_cause,
                digest: version.digest,
                image: version.image,
                git_revision: version.revision,
                created: info.created,
                replicas: info.replicas,
                ready_replicas: info.ready_replicas,
            }
        })
        .collect();
    History {
        service: service.to_string(),
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        deployment: d.metadata.name.clone().unwrap_or_default(),
        current_revision: deployment_revision(d),
        revisions,
    }
}

/// Read the Deployment and its ReplicaSets and compute the history.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    deployment: &str,
    service: &str,
    container: Option<&str>,
) -> Result<History, DeployError> {
    let d = revisions::find_deployment(client, namespace, deployment).await?;
    let rss = revisions::replica_sets_of(client, namespace, &d).await?;
    let mut h = history(service, container, &d, rss);
    h.namespace = namespace.to_string();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// catalog, captured from the test cluster: created with `catalog:1`, set to `catalog:2`
    /// (both with `kubectl annotate … kubernetes.io/change-cause`), then to a digest with the
    /// monoship annotations (`three`); then `kubectl rollout undo --to-revision=2` (`undo`).
    /// The ReplicaSets of other Deployments of the namespace are in the lists too.
    fn fixture(name: &str) -> (Deployment, Vec<ReplicaSet>) {
        #[derive(serde::Deserialize)]
        struct F {
            deployment: Deployment,
            replica_sets: Vec<ReplicaSet>,
        }
        let text = match name {
            "three" => include_str!("testdata/history-three.json"),
            "undo" => include_str!("testdata/history-undo.json"),
            _ => unreachable!(),
        };
        let f: F = serde_json::from_str(text).unwrap();
        (f.deployment, f.replica_sets)
    }

    type Row<'a> = (Option<i64>, bool, Option<&'a str>, Option<&'a str>);

    fn summary(h: &History) -> Vec<Row<'_>> {
        h.revisions
            .iter()
            .map(|r| {
                (
                    r.revision,
                    r.current,
                    r.change_cause.as_deref(),
                    r.image.as_deref(),
                )
            })
            .collect()
    }

    const DIGEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    #[test]
    fn three_revisions_the_last_current() {
        let (d, rss) = fixture("three");
        let h = history("catalog", None, &d, rss);
        let digest_image = format!("registry.example/catalog@{DIGEST}");
        assert_eq!(
            summary(&h),
            [
                (
                    Some(1),
                    false,
                    Some("create catalog:1"),
                    Some("registry.example/catalog:1")
                ),
                (
                    Some(2),
                    false,
                    Some("catalog:2"),
                    Some("registry.example/catalog:2")
                ),
                (
                    Some(3),
                    true,
                    Some("monoship deploy catalog"),
                    Some(digest_image.as_str())
                ),
            ]
        );
        let last = &h.revisions[2];
        assert_eq!(last.digest.as_deref(), Some(DIGEST));
        assert_eq!(
            last.git_revision.as_deref(),
            Some("fedcba9876543210fedcba9876543210fedcba98")
        );
        assert_eq!(last.replicas, 1);
        assert!(last.created.as_deref().unwrap().starts_with("2026-11-28T"));
        assert_eq!(h.revisions[0].digest, None);
        assert_eq!(h.current_revision, Some(3));
        assert_eq!(
            (h.namespace.as_str(), h.deployment.as_str()),
            ("fixtures", "catalog")
        );
    }

    #[test]
    fn a_rollback_reuses_the_replica_set_under_a_new_number() {
        let (d, rss) = fixture("undo");
        let h = history("catalog", Some("catalog"), &d, rss);
        let numbers: Vec<(Option<i64>, bool)> = h
            .revisions
            .iter()
            .map(|r| (r.revision, r.current))
            .collect();
        assert_eq!(
            numbers,
            [(Some(1), false), (Some(3), false), (Some(4), true)]
        );
        assert_eq!(h.revisions[2].earlier_revisions, [2]);
        assert_eq!(h.revisions[2].change_cause.as_deref(), Some("catalog:2"));
        // Revision 3 keeps its digest though the Deployment's annotations moved on.
        assert_eq!(h.revisions[1].digest.as_deref(), Some(DIGEST));
    }

    #[test]
    fn current_falls_back_to_the_revision_number() {
        let (mut d, rss) = fixture("three");
        // A template that matches no ReplicaSet (the controller has not caught up).
        d.spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap()
            .containers[0]
            .image = Some("registry.example/catalog:9".into());
        let h = history("catalog", None, &d, rss);
        let current: Vec<Option<i64>> = h
            .revisions
            .iter()
            .filter(|r| r.current)
            .map(|r| r.revision)
            .collect();
        assert_eq!(current, [Some(3)]);
    }
}

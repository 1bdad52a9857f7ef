//! What a deploy or rollback may do, asked before anything changes: one SelfSubjectAccessReview
//! per verb it needs (`kubectl auth can-i`), so that a user who may patch a Deployment but not
//! follow its rollout is refused up front instead of changing it blind.
//!
//! Reading events and pod logs only adds to failure reports; they are not required.

use super::DeployError;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

/// One permission: `verb` on `resource` of API group `group` (`""` for the core group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
}

const fn need(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
    }
}

/// Verbs on one resource of API group `group` (`""` for the core group), as a Role's rule
/// says them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

impl Rule {
    fn needs(&self) -> impl Iterator<Item = Need> + '_ {
        self.verbs
            .iter()
            .map(|verb| need(verb, self.group, self.resource))
    }
}

/// What following a rollout and rolling it back take: the Deployment read, watched and
/// patched, its ReplicaSets and pods listed and watched, and the per-service Lease that keeps
/// two runs apart.
pub const ROLLOUT: &[Rule] = &[
    Rule {
        group: "apps",
        resource: "deployments",
        verbs: &["get", "patch", "list", "watch"],
    },
    Rule {
        group: "apps",
        resource: "replicasets",
        verbs: &["list", "watch"],
    },
    Rule {
        group: "",
        resource: "pods",
        verbs: &["list", "watch"],
    },
    Rule {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update", "delete"],
    },
];

/// `--manifests` creating a Deployment that does not exist yet also needs `create`.
pub const CREATE: Rule = Rule {
    group: "apps",
    resource: "deployments",
    verbs: &["create"],
};

/// The API server's words for a denial, from "forbidden:" on.
pub fn denial(user: Option<&str>, n: &Need, namespace: &str) -> String {
    let who = match user {
        Some(u) => format!("User \"{u}\""),
        None => "the current user".to_string(),
    };
    let group = if n.group.is_empty() {
        String::new()
    } else {
        format!(" in API group \"{}\"", n.group)
    };
    format!(
        "forbidden: {who} cannot {} resource \"{}\"{group} in the namespace \"{namespace}\" \
         (monoship needs it to follow and roll back the rollout; nothing was changed)",
        n.verb, n.resource
    )
}

/// Who the API server takes us for (SelfSubjectReview), when it says.
async fn whoami(client: &Client) -> Option<String> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .ok()?;
    review.status?.user_info?.username
}

/// May the current user do `n` in `namespace`? `None` when the API server cannot say (no
/// SelfSubjectAccessReview: the operations themselves will tell).
async fn allowed(client: &Client, n: &Need, namespace: &str) -> Result<Option<bool>, DeployError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.to_string()),
                verb: Some(n.verb.to_string()),
                group: Some(n.group.to_string()),
                resource: Some(n.resource.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let pp = PostParams::default();
    match super::error::with_retries(|| api.create(&pp, &review)).await {
        Ok(r) => Ok(r.status.map(|s| s.allowed)),
        Err(e) if matches!(super::error::status_code(&e), Some(403..=405)) => Ok(None),
        Err(e) => Err(DeployError::from_kube(e, "asking what the user may do")),
    }
}

/// Check `rules` in `namespace`, verb by verb; the first one denied is a
/// [`DeployError::Forbidden`].
pub async fn check(client: &Client, namespace: &str, rules: &[Rule]) -> Result<(), DeployError> {
    for n in rules.iter().flat_map(Rule::needs) {
        if allowed(client, &n, namespace).await? == Some(false) {
            let user = whoami(client).await;
            return Err(DeployError::Forbidden(denial(
                user.as_deref(),
                &n,
                namespace,
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_reads_like_the_api_servers() {
        let m = denial(
            Some("system:serviceaccount:shop:ci"),
            &need("watch", "", "pods"),
            "shop",
        );
        assert!(
            m.starts_with(
                "forbidden: User \"system:serviceaccount:shop:ci\" cannot watch resource \
                 \"pods\" in the namespace \"shop\""
            ),
            "{m}"
        );
        let m = denial(None, &need("patch", "apps", "deployments"), "shop");
        assert!(
            m.contains("cannot patch resource \"deployments\" in API group \"apps\""),
            "{m}"
        );
    }

    #[test]
    fn a_rollout_needs_to_follow_what_it_changes() {
        for verb in ["patch", "watch", "list"] {
            assert!(
                ROLLOUT
                    .iter()
                    .any(|r| r.verbs.contains(&verb) && r.resource == "deployments")
            );
        }
        for resource in ["replicasets", "pods"] {
            assert!(
                ROLLOUT
                    .iter()
                    .any(|r| r.verbs.contains(&"watch") && r.resource == resource)
            );
        }
    }
}

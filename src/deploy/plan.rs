//! What a deploy run is about: per service, its Deployment (namespace, name, container) from
//! the configuration and flags, the image, and the order `depends-on` imposes.

use super::images::Artifact;
use crate::config::{ServiceConfig, WorkspaceConfig};
use crate::invalid::Invalid;
use std::collections::{BTreeMap, BTreeSet};

/// The default `deployment` name template.
pub const DEFAULT_DEPLOYMENT: &str = "{service}";

/// One service to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    pub service: String,
    pub namespace: String,
    pub deployment: String,
    /// The configured container (else chosen from the Deployment).
    pub container: Option<String>,
    /// Services of this run it waits for.
    pub depends_on: Vec<String>,
    pub artifact: Artifact,
    /// `--manifests`: the whole Deployment to apply (image and annotations already set),
    /// instead of a patch of the existing one.
    pub manifest: Option<serde_json::Value>,
    /// With `manifest`: the service's other objects, applied before it.
    pub set: Option<super::set::ServiceSet>,
}

/// Where one service's Deployment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub namespace: String,
    pub deployment: String,
    pub container: Option<String>,
}

/// Flags, then the service's table, then the workspace table, then `default_namespace` (the
/// kubeconfig context's).
pub fn locate(
    service: &str,
    ws: &WorkspaceConfig,
    svc: &ServiceConfig,
    namespace_flag: Option<&str>,
    default_namespace: &str,
) -> Result<Location, Invalid> {
    let namespace = namespace_flag
        .or(svc.namespace.as_deref())
        .or(ws.namespace.as_deref())
        .unwrap_or(default_namespace)
        .to_string();
    check_name("namespace", &namespace, 63, false)?;
    let template = svc
        .deployment
        .as_deref()
        .or(ws.deployment.as_deref())
        .unwrap_or(DEFAULT_DEPLOYMENT);
    let deployment = expand(template, service, ws.prefix.as_deref().unwrap_or(""))?;
    check_name("deployment", &deployment, 253, true)?;
    Ok(Location {
        namespace,
        deployment,
        container: svc.container.clone().or_else(|| ws.container.clone()),
    })
}

/// Expand `{service}` and `{prefix}` in a `deployment` template.
pub fn expand(template: &str, service: &str, prefix: &str) -> Result<String, Invalid> {
    crate::placeholders::expand(
        "deployment template",
        template,
        &[("service", Ok(service)), ("prefix", Ok(prefix))],
    )
}

/// A Kubernetes name: lowercase letters, digits, `-` (and `.` for `dots`), starting and
/// ending with a letter or digit.
fn check_name(what: &str, name: &str, max: usize, dots: bool) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{what} `{name}` is not a valid Kubernetes name (lowercase letters, digits, `-`{}, \
             at most {max} characters)",
            if dots { ", `.`" } else { "" }
        )))
    }
}

/// `depends-on` as waves: each service comes after every dependency that is part of this run
/// (dependencies outside it are taken as deployed). Unknown services and cycles are errors.
/// Within a wave, services keep the order given.
pub fn waves(
    targets: &[ServicePlan],
    known: &dyn Fn(&str) -> bool,
) -> Result<Vec<Vec<String>>, String> {
    let names: BTreeSet<&str> = targets.iter().map(|t| t.service.as_str()).collect();
    for t in targets {
        for d in &t.depends_on {
            if !known(d) {
                return Err(format!(
                    "{}: `depends-on` names `{d}`, which is not a service",
                    t.service
                ));
            }
        }
    }
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    let mut remaining: Vec<&ServicePlan> = targets.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|t| {
            let deps: Vec<&str> = t
                .depends_on
                .iter()
                .map(String::as_str)
                .filter(|d| names.contains(d))
                .collect();
            if deps.iter().all(|d| level.contains_key(d)) {
                let l = deps
                    .iter()
                    .map(|d| level.get(d).map_or(0, |l: &usize| l.saturating_add(1)))
                    .max()
                    .unwrap_or(0);
                level.insert(t.service.as_str(), l);
                false
            } else {
                true
            }
        });
        if remaining.len() == before {
            let cycle: Vec<&str> = remaining.iter().map(|t| t.service.as_str()).collect();
            return Err(format!(
                "`depends-on` has a cycle among: {}",
                cycle.join(", ")
            ));
        }
    }
    let depth = level
        .values()
        .copied()
        .max()
        .map_or(0, |m| m.saturating_add(1));
    let mut out = vec![Vec::new(); depth];
    for t in targets {
        out[level[t.service.as_str()]].push(t.service.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(name: &str, deps: &[&str]) -> ServicePlan {
        ServicePlan {
            service: name.into(),
            namespace: "ns".into(),
            deployment: name.into(),
            container: None,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            artifact: Artifact {
                reference: String::new(),
                digest: String::new(),
                revision: None,
                source: String::new(),
                promoted_from: None,
            },
            manifest: None,
            set: None,
        }
    }

    #[test]
    fn flags_then_service_then_workspace_then_context() {
        let ws: WorkspaceConfig = serde_json::from_value(json!({
            "namespace": "shop", "deployment": "{prefix}{service}-api", "prefix": "acme-"}))
        .unwrap();
        let svc: ServiceConfig =
            serde_json::from_value(json!({"container": "app", "depends-on": ["auth"]})).unwrap();
        let l = locate("users", &ws, &svc, None, "default").unwrap();
        assert_eq!(
            (
                l.namespace.as_str(),
                l.deployment.as_str(),
                l.container.as_deref()
            ),
            ("shop", "acme-users-api", Some("app"))
        );
        let l = locate("users", &ws, &svc, Some("staging"), "default").unwrap();
        assert_eq!(l.namespace, "staging");
        let l = locate(
            "users",
            &WorkspaceConfig::default(),
            &ServiceConfig::default(),
            None,
            "ctx",
        )
        .unwrap();
        assert_eq!(
            (l.namespace.as_str(), l.deployment.as_str()),
            ("ctx", "users")
        );
        assert!(locate("users", &ws, &svc, Some("Bad_NS"), "d").is_err());
        assert!(expand("{service}-{nope}", "users", "").is_err());
    }

    #[test]
    fn waves_follow_depends_on_within_the_run() {
        let ts = vec![
            target("gateway", &["users", "orders"]),
            target("orders", &["users"]),
            target("users", &["auth"]),
            target("email", &[]),
        ];
        let w = waves(&ts, &|_| true).unwrap();
        assert_eq!(
            w,
            vec![vec!["users", "email"], vec!["orders"], vec!["gateway"]]
        );
        let cyclic = vec![target("a", &["b"]), target("b", &["a"]), target("c", &[])];
        let err = waves(&cyclic, &|_| true).unwrap_err();
        assert!(err.contains("cycle") && err.contains("a, b"), "{err}");
        let err = waves(&ts, &|s| s != "auth").unwrap_err();
        assert!(err.contains("`auth`"), "{err}");
    }
}

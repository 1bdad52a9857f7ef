//! What `publish`, `deploy` and `ship` share: publish options from the configuration, image
//! naming, deploy targets, and the selection of the services to ship (`--since-deployed`:
//! which changed since the revision each Deployment runs).

use crate::affected::{AffectedService, Report};
use crate::config::WorkspaceConfig;
use crate::deploy::images::{Artifact, Naming};
use crate::deploy::plan::{self, ServicePlan};
use crate::deploy::revisions::{self, MONOSHIP_REVISION};
use crate::deploy::status::ServiceRef;
use crate::deploy::{DeployError, container};
use crate::invalid::Invalid;
use crate::publish::{self, naming};
use crate::workspace::Workspace;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The reason of a service that no monoship deploy has recorded a revision for.
pub const NEVER_DEPLOYED: &str = "never deployed by monoship";

/// Publish options: the configured registry, image template, prefix and tags, with the flags
/// (`registry` replaces the configured one; `tags` add to the configured ones).
pub fn publish_options(
    config: &WorkspaceConfig,
    registry: Option<&String>,
    tags: &[String],
    insecure: bool,
    services: Vec<String>,
    from: PathBuf,
) -> publish::Options {
    let mut all_tags = config.tags.clone();
    all_tags.extend(tags.iter().cloned());
    publish::Options {
        from,
        registry: registry.cloned().or_else(|| config.registry.clone()),
        image: config
            .image
            .clone()
            .unwrap_or_else(|| naming::DEFAULT_TEMPLATE.to_string()),
        prefix: config.prefix.clone().unwrap_or_default(),
        tags: all_tags,
        services,
        insecure,
    }
}

/// How image names are made: the configured template and prefix, and `registry` (else the
/// configured one).
pub fn naming(config: &WorkspaceConfig, registry: Option<&str>) -> Naming {
    Naming {
        registry: registry
            .map(str::to_string)
            .or_else(|| config.registry.clone()),
        template: config
            .image
            .clone()
            .unwrap_or_else(|| naming::DEFAULT_TEMPLATE.to_string()),
        prefix: config.prefix.clone().unwrap_or_default(),
    }
}

/// Where `service` runs: its Deployment (namespace from the flag, the service's table, the
/// workspace table, else `default_namespace`) and the configured container.
pub fn locate(
    ws: &Workspace,
    service: &str,
    namespace_flag: Option<&str>,
    default_namespace: &str,
) -> Result<ServiceRef, Invalid> {
    let svc = ws.service(service).ok_or_else(|| {
        Invalid(format!(
            "unknown service `{service}` (see `monoship services`)"
        ))
    })?;
    let loc = plan::locate(
        service,
        &ws.config,
        &svc.config,
        namespace_flag,
        default_namespace,
    )?;
    Ok(ServiceRef {
        service: service.to_string(),
        namespace: loc.namespace,
        deployment: loc.deployment,
        container: loc.container,
    })
}

/// The deploy target of `service`: where it runs ([`locate`]), its `depends-on` and image.
pub fn deploy_target(
    ws: &Workspace,
    service: &str,
    artifact: Artifact,
    namespace_flag: Option<&str>,
    default_namespace: &str,
) -> Result<ServicePlan, Invalid> {
    let at = locate(ws, service, namespace_flag, default_namespace)?;
    let depends_on = ws
        .service(service)
        .map(|s| s.config.depends_on.clone())
        .unwrap_or_default();
    let mut target = ServicePlan {
        service: at.service,
        namespace: at.namespace,
        deployment: at.deployment,
        container: at.container,
        depends_on,
        artifact,
        manifest: None,
        set: None,
    };
    super::objects::with_objects(ws, &mut target)?;
    Ok(target)
}

/// The git revision each service's Deployment runs (`monoship.dev/revision`, counted only
/// while `monoship.dev/digest` names the image it runs); `None` when monoship never deployed
/// it or the Deployment is missing.
pub async fn deployed_revisions(
    client: &kube::Client,
    ws: &Workspace,
    namespace_flag: Option<&str>,
    default_namespace: &str,
) -> Result<BTreeMap<String, Option<String>>, DeployError> {
    let mut out = BTreeMap::new();
    for svc in &ws.services {
        let loc = plan::locate(
            &svc.name,
            &ws.config,
            &svc.config,
            namespace_flag,
            default_namespace,
        )
        .map_err(DeployError::from)?;
        let revision = match revisions::find_deployment(client, &loc.namespace, &loc.deployment)
            .await
        {
            Ok(d) => {
                let template = d.spec.as_ref().map(|s| &s.template);
                container::version_of(template, &d.metadata, loc.container.as_deref(), &svc.name)
                    .revision
            }
            Err(DeployError::DeploymentNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        tracing::debug!(
            "{}: {MONOSHIP_REVISION} = {}",
            svc.name,
            revision.as_deref().unwrap_or("(none)")
        );
        out.insert(svc.name.clone(), revision);
    }
    Ok(out)
}

/// Services grouped by the revision they were deployed at (`None`: never by monoship), so
/// that the analysis runs once per distinct revision.
pub fn group_by_revision(
    deployed: &BTreeMap<String, Option<String>>,
) -> BTreeMap<Option<String>, Vec<String>> {
    let mut groups: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for (service, revision) in deployed {
        groups
            .entry(revision.clone())
            .or_default()
            .push(service.clone());
    }
    groups
}

/// One service to ship and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selected {
    pub service: String,
    /// The first reason's short text.
    pub reason: String,
    /// The revision it was compared with (`--since-deployed`: the deployed one; `None` when
    /// never deployed by monoship).
    pub base: Option<String>,
}

/// The first reason of an affected service.
pub fn first_reason(a: &AffectedService) -> String {
    a.reasons
        .first()
        .map(|r| r.text.clone())
        .unwrap_or_else(|| "affected".to_string())
}

/// The services of one analysis, as selected (`base` recorded on each).
pub fn select_from_report(report: &Report, base: Option<&str>) -> Vec<Selected> {
    report
        .affected
        .iter()
        .map(|a| Selected {
            service: a.service.clone(),
            reason: first_reason(a),
            base: base.map(str::to_string),
        })
        .collect()
}

/// `--since-deployed`: of the services deployed at `revision`, those the analysis with that
/// base lists; services never deployed by monoship are all selected.
pub fn select_since(
    groups: &BTreeMap<Option<String>, Vec<String>>,
    mut analyze: impl FnMut(&str) -> Result<Report, String>,
) -> Result<Vec<Selected>, String> {
    let mut out = Vec::new();
    for (revision, services) in groups {
        match revision {
            None => out.extend(services.iter().map(|s| Selected {
                service: s.clone(),
                reason: NEVER_DEPLOYED.to_string(),
                base: None,
            })),
            Some(rev) => {
                let report = analyze(rev)?;
                out.extend(
                    select_from_report(&report, Some(rev))
                        .into_iter()
                        .filter(|s| services.contains(&s.service)),
                );
            }
        }
    }
    out.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::affected::{Reason, ReasonKind};

    fn report(services: &[&str]) -> Report {
        Report {
            base: "b".into(),
            head: crate::affected::Head::Worktree,
            affected: services
                .iter()
                .map(|s| AffectedService {
                    service: s.to_string(),
                    package: s.to_string(),
                    reasons: vec![Reason {
                        kind: ReasonKind::File,
                        path: None,
                        via: Vec::new(),
                        text: format!("crates/db ← {s}"),
                    }],
                })
                .collect(),
            unaffected: Vec::new(),
            removed: Vec::new(),
            fail_closed: None,
            unowned_paths: Vec::new(),
            changed_paths: Vec::new(),
        }
    }

    #[test]
    fn since_deployed_runs_one_analysis_per_revision() {
        let deployed = BTreeMap::from([
            ("a".to_string(), Some("r1".to_string())),
            ("b".to_string(), Some("r1".to_string())),
            ("c".to_string(), Some("r2".to_string())),
            ("d".to_string(), None),
        ]);
        let groups = group_by_revision(&deployed);
        assert_eq!(groups.len(), 3);
        let mut calls = Vec::new();
        let selected = select_since(&groups, |rev| {
            calls.push(rev.to_string());
            // Since r1 a and c changed, since r2 nothing did.
            Ok(report(if rev == "r1" { &["a", "c"] } else { &[] }))
        })
        .unwrap();
        assert_eq!(calls, ["r1", "r2"]);
        let names: Vec<&str> = selected.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["a", "d"]);
        assert_eq!(selected[0].base.as_deref(), Some("r1"));
        assert_eq!(selected[1].reason, NEVER_DEPLOYED);
    }
}

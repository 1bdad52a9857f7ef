//! A service's objects from its configured source (`manifests`, `kustomize`, `helm`): rendered,
//! the service's image pinned by digest wherever the objects use its repository, the
//! ConfigMaps and Secrets its pods reference given content-hashed names, and split into the
//! workload (its Deployment) and the rest of its set.

use crate::config::ObjectSettings;
use crate::deploy::manifests;
use crate::deploy::patch::ImageChange;
use crate::deploy::plan::ServicePlan;
use crate::deploy::set::ServiceSet;
use crate::invalid::Invalid;
use crate::objects::{self, Manifest};
use crate::workspace::Workspace;

/// Give `target` its objects when the service has a source; else leave it (its image is then
/// patched on the existing Deployment).
pub fn with_objects(ws: &Workspace, target: &mut ServicePlan) -> Result<(), Invalid> {
    let Some(svc) = ws.service(&target.service) else {
        return Ok(());
    };
    let env = ws.environment.as_ref().map(|e| e.name.as_str());
    let Some(source) = ObjectSettings::source(
        &ws.config.objects,
        &svc.config.objects,
        &target.service,
        env,
    )?
    else {
        return Ok(());
    };
    let service = target.service.clone();
    let at_fault = |e: String| Invalid(format!("{service}: {source}: {e}"));
    let mut rendered = objects::render(&source, &ws.root, &target.namespace)
        .map_err(|e| Invalid(format!("{service}: {e}")))?;
    let reference = target.artifact.reference.clone();
    objects::pin(
        &mut rendered,
        objects::repository_of(&reference),
        &reference,
        target.container.as_deref(),
    )
    .map_err(|e| at_fault(e.0))?;
    objects::config_hash(&mut rendered);
    set_objects(target, rendered).map_err(|e| at_fault(e.0))
}

/// The workload (the Deployment named by the `deployment` template) and the rest of the set.
pub fn set_objects(target: &mut ServicePlan, rendered: Vec<Manifest>) -> Result<(), Invalid> {
    let position = rendered
        .iter()
        .position(|m| {
            manifests::find(
                std::slice::from_ref(m),
                &target.deployment,
                &target.namespace,
            )
            .is_some()
        })
        .ok_or_else(|| {
            Invalid(format!(
                "no Deployment `{}` among its objects (the `deployment` template names it)",
                target.deployment
            ))
        })?;
    let change = ImageChange {
        service: &target.service,
        container: "",
        image: &target.artifact.reference,
        revision: target.artifact.revision.as_deref(),
        promoted_from: target
            .artifact
            .promoted_from
            .as_ref()
            .map(|p| p.annotation()),
    };
    let (mut workload, container) = manifests::render(
        &rendered[position],
        &target.namespace,
        &target.service,
        target.container.as_deref(),
        &change,
    )?;
    let others = rendered
        .into_iter()
        .enumerate()
        .filter(|(i, m)| *i != position && m.object["kind"] != "Kustomization")
        .map(|(_, m)| m.object)
        .collect();
    target.set = Some(ServiceSet::new(
        &target.namespace,
        &target.deployment,
        others,
        &mut workload,
    ));
    target.container = Some(container);
    target.manifest = Some(workload);
    Ok(())
}

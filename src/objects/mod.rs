//! The set of Kubernetes objects a service ships: rendered from its source ([`render`]: a
//! directory or file of manifests, a kustomization, a Helm chart), its image pinned in their pod
//! templates ([`pin`]), and the ConfigMaps and Secrets they use renamed by their content
//! ([`config_hash`], kustomize's generator convention).

pub mod config_hash;
pub mod pin;
pub mod render;

pub use config_hash::{Renamed, config_hash, is_hashed, kustomize_hash};
pub use pin::{pin, repository_of};
pub use render::{RenderError, find_program, helm_args, load, parse, render};

use serde_json::Value;
use std::path::PathBuf;

/// One object of the set, with the file (or the rendered source) it comes from.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: PathBuf,
    pub object: Value,
}

/// The kinds (of `apps/v1`) that are a service's workload.
pub const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// Whether `object` is a workload: a Deployment, StatefulSet or DaemonSet of `apps/v1`.
pub fn is_workload(object: &Value) -> bool {
    object["apiVersion"] == "apps/v1"
        && object["kind"]
            .as_str()
            .is_some_and(|k| WORKLOAD_KINDS.contains(&k))
}

/// The workloads of the set, in its order.
pub fn workloads(objects: &[Manifest]) -> impl Iterator<Item = &Manifest> {
    objects.iter().filter(|m| is_workload(&m.object))
}

/// The workloads of the set, in its order, to change.
pub fn workloads_mut(objects: &mut [Manifest]) -> impl Iterator<Item = &mut Manifest> {
    objects.iter_mut().filter(|m| is_workload(&m.object))
}

/// Where the pod spec of an object of `kind` is, when the kind has one.
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            Some("/spec/template/spec")
        }
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        "Pod" => Some("/spec"),
        _ => None,
    }
}

/// The pod spec of `object` (a pod template's, or a Pod's own), when it has one.
pub fn pod_spec(object: &Value) -> Option<&Value> {
    let pointer = pod_spec_pointer(object["kind"].as_str()?)?;
    object.pointer(pointer).filter(|s| s.is_object())
}

/// The pod spec of `object`, to change.
pub fn pod_spec_mut(object: &mut Value) -> Option<&mut Value> {
    let pointer = pod_spec_pointer(object["kind"].as_str()?)?;
    object.pointer_mut(pointer).filter(|s| s.is_object())
}

/// The containers and init containers of a pod spec.
pub(crate) fn containers_mut(spec: &mut Value) -> impl Iterator<Item = &mut Value> {
    let (init, main) = match spec.as_object_mut() {
        Some(o) => {
            let mut init = None;
            let mut main = None;
            for (k, v) in o.iter_mut() {
                match k.as_str() {
                    "initContainers" => init = v.as_array_mut(),
                    "containers" => main = v.as_array_mut(),
                    _ => {}
                }
            }
            (init, main)
        }
        None => (None, None),
    };
    init.into_iter()
        .flatten()
        .chain(main.into_iter().flatten())
        .filter(|c| c.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(object: Value) -> Manifest {
        Manifest {
            file: PathBuf::from("x.yaml"),
            object,
        }
    }

    #[test]
    fn workloads_are_the_apps_kinds() {
        let set = vec![
            manifest(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}),
            ),
            manifest(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}})),
            manifest(
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "b"}}),
            ),
            manifest(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "c"}})),
            manifest(
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}}),
            ),
            manifest(
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "e"}}),
            ),
            manifest(json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment"})),
        ];
        let names: Vec<_> = workloads(&set)
            .map(|m| m.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "d"]);
        assert!(!is_workload(&json!("Deployment")));
    }

    #[test]
    fn pod_specs_of_each_kind() {
        let spec = json!({"containers": [{"name": "x"}]});
        let cases = [
            json!({"kind": "Deployment", "spec": {"template": {"spec": spec}}}),
            json!({"kind": "Job", "spec": {"template": {"spec": spec}}}),
            json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
            json!({"kind": "Pod", "spec": spec}),
        ];
        for mut c in cases {
            assert_eq!(pod_spec(&c), Some(&spec), "{c}");
            assert_eq!(containers_mut(pod_spec_mut(&mut c).unwrap()).count(), 1);
        }
        assert_eq!(pod_spec(&json!({"kind": "Service", "spec": spec})), None);
        assert_eq!(pod_spec(&json!({"kind": "Deployment", "spec": {}})), None);
        let mut both = json!({"initContainers": [{"name": "i"}], "containers": [{"name": "m"}]});
        let names: Vec<_> = containers_mut(&mut both)
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["i", "m"]);
    }
}

//! The service's image pinned in the pod templates of its objects.

use super::{Manifest, containers_mut, is_workload, pod_spec_mut};
use crate::invalid::Invalid;
use serde_json::json;

/// The repository of an image reference: the reference without its `:tag` and `@digest`
/// (`host:5000/team/users:1.2` is `host:5000/team/users`).
pub fn repository_of(reference: &str) -> &str {
    let named = reference.split_once('@').map_or(reference, |(n, _)| n);
    match named.rfind(':') {
        Some(i) if !named[i..].contains('/') => &named[..i],
        _ => named,
    }
}

/// Sets `image` in every container and init container of the pod templates of `objects`
/// (workloads, ReplicaSets, Jobs, CronJobs, Pods) whose image is of `repository`, and in the
/// workloads' (Deployment, StatefulSet, DaemonSet) container named `container`. How many were
/// set; none is an error.
pub fn pin(
    objects: &mut [Manifest],
    repository: &str,
    image: &str,
    container: Option<&str>,
) -> Result<usize, Invalid> {
    let mut set = 0;
    for m in objects.iter_mut() {
        let workload = is_workload(&m.object);
        let Some(spec) = pod_spec_mut(&mut m.object) else {
            continue;
        };
        for c in containers_mut(spec) {
            let of_repository = c["image"]
                .as_str()
                .is_some_and(|i| repository_of(i) == repository);
            let named = workload && container.is_some_and(|n| c["name"] == n);
            if of_repository || named {
                c["image"] = json!(image);
                set += 1;
            }
        }
    }
    if set == 0 {
        return Err(Invalid(format!(
            "no container image of repository {repository} in the objects (set `container` \
             or make the chart/overlay use the service's image)"
        )));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::parse;
    use std::path::Path;

    #[test]
    fn repositories_of_references() {
        for (reference, repository) in [
            ("users", "users"),
            ("users:1", "users"),
            ("example.test/team/users:1.2", "example.test/team/users"),
            ("localhost:5000/users", "localhost:5000/users"),
            ("localhost:5000/users:v1", "localhost:5000/users"),
            ("localhost:5000/users@sha256:abcd", "localhost:5000/users"),
            (
                "localhost:5000/users:v1@sha256:abcd",
                "localhost:5000/users",
            ),
            ("users@sha256:abcd", "users"),
        ] {
            assert_eq!(repository_of(reference), repository, "{reference}");
        }
    }

    const OBJECTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: users}
spec:
  template:
    spec:
      initContainers:
      - {name: migrate, image: 'localhost:5000/users:old'}
      containers:
      - {name: users, image: 'localhost:5000/users@sha256:0000'}
      - {name: proxy, image: 'example.test/proxy:1'}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: report, image: 'localhost:5000/users'}
          - {name: proxy, image: 'example.test/proxy:1'}
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers:
  - {name: debug, image: 'localhost:5000/users-debug:1'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: users}
data: {image: 'localhost:5000/users:1'}
";

    const NEW: &str = "localhost:5000/users@sha256:1111";

    #[test]
    fn pins_every_container_of_the_repository() {
        let mut set = parse(OBJECTS, Path::new("x"), false).unwrap();
        assert_eq!(pin(&mut set, "localhost:5000/users", NEW, None).unwrap(), 3);
        let d = &set[0].object["spec"]["template"]["spec"];
        assert_eq!(d["initContainers"][0]["image"], NEW);
        assert_eq!(d["containers"][0]["image"], NEW);
        assert_eq!(d["containers"][1]["image"], "example.test/proxy:1");
        let c = &set[1].object["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(c["containers"][0]["image"], NEW);
        assert_eq!(c["containers"][1]["image"], "example.test/proxy:1");
        let p = &set[2].object["spec"]["containers"][0];
        assert_eq!(p["image"], "localhost:5000/users-debug:1");
        assert_eq!(set[3].object["data"]["image"], "localhost:5000/users:1");
    }

    #[test]
    fn the_named_container_of_the_workloads() {
        let mut set = parse(OBJECTS, Path::new("x"), false).unwrap();
        let n = pin(&mut set, "example.test/nothing", NEW, Some("proxy")).unwrap();
        assert_eq!(n, 1, "the CronJob's proxy is not a workload's");
        let d = &set[0].object["spec"]["template"]["spec"];
        assert_eq!(d["containers"][1]["image"], NEW);
        assert_eq!(
            d["containers"][0]["image"],
            "localhost:5000/users@sha256:0000"
        );
    }

    #[test]
    fn a_chart_that_splits_repository_and_tag() {
        // What `image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"` renders.
        let rendered = "\
---
# Source: svc/templates/deployment.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: users
  labels:
    helm.sh/chart: svc-0.1.0
spec:
  template:
    spec:
      containers:
        - name: svc
          image: \"registry.example.test:443/shop/users:0.1.0\"
          imagePullPolicy: IfNotPresent
";
        let mut set = parse(rendered, Path::new("deploy/charts/svc"), false).unwrap();
        let image = "registry.example.test:443/shop/users@sha256:2222";
        let n = pin(
            &mut set,
            "registry.example.test:443/shop/users",
            image,
            None,
        )
        .unwrap();
        assert_eq!(n, 1);
        let c = &set[0].object["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], image);
    }

    #[test]
    fn none_pinned_is_an_error() {
        let mut set = parse(OBJECTS, Path::new("x"), false).unwrap();
        let e = pin(&mut set, "example.test/users", NEW, Some("nope")).unwrap_err();
        assert_eq!(
            e.0,
            "no container image of repository example.test/users in the objects (set \
             `container` or make the chart/overlay use the service's image)"
        );
        assert!(pin(&mut [], "example.test/users", NEW, None).is_err());
    }
}

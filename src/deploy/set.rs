//! The objects of a service's set besides its workload (ConfigMaps, Secrets, Services, …):
//! checked by a server-side dry run before anything changes, applied before the workload, and
//! the objects that left the set pruned once the rollout succeeded.

use super::DeployError;
use super::apply::{self, Resources};
use super::applyset::{self, ApplySet, Member};
use super::diff::{self, FieldChange};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;
use std::collections::BTreeSet;

/// A service's set: the ApplySet and its objects other than the workload (labelled as members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSet {
    pub applyset: ApplySet,
    pub objects: Vec<Value>,
}

impl ServiceSet {
    /// The set of `objects` (each labelled as a member) of the workload `workload` in
    /// `namespace`; `workload_object` is labelled too.
    pub fn new(
        namespace: &str,
        workload: &str,
        mut objects: Vec<Value>,
        workload_object: &mut Value,
    ) -> ServiceSet {
        let applyset = ApplySet::new(namespace, workload);
        for o in objects
            .iter_mut()
            .chain(std::iter::once(&mut *workload_object))
        {
            applyset.label(o);
            o["metadata"]["namespace"] = Value::from(namespace);
        }
        ServiceSet { applyset, objects }
    }

    /// The group-kinds of the set with its workload's.
    fn kinds(&self, workload: &Value) -> BTreeSet<String> {
        self.objects
            .iter()
            .chain(std::iter::once(workload))
            .map(apply::group_kind)
            .collect()
    }

    /// What applying the objects would change (a server-side dry run of each); empty when
    /// nothing would.
    pub async fn dry_run(
        &self,
        client: &kube::Client,
        force: bool,
    ) -> Result<Vec<FieldChange>, DeployError> {
        let ns = &self.applyset.namespace;
        let mut resources = Resources::default();
        let mut changes = Vec::new();
        for o in &self.objects {
            let before = apply::live(client, &mut resources, ns, o).await?;
            let after = apply::apply(client, &mut resources, ns, o, force, true).await?;
            if !apply::same(before.as_ref(), &after) {
                let before = before.map(|b| serde_json::to_value(b).unwrap_or_default());
                let after = serde_json::to_value(&after).unwrap_or_default();
                changes.extend(diff::object_changes(before.as_ref(), &after));
            }
        }
        Ok(changes)
    }

    /// Record the set's kinds (with those recorded before, so a prune finds every member),
    /// then apply every object.
    pub async fn apply(
        &self,
        client: &kube::Client,
        workload: &Value,
        force: bool,
    ) -> Result<(), DeployError> {
        let mut kinds = self.applyset.recorded_kinds(client).await?;
        kinds.extend(self.kinds(workload));
        self.applyset.record(client, &kinds, false).await?;
        let mut resources = Resources::default();
        for o in &self.objects {
            apply::apply(
                client,
                &mut resources,
                &self.applyset.namespace,
                o,
                force,
                false,
            )
            .await?;
        }
        Ok(())
    }

    /// After a successful rollout: delete the members no longer in the set, keeping the
    /// ConfigMaps and Secrets a ReplicaSet of `deployment` still references (a rollback to
    /// it needs them). Returns what was pruned.
    pub async fn prune(
        &self,
        client: &kube::Client,
        workload: &Value,
        deployment: &Deployment,
    ) -> Result<Vec<String>, DeployError> {
        let mut kinds = self.applyset.recorded_kinds(client).await?;
        kinds.extend(self.kinds(workload));
        let all: Vec<Value> = self
            .objects
            .iter()
            .cloned()
            .chain(std::iter::once(workload.clone()))
            .collect();
        let keep = applyset::members(&all);
        let ns = &self.applyset.namespace;
        let mut referenced: BTreeSet<Member> = BTreeSet::new();
        for rs in super::revisions::replica_sets_of(client, ns, deployment).await? {
            let spec = rs
                .spec
                .and_then(|s| s.template)
                .and_then(|t| t.spec)
                .map(|s| serde_json::to_value(s).unwrap_or_default())
                .unwrap_or_default();
            referenced.extend(applyset::config_references(&spec));
        }
        self.applyset
            .prune(client, &kinds, &keep, &referenced)
            .await
    }
}

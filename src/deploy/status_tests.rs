//! The status rules against objects captured from the test cluster (`testdata/status-*.json`)
//! and small edits of them.

use super::*;
use serde_json::json;

/// Objects captured from the test cluster: `created` right after creating users (digest-
/// pinned, annotated), orders (`crashloop`), media (`pullfail`) and search (`slowstart`)
/// with two replicas each; `rollout` 17 s later, after users was set to a crash-looping
/// image and billing (`slowstart`, progressDeadlineSeconds 3) was created.
fn fixture(name: &str) -> Snapshot {
    let text = match name {
        "created" => include_str!("testdata/status-created.json"),
        "rollout" => include_str!("testdata/status-rollout.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

fn at(time: &str) -> Timestamp {
    time.parse().unwrap()
}

fn status_of(snap: &Snapshot, service: &str) -> ServiceStatus {
    let target = ServiceRef {
        service: service.into(),
        namespace: "fixtures".into(),
        deployment: service.into(),
        container: None,
    };
    service_status(&target, snap, at("2026-11-28T07:41:14Z"))
}

#[test]
fn complete_with_digest_and_revision() {
    let s = status_of(&fixture("created"), "users");
    assert_eq!((s.state, s.reason.as_deref()), (State::Complete, None));
    assert_eq!(
        (s.desired, s.updated, s.ready, s.available),
        (Some(2), Some(2), Some(2), Some(2))
    );
    assert_eq!(
        short_digest(s.digest.as_deref().unwrap()),
        "sha256:111111111111"
    );
    assert_eq!(
        short_revision(s.revision.as_deref().unwrap()),
        "0123456789ab"
    );
    assert_eq!(s.age_seconds, Some(60));
}

#[test]
fn crash_loop_and_pull_failure_are_failed() {
    let snap = fixture("created");
    let orders = status_of(&snap, "orders");
    assert_eq!(orders.state, State::Failed);
    let reason = orders.reason.unwrap();
    assert!(
        reason.starts_with("2 of 2 new pods failing; orders-"),
        "{reason}"
    );
    assert!(
        reason.contains("crash-looping (Error, exit code 1, 3 restarts)"),
        "{reason}"
    );
    let media = status_of(&snap, "media");
    assert_eq!(media.state, State::Failed);
    let reason = media.reason.unwrap();
    assert!(
        reason.contains("container media-pullfail cannot start (ErrImagePull): failed to pull"),
        "{reason}"
    );
    assert!(media.digest.is_none() && media.revision.is_none());
}

#[test]
fn slow_pods_are_progressing() {
    let s = status_of(&fixture("created"), "search");
    assert_eq!(s.state, State::Progressing);
    assert_eq!(
        s.reason.as_deref(),
        Some("0 of 2 updated replicas available")
    );
}

#[test]
fn a_crash_looping_new_replica_set_fails_while_old_pods_serve() {
    let s = status_of(&fixture("rollout"), "users");
    assert_eq!((s.available, s.updated), (Some(2), Some(1)));
    assert_eq!(s.state, State::Failed);
    let reason = s.reason.unwrap();
    assert!(reason.starts_with("users-7d87658f8f-"), "{reason}");
    assert!(reason.contains("crash-looping"), "{reason}");
    // The old pods are healthy, and they are not the new ReplicaSet's.
    assert_eq!(
        new_pods(&fixture("rollout").deployments[4], &fixture("rollout")).len(),
        1
    );
}

#[test]
fn progress_deadline_exceeded_is_failed() {
    let s = status_of(&fixture("rollout"), "billing");
    assert_eq!(s.state, State::Failed);
    assert_eq!(
        s.reason.as_deref(),
        Some(
            "progress deadline (3s) exceeded: ReplicaSet \"billing-6fd575d6cf\" has timed out progressing."
        )
    );
    assert_eq!(
        status_of(&fixture("rollout"), "search").state,
        State::Complete
    );
}

#[test]
fn a_missing_deployment_is_missing() {
    let s = status_of(&fixture("rollout"), "ghost");
    assert_eq!(s.state, State::Missing);
    assert_eq!((s.desired, &s.digest, s.age_seconds), (None, &None, None));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["state"], "missing");
    assert_eq!(json["desired"], serde_json::Value::Null);
}

fn edited(service: &str, edit: serde_json::Value) -> Deployment {
    let snap = fixture("created");
    let d = snap
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(service))
        .unwrap();
    let mut v = serde_json::to_value(d).unwrap();
    merge(&mut v, edit);
    serde_json::from_value(v).unwrap()
}

fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[test]
fn the_rule_is_pinned_to_the_generation() {
    // Counts of the previous generation look complete; the controller has not seen the
    // new spec yet.
    let d = edited("users", json!({"metadata": {"generation": 3}}));
    let (state, reason) = rollout_state(&d, &[]);
    assert_eq!(state, State::Progressing);
    assert_eq!(
        reason.as_deref(),
        Some("waiting for the controller to observe generation 3 (observed 2)")
    );
}

#[test]
fn progressing_reasons_follow_kubectl() {
    let cases = [
        (json!({"updatedReplicas": 1}), "1 of 2 new replicas updated"),
        (json!({"replicas": 3}), "1 old replica pending termination"),
        (
            json!({"availableReplicas": 1}),
            "1 of 2 updated replicas available",
        ),
    ];
    for (status, want) in cases {
        let d = edited("users", json!({"status": status}));
        assert_eq!(rollout_state(&d, &[]).1.as_deref(), Some(want));
    }
    let d = edited(
        "users",
        json!({"spec": {"paused": true}, "status": {"updatedReplicas": 0}}),
    );
    assert_eq!(
        rollout_state(&d, &[]).1.as_deref(),
        Some("paused; 0 of 2 new replicas updated")
    );
}

#[test]
fn a_restarted_ready_pod_is_healthy() {
    let mut pod = fixture("created")
        .pods
        .into_iter()
        .find(|p| p.metadata.name.as_deref().unwrap().starts_with("users-"))
        .unwrap();
    fn status(pod: &mut Pod) -> &mut ContainerStatus {
        &mut pod
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
    }
    let c = status(&mut pod);
    c.restart_count = 2;
    c.last_state = serde_json::from_value(json!({"terminated": {"exitCode": 137}})).unwrap();
    assert_eq!(pod_problem(&pod), None);
    status(&mut pod).ready = false;
    assert_eq!(
        pod_problem(&pod).as_deref(),
        Some("container users crash-looping (exited, exit code 137, 2 restarts)")
    );
}

#[test]
fn digests_revisions_and_ages() {
    assert_eq!(
        short_digest("sha256:0123456789abcdef"),
        "sha256:0123456789ab"
    );
    assert_eq!(short_revision("0123456789abcdef"), "0123456789ab");
    let ages = [
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (7200, "2h"),
        (172_800, "2d"),
    ];
    for (s, want) in ages {
        assert_eq!(human_age(s), want);
    }
}

#[test]
fn same_state_ignores_ages() {
    let snap: Snapshots = [("fixtures".to_string(), fixture("created"))].into();
    let targets = [ServiceRef {
        service: "users".into(),
        namespace: "fixtures".into(),
        deployment: "users".into(),
        container: None,
    }];
    let a = report("fixtures", &targets, &snap, at("2026-11-28T07:41:14Z"));
    let b = report("fixtures", &targets, &snap, at("2026-11-28T07:45:14Z"));
    assert!(a.same_state(&b) && a != b);
    let json = serde_json::to_value(&a).unwrap();
    let mut keys: Vec<&str> = json["services"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "age_seconds",
            "available",
            "deployment",
            "desired",
            "digest",
            "image",
            "namespace",
            "ready",
            "reason",
            "revision",
            "service",
            "state",
            "updated"
        ]
    );
}

#[test]
fn annotations_left_behind_by_kubectl_set_image_do_not_count() {
    let pinned = "registry.example/users@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let d = edited(
        "users",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "users", "image": pinned}]}}}}),
    );
    let t = d.spec.as_ref().map(|s| &s.template);
    let v = version_of(t, &d.metadata, None, "users");
    assert!(v.digest.as_deref().unwrap().ends_with("1111"));
    assert_eq!(
        v.revision.as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    // The image changed by tag: no digest, and the recorded revision is not this image's.
    let d = edited(
        "users",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "users", "image": "registry.example/users:2"}]}}}}),
    );
    let t = d.spec.as_ref().map(|s| &s.template);
    let v = version_of(t, &d.metadata, None, "users");
    assert_eq!((v.digest, v.revision), (None, None));
    // Changed to another digest: that digest, still no revision.
    let other = "registry.example/users@sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let d = edited(
        "users",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "users", "image": other}]}}}}),
    );
    let t = d.spec.as_ref().map(|s| &s.template);
    let v = version_of(t, &d.metadata, None, "users");
    assert!(v.digest.as_deref().unwrap().ends_with("2222") && v.revision.is_none());
}

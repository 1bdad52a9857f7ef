//! The verdict rules against plain JSON fixtures (no cluster): `fixtures/*.json` hold a
//! Deployment mid-rollout (generation 2, revision 1 → 2), its two ReplicaSets and pods of the
//! new one as the test cluster shows them.

use super::*;
use serde_json::{Value, json};

const DEPLOYMENT: &str = include_str!("fixtures/deployment.json");
const REPLICA_SETS: &str = include_str!("fixtures/replicasets.json");
const POD_CRASHLOOP: &str = include_str!("fixtures/pod-crashloop.json");
const POD_PULLFAIL: &str = include_str!("fixtures/pod-pullfail.json");
const POD_RUNNING: &str = include_str!("fixtures/pod-running.json");

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap()
}

/// Apply `edit` to the JSON of a fixture.
fn edited<T: serde::de::DeserializeOwned>(text: &str, edit: impl FnOnce(&mut Value)) -> T {
    let mut v: Value = serde_json::from_str(text).unwrap();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse().unwrap()
}

struct Case {
    deployment: Deployment,
    replica_sets: Vec<ReplicaSet>,
    pods: Vec<Pod>,
    events: Vec<Event>,
    now: Timestamp,
    max_restarts: i32,
}

impl Case {
    fn new(pods: &[&str]) -> Case {
        Case {
            deployment: parse(DEPLOYMENT),
            replica_sets: parse(REPLICA_SETS),
            pods: pods.iter().map(|p| parse(p)).collect(),
            events: Vec::new(),
            now: at("2025-05-01T10:00:02Z"),
            max_restarts: 2,
        }
    }

    fn status(mut self, status: Value) -> Case {
        let mut d = serde_json::to_value(&self.deployment).unwrap();
        d["status"] = status;
        self.deployment = serde_json::from_value(d).unwrap();
        self
    }

    /// The verdict for our change: generation 2 and the template of the fixture.
    fn verdict(&self) -> Verdict {
        let ours: Deployment = parse(DEPLOYMENT);
        let template = ours.spec.unwrap().template;
        assess(
            Observed {
                deployment: &self.deployment,
                replica_sets: &self.replica_sets,
                pods: &self.pods,
                events: &self.events,
            },
            Expect {
                generation: 2,
                template: &template,
                max_restarts: self.max_restarts,
                now: self.now,
            },
        )
    }

    fn failure(&self) -> Failure {
        match self.verdict() {
            Verdict::Failed(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

#[test]
fn status_of_an_older_generation_is_ignored_even_when_it_looks_complete() {
    // What kube-rs' stock condition would call a completed rollout: the previous one.
    let case = Case::new(&[]).status(json!({
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2
    }));
    match case.verdict() {
        Verdict::Waiting(m) => assert!(m.contains("generation 2"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mid_rollout_is_progressing_with_counts() {
    let case = Case::new(&[POD_RUNNING]);
    match case.verdict() {
        Verdict::Progressing(p) => {
            assert_eq!(p.replica_set.as_deref(), Some("users-5c4b3a2d1e"));
            assert_eq!(p.revision, Some(2));
            assert_eq!(
                p.message(),
                "1 of 2 new replicas updated, 2 available, 2 old pending termination"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn complete_by_kubectls_rule() {
    let done = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                      "readyReplicas": 2, "availableReplicas": 2});
    assert!(matches!(
        Case::new(&[]).status(done).verdict(),
        Verdict::Complete(_)
    ));
    // An old replica still terminating: not yet.
    let old_left = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2,
                          "readyReplicas": 3, "availableReplicas": 3});
    assert!(matches!(
        Case::new(&[]).status(old_left).verdict(),
        Verdict::Progressing(_)
    ));
    // Updated but not available yet: not yet.
    let unavailable = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                             "readyReplicas": 1, "availableReplicas": 1});
    assert!(matches!(
        Case::new(&[]).status(unavailable).verdict(),
        Verdict::Progressing(_)
    ));
}

#[test]
fn crash_loop_of_a_new_pod_fails_at_once() {
    let f = Case::new(&[POD_CRASHLOOP]).failure();
    assert_eq!(f.code, code::CRASH_LOOP);
    assert_eq!(f.pod.as_deref(), Some("users-5c4b3a2d1e-x7k2p"));
    assert_eq!(f.container.as_deref(), Some("users"));
    assert!(f.crashed, "logs come from the previous instance");
    assert!(
        f.message.contains("last exit code 1 (Error)"),
        "{}",
        f.message
    );
}

#[test]
fn pods_of_the_old_replica_set_are_not_judged() {
    let old_crashing: Pod = edited(POD_CRASHLOOP, |p| {
        p["metadata"]["ownerReferences"][0]["uid"] = json!("rs-old");
    });
    let mut case = Case::new(&[]);
    case.pods = vec![old_crashing];
    assert!(matches!(case.verdict(), Verdict::Progressing(_)));
}

#[test]
fn image_pull_failures_name_the_reason() {
    let f = Case::new(&[POD_PULLFAIL]).failure();
    assert_eq!(f.code, "ImagePullBackOff");
    assert!(f.message.contains("cannot pull image"), "{}", f.message);
    assert!(!f.crashed);
    let invalid: Pod = edited(POD_PULLFAIL, |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"] =
            json!({"reason": "InvalidImageName", "message": "bad"});
    });
    let mut case = Case::new(&[]);
    case.pods = vec![invalid];
    assert_eq!(case.failure().code, "InvalidImageName");
}

#[test]
fn create_container_config_error() {
    let pod: Pod = edited(POD_PULLFAIL, |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"] = json!({
            "reason": "CreateContainerConfigError",
            "message": "secret \"db\" not found"});
    });
    let mut case = Case::new(&[]);
    case.pods = vec![pod];
    let f = case.failure();
    assert_eq!(f.code, "CreateContainerConfigError");
    assert!(
        f.message.contains("secret \"db\" not found"),
        "{}",
        f.message
    );
}

#[test]
fn readiness_fails_only_past_the_probe_budget() {
    // Readiness 0 s + 3 × 1 s, plus 5 s grace: 8 s after the container started.
    let mut case = Case::new(&[POD_RUNNING]);
    case.now = at("2025-05-01T10:00:07Z");
    assert!(matches!(case.verdict(), Verdict::Progressing(_)));
    case.now = at("2025-05-01T10:00:09Z");
    let f = case.failure();
    assert_eq!(f.code, code::READINESS_TIMEOUT);
    assert!(f.message.contains("probe budget 8 s"), "{}", f.message);
}

fn restarted(times: i32, reason: &str, exit: i32) -> Pod {
    edited(POD_RUNNING, |p| {
        let cs = &mut p["status"]["containerStatuses"][0];
        cs["restartCount"] = json!(times);
        cs["lastState"] = json!({"terminated": {"exitCode": exit, "reason": reason}});
    })
}

#[test]
fn oom_kills_and_exits_count_against_max_restarts() {
    let mut case = Case::new(&[]);
    case.pods = vec![restarted(2, "OOMKilled", 137)];
    assert!(matches!(case.verdict(), Verdict::Progressing(_)));
    case.pods = vec![restarted(3, "OOMKilled", 137)];
    assert_eq!(case.failure().code, code::OOM_KILLED);
    case.pods = vec![restarted(3, "Error", 2)];
    let f = case.failure();
    assert_eq!(f.code, code::TOO_MANY_RESTARTS);
    assert!(f.message.contains("last exit code 2"), "{}", f.message);
    case.max_restarts = 5;
    assert!(matches!(case.verdict(), Verdict::Progressing(_)));
}

#[test]
fn restarts_from_liveness_probe_failures() {
    let mut case = Case::new(&[]);
    case.pods = vec![restarted(3, "Error", 137)];
    case.events = vec![parse(
        r#"{"metadata": {"name": "e1"}, "reason": "Killing",
            "message": "Container users failed liveness probe, will be restarted",
            "involvedObject": {"kind": "Pod", "name": "users-5c4b3a2d1e-m3n4b",
                               "fieldPath": "spec.containers{users}"}}"#,
    )];
    let f = case.failure();
    assert_eq!(f.code, code::PROBE_FAILED);
    assert!(f.message.contains("failed liveness probe"), "{}", f.message);
}

/// A new pod backing off after its container was stopped with `exit` (`reason`), `times`
/// restarts so far; `probes` are merged into its container's spec.
fn backing_off(times: i32, reason: &str, exit: i32, probes: Value) -> Pod {
    edited(POD_CRASHLOOP, |p| {
        for (k, v) in probes.as_object().unwrap() {
            p["spec"]["containers"][0][k] = v.clone();
        }
        let cs = &mut p["status"]["containerStatuses"][0];
        cs["restartCount"] = json!(times);
        cs["lastState"]["terminated"]["exitCode"] = json!(exit);
        cs["lastState"]["terminated"]["reason"] = json!(reason);
    })
}

fn liveness() -> Value {
    json!({"livenessProbe": {"httpGet": {"path": "/healthz", "port": 9100}}})
}

/// An Unhealthy event of container users of the crash-looping pod, as a kubelet or kwok
/// records it (kwok gives no field path).
fn unhealthy(message: &str, field_path: Option<&str>) -> Event {
    let mut e = json!({"metadata": {"name": "e1"}, "type": "Warning", "reason": "Unhealthy",
        "message": message, "lastTimestamp": "2025-05-01T10:00:02Z",
        "involvedObject": {"kind": "Pod", "name": "users-5c4b3a2d1e-x7k2p"}});
    if let Some(path) = field_path {
        e["involvedObject"]["fieldPath"] = json!(path);
    }
    serde_json::from_value(e).unwrap()
}

#[test]
fn oom_kills_count_against_max_restarts_while_backing_off() {
    // A kubelet backs off after OOM kills too: CrashLoopBackOff with the OOM kill as last state.
    let mut case = Case::new(&[]);
    case.pods = vec![backing_off(1, "OOMKilled", 137, json!({}))];
    assert!(matches!(case.verdict(), Verdict::Progressing(_)));
    case.pods = vec![backing_off(3, "OOMKilled", 137, json!({}))];
    let f = case.failure();
    assert_eq!(f.code, code::OOM_KILLED);
    assert!(f.crashed);
    assert!(
        f.message.contains("restarted 3 times (more than 2)")
            && f.message.contains("last exit code 137 (OOMKilled)"),
        "{}",
        f.message
    );
}

#[test]
fn probe_kills_count_against_max_restarts_while_backing_off() {
    // Killed (SIGKILL after the grace period, or SIGTERM) by the kubelet for its liveness probe.
    for exit in [137, 143] {
        let mut case = Case::new(&[]);
        case.pods = vec![backing_off(2, "Error", exit, liveness())];
        assert!(matches!(case.verdict(), Verdict::Progressing(_)), "{exit}");
        case.pods = vec![backing_off(3, "Error", exit, liveness())];
        // Over the budget without events to tell why.
        assert_eq!(case.failure().code, code::TOO_MANY_RESTARTS);
        let message = "Liveness probe failed: HTTP probe failed with statuscode: 500";
        for path in [None, Some("spec.containers{users}")] {
            case.events = vec![unhealthy(message, path)];
            let f = case.failure();
            assert_eq!(f.code, code::PROBE_FAILED, "{exit} {path:?}");
            assert!(
                f.message.ends_with(&format!(": {message}")),
                "{}",
                f.message
            );
        }
    }
}

#[test]
fn a_startup_probe_kill_folded_with_similar_events_is_still_seen() {
    let mut case = Case::new(&[]);
    case.pods = vec![backing_off(
        3,
        "Error",
        137,
        json!({"startupProbe": {"exec": {"command": ["true"]}}}),
    )];
    case.events = vec![unhealthy(
        "(combined from similar events): Startup probe failed: command timed out",
        Some("spec.containers{users}"),
    )];
    let f = case.failure();
    assert_eq!(f.code, code::PROBE_FAILED);
    assert!(
        f.message
            .ends_with(": Startup probe failed: command timed out"),
        "{}",
        f.message
    );
}

#[test]
fn backing_off_after_a_kill_without_a_probe_or_an_exit_is_a_crash_loop() {
    // No liveness or startup probe: the kubelet did not kill it, whatever the exit code.
    let mut case = Case::new(&[]);
    case.pods = vec![backing_off(1, "Error", 137, json!({}))];
    assert_eq!(case.failure().code, code::CRASH_LOOP);
    // With a liveness probe but an exit of its own.
    case.pods = vec![backing_off(1, "Error", 1, liveness())];
    assert_eq!(case.failure().code, code::CRASH_LOOP);
    // An Unhealthy event of another container does not make it a probe kill.
    case.pods = vec![backing_off(1, "Error", 1, liveness())];
    case.events = vec![unhealthy(
        "Liveness probe failed: HTTP probe failed with statuscode: 500",
        Some("spec.containers{sidecar}"),
    )];
    assert_eq!(case.failure().code, code::CRASH_LOOP);
}

#[test]
fn progress_deadline_exceeded() {
    let case = Case::new(&[]).status(json!({
        "observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
        "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"users-5c4b3a2d1e\" has timed out progressing."}]
    }));
    let f = case.failure();
    assert_eq!(f.code, code::PROGRESS_DEADLINE);
    assert!(f.message.contains("timed out progressing"), "{}", f.message);
}

#[test]
fn another_template_in_a_later_generation_supersedes_us() {
    let mut case = Case::new(&[POD_RUNNING]);
    case.deployment = edited(DEPLOYMENT, |d| {
        d["metadata"]["generation"] = json!(3);
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example.test/other:v9");
    });
    match case.verdict() {
        Verdict::Superseded(m) => assert!(m.contains("example.test/other:v9"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A later generation with our template (someone scaled it) is still ours.
    case.deployment = edited(DEPLOYMENT, |d| {
        d["metadata"]["generation"] = json!(3);
        d["spec"]["replicas"] = json!(3);
    });
    assert!(matches!(case.verdict(), Verdict::Progressing(_)));
}

#[test]
fn no_new_replica_set_yet_is_not_complete() {
    let mut case = Case::new(&[]).status(json!({
        "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}));
    case.replica_sets.truncate(1);
    match case.verdict() {
        Verdict::Progressing(p) => assert_eq!(p.replica_set, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_timeout_names_the_most_restarted_container_of_the_new_pods() {
    let ours: Deployment = parse(DEPLOYMENT);
    let template = ours.spec.unwrap().template;
    let rss: Vec<ReplicaSet> = parse(REPLICA_SETS);
    let oom: Pod = edited(POD_CRASHLOOP, |p| {
        let cs = &mut p["status"]["containerStatuses"][0];
        cs["restartCount"] = json!(3);
        cs["lastState"]["terminated"]["exitCode"] = json!(137);
        cs["lastState"]["terminated"]["reason"] = json!("OOMKilled");
    });
    let note = restarts_note(&template, &rss, &[parse(POD_RUNNING), oom]).unwrap();
    assert_eq!(
        note,
        "pod users-5c4b3a2d1e-x7k2p: container users restarted 3 times, last exit code 137 (OOMKilled)"
    );
    // Nothing restarted, or only pods of another ReplicaSet: no note.
    assert_eq!(restarts_note(&template, &rss, &[parse(POD_RUNNING)]), None);
    let old: Pod = edited(POD_CRASHLOOP, |p| {
        p["metadata"]["ownerReferences"][0]["uid"] = json!("rs-old");
    });
    assert_eq!(restarts_note(&template, &rss, &[old]), None);
}

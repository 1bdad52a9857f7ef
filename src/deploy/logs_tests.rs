//! Container choice, error classes and the follow cursor of `logs`.

use super::*;
use crate::deploy::container::DEFAULT_CONTAINER;
use serde_json::json;

fn pod(containers: &[&str], annotations: serde_json::Value) -> Pod {
    let cs: Vec<_> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "x"}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "users-abc", "annotations": annotations},
        "spec": {"containers": cs}
    }))
    .unwrap()
}

#[test]
fn container_choice() {
    let p = pod(&["proxy", "users"], json!({}));
    assert_eq!(container_for(&p, None, None, "users").unwrap(), "users");
    assert_eq!(
        container_for(&p, Some("proxy"), None, "users").unwrap(),
        "proxy"
    );
    assert_eq!(
        container_for(&p, None, Some("proxy"), "users").unwrap(),
        "proxy"
    );
    let err = container_for(&p, Some("app"), None, "users").unwrap_err();
    assert_eq!(
        err,
        "pod users-abc has no container `app` (containers: proxy, users)"
    );
    let p = pod(&["a", "b"], json!({DEFAULT_CONTAINER: "b"}));
    assert_eq!(container_for(&p, None, None, "users").unwrap(), "b");
    // A configured container the pod lacks is an error, as for deploy.
    assert_eq!(
        container_for(&p, None, Some("c"), "users").unwrap_err(),
        "pod users-abc has no container `c` (containers: a, b)"
    );
    assert_eq!(
        container_for(&pod(&["a"], json!({})), None, None, "users").unwrap(),
        "a"
    );
    let err = container_for(&pod(&["a", "b"], json!({})), None, None, "users").unwrap_err();
    assert!(
        err.starts_with("pod users-abc has 2 containers (a, b)"),
        "{err}"
    );
    // An init container's log, when asked for by name.
    let mut p = pod(&["users"], json!({}));
    p.spec.as_mut().unwrap().init_containers = Some(vec![
        serde_json::from_value(json!({"name": "migrate", "image": "x"})).unwrap(),
    ]);
    assert_eq!(
        container_for(&p, Some("migrate"), None, "users").unwrap(),
        "migrate"
    );
}

#[test]
fn a_node_without_logs_is_told_apart() {
    // What the test cluster's API server answers for a pod on a kwok node.
    let p = classify(
        Some(404),
        "pods/log",
        "the server could not find the requested resource ( pods/log users-abc)",
        Some("kwok-node-0"),
    );
    assert_eq!(
        p.to_string(),
        "the node does not serve logs (node kwok-node-0)"
    );
    let p = classify(
        Some(500),
        "",
        "Get \"https://10.244.0.1:10250/containerLogs/ns/p/c\": dial tcp 10.244.0.1:10250: \
         connect: connection refused",
        None,
    );
    assert_eq!(p, LogProblem::NodeServesNoLogs { node: None });
    assert_eq!(
        classify(Some(404), "pods", "pods \"x\" not found", None),
        LogProblem::Gone
    );
    let waiting = "container \"users\" in pod \"users-abc\" is waiting to start: \
                   ContainerCreating";
    assert!(matches!(
        classify(Some(400), "", waiting, None),
        LogProblem::NotYet(_)
    ));
    assert!(matches!(
        classify(Some(403), "", "forbidden", None),
        LogProblem::Other(_)
    ));
}

#[test]
fn summary_says_when_no_node_serves_logs() {
    let mut s = LogSummary {
        pods: 2,
        lines: 0,
        unavailable: BTreeMap::new(),
    };
    for pod in ["a", "b"] {
        s.unavailable
            .insert(pod.into(), LogProblem::NodeServesNoLogs { node: None });
    }
    assert!(s.no_node_serves_logs());
    s.lines = 1;
    assert!(!s.no_node_serves_logs());
    assert!(!LogSummary::default().no_node_serves_logs());
}

#[test]
fn timestamps_are_split_off() {
    let (ts, text) = split_timestamp("2026-11-28T07:40:32.123456789Z hello world");
    assert_eq!(ts.unwrap().to_string(), "2026-11-28T07:40:32.123456789Z");
    assert_eq!(text, "hello world");
    assert_eq!(
        split_timestamp("no timestamp here"),
        (None, "no timestamp here")
    );
    let (ts, text) = split_timestamp("2026-11-28T07:40:32Z");
    assert!(ts.is_some() && text.is_empty());
}

#[test]
fn the_cursor_passes_each_line_on_once() {
    let mut c = Cursor::default();
    assert_eq!(c.since(), None);
    let first = "2026-11-28T07:40:31.5Z a\n2026-11-28T07:40:32.25Z b\n2026-11-28T07:40:32.25Z c\n";
    assert_eq!(c.new_lines(first), ["a", "b", "c"]);
    assert_eq!(c.since().unwrap().to_string(), "2026-11-28T07:40:32Z");
    // The next read starts at the whole second: b and c again, a second c-stamped line,
    // then d.
    let second = "2026-11-28T07:40:32.25Z b\n2026-11-28T07:40:32.25Z c\n\
                  2026-11-28T07:40:32.25Z c2\n2026-11-28T07:40:33Z d\n";
    assert_eq!(c.new_lines(second), ["c2", "d"]);
    assert_eq!(c.new_lines(second), Vec::<&str>::new());
    assert_eq!(c.new_lines(""), Vec::<&str>::new());
    // An older line (a clock step back on the node) is not repeated.
    assert_eq!(
        c.new_lines("2026-11-28T07:40:30Z old\n2026-11-28T07:40:34Z e"),
        ["e"]
    );
}

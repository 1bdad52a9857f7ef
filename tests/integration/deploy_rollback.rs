//! `monoship rollback` against the test cluster (scripts/testenv/up): to the previous
//! revision, to a named one, and what it refuses.

use crate::support::cluster::{self, Cluster, FAST_PROBE, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of};

fn revision(c: &Cluster, name: &str) -> i64 {
    c.deployment(name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn rollback_to_the_previous_revision_and_to_a_named_one() {
    let c = Cluster::new("rb");
    let fleet = Fleet::new();
    let (v1, v2, v3) = (
        image("fleet", "users", 1),
        image("fleet", "users", 2),
        image("fleet", "users", 3),
    );
    c.create_deployment("users", &v1, FAST_PROBE);
    for v in [&v2, &v3] {
        let run = monoship(&c, &fleet, "deploy", &["--image", &format!("users={v}")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(revision(&c, "users"), 3);

    let run = monoship(&c, &fleet, "rollback", &["users"]);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    let r = result_of(&out, "users");
    assert_eq!(r["result"], "rolled-back", "{r:#}");
    assert_eq!(r["reason"], "rolled back to revision 2");
    assert_eq!(r["from"]["image"], v3.as_str());
    assert_eq!(r["to"]["image"], v2.as_str());
    assert_eq!(c.image_of("users"), v2);
    // `rollout undo` semantics: the revision is reused and renumbered, its change-cause back.
    assert_eq!(revision(&c, "users"), 4);
    let cause = c.deployment("users")["metadata"]["annotations"]["kubernetes.io/change-cause"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cause.ends_with(cluster::digest(&v2)), "{cause}");
    let d = c.deployment("users");
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(d["status"]["availableReplicas"], 2);

    let run = monoship(&c, &fleet, "rollback", &["users", "--to-revision", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "rolled-back");
    assert_eq!(c.image_of("users"), v1);

    // Already there: nothing to do.
    let run = monoship(&c, &fleet, "rollback", &["users", "--to-revision", "5"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result_of(&run.json(), "users")["result"], "unchanged");

    let run = monoship(&c, &fleet, "rollback", &["users", "--to-revision", "2"]);
    let line = run.usage_error();
    assert!(line.contains("revision 2 is not in the history"), "{line}");
}

#[test]
fn rollback_refuses_a_paused_deployment() {
    let c = Cluster::new("rb-paused");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let run = monoship(
        &c,
        &fleet,
        "deploy",
        &["--image", &format!("users={}", image("fleet", "users", 2))],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    c.kubectl_ok(&["rollout", "pause", "deployment/users"]);
    let generation = c.generation("users");
    let run = monoship(&c, &fleet, "rollback", &["users"]);
    let line = run.usage_error();
    assert!(line.contains("paused"), "{line}");
    assert_eq!(c.generation("users"), generation);
    assert_eq!(c.image_of("users"), image("fleet", "users", 2));
}

#[test]
fn rollback_with_nothing_to_go_back_to() {
    let c = Cluster::new("rb-none");
    let fleet = Fleet::new();
    c.create_deployment("users", &image("fleet", "users", 1), FAST_PROBE);
    let run = monoship(&c, &fleet, "rollback", &["users"]);
    let line = run.usage_error();
    assert!(line.contains("no previous revision"), "{line}");
}

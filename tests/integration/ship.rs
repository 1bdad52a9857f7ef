//! `monoship ship` end to end against the test environment (scripts/testenv/up): the example
//! fleet in a git repository, its Deployments made from `monoship generate k8s`, a real
//! registry and cluster. One test function runs the scenarios in sequence on one fleet, so the
//! release builds stay few.

use crate::support::cluster::{image, Cluster, FAST_PROBE};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of};
use crate::support::testenv;
use serde_json::Value;
use std::collections::BTreeSet;

fn names(out: &Value) -> BTreeSet<String> {
    out["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["service"].as_str().unwrap().to_string())
        .collect()
}

fn affected(fleet: &Fleet, base: &str) -> BTreeSet<String> {
    fleet.affected(&["--base", base])["affected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["service"].as_str().unwrap().to_string())
        .collect()
}

const EVENTS: &str = "crates/events/src/lib.rs";

#[test]
fn ship_builds_pushes_and_rolls_out_only_what_changed() {
    let c = Cluster::new("ship");
    let fleet = Fleet::new();
    let registry = format!(
        "{}/ship-{}",
        testenv::env("MONOSHIP_TEST_REGISTRY"),
        testenv::unique()
    );
    let ship = |base: &str| {
        monoship(
            &c,
            &fleet,
            "ship",
            &["--base", base, "--registry", &registry, "--insecure"],
        )
    };

    // Nothing changed: nothing is built.
    let run = ship("main");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["services"], serde_json::json!([]));

    // The fleet's Deployments, as `monoship generate k8s` writes them (placeholder images).
    let k8s = fleet.path().join("../k8s");
    let gen = fleet.run(&["generate", "k8s", "--out", k8s.to_str().unwrap()]);
    assert_eq!(gen.code, 0, "{}", gen.stderr);
    c.kubectl_ok(&["apply", "-f", k8s.to_str().unwrap()]);

    // A change to a shared crate: only its dependents are built, pushed and rolled out.
    fleet.append(EVENTS, "\npub fn schema_version() -> u32 {\n    2\n}\n");
    let changed = fleet.commit("events: schema version");
    let expected = affected(&fleet, "main");
    assert!(expected.contains("audit") && !expected.contains("users"));
    let run = ship("main");
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    assert_eq!(names(&out), expected);
    for s in out["services"].as_array().unwrap() {
        let name = s["service"].as_str().unwrap();
        assert_eq!(s["result"], "deployed", "{s:#}");
        assert!(s["pushed_bytes"].as_u64().unwrap() > 0, "{s:#}");
        assert!(s["reason"].as_str().unwrap().contains("events"), "{s:#}");
        let digest = s["digest"].as_str().unwrap();
        let image = c.image_of(name);
        assert_eq!(image, format!("{registry}/{name}@{digest}"));
    }
    // The others were not touched.
    assert!(c.image_of("users").contains(":placeholder"));
    let generations: Vec<(String, i64)> = expected
        .iter()
        .map(|s| (s.clone(), c.generation(s)))
        .collect();

    // A comment reworded without moving anything, committed: identical binaries keep their
    // images, so nothing is rolled out.
    let before = fleet.read(EVENTS);
    fleet.replace(
        EVENTS,
        "/// How many published events the bus remembers.",
        "/// How many published events the bus memorises.",
    );
    fleet.commit("events: reword a comment");
    let run = ship("main");
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    assert_eq!(names(&out), expected);
    for s in out["services"].as_array().unwrap() {
        assert_eq!(s["result"], "unchanged", "{s:#}");
        assert_eq!(s["pushed_bytes"], 0, "{s:#}");
    }
    for (name, generation) in &generations {
        assert_eq!(c.generation(name), *generation, "{name} was changed");
    }
    fleet.write(EVENTS, &before);

    // A service whose image crash-loops (its name puts `crashloop` in the reference) is rolled
    // back; the other one deploys; exit code 1.
    let probe = "crashloop-probe";
    fleet.write(
        &format!("apps/{probe}/Cargo.toml"),
        &format!(
            "[package]\nname = \"{probe}\"\nversion.workspace = true\nedition.workspace = true\n\
             publish.workspace = true\nlicense.workspace = true\n\n[dependencies]\n"
        ),
    );
    fleet.write(&format!("apps/{probe}/src/main.rs"), "fn main() {}\n");
    fleet.relock();
    fleet.append("apps/email/src/main.rs", "\n// Deliveries are retried.\n");
    fleet.commit("a probe; email");
    let old = image("fleet", "probe", 1);
    c.create_deployment(probe, &old, FAST_PROBE);
    let run = monoship(
        &c,
        &fleet,
        "ship",
        &[
            "--base",
            &changed,
            "--registry",
            &registry,
            "--insecure",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    assert_eq!(
        names(&out),
        BTreeSet::from([probe.to_string(), "email".to_string()])
    );
    let p = result_of(&out, probe);
    assert_eq!(p["result"], "rolled-back", "{p:#}");
    assert!(p["report"].is_object(), "{p:#}");
    assert_eq!(result_of(&out, "email")["result"], "deployed");
    assert_eq!(c.image_of(probe), old);
    assert!(c
        .image_of("email")
        .starts_with(&format!("{registry}/email@sha256:")));

    // --since-deployed: each service's base is the revision recorded on its own Deployment.
    // email runs the head revision; the events users run the first shipped revision, and events
    // is back to that content (the reworded comment was reverted), so neither has anything to
    // ship; Deployments monoship never changed (the generated placeholders, the rolled-back
    // probe) are all selected.
    let run = monoship(
        &c,
        &fleet,
        "ship",
        &[
            "--since-deployed",
            "--dry-run",
            "--registry",
            &registry,
            "--insecure",
        ],
    );
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    let selected = names(&out);
    for svc in ["email", "orders", "webhooks"] {
        assert!(!selected.contains(svc), "{svc} selected: {out:#}");
    }
    for svc in ["gateway", "scheduler", probe] {
        assert!(selected.contains(svc), "{svc} missing: {out:#}");
        let reason = result_of(&out, svc)["reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            reason.contains("never deployed by monoship"),
            "{svc}: {reason}"
        );
    }
    // A dry run changes nothing.
    assert!(c
        .image_of("email")
        .starts_with(&format!("{registry}/email@sha256:")));
    assert_eq!(c.image_of(probe), old);
}

//! `monoship ship` end to end against the test environment (scripts/testenv/up): the example
//! fleet in a git repository, its Deployments made from `monoship generate k8s`, a real
//! registry and cluster. One test function runs the scenarios in sequence on one fleet, so the
//! release builds stay few.

use crate::support::cluster::{Cluster, FAST_PROBE, image};
use crate::support::fleet::Fleet;
use crate::support::rollout::{monoship, result_of};
use crate::support::run::Run;
use crate::support::snapshot::{self, Redact};
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
const PROBE: &str = "crashloop-probe";

/// The fleet, its namespace and a registry repository of its own.
struct Ship {
    c: Cluster,
    fleet: Fleet,
    registry: String,
    main: String,
}

impl Ship {
    fn new() -> Ship {
        let c = Cluster::new("ship");
        let fleet = Fleet::new();
        let registry = format!(
            "{}/ship-{}",
            testenv::env("MONOSHIP_TEST_REGISTRY"),
            testenv::unique()
        );
        let main = fleet.git(&["rev-parse", "main"]);
        Ship {
            c,
            fleet,
            registry,
            main,
        }
    }

    fn registry_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(["--registry", &self.registry, "--insecure"]);
        all
    }

    /// `monoship --format json ship ARGS --registry … --insecure`.
    fn json(&self, args: &[&str]) -> Run {
        monoship(&self.c, &self.fleet, "ship", &self.registry_args(args))
    }

    /// `monoship ship ARGS --registry … --insecure`: the table.
    fn human(&self, args: &[&str]) -> Run {
        let mut all = vec!["ship"];
        all.extend(self.registry_args(args));
        self.c.monoship(&self.fleet, &all)
    }

    /// The redactions of its tables: the namespace, the registry, revisions, the digests of
    /// the builds, sizes and durations.
    fn redact(&self) -> Redact {
        snapshot::redact()
            .text(&self.c.namespace, "[NS]")
            .text(&self.registry, "[REGISTRY]")
            .revision(&self.main, "[MAIN]")
            .revision(&self.fleet.git(&["rev-parse", "HEAD"]), "[HEAD]")
            .digests()
            .sizes()
            .columns()
    }
}

#[test]
fn ship_builds_pushes_and_rolls_out_only_what_changed() {
    let s = Ship::new();
    nothing_changed_ships_nothing(&s);
    let (changed, expected) = a_shared_crate_change_ships_its_dependents(&s);
    identical_binaries_keep_their_images(&s, &expected);
    a_crash_loop_is_rolled_back(&s, &changed);
    since_deployed_selects_by_the_recorded_revisions(&s);
}

/// Nothing changed: nothing is built.
fn nothing_changed_ships_nothing(s: &Ship) {
    let run = s.human(&["--base", "main"]);
    let _redacted = s.redact().scope();
    insta::assert_snapshot!("nothing_changed", run.ok().stdout);
}

/// A change to a shared crate: only its dependents are built, pushed and rolled out (onto the
/// fleet's Deployments as `monoship generate k8s` writes them, with placeholder images). The
/// commit of the change, and the services it affects.
fn a_shared_crate_change_ships_its_dependents(s: &Ship) -> (String, BTreeSet<String>) {
    let (c, fleet) = (&s.c, &s.fleet);
    let k8s = fleet.path().join("../k8s");
    fleet
        .run(&["generate", "k8s", "--out", k8s.to_str().unwrap()])
        .ok();
    c.kubectl_ok(&["apply", "-f", k8s.to_str().unwrap()]);

    fleet.append(EVENTS, "\npub fn schema_version() -> u32 {\n    2\n}\n");
    let changed = fleet.commit("events: schema version");
    let expected = affected(fleet, "main");
    assert!(expected.contains("audit") && !expected.contains("users"));
    let run = s.json(&["--base", "main"]);
    let out = run.ok().json();
    assert_eq!(names(&out), expected);
    for r in out["services"].as_array().unwrap() {
        let name = r["service"].as_str().unwrap();
        assert_eq!(r["result"], "deployed", "{r:#}");
        assert!(r["pushed_bytes"].as_u64().unwrap() > 0, "{r:#}");
        assert!(r["reason"].as_str().unwrap().contains("events"), "{r:#}");
        let digest = r["digest"].as_str().unwrap();
        let image = c.image_of(name);
        assert_eq!(image, format!("{}/{name}@{digest}", s.registry));
    }
    // The others were not touched.
    assert!(c.image_of("users").contains(":placeholder"));
    (changed, expected)
}

/// A comment reworded without moving anything, committed: identical binaries keep their
/// images, so nothing is pushed or rolled out. The crate is put back afterwards (uncommitted).
fn identical_binaries_keep_their_images(s: &Ship, expected: &BTreeSet<String>) {
    let (c, fleet) = (&s.c, &s.fleet);
    let generations: Vec<(String, i64)> = expected
        .iter()
        .map(|name| (name.clone(), c.generation(name)))
        .collect();
    let before = fleet.read(EVENTS);
    fleet.replace(
        EVENTS,
        "/// How many published events the bus remembers.",
        "/// How many published events the bus memorises.",
    );
    fleet.commit("events: reword a comment");
    // Every service `expected` holds, unchanged, 0 B pushed.
    let run = s.human(&["--base", "main"]);
    let _redacted = s.redact().scope();
    insta::assert_snapshot!("unchanged", run.ok().stdout);
    for (name, generation) in &generations {
        assert_eq!(c.generation(name), *generation, "{name} was changed");
    }
    fleet.write(EVENTS, &before);
}

/// A service whose image crash-loops (its name puts `crashloop` in the reference) is rolled
/// back; the other one deploys; exit code 1.
fn a_crash_loop_is_rolled_back(s: &Ship, changed: &str) {
    let (c, fleet) = (&s.c, &s.fleet);
    fleet.write(
        &format!("apps/{PROBE}/Cargo.toml"),
        &format!(
            "[package]\nname = \"{PROBE}\"\nversion.workspace = true\nedition.workspace = true\n\
             publish.workspace = true\nlicense.workspace = true\n\n[dependencies]\n"
        ),
    );
    fleet.write(&format!("apps/{PROBE}/src/main.rs"), "fn main() {}\n");
    fleet.relock();
    fleet.append("apps/email/src/main.rs", "\n// Deliveries are retried.\n");
    fleet.commit("a probe; email");
    let old = image("fleet", "probe", 1);
    c.create_deployment(PROBE, &old, FAST_PROBE);
    let run = s.json(&["--base", changed, "--timeout", "60s"]);
    assert_eq!(
        run.code, 4,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let out = run.json();
    assert_eq!(
        names(&out),
        BTreeSet::from([PROBE.to_string(), "email".to_string()])
    );
    let p = result_of(&out, PROBE);
    assert_eq!(p["result"], "rolled-back", "{p:#}");
    assert!(p["report"].is_object(), "{p:#}");
    assert_eq!(result_of(&out, "email")["result"], "deployed");
    assert_eq!(c.image_of(PROBE), old);
    let email = format!("{}/email@sha256:", s.registry);
    assert!(c.image_of("email").starts_with(&email));
}

/// --since-deployed: each service's base is the revision recorded on its own Deployment.
/// email runs the head revision; the events users run the first shipped revision, and events is
/// back to that content (the reworded comment was reverted), so neither has anything to ship;
/// Deployments monoship never changed (the generated placeholders, the rolled-back probe) are
/// all selected. A dry run: the table and the changes it would make, and nothing changed.
fn since_deployed_selects_by_the_recorded_revisions(s: &Ship) {
    let run = s.human(&["--since-deployed", "--dry-run"]);
    let _redacted = s.redact().scope();
    insta::assert_snapshot!("since_deployed_dry_run", run.ok().stdout);
    let email = format!("{}/email@sha256:", s.registry);
    assert!(s.c.image_of("email").starts_with(&email));
    assert_eq!(s.c.image_of(PROBE), image("fleet", "probe", 1));
}

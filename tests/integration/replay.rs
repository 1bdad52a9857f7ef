//! A scripted history replayed on a copy of `examples/market`: each commit a realistic change,
//! each with the answer `affected --base HEAD~1` should give (the services whose binary or
//! image the change alters), compared with what monoship says. Run twice: with the workspace's
//! table as committed (no `ignore` for the root's side files), and after `monoship init
//! --force` has written its proposal. Each run's tally (correct / over / missed / fail-closed)
//! is asserted and printed.

use crate::support::fleet::{Fleet, names};
use crate::support::market::{self, ALL};
use serde_json::Value;

/// What a commit should affect.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exactly these services (sorted), and nothing failed closed.
    Exactly(&'static [&'static str]),
    /// Every service, failed closed, for the reason given.
    FailClosed(&'static str),
}
use Expect::{Exactly, FailClosed};

/// One commit of the history: what it is, the change, and its answer.
struct Step {
    what: &'static str,
    edit: fn(&Fleet),
    expect: Expect,
}

const NONE: Expect = Exactly(&[]);
const EVERY: Expect = Exactly(ALL);
const PRICING: Expect = Exactly(&["repricer", "storefront"]);
const JOBS: Expect = Exactly(&["indexer", "mailer"]);
const GATEWAY: Expect = Exactly(&["gateway"]);

/// The history, in order (each step's edit applies to the state the steps before left).
const HISTORY: &[Step] = &[
    Step {
        what: "gateway's own source",
        edit: |f| f.replace(GATEWAY_MAIN, "listening on", "serving on"),
        expect: GATEWAY,
    },
    Step {
        what: "the library every service uses",
        edit: |f| {
            f.append(
                "libs/core/src/lib.rs",
                "\n/// The market.\npub const NAME: &str = \"market\";\n",
            )
        },
        expect: EVERY,
    },
    Step {
        what: "the surge table, compiled in only with the repricer's feature",
        edit: |f| f.append(SURGE_CONF, "22 1.3\n"),
        expect: Exactly(&["repricer"]),
    },
    Step {
        what: "the catalogue, embedded by catalog_data and by search_index",
        edit: |f| f.append(PRODUCTS, "p4,spoon,199\n"),
        expect: Exactly(&["indexer", "mailer", "storefront"]),
    },
    Step {
        what: "the config the gateway's Dockerfile copies into its image",
        edit: |f| f.append("config/gateway.toml", "\"/search\" = \"storefront:8081\"\n"),
        expect: GATEWAY,
    },
    Step {
        what: "the gateway's Dockerfile",
        edit: |f| {
            f.replace(
                GATEWAY_DOCKERFILE,
                "USER 65532\n",
                "USER 65532\nEXPOSE 8080\n",
            )
        },
        expect: GATEWAY,
    },
    Step {
        what: "CI configuration",
        edit: |f| f.append(".gitlab-ci.yml", "  when: manual\n"),
        expect: NONE,
    },
    Step {
        what: "the Python load generator",
        edit: |f| f.replace(LOADGEN, "n=10", "n=100"),
        expect: NONE,
    },
    Step {
        what: "the Python tool's lockfile",
        edit: |f| {
            f.replace(
                "tools/loadgen/poetry.lock",
                "content-hash = \"0",
                "content-hash = \"1",
            )
        },
        expect: NONE,
    },
    Step {
        what: "the Python tool's project file",
        edit: |f| f.replace("tools/loadgen/pyproject.toml", "^3.11", "^3.12"),
        expect: NONE,
    },
    Step {
        what: "the web frontend's code",
        edit: |f| f.replace("web/src/app.js", "\"tea\"", "\"mug\""),
        expect: NONE,
    },
    Step {
        what: "the web frontend's package.json",
        edit: |f| f.replace("web/package.json", "0.1.0", "0.2.0"),
        expect: NONE,
    },
    Step {
        what: "a note in docs/",
        edit: |f| f.append("docs/runbook.txt", "Reprice now: restart the repricer.\n"),
        expect: NONE,
    },
    Step {
        what: "the workspace's README",
        edit: |f| f.append("README.md", "\nSee docs/ for the runbook.\n"),
        expect: NONE,
    },
    Step {
        what: "a service's README",
        edit: |f| f.append("services/api/gateway/README.md", "\nIt listens on 8080.\n"),
        expect: NONE,
    },
    Step {
        what: "the library of the package with two services",
        edit: |f| f.replace(JOBS_LIB, "market.{worker}", "market.jobs.{worker}"),
        expect: JOBS,
    },
    Step {
        what: "one binary of the package with two services",
        edit: |f| f.replace(INDEXER, "indexed {}", "indexed: {}"),
        expect: Exactly(&["indexer"]),
    },
    Step {
        what: "user_profile's source (service user-profile)",
        edit: |f| f.replace(USER_PROFILE_MAIN, "listening on", "serving profiles on"),
        expect: Exactly(&["user-profile"]),
    },
    Step {
        what: "the pricing library",
        edit: |f| f.replace(PRICING_LIB, "percent.min(100)", "percent.min(90)"),
        expect: PRICING,
    },
    Step {
        what: "a new module in the pricing library",
        edit: |f| {
            f.write(
                "libs/pricing/src/tiers.rs",
                "pub const TIERS: [u64; 2] = [10, 20];\n",
            );
            f.append(PRICING_LIB, "\npub mod tiers;\n");
        },
        expect: PRICING,
    },
    Step {
        what: "user_profile gains a dependency (manifest and Cargo.lock)",
        edit: |f| {
            f.append(USER_PROFILE_MANIFEST, "pricing.workspace = true\n");
            f.relock();
        },
        expect: Exactly(&["user-profile"]),
    },
    Step {
        what: "catalog_data's version (manifest and Cargo.lock)",
        edit: |f| {
            f.replace(
                CATALOG_MANIFEST,
                "version.workspace = true",
                "version = \"0.2.0\"",
            );
            f.relock();
        },
        expect: JOBS,
    },
    Step {
        what: "the repricer's features: a new one, enabled for the service",
        edit: |f| {
            f.replace(
                REPRICER_MANIFEST,
                "surge = [\"pricing/surge\"]\n",
                "surge = [\"pricing/surge\"]\naudit = []\n",
            );
            f.replace(
                REPRICER_MANIFEST,
                "features = [\"surge\"]",
                "features = [\"surge\", \"audit\"]",
            );
        },
        expect: Exactly(&["repricer"]),
    },
    Step {
        what: "the release profile",
        edit: |f| f.replace("Cargo.toml", "opt-level = 2", "opt-level = 3"),
        expect: EVERY,
    },
    Step {
        what: "a dev-dependency of the storefront (manifest and Cargo.lock)",
        edit: |f| {
            f.append(
                STOREFRONT_MANIFEST,
                "\n[dev-dependencies]\ncatalog_data.workspace = true\n",
            );
            f.relock();
        },
        expect: NONE,
    },
    Step {
        what: "a test of the core library",
        edit: |f| {
            f.replace(
                "libs/core/tests/port.rs",
                "port(8080), 8080",
                "port(8081), 8081",
            )
        },
        expect: NONE,
    },
    Step {
        what: "the surge_rules library's source",
        edit: |f| {
            f.append(
                "libs/surge_rules/src/lib.rs",
                "\n/// Lines of the table.\npub fn len() -> usize { RULES.lines().count() }\n",
            )
        },
        expect: Exactly(&["repricer"]),
    },
    Step {
        what: "the search index",
        edit: |f| {
            f.replace(
                "libs/search_index/src/lib.rs",
                "name.contains(term)",
                "name.starts_with(term)",
            )
        },
        expect: Exactly(&["storefront"]),
    },
    Step {
        what: "the root .dockerignore",
        edit: |f| f.append(".dockerignore", "web\n"),
        expect: FailClosed(
            "the context filter of every Docker build from the root (Dockerfile.monoship and \
             the gateway's): what any image copies may change",
        ),
    },
];

const GATEWAY_MAIN: &str = "services/api/gateway/src/main.rs";
const GATEWAY_DOCKERFILE: &str = "services/api/gateway/Dockerfile";
const USER_PROFILE_MAIN: &str = "services/api/user_profile/src/main.rs";
const USER_PROFILE_MANIFEST: &str = "services/api/user_profile/Cargo.toml";
const STOREFRONT_MANIFEST: &str = "services/api/storefront/Cargo.toml";
const JOBS_LIB: &str = "services/workers/jobs/src/lib.rs";
const INDEXER: &str = "services/workers/jobs/src/bin/indexer.rs";
const REPRICER_MANIFEST: &str = "services/workers/repricer/Cargo.toml";
const PRICING_LIB: &str = "libs/pricing/src/lib.rs";
const CATALOG_MANIFEST: &str = "libs/catalog_data/Cargo.toml";
pub const SURGE_CONF: &str = "libs/surge_rules/data/rules.conf";
pub const PRODUCTS: &str = "libs/catalog_data/data/products.csv";
const LOADGEN: &str = "tools/loadgen/loadgen/main.py";

/// How one answer compares with its expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Correct,
    /// Every expected service and more.
    Over,
    /// An expected service is not reported (or nothing failed closed where it should).
    Missed,
    /// Failed closed where a set was expected.
    FailedClosed,
}

/// The verdicts of one run, counted.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    correct: usize,
    over: usize,
    missed: usize,
    fail_closed: usize,
}

fn verdict(expect: Expect, report: &Value) -> Verdict {
    let got = names(report);
    match (expect, report["fail_closed"].is_string()) {
        (FailClosed(_), true) => Verdict::Correct,
        (FailClosed(_), false) => Verdict::Missed,
        (Exactly(_), true) => Verdict::FailedClosed,
        (Exactly(want), false) if got == want => Verdict::Correct,
        (Exactly(want), false) if want.iter().all(|w| got.iter().any(|g| g == w)) => Verdict::Over,
        (Exactly(_), false) => Verdict::Missed,
    }
}

/// Replay [`HISTORY`] on `f`, one commit per step; each step's verdict and what monoship said.
fn replay(f: &Fleet, run: &str) -> (Tally, Vec<(usize, Verdict)>) {
    let mut tally = Tally::default();
    let mut verdicts = Vec::new();
    for (i, step) in HISTORY.iter().enumerate() {
        (step.edit)(f);
        f.commit(step.what);
        let report = f.affected(&["--base", "HEAD~1"]);
        let v = verdict(step.expect, &report);
        if let (Verdict::Correct, FailClosed(why)) = (v, step.expect) {
            eprintln!(
                "replay {run} #{}: {}: fails closed ({why})",
                i + 1,
                step.what
            );
        } else if v != Verdict::Correct {
            eprintln!(
                "replay {run} #{}: {}: expected {:?}, got {:?} (fail_closed: {})",
                i + 1,
                step.what,
                step.expect,
                names(&report),
                report["fail_closed"]
            );
        }
        match v {
            Verdict::Correct => tally.correct += 1,
            Verdict::Over => tally.over += 1,
            Verdict::Missed => tally.missed += 1,
            Verdict::FailedClosed => tally.fail_closed += 1,
        }
        verdicts.push((i + 1, v));
    }
    eprintln!(
        "replay {run}: {} commits: {} correct, {} over, {} missed, {} fail-closed",
        HISTORY.len(),
        tally.correct,
        tally.over,
        tally.missed,
        tally.fail_closed
    );
    (tally, verdicts)
}

/// The steps (1-based) whose verdict is `v`.
fn steps(verdicts: &[(usize, Verdict)], v: Verdict) -> Vec<usize> {
    verdicts
        .iter()
        .filter(|(_, x)| *x == v)
        .map(|(i, _)| *i)
        .collect()
}

#[test]
fn history_is_long_enough_and_its_answers_name_real_services() {
    assert!(HISTORY.len() >= 20);
    for step in HISTORY {
        if let Exactly(want) = step.expect {
            assert!(want.iter().all(|w| ALL.contains(w)), "{}", step.what);
            assert!(want.is_sorted(), "{}", step.what);
        }
    }
}

#[test]
fn replay_with_the_table_as_committed() {
    let f = market::repository();
    let (tally, verdicts) = replay(&f, "as committed");
    // The root's side files (CI, the Python tool, web) fail closed without `ignore` globs.
    assert_eq!(steps(&verdicts, Verdict::FailedClosed), SIDE_FILES);
    assert_eq!(steps(&verdicts, Verdict::Over), OVER);
    assert_eq!(steps(&verdicts, Verdict::Missed), Vec::<usize>::new());
    assert_eq!(
        tally,
        Tally {
            correct: HISTORY.len() - SIDE_FILES.len() - OVER.len(),
            over: OVER.len(),
            missed: 0,
            fail_closed: SIDE_FILES.len(),
        }
    );
}

#[test]
fn replay_after_the_proposal_of_init() {
    let f = market::repository();
    f.run(&["init", "--force"]).ok();
    f.commit("monoship init --force");
    let (tally, verdicts) = replay(&f, "after init");
    // Nothing fails closed where a set of services is expected; the .dockerignore commit fails
    // closed as the history says it should.
    assert_eq!(steps(&verdicts, Verdict::FailedClosed), Vec::<usize>::new());
    assert_eq!(steps(&verdicts, Verdict::Over), OVER);
    assert_eq!(steps(&verdicts, Verdict::Missed), Vec::<usize>::new());
    assert_eq!(
        tally,
        Tally {
            correct: HISTORY.len() - OVER.len(),
            over: OVER.len(),
            missed: 0,
            fail_closed: 0,
        }
    );
}

/// The steps that change the root's side files no rule takes without configuration.
const SIDE_FILES: &[usize] = &[7, 8, 9, 10, 11, 12];

/// The steps monoship over-reports.
const OVER: &[usize] = &[17];

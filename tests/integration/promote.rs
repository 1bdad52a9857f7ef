//! `monoship promote FROM TO`: two environments as two namespaces and two kubeconfig contexts
//! of the test cluster, the plain registry as staging's and the basic-auth registry as
//! production's. Production runs the digests that ran in staging, copied blob by blob; a
//! crash-looping service is refused; a second promotion changes nothing; bad input changes
//! nothing.

use crate::support::cluster::{self, Cluster, FAST_PROBE};
use crate::support::fleet::Fleet;
use crate::support::registry::{build, skopeo_inspect, unique_prefix};
use crate::support::run::{Monoship, Run};
use crate::support::testenv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// The test kubeconfig with contexts `staging` and `production` (its cluster and user, each
/// with its namespace).
fn two_contexts(dir: &Path, staging: &str, production: &str) -> PathBuf {
    let source = testenv::env("MONOSHIP_TEST_KUBECONFIG");
    let kubectl = testenv::env("MONOSHIP_TEST_KUBECTL");
    let path = dir.join("kubeconfig");
    std::fs::copy(&source, &path).unwrap();
    let kc = |args: &[&str]| {
        testenv::run_ok(
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&path)
                .args(["config"])
                .args(args),
        )
    };
    let cluster = kc(&[
        "view",
        "--minify",
        "-o",
        "jsonpath={.contexts[0].context.cluster}",
    ]);
    let user = kc(&[
        "view",
        "--minify",
        "-o",
        "jsonpath={.contexts[0].context.user}",
    ]);
    for (name, ns) in [("staging", staging), ("production", production)] {
        kc(&[
            "set-context",
            name,
            &format!("--cluster={}", cluster.trim()),
            &format!("--user={}", user.trim()),
            &format!("--namespace={ns}"),
        ]);
    }
    path
}

struct Setup {
    fleet: Fleet,
    /// Held for its namespace (deleted when dropped).
    _staging: Cluster,
    production: Cluster,
    kubeconfig: PathBuf,
    /// `host/prefix` of each environment's images.
    staging_registry: String,
    production_registry: String,
    _dir: TempDir,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let staging = Cluster::new(&format!("{name}-stg"));
        let production = Cluster::new(&format!("{name}-prd"));
        let dir = TempDir::new().unwrap();
        let kubeconfig = two_contexts(dir.path(), &staging.namespace, &production.namespace);
        let prefix = unique_prefix(name);
        let staging_registry = format!("{}/{prefix}-stg", testenv::env("MONOSHIP_TEST_REGISTRY"));
        let production_registry = format!(
            "{}/{prefix}-prd",
            testenv::env("MONOSHIP_TEST_REGISTRY_AUTH")
        );
        let environments = format!(
            "\n[workspace.metadata.monoship.environments.staging]\ncontext = \"staging\"\n\
             namespace = \"{}\"\nregistry = \"{staging_registry}\"\n\n\
             [workspace.metadata.monoship.environments.production]\ncontext = \"production\"\n\
             namespace = \"{}\"\nregistry = \"{production_registry}\"\npromote-from = \"staging\"\n\n\
             [workspace.metadata.monoship.environments.qa]\ncontext = \"staging\"\n\
             namespace = \"{}\"\nregistry = \"{staging_registry}\"\n\n\
             [workspace.metadata.monoship.environments.broken]\ncontext = \"production\"\n\
             namespace = \"{}\"\nregistry = \"127.0.0.1:9/nothing-listens\"\n\n\
             [workspace.metadata.monoship.environments.lost]\ncontext = \"no-such-context\"\n",
            staging.namespace, production.namespace, staging.namespace, production.namespace
        );
        let fleet = Fleet::new_with(|f| f.append("Cargo.toml", &environments));
        for c in [&staging, &production] {
            for s in ["gateway", "search"] {
                c.create_deployment(s, &cluster::image("fleet", s, 1), FAST_PROBE);
            }
        }
        Setup {
            fleet,
            _staging: staging,
            production,
            kubeconfig,
            staging_registry,
            production_registry,
            _dir: dir,
        }
    }

    /// `monoship ARGS --kubeconfig K`.
    fn kube(&self, args: &[&str]) -> Monoship {
        self.monoship(args)
            .args(["--kubeconfig", self.kubeconfig.to_str().unwrap()])
    }

    /// `monoship ARGS`, with the auth registry's credentials in the environment.
    fn monoship(&self, args: &[&str]) -> Monoship {
        self.fleet
            .monoship()
            .args(args)
            .env_remove("MONOSHIP_ENV")
            .env(
                "MONOSHIP_REGISTRY_USER",
                testenv::env("MONOSHIP_TEST_REGISTRY_USER"),
            )
            .env(
                "MONOSHIP_REGISTRY_PASSWORD",
                testenv::env("MONOSHIP_TEST_REGISTRY_PASSWORD"),
            )
    }

    /// The workspace's HEAD commit.
    fn head(&self) -> String {
        self.fleet.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn promote(&self, args: &[&str]) -> Run {
        let mut all = vec!["--format", "json", "promote"];
        all.extend_from_slice(args);
        all.push("--insecure");
        self.kube(&all).run()
    }
}

fn row<'a>(rows: &'a Value, service: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == service)
        .unwrap_or_else(|| panic!("{service} not in {rows:#}"))
}

fn annotations(c: &Cluster, name: &str) -> Value {
    c.deployment(name)["spec"]["template"]["metadata"]["annotations"].clone()
}

/// Ship `gateway` to staging (published to staging's registry, deployed there) and `search`
/// as a crash-looping image (`--no-rollback`: it stays failing).
fn staging_runs_gateway_and_a_crash_looping_search(s: &Setup) {
    let out = build().output_copy();
    let out = out.path().to_str().unwrap();
    s.monoship(&[
        "--env",
        "staging",
        "publish",
        "gateway",
        "--insecure",
        "--from",
        out,
    ])
    .run()
    .ok();
    // By --image: the revision recorded is the workspace's HEAD.
    let image = format!(
        "gateway={}/gateway@{}",
        s.staging_registry,
        build().digest("gateway")
    );
    s.kube(&["--env", "staging", "deploy", "--image", &image])
        .run()
        .ok();
    let bad = build().output_copy();
    let bad = bad.path().to_str().unwrap();
    let crashing = format!("{}-crashloop", s.staging_registry);
    s.monoship(&[
        "publish",
        "search",
        "--insecure",
        "--registry",
        &crashing,
        "--from",
        bad,
    ])
    .run()
    .ok();
    let run = s
        .kube(&["--env", "staging", "deploy", "search", "--from-build", bad])
        .args(["--no-rollback", "--timeout", "60s"])
        .run();
    assert_eq!(run.code, 5, "{}", run.all_output());
}

/// A change to `gateway`, shipped to staging (`ship --env staging`: built, pushed to
/// staging's registry, deployed in staging's namespace): its image digest.
fn ship_gateway_to_staging(s: &Setup) -> String {
    s.fleet.append("apps/gateway/src/main.rs", "\n// staged\n");
    s.fleet.commit("gateway: a change");
    let run = s
        .kube(&[
            "--format", "json", "--env", "staging", "ship", "--base", "HEAD~1",
        ])
        .arg("--insecure")
        .run();
    let report = run.ok().json();
    let gateway = row(&report["services"], "gateway");
    assert_eq!(gateway["result"], "deployed", "{report:#}");
    assert_eq!(
        report["services"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    gateway["digest"].as_str().unwrap().to_string()
}

#[test]
fn promote_ships_the_digests_that_ran_in_staging_and_refuses_what_failed_there() {
    let s = Setup::new("promote");
    staging_runs_gateway_and_a_crash_looping_search(&s);
    let digest = ship_gateway_to_staging(&s);

    let run = s.promote(&["staging", "production"]);
    assert_eq!(run.code, 8, "{}", run.all_output());
    let report = run.json();
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some("staging"), Some("production"))
    );
    let gateway = row(&report["promoted"], "gateway");
    assert_eq!(gateway["digest"], digest.as_str(), "{report:#}");
    assert_eq!(gateway["deploy"]["result"], "deployed", "{report:#}");
    let target = format!("{}/gateway@{digest}", s.production_registry);
    assert_eq!(gateway["target_image"], target.as_str());
    // Between two registries every blob is copied once, none mounted, the tag pushed last.
    let copied = &gateway["copy"];
    assert!(copied["copied"].as_u64().unwrap() >= 2, "{copied}");
    assert_eq!(
        (copied["mounted"].as_u64(), copied["present"].as_u64()),
        (Some(0), Some(0))
    );
    let search = row(&report["refused"], "search");
    assert_eq!(search["state"], "failed", "{report:#}");
    assert!(
        search["reason"]
            .as_str()
            .unwrap()
            .starts_with("failing in staging"),
        "{report:#}"
    );
    // A service no Deployment of staging runs is refused as missing.
    let users = row(&report["refused"], "users");
    assert!(
        users["reason"]
            .as_str()
            .unwrap()
            .starts_with("missing in staging"),
        "{users}"
    );

    // Production runs the same digest, from its own registry, recorded as promoted.
    assert_eq!(s.production.image_of("gateway"), target);
    let recorded = annotations(&s.production, "gateway");
    let from: Value =
        serde_json::from_str(recorded["monoship.dev/promoted-from"].as_str().unwrap()).unwrap();
    assert_eq!(from["environment"], "staging");
    assert_eq!(from["digest"], digest.as_str());
    assert_eq!(recorded["monoship.dev/digest"], digest.as_str());
    let creds = format!(
        "{}:{}",
        testenv::env("MONOSHIP_TEST_REGISTRY_USER"),
        testenv::env("MONOSHIP_TEST_REGISTRY_PASSWORD")
    );
    let tag = format!("{}/gateway:{}", s.production_registry, &s.head()[..12]);
    assert_eq!(
        skopeo_inspect(&tag, Some(&creds)).unwrap()["Digest"],
        digest.as_str()
    );
    // search was not touched in production.
    assert_eq!(
        s.production.image_of("search"),
        cluster::image("fleet", "search", 1)
    );

    // Again: nothing to copy, nothing to change.
    let generation = s.production.generation("gateway");
    let again = s.promote(&["staging", "production", "gateway"]);
    let report = again.ok().json();
    let gateway = row(&report["promoted"], "gateway");
    assert_eq!(gateway["deploy"]["result"], "unchanged", "{report:#}");
    assert_eq!(gateway["copy"]["copied"], 0, "{report:#}");
    assert_eq!(
        gateway["copy"]["tagged"],
        serde_json::json!([]),
        "{report:#}"
    );
    assert!(
        gateway["copy"]["present"].as_u64().unwrap() >= 2,
        "{report:#}"
    );
    assert_eq!(s.production.generation("gateway"), generation);

    // Named, a failing service is refused and nothing else is done.
    let run = s.promote(&["staging", "production", "search"]);
    assert_eq!(run.code, 8, "{}", run.all_output());
    assert_eq!(run.json()["promoted"], serde_json::json!([]));

    drift_after_a_new_deploy_to_staging(&s, &digest);
}

/// Two commits later staging runs another gateway: `status --env staging,production` shows
/// it differs, two commits behind in production; search differs (failing in staging).
fn drift_after_a_new_deploy_to_staging(s: &Setup, digest: &str) {
    let status = || {
        s.kube(&["--format", "json", "--env", "staging,production", "status"])
            .args(["gateway", "search"])
            .run()
    };
    let report = status().ok().json();
    let gateway = row(&report["services"], "gateway");
    assert_eq!(gateway["same"], true, "{report:#}");
    assert_eq!(gateway["behind"][0]["commits"], 0, "{report:#}");
    assert_eq!(
        row(&report["services"], "search")["same"],
        false,
        "{report:#}"
    );

    for n in 1..=2 {
        s.fleet.write(&format!("docs/note-{n}.md"), "a note\n");
        s.fleet.commit(&format!("note {n}"));
    }
    let newer = format!(
        "gateway={}/gateway@{}",
        s.staging_registry,
        build().digest("search")
    );
    s.kube(&["--env", "staging", "deploy", "--image", &newer])
        .run()
        .ok();
    let report = status().ok().json();
    assert_eq!(
        report["environments"],
        serde_json::json!(["staging", "production"])
    );
    let gateway = row(&report["services"], "gateway");
    assert_eq!(gateway["same"], false, "{report:#}");
    assert_eq!(gateway["behind"][0]["environment"], "production");
    assert_eq!(gateway["behind"][0]["commits"], 2, "{report:#}");
    assert_eq!(gateway["environments"][1]["digest"], digest, "{report:#}");
    assert_eq!(
        gateway["environments"][0]["revision"],
        s.head().as_str(),
        "{report:#}"
    );

    let table = s
        .kube(&["--env", "staging,production", "status", "gateway", "search"])
        .run();
    let out = &table.ok().stdout;
    assert!(out.contains("PRODUCTION BEHIND"), "{out}");
    assert!(
        out.contains("2 of 2 service(s) differ between staging and production"),
        "{out}"
    );
}

#[test]
fn promote_refuses_bad_input_before_changing_anything() {
    let s = Setup::new("promote-bad");
    staging_runs_gateway_and_a_crash_looping_search(&s);
    let before = s.production.image_of("gateway");

    // production takes images only from staging.
    let err = s
        .promote(&["qa", "production", "gateway"])
        .usage_error()
        .to_string();
    assert!(
        err.contains("environment `production` is promoted only from `staging`"),
        "{err}"
    );
    // An unknown environment names the known ones.
    let err = s
        .promote(&["staging", "prod", "gateway"])
        .usage_error()
        .to_string();
    assert!(err.contains("unknown environment `prod`"), "{err}");
    // A context the kubeconfig lacks.
    let err = s
        .promote(&["lost", "production", "gateway"])
        .usage_error()
        .to_string();
    assert!(err.contains("no-such-context"), "{err}");
    // TO's registry unreachable: exit 6, nothing deployed.
    let run = s.promote(&["staging", "broken", "gateway"]);
    assert_eq!(run.code, 6, "{}", run.all_output());
    assert!(run.error_line().contains("127.0.0.1:9"), "{}", run.stderr);
    assert_eq!(s.production.image_of("gateway"), before);

    // A dry run copies nothing and changes nothing.
    let run = s
        .kube(&[
            "--format",
            "json",
            "promote",
            "staging",
            "production",
            "gateway",
        ])
        .args(["--insecure", "--dry-run"])
        .run();
    let report = run.ok().json();
    let gateway = row(&report["promoted"], "gateway");
    assert_eq!(gateway["deploy"]["result"], "would-deploy", "{report:#}");
    assert!(
        gateway["copy"]["copied"].as_u64().unwrap() >= 2,
        "{report:#}"
    );
    assert_eq!(s.production.image_of("gateway"), before);
    let tag = format!("{}/gateway:{}", s.production_registry, &s.head()[..12]);
    let creds = format!(
        "{}:{}",
        testenv::env("MONOSHIP_TEST_REGISTRY_USER"),
        testenv::env("MONOSHIP_TEST_REGISTRY_PASSWORD")
    );
    assert!(
        skopeo_inspect(&tag, Some(&creds)).is_err(),
        "the dry run pushed {tag}"
    );
}

#[test]
fn a_blob_one_promoted_image_brought_is_mounted_for_the_next() {
    let s = Setup::new("promote-mount");
    let out = build().output_copy();
    let out = out.path().to_str().unwrap();
    s.monoship(&["--env", "staging", "publish", "--insecure", "--from", out])
        .run()
        .ok();
    let image = |svc: &str| format!("{svc}={}/{svc}@{}", s.staging_registry, build().digest(svc));
    s.kube(&["--env", "staging", "deploy"])
        .args(["--image", &image("gateway"), "--image", &image("search")])
        .run()
        .ok();
    let run = s.promote(&["staging", "production", "gateway", "search"]);
    let report = run.ok().json();
    let copies: Vec<&Value> = ["gateway", "search"]
        .iter()
        .map(|svc| &row(&report["promoted"], svc)["copy"])
        .collect();
    // The two images share a layer: uploaded with the first, mounted into the second's
    // repository (the registries differ, so nothing is mounted from the source).
    let n = |c: &Value, k: &str| c[k].as_u64().unwrap();
    assert_eq!(n(copies[0], "mounted"), 0, "{report:#}");
    assert!(n(copies[1], "mounted") >= 1, "{report:#}");
    for svc in ["gateway", "search"] {
        let digest = build().digest(svc);
        assert_eq!(
            s.production.image_of(svc),
            format!("{}/{svc}@{digest}", s.production_registry)
        );
    }
}

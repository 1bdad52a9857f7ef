//! The build truth of the two changes `affected` used to miss on `examples/market`: each
//! service built with cargo (debug) before and after the change, as its build would (its own
//! features, one invocation per service, so no feature of another leaks in), and the binaries
//! that changed compared with the services `affected` reports. And the proposal of `init`
//! on the market, snapshot-tested.

use crate::support::fleet::{Fleet, names};
use crate::support::market;
use crate::support::snapshot;
use std::process::Command;

/// How a service of the market is built: package, binary, cargo's feature flags.
fn build_args(service: &str) -> (&'static str, &'static str, &'static [&'static str]) {
    match service {
        "gateway" => ("gateway", "gateway", &[]),
        "storefront" => ("storefront", "storefront", &[]),
        "indexer" => ("jobs", "indexer", &[]),
        "mailer" => ("jobs", "mailer", &[]),
        "repricer" => ("repricer", "repricer", &["--features", "repricer/surge"]),
        other => panic!("no build of {other} here"),
    }
}

/// `cargo build -p PACKAGE --bin BINARY [FEATURES]` (debug, offline) of one service; the sha256
/// of its binary.
fn build(f: &Fleet, service: &str) -> String {
    let (package, binary, features) = build_args(service);
    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--locked", "--quiet", "-p", package])
        .args(["--bin", binary])
        .args(features)
        .current_dir(f.path())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build of {service}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(f.path().join("target/debug").join(binary)).unwrap();
    format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes))
}

/// Build `services`, change `path` (appending `line`), commit, build again: the services
/// `affected --base HEAD~1` reports, and those among `services` whose binary changed.
fn truth(path: &str, line: &str, services: &[&str]) -> (Vec<String>, Vec<String>) {
    truth_of(&|f| f.append(path, line), services)
}

/// Like [`truth`], for any change.
fn truth_of(edit: &dyn Fn(&Fleet), services: &[&str]) -> (Vec<String>, Vec<String>) {
    let f = market::repository();
    let before: Vec<String> = services.iter().map(|s| build(&f, s)).collect();
    edit(&f);
    f.commit("a change");
    let report = f.affected(&["--base", "HEAD~1"]);
    assert_eq!(report["fail_closed"], serde_json::Value::Null, "{report:#}");
    let changed = services
        .iter()
        .zip(&before)
        .filter(|(s, b)| build(&f, s) != **b)
        .map(|(s, _)| s.to_string())
        .collect();
    (names(&report), changed)
}

#[test]
fn replay_truth_the_feature_gated_file_changes_the_repricer_alone() {
    // storefront uses pricing too, without the feature that pulls surge_rules in.
    let (affected, changed) = truth(
        crate::replay::SURGE_CONF,
        "23 1.1\n",
        &["repricer", "storefront"],
    );
    assert_eq!(affected, ["repricer"]);
    assert_eq!(changed, affected);
}

#[test]
fn replay_truth_a_file_embedded_by_another_package_changes_both_packages_services() {
    // catalog_data embeds its catalogue (indexer, mailer), search_index embeds the same file
    // (storefront); gateway shares market-core with them but not the file.
    let (affected, changed) = truth(
        crate::replay::PRODUCTS,
        "p5,fork,249\n",
        &["gateway", "indexer", "mailer", "storefront"],
    );
    assert_eq!(affected, ["indexer", "mailer", "storefront"]);
    assert_eq!(changed, affected);
}

#[test]
fn replay_truth_one_binary_of_a_package_with_two_services_is_over_reported() {
    // The replay's one over-report: a change to the source of one binary target changes that
    // binary alone, while `affected` names every service of the package.
    let (affected, changed) = truth_of(
        &|f| {
            f.replace(
                "services/workers/jobs/src/bin/indexer.rs",
                "indexed {}",
                "indexed: {}",
            )
        },
        &["indexer", "mailer"],
    );
    assert_eq!(affected, ["indexer", "mailer"]);
    assert_eq!(changed, ["indexer"]);
}

#[test]
fn replay_check_and_init_dry_run_snapshots() {
    let f = market::repository();
    let check = f.run(&["check"]);
    assert_eq!(check.code, 1, "{}", check.all_output());
    let dry = f.run(&["init", "--dry-run"]);
    dry.ok();
    let _redacted = snapshot::redact()
        .path(f.path(), "[WS]")
        .pattern(
            r"`monoship init` \d+\.\d+\.\d+",
            "`monoship init` [VERSION]",
        )
        .pattern(r#"# namespace = "[^"]*""#, r#"# namespace = "[DIR]""#)
        .scope();
    insta::assert_snapshot!("check_market", check.stdout);
    insta::assert_snapshot!("init_dry_run_market", dry.stdout);
}

//! `monoship demo`, the README's first command: the bundled fleet in a temporary repository, a
//! shared-crate change, affected → build → a server-side dry run of the deploy against the test
//! cluster.

use crate::support::run::Monoship;
use crate::support::{cluster, fleet, testenv};

#[test]
fn demo_runs_every_stage_and_changes_nothing() {
    // The deploy's dry run needs the cluster's API server.
    let _cluster = cluster::share();
    let kubeconfig = testenv::env("MONOSHIP_TEST_KUBECONFIG");
    let run = Monoship::new()
        .args(["--offline", "--color", "never", "demo"])
        .env("MONOSHIP_TEST_KUBECONFIG", &kubeconfig)
        .env_remove("MONOSHIP_TEST_REGISTRY")
        .run();
    let stdout = &run.stdout;
    run.ok();
    assert!(stdout.contains("8 of 17 services affected"), "{stdout}");
    assert!(
        stdout.contains("← crates/db ← crates/db/src/pool.rs"),
        "{stdout}"
    );
    assert!(stdout.contains("monoship generate k8s"), "{stdout}");
    for service in fleet::DB_USERS {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(service) && l.contains("would-deploy"))
            .unwrap_or_else(|| panic!("no dry-run line for {service}:\n{stdout}"));
        assert!(line.contains("→"), "{line}");
    }
    assert!(
        !stdout.contains("\ndeployed"),
        "a dry run deployed something:\n{stdout}"
    );
}

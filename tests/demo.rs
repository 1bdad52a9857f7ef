//! `monoship demo`, the README's first command: the bundled fleet in a temporary repository, a
//! shared-crate change, affected → build → a server-side dry run of the deploy against the test
//! cluster.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/testenv.rs"]
mod testenv;

use std::process::Command;

#[test]
fn demo_runs_every_stage_and_changes_nothing() {
    let kubeconfig = testenv::env("MONOSHIP_TEST_KUBECONFIG");
    let out = Command::new(env!("CARGO_BIN_EXE_monoship"))
        .args(["--offline", "--color", "never", "demo"])
        .env("MONOSHIP_TEST_KUBECONFIG", &kubeconfig)
        .env_remove("MONOSHIP_TEST_REGISTRY")
        .output()
        .expect("running monoship demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
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

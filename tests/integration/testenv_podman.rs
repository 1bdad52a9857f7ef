//! Smoke test of the container runtime set up by scripts/testenv/podman-setup:
//! an image assembled from scratch (no Dockerfile) runs under podman + runc.

use crate::support::testenv;
use std::process::Command;

#[test]
fn podman_runs_an_image_built_from_scratch() {
    // The variable proves scripts/testenv/up (and so podman-setup) has run.
    testenv::env("MONOSHIP_TESTENV_STATE");
    let image = testenv::tiny_image();
    let name = format!("localhost/monoship-testenv-smoke:{}", testenv::unique());

    testenv::run_ok(
        Command::new("skopeo")
            .arg("copy")
            .arg(image.oci_ref())
            .arg(format!("containers-storage:{name}")),
    );
    let run =
        testenv::run(Command::new("podman").args(["--runtime", "runc", "run", "--rm", &name]));
    // Remove the image whatever happened.
    let _ = testenv::run(Command::new("podman").args(["rmi", "--force", &name]));

    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "podman run {name} failed ({}):\nstdout: {stdout}\nstderr: {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout.trim_end(), image.expected_stdout);
}

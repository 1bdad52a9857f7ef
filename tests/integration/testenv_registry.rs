//! Smoke tests of the OCI registries started by scripts/testenv/up: a plain one
//! and one with basic auth.

use crate::support::testenv;
use std::process::Command;

fn skopeo() -> Command {
    Command::new("skopeo")
}

/// `skopeo inspect` of a pushed image: (inspect output, its config blob).
fn inspect(image: &str, creds: Option<&str>) -> (serde_json::Value, serde_json::Value) {
    let run = |extra: &[&str]| {
        let mut cmd = skopeo();
        cmd.args(["inspect", "--tls-verify=false"]).args(extra);
        match creds {
            Some(creds) => cmd.args(["--creds", creds]),
            None => cmd.arg("--no-creds"),
        };
        let out = testenv::run_ok(cmd.arg(format!("docker://{image}")));
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("skopeo inspect output is not JSON ({e}): {out}"))
    };
    (run(&[]), run(&["--config"]))
}

/// The registry serves our image: same config (so same layer contents, by
/// diff_id), whatever compression skopeo chose for the pushed layer.
fn assert_is_tiny_image(
    (inspected, config): &(serde_json::Value, serde_json::Value),
    image: &testenv::TinyImage,
) {
    assert_eq!(inspected["Architecture"], "amd64", "{inspected:#}");
    assert_eq!(inspected["Os"], "linux", "{inspected:#}");
    assert_eq!(
        inspected["Layers"].as_array().map(Vec::len),
        Some(1),
        "{inspected:#}"
    );
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([image.layer_digest]),
        "{config:#}"
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/hello"]),
        "{config:#}"
    );
}

#[test]
fn push_and_inspect_on_the_plain_registry() {
    let registry = testenv::env("MONOSHIP_TEST_REGISTRY");
    let image = testenv::tiny_image();
    let dest = format!("{registry}/monoship-smoke/{}:1", testenv::unique());

    testenv::run_ok(
        skopeo()
            .args(["copy", "--dest-tls-verify=false", "--dest-no-creds"])
            .args([image.oci_ref(), format!("docker://{dest}")]),
    );
    assert_is_tiny_image(&inspect(&dest, None), &image);
}

#[test]
fn the_auth_registry_rejects_anonymous_pushes_and_accepts_credentials() {
    let registry = testenv::env("MONOSHIP_TEST_REGISTRY_AUTH");
    let user = testenv::env("MONOSHIP_TEST_REGISTRY_USER");
    let password = testenv::env("MONOSHIP_TEST_REGISTRY_PASSWORD");
    let creds = format!("{user}:{password}");
    let image = testenv::tiny_image();
    let dest = format!("{registry}/monoship-smoke/{}:1", testenv::unique());

    let anonymous = testenv::run(
        skopeo()
            .args(["copy", "--dest-tls-verify=false", "--dest-no-creds"])
            .args([image.oci_ref(), format!("docker://{dest}")]),
    );
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(
        !anonymous.status.success(),
        "anonymous push to {dest} succeeded"
    );
    assert!(
        stderr.contains("unauthorized") || stderr.contains("authentication required"),
        "anonymous push failed for another reason than auth: {stderr}"
    );

    let wrong = testenv::run(
        skopeo()
            .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
            .arg(format!("{user}:not-{password}"))
            .args([image.oci_ref(), format!("docker://{dest}")]),
    );
    assert!(
        !wrong.status.success(),
        "push with a wrong password to {dest} succeeded"
    );

    testenv::run_ok(
        skopeo()
            .args(["copy", "--dest-tls-verify=false", "--dest-creds", &creds])
            .args([image.oci_ref(), format!("docker://{dest}")]),
    );
    assert_is_tiny_image(&inspect(&dest, Some(&creds)), &image);

    let anonymous_inspect = testenv::run(
        skopeo()
            .args(["inspect", "--tls-verify=false", "--no-creds"])
            .arg(format!("docker://{dest}")),
    );
    assert!(
        !anonymous_inspect.status.success(),
        "anonymous pull from {dest} succeeded"
    );
}

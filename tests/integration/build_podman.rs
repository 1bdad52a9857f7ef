//! `monoship build --builder podman` for real: podman builds each service from
//! `Dockerfile.monoship`, the images land in the build's OCI layout and record like monoship's
//! own, `publish` pushes them, and they run. (The Dockerfile here copies binaries the shared
//! cargo build made: no base image can be pulled in the test environment.)

use crate::support::fleet::Fleet;
use crate::support::registry::result as service;
use crate::support::{http, registry, servers, testenv};
use serde_json::Value;
use std::fs;
use std::process::Command;

const DOCKERFILE: &str = "FROM scratch\n\
ARG SERVICE_NAME\n\
COPY bin/${SERVICE_NAME} /app\n\
USER 65532:65532\n\
ENTRYPOINT [\"/app\"]\n";

/// The fleet with a `Dockerfile.monoship` that copies `bin/SERVICE`, and the shared build's
/// `gateway` binary there (`search` is left out: its build fails).
fn fleet() -> Fleet {
    let built = registry::build();
    let f = Fleet::new();
    f.write("Dockerfile.monoship", DOCKERFILE);
    f.commit("a Dockerfile that copies prebuilt binaries");
    let binary = built
        .fleet
        .join("target/x86_64-unknown-linux-gnu/release/gateway");
    fs::create_dir_all(f.path().join("bin")).unwrap();
    fs::copy(&binary, f.path().join("bin/gateway"))
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    f
}

/// `build --builder podman gateway`, which must succeed: its build record.
fn build_gateway(f: &Fleet) -> Value {
    let run = f.run(&[
        "--format",
        "json",
        "build",
        "--builder",
        "podman",
        "gateway",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

fn skopeo_digest(image: &str) -> String {
    let out =
        testenv::run_ok(Command::new("skopeo").args(["inspect", "--tls-verify=false", image]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

#[test]
fn podman_builds_into_the_layout_that_publish_pushes_and_podman_runs() {
    testenv::env("MONOSHIP_TESTENV_STATE");
    let f = fleet();
    let record = build_gateway(&f);
    let gateway = service(&record, "gateway");
    let digest = gateway["image_digest"].as_str().unwrap().to_string();
    assert_eq!(gateway["base"], "Dockerfile.monoship");
    assert_eq!(gateway["changed"], true);
    assert_eq!(record["revision"], f.git(&["rev-parse", "HEAD"]).as_str());

    // The layout names the image after the service, with the record's digest.
    let layout = f.path().join("target/monoship/oci");
    let inspected = skopeo_digest(&format!("oci:{}:gateway", layout.display()));
    assert_eq!(inspected, digest);

    // publish pushes it from there like any build.
    let prefix = format!(
        "{}/podman-{}",
        testenv::env("MONOSHIP_TEST_REGISTRY"),
        testenv::unique()
    );
    let publish = [
        "--format",
        "json",
        "publish",
        "gateway",
        "--insecure",
        "--registry",
    ];
    let run = f.run(&[&publish[..], &[&prefix]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(service(&run.json(), "gateway")["digest"], digest.as_str());
    assert_eq!(
        skopeo_digest(&format!("docker://{prefix}/gateway@{digest}")),
        digest
    );

    // The image runs and answers.
    let port = servers::free_port();
    let tag = format!("localhost/monoship-test/podman-built:{}", testenv::unique());
    let container = testenv::Container::start(&layout, "gateway", &tag, port);
    let body = http::health(port);
    container.stop();
    let body: Value = serde_json::from_str(&body.unwrap()).unwrap();
    assert_eq!(body["service"], "gateway");

    // The same commit again, a second later and without podman's copy of the image (so it is
    // built anew): the images are dated with the commit's time, so it is the same image, and
    // unchanged.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let short = &record["revision"].as_str().unwrap()[..12];
    let built = format!("localhost/gateway:{short}");
    testenv::run_ok(Command::new("podman").args(["rmi", "--force", &built]));
    let again = build_gateway(&f);
    assert_eq!(service(&again, "gateway")["image_digest"], digest.as_str());
    assert_eq!(service(&again, "gateway")["changed"], false);
}

#[test]
fn a_failed_podman_build_names_the_service_and_writes_no_record() {
    testenv::env("MONOSHIP_TESTENV_STATE");
    let f = fleet();
    let run = f.run(&["build", "--builder", "podman", "gateway", "search"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: podman build failed for search (logs in "),
        "{}",
        run.stderr
    );
    // The failed build's log is shown, and nothing is recorded.
    assert!(run.stderr.contains("search| "), "{}", run.stderr);
    assert!(!f.path().join("target/monoship/build.json").exists());
    assert!(!f.path().join("target/monoship/oci/index.json").exists());
}

//! `monoship build` on copies of `examples/fleet`: real cargo builds, real OCI layouts, and the
//! images run under podman (runc).

use crate::support::fleet::Fleet;
use crate::support::git::git;
use crate::support::registry::digest_in as digest;
use crate::support::run::Monoship;
use crate::support::{http, servers, snapshot, testenv};
use serde_json::Value;
use std::process::Command;
use std::sync::OnceLock;

/// The fleet with `gateway search reports` built once (release, static), shared by the tests.
fn built() -> &'static (Fleet, Value, String) {
    static BUILT: OnceLock<(Fleet, Value, String)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let f = Fleet::new();
        let run = f.run(&["--format", "json", "build", "gateway", "search", "reports"]);
        assert_eq!(run.code, 0, "stderr: {}", run.stderr);
        let record = run.json();
        (f, record, run.stderr)
    })
}

#[test]
fn record_and_layout_describe_every_image() {
    let (f, record, stderr) = built();
    // reports enables a feature of a shared crate that gateway and search do not: two invocations.
    assert!(
        stderr.contains("planned 2 cargo invocation(s): gateway search | reports"),
        "{stderr}"
    );
    let head = f.git(&["rev-parse", "HEAD"]);
    assert_eq!(record["revision"], head.as_str());
    let on_disk: Value = serde_json::from_slice(
        &std::fs::read(f.path().join("target/monoship/build.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(&on_disk, record);
    let layout = f.path().join("target/monoship/oci");
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    for s in record["services"].as_array().unwrap() {
        let name = s["service"].as_str().unwrap();
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap_or_else(|| panic!("{name} not in index.json"));
        assert_eq!(entry["digest"], s["image_digest"]);
        let blob = |d: &str| {
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"))
        };
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(blob(s["image_digest"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let config: Value = serde_json::from_slice(
            &std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Entrypoint"][0], format!("/app/{name}"));
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.revision"],
            head.as_str()
        );
        // Image = binary + a small base: within a megabyte of the binary.
        let (bin, img) = (
            s["binary_size"].as_u64().unwrap(),
            s["image_size"].as_u64().unwrap(),
        );
        assert!(
            img <= bin + (1 << 20),
            "{name}: image {img} vs binary {bin}"
        );
        assert_eq!(s["changed"], true);
    }
}

#[test]
fn same_commit_elsewhere_alone_gives_identical_images() {
    let (a, record, _) = built();
    // Another checkout path, a clean target directory, each service built on its own.
    let tmp = tempfile::TempDir::new().unwrap();
    let other = tmp.path().join("elsewhere");
    git(
        tmp.path(),
        &["clone", "-q", a.path().to_str().unwrap(), "elsewhere"],
    );
    let build = |service: &str| {
        let run = Monoship::at(&other)
            .args(["--format", "json", "build", service])
            .run();
        run.ok().json()
    };
    // gateway first: the later build of gateway finds its image although the last build (and
    // build.json) is of reports.
    for service in ["gateway", "reports"] {
        let alone = build(service);
        assert_eq!(
            digest(&alone, service),
            digest(record, service),
            "{service}: built alone in another checkout differs from the group build"
        );
    }

    // A later commit that leaves gateway's binary alone keeps its image, labels and all.
    std::fs::write(
        other.join("docs/architecture.md"),
        "# Architecture\n\nReworded.\n",
    )
    .unwrap();
    git(&other, &["commit", "-qam", "reword the docs"]);
    let later = build("gateway");
    assert_eq!(digest(&later, "gateway"), digest(record, "gateway"));
    assert_eq!(later["services"][0]["changed"], false);
    assert_ne!(later["revision"], later["services"][0]["image_revision"]);
    assert_eq!(later["services"][0]["image_revision"], record["revision"]);
}

#[test]
fn rebuild_without_changes_reports_unchanged() {
    let (f, record, _) = built();
    // A record of its own, so the shared one stays as the first build wrote it.
    let out = tempfile::TempDir::new().unwrap();
    let out = out.path().to_str().unwrap();
    let mut changed = Vec::new();
    for _ in 0..2 {
        let run = f.run(&["--format", "json", "build", "search", "--out-dir", out]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let again = run.json();
        assert_eq!(digest(&again, "search"), digest(record, "search"));
        changed.push(again["services"][0]["changed"].clone());
    }
    assert_eq!(changed, [Value::Bool(true), Value::Bool(false)]);
}

/// The table of a build into a new output directory, every image reused from cargo's fresh
/// binaries: one row per service in the order asked, `yes` for a new record.
#[test]
fn the_table_of_a_build() {
    let (f, _, _) = built();
    let out = tempfile::TempDir::new().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let run = f.run(&[
        "build",
        "gateway",
        "search",
        "reports",
        "--out-dir",
        out_dir,
    ]);
    let _redacted = snapshot::redact()
        .path(out.path(), "[OUT]")
        .digests()
        .sizes()
        .columns()
        .scope();
    insta::assert_snapshot!("table", run.ok().stdout);
}

#[test]
fn nothing_affected_builds_nothing() {
    let f = Fleet::new();
    f.append("README.md", "\nMore words.\n");
    f.commit("docs");
    let run = f.run(&["build", "--affected", "--base", "main"]);
    insta::assert_snapshot!("nothing_affected", run.ok().stdout);
    assert!(!f.path().join("target/monoship/build.json").exists());
}

#[test]
fn images_run_under_podman() {
    let (f, record, _) = built();
    require("podman");
    require("skopeo");
    let layout = f.path().join("target/monoship/oci");
    for service in ["gateway", "search"] {
        let tag = format!("localhost/monoship-test/{service}:{}", testenv::unique());
        let port = servers::free_port();
        let container = testenv::Container::start(&layout, service, &tag, port);
        let body = http::health(port);
        let user = testenv::run_ok(Command::new("podman").args([
            "inspect",
            "--format",
            "{{.Config.User}}",
            &container.id,
        ]));
        container.stop();
        let body = body.unwrap_or_else(|e| panic!("{service}: {e}"));
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["service"], service);
        assert_eq!(user.trim(), "65532:65532");
        assert!(digest(record, service).starts_with("sha256:"));
    }
}

#[test]
fn unknown_service_is_a_usage_error() {
    let f = Fleet::new();
    let line = f.run(&["build", "nosuch"]).usage_error().to_string();
    insta::assert_snapshot!("unknown_service", line);
}

#[test]
fn compile_error_fails_with_the_crate_named() {
    let f = Fleet::new();
    f.append("apps/search/src/main.rs", "\nfn broken( {}\n");
    f.commit("break search");
    let run = f.run(&["build", "--profile", "dev", "search"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: compilation failed (search)"),
        "{}",
        run.stderr
    );
    assert!(!f.path().join("target/monoship/build.json").exists());
}

pub(crate) fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is not installed: run `scripts/testenv/up` (or scripts/testenv/podman-setup)"
    );
}

//! `monoship publish --oci-layout`: the built images into an OCI image layout that skopeo
//! reads by name, podman pulls, and a copy onward to a registry keeps by digest.

use crate::support::registry::{self, build, monoship, result, unique_prefix};
use crate::support::testenv;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn export(from: &Path, layout: &Path, extra: &[&str]) -> crate::support::run::Run {
    let mut args = vec![
        "--format",
        "json",
        "publish",
        "--from",
        from.to_str().unwrap(),
        "--oci-layout",
        layout.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    monoship(&build().fleet, &args, &[])
}

/// A program's stdout, which must succeed.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running the program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_images_go_into_a_layout_that_skopeo_reads_and_podman_pulls() {
    let b = build();
    let out = b.output_copy();
    // Podman names what it pulls from a layout after the layout's path, which must be
    // lowercase then (a temp dir's random name is not).
    let dir = tempfile::Builder::new()
        .prefix(&format!("layout-{}", testenv::unique()))
        .rand_bytes(0)
        .tempdir()
        .unwrap();
    let layout = dir.path().join("handoff");
    let record = registry::read_json(&out.path().join("build.json"));
    let digest = registry::digest_in(&record, "gateway");
    let short = &record["revision"].as_str().unwrap()[..12];

    let run = export(out.path(), &layout, &["gateway", "--tag", "latest"]);
    run.ok();
    let report = run.json();
    let gateway = result(&report, "gateway");
    assert_eq!(gateway["digest"], digest, "{report:#}");
    assert_eq!(gateway["result"], "pushed");
    assert_eq!(
        gateway["reference"],
        format!("oci:{}:gateway", layout.display())
    );
    assert_eq!(report["services"].as_array().unwrap().len(), 1);
    assert!(!out.path().join("publish.json").exists());

    // Both tags name the image; skopeo reads it by name, its digest is the build's.
    for tag in [short, "latest"] {
        let name = format!("oci:{}:gateway:{tag}", layout.display());
        let inspected: Value =
            serde_json::from_str(&ok(Command::new("skopeo").args(["inspect", &name]))).unwrap();
        assert_eq!(inspected["Digest"], digest, "{name}");
    }

    // Podman takes it from the layout, the same image.
    let name = format!("oci:{}:gateway:{short}", layout.display());
    let id = ok(Command::new("podman").args(["pull", "--quiet", &name]));
    let id = id.trim();
    let pulled =
        ok(Command::new("podman").args(["image", "inspect", "--format", "{{.Digest}}", id]));
    let _ = Command::new("podman").args(["rmi", "--force", id]).output();
    assert_eq!(pulled.trim(), digest);

    // A hand-off onward to a registry keeps the digest.
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let target = format!("{host}/{}/gateway:latest", unique_prefix("layout"));
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:gateway:latest", layout.display()),
        &format!("docker://{target}"),
    ]));
    let pushed = registry::skopeo_inspect(&target, None).unwrap();
    assert_eq!(pushed["Digest"], digest);

    // Again: nothing copied, unchanged. Then search: the shared base layer is there already.
    let again = export(out.path(), &layout, &["gateway", "--tag", "latest"]);
    again.ok();
    let again = again.json();
    let gateway = result(&again, "gateway");
    assert_eq!(gateway["result"], "unchanged", "{again:#}");
    assert_eq!(gateway["uploaded_bytes"], 0);
    let search = export(out.path(), &layout, &["search"]);
    search.ok();
    let search = search.json();
    let blobs = &result(&search, "search")["blobs"];
    assert!(blobs["present"].as_u64().unwrap() >= 1, "{search:#}");
    let index = registry::read_json(&layout.join("index.json"));
    let mut names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    names.sort();
    let expected = [
        format!("gateway:{short}"),
        "gateway:latest".to_string(),
        format!("search:{short}"),
    ];
    assert_eq!(names, expected);
}

#[test]
fn a_layout_does_not_go_with_a_registry_and_a_broken_index_is_left_alone() {
    let b = build();
    let out = b.output_copy();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("handoff");
    let run = export(out.path(), &layout, &["--registry", "127.0.0.1:5000"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--oci-layout"), "{}", run.stderr);
    assert!(!layout.exists());

    std::fs::create_dir_all(&layout).unwrap();
    std::fs::write(layout.join("index.json"), "not json").unwrap();
    let run = export(out.path(), &layout, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let line = run.stderr.trim();
    assert!(
        line.starts_with("error: ") && line.contains("index.json: not an OCI image index"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(
        std::fs::read_to_string(layout.join("index.json")).unwrap(),
        "not json"
    );
    assert!(!layout.join("blobs").exists());
}

//! `monoship build` on a base image from a registry: pulled once into the blob cache, its layers
//! reused as they are, never uploaded again by `publish` when the registry has them.

use crate::support::fleet::Fleet;
use crate::support::{http, registry, servers, testenv};
use serde_json::Value;

fn service<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("{name} not in {doc:#}"))
}

fn layers(f: &Fleet, digest: &str) -> Vec<String> {
    let blob = |d: &str| {
        f.path()
            .join("target/monoship/oci/blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: Value = serde_json::from_slice(&std::fs::read(blob(digest)).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn builds_on_a_pulled_base_and_publish_skips_its_layers() {
    let registry = testenv::env("MONOSHIP_TEST_REGISTRY");
    let prefix = format!("{registry}/base-{}", testenv::unique());
    let f = Fleet::new();
    let (base_ref, base_layers) = publish_the_base(&f, &prefix);
    let search_digest = build_on_the_base(&f, &base_ref, &base_layers);

    // Publishing search uploads only its own layer and config.
    let run = f.run(&[
        "--format",
        "json",
        "publish",
        "search",
        "--registry",
        &prefix,
        "--insecure",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let published = run.json();
    let blobs = &service(&published, "search")["blobs"];
    assert_eq!(blobs["uploaded"], 2, "{published:#}");
    assert_eq!(
        blobs["mounted"].as_u64().unwrap() + blobs["present"].as_u64().unwrap(),
        base_layers.len() as u64,
        "{published:#}"
    );

    // And the image runs: base layers and the service layer stack up into a working root.
    let tag = format!(
        "localhost/monoship-test/search-on-base:{}",
        testenv::unique()
    );
    let layout = f.path().join("target/monoship/oci");
    let port = servers::free_port();
    let container = testenv::Container::start(&layout, "search", &tag, port);
    let body = http::health(port);
    container.stop();
    let body: Value = serde_json::from_str(&body.unwrap()).unwrap();
    assert_eq!(body["service"], "search");

    let image = format!("{prefix}/search@{search_digest}");
    registry::skopeo_inspect(&image, None).unwrap_or_else(|e| panic!("{image}: {e}"));
}

/// The base: gateway's image on the built-in base, published under `prefix` of the test
/// registry. Its reference by digest, and its layers.
fn publish_the_base(f: &Fleet, prefix: &str) -> (String, Vec<String>) {
    let run = f.run(&["--format", "json", "build", "gateway"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let gateway = run.json();
    let gateway_digest = service(&gateway, "gateway")["image_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let run = f.run(&[
        "--format",
        "json",
        "publish",
        "gateway",
        "--registry",
        prefix,
        "--insecure",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let base_ref = format!("{prefix}/gateway@{gateway_digest}");
    (base_ref, layers(f, &gateway_digest))
}

/// search built on `base_ref`: the base's layers reused as they are (and cached), one layer of
/// its own on top. Its image digest.
fn build_on_the_base(f: &Fleet, base_ref: &str, base_layers: &[String]) -> String {
    f.append(
        "apps/search/Cargo.toml",
        &format!("\n[package.metadata.monoship]\nbase = \"{base_ref}\"\n"),
    );
    f.commit("search on the gateway image");
    let run = f.run(&["--format", "json", "build", "search"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let built = run.json();
    let search = service(&built, "search");
    assert_eq!(search["base"], base_ref);
    let search_digest = search["image_digest"].as_str().unwrap();
    let search_layers = layers(f, search_digest);
    assert_eq!(search_layers.len(), base_layers.len() + 1);
    assert_eq!(
        &search_layers[..base_layers.len()],
        base_layers,
        "base layers are reused as they are"
    );
    let cached = f.path().join("target/monoship/cache/blobs/sha256");
    for l in base_layers {
        assert!(
            cached.join(l.trim_start_matches("sha256:")).is_file(),
            "{l} not in the blob cache"
        );
    }
    search_digest.to_string()
}

#[test]
fn a_missing_base_image_fails_clearly() {
    let registry = testenv::env("MONOSHIP_TEST_REGISTRY");
    let f = Fleet::new();
    let missing = format!("{registry}/nosuch/base:1");
    f.append(
        "apps/search/Cargo.toml",
        &format!("\n[package.metadata.monoship]\nbase = \"{missing}\"\n"),
    );
    f.commit("missing base");
    let run = f.run(&["build", "--profile", "dev", "search"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: base image") && last.contains(&missing),
        "{}",
        run.stderr
    );
    assert!(!f.path().join("target/monoship/build.json").exists());
}

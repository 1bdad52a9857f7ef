//! `monoship publish` (and `build --push`) against the real registries of the test environment
//! (`scripts/testenv/up`): pushes, skips, mounts, credentials and failures.

use crate::support::registry::{self, build, monoship, result, skopeo_inspect, unique_prefix};
use crate::support::run::Run;
use crate::support::{servers, testenv};
use serde_json::Value;
use std::path::Path;

fn publish(from: &Path, registry: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let from = from.to_str().unwrap();
    let mut args = vec![
        "--format",
        "json",
        "publish",
        "--registry",
        registry,
        "--insecure",
        "--from",
        from,
    ];
    args.extend_from_slice(extra);
    monoship(&build().fleet, &args, env)
}

/// The manifest of `service` in the OCI layout under `out`.
fn layout_manifest(out: &Path, service: &str) -> Value {
    let index = registry::read_json(&out.join("oci/index.json"));
    let digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == service)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    registry::read_json(&out.join("oci/blobs/sha256").join(&digest[7..]))
}

fn counts(r: &Value) -> (u64, u64, u64) {
    let b = &r["blobs"];
    (
        b["uploaded"].as_u64().unwrap(),
        b["mounted"].as_u64().unwrap(),
        b["present"].as_u64().unwrap(),
    )
}

#[test]
fn pushes_the_built_images_and_skopeo_pulls_them_by_digest() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let b = build();
    let out = b.output_copy();
    let prefix = unique_prefix("push");
    let target = format!("{host}/{prefix}");
    let run = publish(out.path(), &target, &["--tag", "latest"], &[]);
    run.ok();
    let report = run.json();
    assert_eq!(report["registry"], target);
    assert_eq!(report["revision"], b.revision());
    for service in registry::BUILT {
        let r = result(&report, service);
        let digest = b.digest(service);
        assert_eq!(r["result"], "pushed", "{r:#}");
        assert_eq!(r["digest"], digest);
        assert_eq!(
            r["reference"],
            format!("{target}/{service}@{digest}"),
            "{r:#}"
        );
        assert_eq!(r["tags"], serde_json::json!([b.tag(), "latest"]));
        for tag in [b.tag(), "latest".to_string()] {
            let inspected = skopeo_inspect(&format!("{target}/{service}:{tag}"), None)
                .unwrap_or_else(|e| panic!("{service}:{tag}: {e}"));
            assert_eq!(inspected["Digest"], digest, "{inspected:#}");
        }
    }
    let pulled = tempfile::tempdir().unwrap();
    let digest = b.digest("gateway");
    testenv::run_ok(
        std::process::Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--src-no-creds",
            ])
            .arg(format!("docker://{target}/gateway@{digest}"))
            .arg(format!("oci:{}", pulled.path().display())),
    );
    let index = registry::read_json(&pulled.path().join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], digest, "{index:#}");
    // The result is also next to the build record.
    let written = registry::read_json(&out.path().join("publish.json"));
    assert_eq!(written["services"], report["services"]);
}

#[test]
fn the_shared_base_layer_is_mounted_into_the_second_repository() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let b = build();
    let out = b.output_copy();
    let target = format!("{host}/{}", unique_prefix("mount"));
    let run = publish(out.path(), &target, &[], &[]);
    run.ok();
    let report = run.json();
    let gateway = result(&report, "gateway");
    let search = result(&report, "search");
    assert_eq!(counts(gateway), (3, 0, 0), "{gateway:#}");
    assert_eq!(counts(search), (2, 1, 0), "{search:#}");
    // What search uploaded: its own layer and config, not the base layer.
    let manifest = layout_manifest(out.path(), "search");
    let own = manifest["layers"][1]["size"].as_u64().unwrap()
        + manifest["config"]["size"].as_u64().unwrap();
    assert_eq!(search["uploaded_bytes"], own, "{search:#}");
}

#[test]
fn publishing_again_with_nothing_changed_uploads_nothing() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let b = build();
    let out = b.output_copy();
    let target = format!("{host}/{}", unique_prefix("again"));
    publish(out.path(), &target, &[], &[]).ok();
    let run = publish(out.path(), &target, &[], &[]);
    run.ok();
    let report = run.json();
    for service in registry::BUILT {
        let r = result(&report, service);
        assert_eq!(r["result"], "unchanged", "{r:#}");
        assert_eq!(r["uploaded_bytes"], 0, "{r:#}");
        assert_eq!(counts(r).0, 0, "{r:#}");
    }
    // The human table says so too.
    let human = monoship(
        &b.fleet,
        &[
            "publish",
            "--registry",
            &target,
            "--insecure",
            "--from",
            out.path().to_str().unwrap(),
        ],
        &[],
    );
    human.ok();
    assert_eq!(
        human.stdout.matches("unchanged").count(),
        2,
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("0 of 2 image(s) pushed"),
        "{}",
        human.stdout
    );
}

#[test]
fn after_one_service_changes_only_its_layer_and_config_are_uploaded() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let b = build();
    let out = b.output_copy();
    let target = format!("{host}/{}", unique_prefix("change"));
    publish(out.path(), &target, &[], &[]).ok();

    // A string literal of search changes: its binary (and only its) changes.
    let main_rs = b.fleet.join("apps/search/src/main.rs");
    let original = std::fs::read_to_string(&main_rs).unwrap();
    assert_eq!(original.matches("\"Espresso machine\"").count(), 1);
    std::fs::write(
        &main_rs,
        original.replacen("\"Espresso machine\"", "\"Espresso machine (v2)\"", 1),
    )
    .unwrap();
    let rebuilt = monoship(
        &b.fleet,
        &[
            "--format",
            "json",
            "build",
            "gateway",
            "search",
            "--out-dir",
            out.path().to_str().unwrap(),
        ],
        &[],
    );
    std::fs::write(&main_rs, &original).unwrap();
    rebuilt.ok();
    let record = rebuilt.json();
    assert_eq!(registry::digest_in(&record, "gateway"), b.digest("gateway"));
    let new_search = registry::digest_in(&record, "search");
    assert_ne!(new_search, b.digest("search"));

    let run = publish(out.path(), &target, &[], &[]);
    run.ok();
    let report = run.json();
    let gateway = result(&report, "gateway");
    assert_eq!(gateway["result"], "unchanged", "{gateway:#}");
    assert_eq!(gateway["uploaded_bytes"], 0);
    let search = result(&report, "search");
    assert_eq!(search["result"], "pushed", "{search:#}");
    assert_eq!(search["digest"], new_search);
    let manifest = layout_manifest(out.path(), "search");
    let layer = manifest["layers"][1]["size"].as_u64().unwrap();
    let config = manifest["config"]["size"].as_u64().unwrap();
    assert_eq!(counts(search), (2, 0, 1), "{search:#}");
    assert_eq!(search["uploaded_bytes"], layer + config, "{search:#}");
    eprintln!(
        "one service changed: uploaded {} bytes (binary layer {layer} + config {config})",
        layer + config
    );
    let inspected = skopeo_inspect(&format!("{target}/search:{}", b.tag()), None).unwrap();
    assert_eq!(inspected["Digest"], new_search);
}

#[test]
fn build_push_publishes_what_it_built() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let b = build();
    let out = tempfile::tempdir().unwrap();
    let target = format!("{host}/{}", unique_prefix("build-push"));
    let run = monoship(
        &b.fleet,
        &[
            "--format",
            "json",
            "build",
            "gateway",
            "--out-dir",
            out.path().to_str().unwrap(),
            "--push",
            "--registry",
            &target,
            "--insecure",
            "--tag",
            "edge",
        ],
        &[],
    );
    run.ok();
    let both = run.json();
    let digest = registry::digest_in(&both["build"], "gateway");
    let pushed = result(&both["publish"], "gateway");
    assert_eq!(pushed["digest"], digest, "{both:#}");
    assert_eq!(pushed["result"], "pushed");
    let inspected = skopeo_inspect(&format!("{target}/gateway:edge"), None).unwrap();
    assert_eq!(inspected["Digest"], digest);
    assert!(out.path().join("publish.json").is_file());
}

#[test]
fn pulls_an_image_it_pushed_into_the_blob_cache() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY");
    let b = build();
    let out = b.output_copy();
    let target = format!("{host}/{}", unique_prefix("pull"));
    publish(out.path(), &target, &[], &[]).ok();
    let cache = tempfile::tempdir().unwrap();
    let reference = format!("{target}/gateway:{}", b.tag());
    let image = monoship::registry::pull(
        &reference,
        cache.path(),
        ::monoship::registry::Transport::PlainHttp,
        None,
    )
    .unwrap();
    assert_eq!(image.digest, b.digest("gateway"));
    assert_eq!(image.layers.len(), 2);
    let blobs = cache.path().join("blobs/sha256");
    for d in std::iter::once(&image.digest)
        .chain(std::iter::once(&image.config.digest))
        .chain(image.layers.iter().map(|l| &l.digest))
    {
        let hex = &d[7..];
        let local = std::fs::read(blobs.join(hex)).unwrap();
        let expected = std::fs::read(out.path().join("oci/blobs/sha256").join(hex)).unwrap();
        assert!(local == expected, "{d} differs from the built blob");
    }
    // By digest, from the cache: the same image.
    let again = monoship::registry::pull(
        &format!("{target}/gateway@{}", image.digest),
        cache.path(),
        ::monoship::registry::Transport::PlainHttp,
        None,
    )
    .unwrap();
    assert_eq!(again.layers, image.layers);
}

/// Credentials for the auth registry: (host, user, password).
fn auth_registry() -> (String, String, String) {
    (
        testenv::env("MONOSHIP_TEST_REGISTRY_AUTH"),
        testenv::env("MONOSHIP_TEST_REGISTRY_USER"),
        testenv::env("MONOSHIP_TEST_REGISTRY_PASSWORD"),
    )
}

#[test]
fn auth_registry_accepts_credentials_from_the_environment() {
    let (host, user, password) = auth_registry();
    let out = build().output_copy();
    let target = format!("{host}/{}", unique_prefix("env-creds"));
    let env = [
        ("MONOSHIP_REGISTRY_USER", user.as_str()),
        ("MONOSHIP_REGISTRY_PASSWORD", password.as_str()),
    ];
    let run = publish(out.path(), &target, &["gateway"], &env);
    run.ok();
    assert!(!run.all_output().contains(&password));
    let creds = format!("{user}:{password}");
    let inspected =
        skopeo_inspect(&format!("{target}/gateway:{}", build().tag()), Some(&creds)).unwrap();
    assert_eq!(inspected["Digest"], build().digest("gateway"));
}

#[test]
fn auth_registry_accepts_credentials_from_a_docker_config() {
    use base64::Engine as _;
    let (host, user, password) = auth_registry();
    let out = build().output_copy();
    let target = format!("{host}/{}", unique_prefix("docker-config"));
    let config = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        config.path().join("config.json"),
        serde_json::json!({"auths": {host.as_str(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let dir = config.path().to_str().unwrap();
    let run = publish(out.path(), &target, &["gateway"], &[("DOCKER_CONFIG", dir)]);
    run.ok();
    assert_eq!(result(&run.json(), "gateway")["result"], "pushed");
    assert!(!run.all_output().contains(&password));
}

#[test]
fn auth_registry_accepts_credentials_from_a_credential_helper() {
    use std::os::unix::fs::PermissionsExt as _;
    let (host, user, password) = auth_registry();
    let out = build().output_copy();
    let target = format!("{host}/{}", unique_prefix("cred-helper"));
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("docker-credential-monoship-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n\
             [ \"$server\" = '{host}' ] || {{ echo 'credentials not found'; exit 1; }}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::json!({"credHelpers": {host.as_str(): "monoship-test"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = dir.path().to_str().unwrap();
    let env = [("DOCKER_CONFIG", config), ("PATH", path.as_str())];
    let run = publish(out.path(), &target, &["gateway"], &env);
    run.ok();
    assert_eq!(result(&run.json(), "gateway")["result"], "pushed");
    assert!(!run.all_output().contains(&password));
}

#[test]
fn a_wrong_password_fails_without_showing_it_and_tags_nothing() {
    use base64::Engine as _;
    let (host, user, password) = auth_registry();
    let out = build().output_copy();
    let target = format!("{host}/{}", unique_prefix("wrong"));
    let wrong = format!("not-{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{wrong}"));
    let env = [
        ("MONOSHIP_REGISTRY_USER", user.as_str()),
        ("MONOSHIP_REGISTRY_PASSWORD", wrong.as_str()),
    ];
    for verbosity in [None, Some("-vv")] {
        let mut extra = vec![];
        extra.extend(verbosity);
        let mut args = vec!["publish", "--registry", &target, "--insecure"];
        args.extend(extra);
        let from = out.path().to_str().unwrap();
        args.extend(["--from", from]);
        let run = monoship(&build().fleet, &args, &env);
        assert_eq!(
            run.code, 7,
            "stdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        let line = run.error_line();
        assert!(
            line.contains(&format!("authentication failed for {host}")),
            "{line}"
        );
        for secret in [&wrong, &password, &encoded] {
            assert!(
                !run.all_output().contains(secret.as_str()),
                "a credential is in the output ({verbosity:?}):\n{}",
                run.all_output()
            );
        }
    }
    // Even with every library's tracing on.
    let traced = publish(
        out.path(),
        &target,
        &[],
        &[env[0], env[1], ("MONOSHIP_LOG", "trace")],
    );
    assert_eq!(traced.code, 7);
    assert!(!traced.all_output().contains(&wrong));
    assert!(!traced.all_output().contains(&encoded));
    assert!(!out.path().join("publish.json").exists());
    let creds = format!("{user}:{password}");
    let tag = skopeo_inspect(&format!("{target}/gateway:{}", build().tag()), Some(&creds));
    assert!(tag.is_err(), "a tag was created: {tag:?}");
}

#[test]
fn a_registry_that_is_down_is_named_and_nothing_is_written() {
    let out = build().output_copy();
    let target = format!("127.0.0.1:{}/down", servers::free_port());
    let run = publish(out.path(), &target, &[], &[]);
    assert_eq!(run.code, 6, "stderr: {}", run.stderr);
    let line = run.error_line();
    let host = target.trim_end_matches("/down");
    assert!(
        line.contains(&format!("cannot reach registry {host}")),
        "{line}"
    );
    assert!(line.to_lowercase().contains("refused"), "{line}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!out.path().join("publish.json").exists());
}

#[test]
fn usage_errors_exit_2_before_anything_is_sent() {
    let b = build();
    let out = b.output_copy();
    let from = out.path().to_str().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    let local = ["--registry", "127.0.0.1:1", "--insecure"];
    // (arguments after `publish`, what the error line says; "" when only the exit code counts)
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec![
                "--registry",
                "registry.example.com/acme",
                "--insecure",
                "--from",
                from,
            ],
            "registry.example.com",
        ),
        (
            [&["nosuch"][..], &local, &["--from", from]].concat(),
            "unknown service `nosuch`",
        ),
        // A service of the workspace that the build record does not hold.
        (
            [&["users"][..], &local, &["--from", from]].concat(),
            "not in the build record",
        ),
        (
            [&local[..], &["--from", empty]].concat(),
            "run `monoship build` first",
        ),
        ([&local[..], &["--tag", "-x", "--from", from]].concat(), ""),
    ];
    for (args, says) in cases {
        let run = monoship(&b.fleet, &[&["publish"][..], &args].concat(), &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.error_line().contains(says), "{args:?}: {}", run.stderr);
    }
    assert!(!out.path().join("publish.json").exists());
}

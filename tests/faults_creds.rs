//! Faults around credentials and clarity: malformed kubeconfigs and docker configs that hold
//! secrets, credential helpers that misbehave, token realms over plain HTTP, TLS trust,
//! registries that fail in every way, broken workspaces and build records.
//!
//! Every case asserts with `fault::assert_fails`: the exit code of README's table, one `error:`
//! line naming the thing at fault, nothing on stdout, no panic and none of the planted
//! `fault::SECRETS` in any output; and the state after where it matters. The servers are on
//! 127.0.0.1, made by the test (tests/support/servers.rs); the cases against the real registry of
//! the test environment are in `against_the_test_registry`.

#[path = "support/fault.rs"]
mod fault;
#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/servers.rs"]
mod servers;
#[path = "support/testenv.rs"]
mod testenv;

use base64::Engine;
use fault::{Expect, SECRETS};
use servers::{response, serve, Handler};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = SECRETS[0];
const PASSWORD: &str = SECRETS[1];
const KEY: &str = SECRETS[2];

/// `monoship ARGS` in `dir` with a clean environment: no registry credentials, an empty
/// docker config and home (so no `~/.kube/config`), no KUBECONFIG; `env` adds to it.
fn monoship(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let real_home = std::env::var("HOME").unwrap_or_default();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_monoship"));
    cmd.arg("--offline")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("MONOSHIP_REGISTRY_USER")
        .env_remove("MONOSHIP_REGISTRY_PASSWORD")
        .env_remove("MONOSHIP_LOG")
        .env_remove("KUBECONFIG")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("GITHUB_OUTPUT")
        .env("CARGO_HOME", cargo_home(&real_home))
        .env(
            "RUSTUP_HOME",
            std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{real_home}/.rustup")),
        )
        .env("HOME", home.path())
        .env("DOCKER_CONFIG", home.path().join(".docker"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running monoship")
}

fn cargo_home(real_home: &str) -> String {
    std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{real_home}/.cargo"))
}

/// One case: how to make the fault and run the command, and what must come out.
struct Case {
    name: &'static str,
    code: i32,
    names: &'static [&'static str],
    run: fn(&Scratch) -> Output,
}

/// A scratch directory per case, and the case's own checks of what is left.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// Run every case (each on its own, so one failure does not hide the others).
fn run_table(cases: &[Case]) {
    let mut failed = Vec::new();
    for case in cases {
        let scratch = Scratch {
            dir: tempfile::tempdir().unwrap(),
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let out = (case.run)(&scratch);
            if std::env::var_os("FAULTS_SHOW").is_some() {
                eprintln!("{}: {}", case.name, String::from_utf8_lossy(&out.stderr));
            }
            fault::assert_fails(
                &out,
                &Expect {
                    case: case.name,
                    code: case.code,
                    names: case.names,
                },
            );
        }));
        if result.is_err() {
            failed.push(case.name);
        }
    }
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

// ---------------------------------------------------------------- kubeconfig

fn users_image() -> String {
    format!("users=127.0.0.1:5000/fleet/users@sha256:{}", "a".repeat(64))
}

/// A kubeconfig for an API server nobody runs, with `user` as the user's lines (6 spaces in).
fn kubeconfig(user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
         https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n\
         {user}contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
        servers::dead_port()
    )
}

fn deploy_with(s: &Scratch, kubeconfig_text: &str, via_env: bool) -> Output {
    let fleet = fleet::Fleet::new();
    let path = s.write("kube/config", kubeconfig_text);
    let path = path.to_str().unwrap().to_string();
    let image = users_image();
    let mut args = vec!["deploy", "--image", &image, "users"];
    let mut env = vec![];
    if via_env {
        env.push(("KUBECONFIG", path.clone()));
    } else {
        args.extend(["--kubeconfig", &path]);
    }
    monoship(fleet.path(), &args, &env)
}

fn kubeconfig_unclosed_flow(s: &Scratch) -> Output {
    let user = format!("    token: {TOKEN}\n    password: {PASSWORD}\n    extra: [unclosed\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_bad_indent(s: &Scratch) -> Output {
    let user = format!("    token: {TOKEN}\n   client-key-data: {KEY}\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_tab(s: &Scratch) -> Output {
    let user = format!("    token: {TOKEN}\n\tpassword: {PASSWORD}\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_wrong_type(s: &Scratch) -> Output {
    let user = format!("    token: [{TOKEN}, {PASSWORD}]\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_from_env(s: &Scratch) -> Output {
    let user = format!("    token: \"{TOKEN}\n");
    deploy_with(s, &kubeconfig(&user), true)
}

fn kubeconfig_second_document(s: &Scratch) -> Output {
    let good = kubeconfig("    token: x\n");
    let bad = format!("---\nusers:\n- name: other\n  user:\n    token: {TOKEN}\n    : {KEY}\n");
    deploy_with(s, &format!("{good}{bad}"), true)
}

fn kubeconfig_v1_client_cert(s: &Scratch) -> Output {
    let (cert, key) = servers::v1_client_cert(s.path());
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&cert),
        b64(&key)
    );
    deploy_with(s, &kubeconfig(&user), false)
}

#[test]
fn kubeconfig_faults() {
    run_table(&[
        Case {
            name: "kubeconfig: unclosed flow sequence after a token",
            code: 2,
            names: &["kube/config", "line "],
            run: kubeconfig_unclosed_flow,
        },
        Case {
            name: "kubeconfig: a line indented wrong after a token",
            code: 2,
            names: &["kube/config", "line "],
            run: kubeconfig_bad_indent,
        },
        Case {
            name: "kubeconfig: a tab after a token",
            code: 2,
            names: &["kube/config", "line "],
            run: kubeconfig_tab,
        },
        Case {
            name: "kubeconfig: a token that is a list",
            code: 2,
            names: &["kube/config", "line 11"],
            run: kubeconfig_wrong_type,
        },
        Case {
            name: "kubeconfig from KUBECONFIG: an unterminated quoted token",
            code: 2,
            names: &["kube/config", "line "],
            run: kubeconfig_from_env,
        },
        Case {
            name: "kubeconfig: a broken second document",
            code: 2,
            names: &["kube/config", "line "],
            run: kubeconfig_second_document,
        },
        Case {
            name: "kubeconfig: an X.509 v1 client certificate",
            code: 2,
            names: &["X.509 v1", "client-certificate-data", "v3"],
            run: kubeconfig_v1_client_cert,
        },
    ]);
}

// ---------------------------------------------------------------- publish: credentials

/// A build output (build.json and an OCI layout with one tiny image of `gateway`) in
/// `s/out`, made by hand: no cargo build needed to reach the registry.
fn build_output(s: &Scratch) -> PathBuf {
    let out = s.path().join("out");
    let blobs = out.join("oci/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let add = |data: &[u8]| -> (String, usize) {
        let hex = format!("{:x}", sha2::Sha256::digest(data));
        std::fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let (layer, layer_size) = add(b"not really a tar, but a blob all the same\n");
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer]}
    });
    let (config, config_size) = add(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer, "size": layer_size}]
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let (digest, size) = add(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": digest, "size": size,
                       "annotations": {"org.opencontainers.image.ref.name": "gateway"}}]
    });
    std::fs::write(out.join("oci/index.json"), index.to_string()).unwrap();
    std::fs::write(
        out.join("oci/oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let record = serde_json::json!({
        "revision": "0123456789abcdef0123456789abcdef01234567",
        "services": [{"service": "gateway", "binary_sha256": "", "binary_size": 0,
                      "image_digest": digest, "image_size": size, "base": "",
                      "changed": true}]
    });
    std::fs::write(out.join("build.json"), record.to_string()).unwrap();
    out
}

/// `monoship publish --from <a build output> --registry HOST [--insecure]` outside any
/// workspace.
fn publish(s: &Scratch, host: &str, insecure: bool, env: &[(&str, String)]) -> Output {
    let out = build_output(s);
    let from = out.to_str().unwrap();
    let mut args = vec!["publish", "--from", from, "--registry", host];
    if insecure {
        args.push("--insecure");
    }
    monoship(s.path(), &args, env)
}

/// A docker config dir holding `config` (as config.json).
fn docker_config(s: &Scratch, config: &str) -> (&'static str, String) {
    s.write("docker/config.json", config);
    (
        "DOCKER_CONFIG",
        s.path().join("docker").display().to_string(),
    )
}

fn local_host() -> String {
    format!("127.0.0.1:{}", servers::dead_port())
}

fn auth_of(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn config_truncated(s: &Scratch) -> Output {
    let host = local_host();
    let config = format!(
        "{{\n  \"auths\": {{\n    \"{host}\": {{\n      \"auth\": \"{}\"\n",
        auth_of("me", PASSWORD)
    );
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn config_auth_not_a_string(s: &Scratch) -> Output {
    let host = local_host();
    let config = format!("{{\"auths\": {{\"{host}\": {{\"auth\": [\"{PASSWORD}\"]}}}}}}");
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn config_entry_not_an_object(s: &Scratch) -> Output {
    let host = local_host();
    let config = format!("{{\"auths\": {{\"{host}\": \"{TOKEN}\"}},\n\"x\": 1}}");
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn config_auth_not_base64(s: &Scratch) -> Output {
    let host = local_host();
    let config = format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"%%{PASSWORD}%%\"}}}}}}");
    publish(s, &host, true, &[docker_config(s, &config)])
}

/// A credential helper `docker-credential-planted` running `script`, configured for the host.
fn with_helper(s: &Scratch, script: &str) -> Output {
    // Like a real helper, it reads the registry's name from stdin first.
    let script = format!("cat >/dev/null\n{script}");
    let host = local_host();
    let bin = s.path().join("bin");
    let helper = s.write(
        "bin/docker-credential-planted",
        &format!("#!/bin/sh\n{script}\n"),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!("{{\"credHelpers\": {{\"{host}\": \"planted\"}}}}");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    publish(s, &host, true, &[docker_config(s, &config), ("PATH", path)])
}

fn helper_prints_garbage(s: &Scratch) -> Output {
    with_helper(s, &format!("echo 'Secret: {PASSWORD} {TOKEN}'"))
}

fn helper_fails(s: &Scratch) -> Output {
    with_helper(
        s,
        &format!("echo '{{\"Secret\": \"{PASSWORD}\"}}'; echo 'broken {TOKEN}' >&2; exit 3"),
    )
}

#[test]
fn docker_config_and_helper_faults() {
    run_table(&[
        Case {
            name: "config.json: truncated after an auth",
            code: 2,
            names: &["docker/config.json", "line ", "column "],
            run: config_truncated,
        },
        Case {
            name: "config.json: an auth that is a list",
            code: 2,
            names: &["docker/config.json", "line 1"],
            run: config_auth_not_a_string,
        },
        Case {
            name: "config.json: an auths entry that is a string",
            code: 2,
            names: &["docker/config.json", "line 1"],
            run: config_entry_not_an_object,
        },
        Case {
            name: "config.json: an auth that is not base64",
            code: 2,
            names: &["docker/config.json", "auth", "base64"],
            run: config_auth_not_base64,
        },
        Case {
            name: "credential helper prints garbage",
            code: 2,
            names: &["docker-credential-planted", "docker/config.json"],
            run: helper_prints_garbage,
        },
        Case {
            name: "credential helper fails",
            code: 2,
            names: &["docker-credential-planted", "failed"],
            run: helper_fails,
        },
    ]);
}

// ---------------------------------------------------------------- publish: registries

/// An HTTPS registry whose `/v2/` names a token realm over plain HTTP on a listener that
/// records what reaches it: nothing may.
#[test]
fn an_http_token_realm_gets_nothing() {
    let s = Scratch {
        dir: tempfile::tempdir().unwrap(),
    };
    let pki = servers::pki();
    // The realm answers like a token service, and records every request it gets.
    let realm = serve(
        None,
        Arc::new(|_| {
            response(
                "200 OK",
                &["Content-Type: application/json"],
                r#"{"token":"t"}"#,
            )
        }),
    );
    let challenge = format!(
        "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{}/token\",service=\"r\"",
        realm.port
    );
    let handler: Handler = Arc::new(move |_| {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        response("401 Unauthorized", &[&challenge], body)
    });
    let registry = serve(Some(&pki), handler);
    let env = [
        ("SSL_CERT_FILE", pki.ca_cert.display().to_string()),
        ("MONOSHIP_REGISTRY_USER", "me".to_string()),
        ("MONOSHIP_REGISTRY_PASSWORD", PASSWORD.to_string()),
    ];
    let out = publish(&s, &registry.host(), false, &env);
    // First what matters most: nothing reached the plain-HTTP realm.
    std::thread::sleep(Duration::from_millis(200));
    let sent = realm.requests.lock().unwrap().clone();
    assert!(
        sent.is_empty(),
        "requests reached the http:// realm: {sent:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let realm_url = format!("http://127.0.0.1:{}/token", realm.port);
    fault::assert_fails(
        &out,
        &Expect {
            case: "http token realm",
            code: 1,
            names: &[&realm_url, &registry.host(), "plain HTTP"],
        },
    );
    // Only the probe of /v2/ reached the registry, and without credentials.
    let requests = registry.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|r| !r.to_lowercase().contains("authorization:")),
        "{requests:?}"
    );
}

fn tls_registry() -> (servers::Pki, servers::Server) {
    let pki = servers::pki();
    let handler: Handler =
        Arc::new(|_| response("200 OK", &["Content-Type: application/json"], "{}"));
    let server = serve(Some(&pki), handler);
    (pki, server)
}

fn tls_untrusted(s: &Scratch) -> Output {
    let (_pki, server) = tls_registry();
    let env = [
        ("MONOSHIP_REGISTRY_PASSWORD", PASSWORD.to_string()),
        ("MONOSHIP_REGISTRY_USER", "me".to_string()),
    ];
    let out = publish(s, &server.host(), false, &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("--insecure"),
        "suggests --insecure: {stderr}"
    );
    out
}

fn insecure_against_https(s: &Scratch) -> Output {
    let (_pki, server) = tls_registry();
    publish(s, &server.host(), true, &[])
}

fn plain(handler: Handler) -> servers::Server {
    serve(None, handler)
}

fn registry_500(s: &Scratch) -> Output {
    let server = plain(Arc::new(|_| {
        response("500 Internal Server Error", &[], "boom")
    }));
    publish(s, &server.host(), true, &[])
}

fn registry_html(s: &Scratch) -> Output {
    let page = "<html><body>Please log in</body></html>";
    let server = plain(Arc::new(move |_| {
        response("200 OK", &["Content-Type: text/html; charset=utf-8"], page)
    }));
    publish(s, &server.host(), true, &[])
}

fn registry_down(s: &Scratch) -> Output {
    publish(s, &local_host(), true, &[])
}

fn registry_wrong_password_local(s: &Scratch) -> Output {
    let server = plain(Arc::new(|_| {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        response(
            "401 Unauthorized",
            &[
                "WWW-Authenticate: Basic realm=\"registry\"",
                "Content-Type: application/json",
            ],
            body,
        )
    }));
    let env = [
        ("MONOSHIP_REGISTRY_USER", "me".to_string()),
        ("MONOSHIP_REGISTRY_PASSWORD", PASSWORD.to_string()),
    ];
    publish(s, &server.host(), true, &env)
}

fn registry_no_answer(s: &Scratch) -> Output {
    let silent = servers::silent();
    let started = Instant::now();
    let out = publish(s, &format!("127.0.0.1:{}", silent.port), true, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    out
}

fn color_never(s: &Scratch) -> Output {
    let out = build_output(s);
    let host = local_host();
    let args = [
        "--color",
        "never",
        "-vv",
        "publish",
        "--from",
        out.to_str().unwrap(),
        "--registry",
        &host,
        "--insecure",
    ];
    let out = monoship(s.path(), &args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registry client"),
        "no debug line: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes with --color never: {stderr:?}"
    );
    out
}

#[test]
fn registry_faults() {
    run_table(&[
        Case {
            name: "TLS: a registry whose CA is not trusted",
            code: 1,
            names: &["127.0.0.1", "SSL_CERT_FILE", "certificate"],
            run: tls_untrusted,
        },
        Case {
            name: "--insecure against an HTTPS-only registry",
            code: 2,
            names: &["127.0.0.1", "serves HTTPS", "--insecure"],
            run: insecure_against_https,
        },
        Case {
            name: "a registry answering 500",
            code: 1,
            names: &["127.0.0.1", "500"],
            run: registry_500,
        },
        Case {
            name: "an HTML page instead of a registry",
            code: 1,
            names: &["127.0.0.1", "not an OCI registry", "HTML"],
            run: registry_html,
        },
        Case {
            name: "a registry that is down",
            code: 1,
            names: &["cannot reach registry 127.0.0.1"],
            run: registry_down,
        },
        Case {
            name: "a wrong password (basic auth)",
            code: 1,
            names: &["authentication failed for 127.0.0.1"],
            run: registry_wrong_password_local,
        },
        Case {
            name: "a registry that never answers",
            code: 1,
            names: &["127.0.0.1", "no answer"],
            run: registry_no_answer,
        },
        Case {
            name: "--color never: no ANSI escape on stderr",
            code: 1,
            names: &["cannot reach registry 127.0.0.1"],
            run: color_never,
        },
    ]);
}

// ---------------------------------------------------------------- workspace and build record

fn fleet_with(change: impl FnOnce(&fleet::Fleet)) -> fleet::Fleet {
    let f = fleet::Fleet::new();
    change(&f);
    f
}

fn cargo_toml_syntax(_: &Scratch) -> Output {
    let f = fleet_with(|f| {
        f.replace(
            "Cargo.toml",
            "members = [\"apps/*\", \"crates/*\"]",
            "members = [\"apps/*\", \"crates/*\"",
        )
    });
    monoship(f.path(), &["services"], &[])
}

fn cargo_lock_corrupt(_: &Scratch) -> Output {
    let f = fleet_with(|f| f.append("Cargo.lock", "garbage [[[\n"));
    monoship(f.path(), &["services"], &[])
}

fn missing_member(_: &Scratch) -> Output {
    let f = fleet_with(|f| {
        f.replace(
            "Cargo.toml",
            "members = [\"apps/*\", \"crates/*\"]",
            "members = [\"apps/*\", \"crates/*\", \"crates/nope\"]",
        )
    });
    monoship(f.path(), &["services"], &[])
}

fn unknown_revision(_: &Scratch) -> Output {
    let f = fleet::Fleet::new();
    monoship(f.path(), &["affected", "--base", "no-such-revision"], &[])
}

fn truncate(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, &text[..text.len() / 2]).unwrap();
}

fn build_record_truncated_publish(s: &Scratch) -> Output {
    let out = build_output(s);
    truncate(&out.join("build.json"));
    let from = out.to_str().unwrap();
    let host = local_host();
    monoship(
        s.path(),
        &["publish", "--from", from, "--registry", &host, "--insecure"],
        &[],
    )
}

fn build_record_truncated_deploy(s: &Scratch) -> Output {
    let f = fleet::Fleet::new();
    let out = build_output(s);
    truncate(&out.join("build.json"));
    let target = f.path().join("target/monoship");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(out.join("build.json"), target.join("build.json")).unwrap();
    let kubeconfig = s.write("kube/config", &kubeconfig("    token: x\n"));
    let kubeconfig = kubeconfig.to_str().unwrap();
    monoship(
        f.path(),
        &["deploy", "users", "--kubeconfig", kubeconfig],
        &[],
    )
}

#[test]
fn workspace_and_build_record_faults() {
    run_table(&[
        Case {
            name: "Cargo.toml syntax error keeps cargo's location",
            code: 2,
            names: &["cargo metadata", "Cargo.toml:5:1"],
            run: cargo_toml_syntax,
        },
        Case {
            name: "a corrupt Cargo.lock",
            code: 2,
            names: &["Cargo.lock", "line "],
            run: cargo_lock_corrupt,
        },
        Case {
            name: "a missing workspace member",
            code: 2,
            names: &["crates/nope"],
            run: missing_member,
        },
        Case {
            name: "an unknown revision",
            code: 2,
            names: &["no-such-revision"],
            run: unknown_revision,
        },
        Case {
            name: "a truncated build record: publish",
            code: 2,
            names: &["build.json"],
            run: build_record_truncated_publish,
        },
        Case {
            name: "a truncated build record: deploy (the same exit code)",
            code: 2,
            names: &["build.json"],
            run: build_record_truncated_deploy,
        },
    ]);
}

// ---------------------------------------------------------------- the real registry

/// A wrong password against the test environment's registry with authentication: one line,
/// the password nowhere, and no tag made (checked with skopeo and the right password).
#[test]
fn against_the_test_registry() {
    let host = testenv::env("MONOSHIP_TEST_REGISTRY_AUTH");
    let user = testenv::env("MONOSHIP_TEST_REGISTRY_USER");
    let right = testenv::env("MONOSHIP_TEST_REGISTRY_PASSWORD");
    let s = Scratch {
        dir: tempfile::tempdir().unwrap(),
    };
    let target = format!("{host}/faults-{}", testenv::unique());
    let env = [
        ("MONOSHIP_REGISTRY_USER", user.clone()),
        ("MONOSHIP_REGISTRY_PASSWORD", PASSWORD.to_string()),
        ("MONOSHIP_LOG", "trace".to_string()),
    ];
    let out = publish(&s, &target, true, &env);
    fault::assert_fails(
        &out,
        &Expect {
            case: "a wrong password against the real registry",
            code: 1,
            names: &["authentication failed", &host],
        },
    );
    let image = format!("docker://{target}/gateway:0123456789ab");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds"])
        .arg(format!("{user}:{right}"))
        .arg(&image)
        .output()
        .expect("running skopeo");
    assert!(
        !inspect.status.success(),
        "{image} exists after a failed publish"
    );
}

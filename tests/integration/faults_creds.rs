//! Faults around credentials and clarity: malformed kubeconfigs and docker configs that hold
//! secrets, credential helpers that misbehave, token realms over plain HTTP, TLS trust,
//! registries that fail in every way, broken workspaces and build records.
//!
//! Every case asserts with `fault::assert_fails`: the exit code of README's table, one `error:`
//! line naming the thing at fault, nothing on stdout, no panic and none of the planted
//! `fault::SECRETS` in any output; and the state after where it matters. The servers are on
//! 127.0.0.1, made by the test (support/servers.rs); the cases against the real registry of
//! the test environment are in `against_the_test_registry`.

use crate::support::cases::{
    Case, Scratch, auth_of, build_output, deploy_with, docker_config, fleet_with, kubeconfig,
    local_host, monoship, plain, publish, run_table, tls_registry, truncate, with_exec_plugin,
    with_helper,
};
use crate::support::fault::{self, Expect, SECRETS};
use crate::support::run::Run;
use crate::support::servers::{self, Handler, response, serve};
use crate::support::{fleet, registry, testenv};
use base64::Engine;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = SECRETS[0];
const PASSWORD: &str = SECRETS[1];
const KEY: &str = SECRETS[2];

// ---------------------------------------------------------------- kubeconfig

fn kubeconfig_unclosed_flow(s: &Scratch) -> Run {
    let user = format!("    token: {TOKEN}\n    password: {PASSWORD}\n    extra: [unclosed\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_bad_indent(s: &Scratch) -> Run {
    let user = format!("    token: {TOKEN}\n   client-key-data: {KEY}\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_tab(s: &Scratch) -> Run {
    let user = format!("    token: {TOKEN}\n\tpassword: {PASSWORD}\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_wrong_type(s: &Scratch) -> Run {
    let user = format!("    token: [{TOKEN}, {PASSWORD}]\n");
    deploy_with(s, &kubeconfig(&user), false)
}

fn kubeconfig_from_env(s: &Scratch) -> Run {
    let user = format!("    token: \"{TOKEN}\n");
    deploy_with(s, &kubeconfig(&user), true)
}

fn kubeconfig_second_document(s: &Scratch) -> Run {
    let good = kubeconfig("    token: x\n");
    let bad = format!("---\nusers:\n- name: other\n  user:\n    token: {TOKEN}\n    : {KEY}\n");
    deploy_with(s, &format!("{good}{bad}"), true)
}

fn kubeconfig_v1_client_cert(s: &Scratch) -> Run {
    let (cert, key) = servers::v1_client_cert(s.path());
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&cert),
        b64(&key)
    );
    deploy_with(s, &kubeconfig(&user), false)
}

fn exec_plugin_prints_garbage(s: &Scratch) -> Run {
    with_exec_plugin(
        s,
        &format!(
            "echo '{{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \
             \"ExecCredential\", \"status\": {{\"token\": [\"{TOKEN}\"]}}}}'"
        ),
    )
}

fn exec_plugin_fails(s: &Scratch) -> Run {
    with_exec_plugin(s, &format!("echo '{TOKEN}'; echo '{PASSWORD}' >&2; exit 1"))
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
        Case {
            name: "kubeconfig: an exec plugin that prints garbage with a token",
            code: 1,
            names: &["kube-credential-planted", "ExecCredential", "line 1"],
            run: exec_plugin_prints_garbage,
        },
        Case {
            name: "kubeconfig: an exec plugin that fails, printing secrets",
            code: 1,
            names: &["kube-credential-planted", "failed"],
            run: exec_plugin_fails,
        },
    ]);
}

// ---------------------------------------------------------------- publish: credentials

fn config_truncated(s: &Scratch) -> Run {
    let host = local_host();
    let config = format!(
        "{{\n  \"auths\": {{\n    \"{host}\": {{\n      \"auth\": \"{}\"\n",
        auth_of("me", PASSWORD)
    );
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn config_auth_not_a_string(s: &Scratch) -> Run {
    let host = local_host();
    let config = format!("{{\"auths\": {{\"{host}\": {{\"auth\": [\"{PASSWORD}\"]}}}}}}");
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn config_entry_not_an_object(s: &Scratch) -> Run {
    let host = local_host();
    let config = format!("{{\"auths\": {{\"{host}\": \"{TOKEN}\"}},\n\"x\": 1}}");
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn config_auth_not_base64(s: &Scratch) -> Run {
    let host = local_host();
    let config = format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"%%{PASSWORD}%%\"}}}}}}");
    publish(s, &host, true, &[docker_config(s, &config)])
}

fn helper_prints_garbage(s: &Scratch) -> Run {
    with_helper(s, &format!("echo 'Secret: {PASSWORD} {TOKEN}'"))
}

fn helper_fails(s: &Scratch) -> Run {
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
    let s = Scratch::new();
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
        out.stderr
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

fn tls_untrusted(s: &Scratch) -> Run {
    let (pki, server) = tls_registry();
    // The documented remedy works: with SSL_CERT_FILE the certificate is trusted (this server
    // answers everything with `{}`, so what follows is not a certificate error).
    let trusted = [("SSL_CERT_FILE", pki.ca_cert.display().to_string())];
    let with_ca = publish(&Scratch::new(), &server.host(), false, &trusted);
    let text = &with_ca.stderr;
    assert!(
        !text.contains("certificate"),
        "SSL_CERT_FILE not honoured: {text}"
    );
    let env = [
        ("MONOSHIP_REGISTRY_PASSWORD", PASSWORD.to_string()),
        ("MONOSHIP_REGISTRY_USER", "me".to_string()),
    ];
    let out = publish(s, &server.host(), false, &env);
    let stderr = &out.stderr;
    assert!(
        !stderr.contains("--insecure"),
        "suggests --insecure: {stderr}"
    );
    out
}

fn insecure_against_https(s: &Scratch) -> Run {
    let (_pki, server) = tls_registry();
    publish(s, &server.host(), true, &[])
}

fn registry_500(s: &Scratch) -> Run {
    let server = plain(Arc::new(|_| {
        response("500 Internal Server Error", &[], "boom")
    }));
    publish(s, &server.host(), true, &[])
}

fn registry_html(s: &Scratch) -> Run {
    let page = "<html><body>Please log in</body></html>";
    let server = plain(Arc::new(move |_| {
        response("200 OK", &["Content-Type: text/html; charset=utf-8"], page)
    }));
    publish(s, &server.host(), true, &[])
}

fn registry_down(s: &Scratch) -> Run {
    publish(s, &local_host(), true, &[])
}

fn registry_wrong_password_local(s: &Scratch) -> Run {
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

fn registry_no_answer(s: &Scratch) -> Run {
    let port = servers::silent();
    let started = Instant::now();
    let out = publish(s, &format!("127.0.0.1:{port}"), true, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    out
}

fn color_never(s: &Scratch) -> Run {
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
    let stderr = &out.stderr;
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
            code: 6,
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
            code: 6,
            names: &["cannot reach registry 127.0.0.1"],
            run: registry_down,
        },
        Case {
            name: "a wrong password (basic auth)",
            code: 7,
            names: &["authentication failed for 127.0.0.1"],
            run: registry_wrong_password_local,
        },
        Case {
            name: "a registry that never answers",
            code: 6,
            names: &["127.0.0.1", "no answer"],
            run: registry_no_answer,
        },
        Case {
            name: "--color never: no ANSI escape on stderr",
            code: 6,
            names: &["cannot reach registry 127.0.0.1"],
            run: color_never,
        },
    ]);
}

// ---------------------------------------------------------------- workspace and build record

fn cargo_toml_syntax(_: &Scratch) -> Run {
    let f = fleet_with(|f| {
        f.replace(
            "Cargo.toml",
            "members = [\"apps/*\", \"crates/*\"]",
            "members = [\"apps/*\", \"crates/*\"",
        )
    });
    monoship(f.path(), &["services"], &[])
}

fn cargo_lock_corrupt(_: &Scratch) -> Run {
    let f = fleet_with(|f| f.append("Cargo.lock", "garbage [[[\n"));
    monoship(f.path(), &["services"], &[])
}

fn missing_member(_: &Scratch) -> Run {
    let f = fleet_with(|f| {
        f.replace(
            "Cargo.toml",
            "members = [\"apps/*\", \"crates/*\"]",
            "members = [\"apps/*\", \"crates/*\", \"crates/nope\"]",
        )
    });
    monoship(f.path(), &["services"], &[])
}

fn unknown_revision(_: &Scratch) -> Run {
    let f = fleet::Fleet::new();
    monoship(f.path(), &["affected", "--base", "no-such-revision"], &[])
}

fn build_record_truncated_publish(s: &Scratch) -> Run {
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

fn build_record_truncated_deploy(s: &Scratch) -> Run {
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
    let s = Scratch::new();
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
            code: 7,
            names: &["authentication failed", &host],
        },
    );
    let image = format!("{target}/gateway:0123456789ab");
    let creds = format!("{user}:{right}");
    let inspect = registry::skopeo_inspect(&image, Some(&creds));
    assert!(inspect.is_err(), "{image} exists after a failed publish");
}

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
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

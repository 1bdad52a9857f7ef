//! The runner of the fault tables: `monoship` with a clean environment, one scratch directory
//! per case, each case checked on its own with `fault::assert_fails`; and a build output made
//! by hand (no cargo build) for the cases that reach a registry.

use super::fault::{self, Expect};
use super::fleet;
use super::run::{Monoship, Run};
use super::servers::{self, Handler, response, serve};
use base64::Engine;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `monoship --offline -C DIR ARGS` in an isolated environment (no registry credentials, an
/// empty docker config and home, so no `~/.kube/config`, no KUBECONFIG); `env` adds to it.
pub fn monoship(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    Monoship::at(dir).args(args).isolated().envs(env).run()
}

/// One case: how to make the fault and run the command, and what must come out.
pub struct Case {
    pub name: &'static str,
    pub code: i32,
    pub names: &'static [&'static str],
    pub run: fn(&Scratch) -> Run,
}

/// A scratch directory per case, and the case's own checks of what is left.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// Run every case (each on its own, so one failure does not hide the others).
pub fn run_table(cases: &[Case]) {
    let mut failed = Vec::new();
    for case in cases {
        let scratch = Scratch::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let out = (case.run)(&scratch);
            if std::env::var_os("FAULTS_SHOW").is_some() {
                eprintln!("{}: {}", case.name, out.stderr);
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

/// A build output (build.json and an OCI layout with one tiny image of `gateway`) in
/// `s/out`, made by hand: no cargo build needed to reach the registry.
pub fn build_output(s: &Scratch) -> PathBuf {
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

pub fn truncate(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, &text[..text.len() / 2]).unwrap();
}

pub fn users_image() -> String {
    format!("users=127.0.0.1:5000/fleet/users@sha256:{}", "a".repeat(64))
}

/// A kubeconfig for an API server nobody runs, with `user` as the user's lines (6 spaces in).
pub fn kubeconfig(user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
         https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n\
         {user}contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
        servers::free_port()
    )
}

pub fn deploy_with(s: &Scratch, kubeconfig_text: &str, via_env: bool) -> Run {
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

/// `monoship publish --from <a build output> --registry HOST [--insecure]` outside any
/// workspace.
pub fn publish(s: &Scratch, host: &str, insecure: bool, env: &[(&str, String)]) -> Run {
    let out = build_output(s);
    let from = out.to_str().unwrap();
    let mut args = vec!["publish", "--from", from, "--registry", host];
    if insecure {
        args.push("--insecure");
    }
    monoship(s.path(), &args, env)
}

/// A docker config dir holding `config` (as config.json).
pub fn docker_config(s: &Scratch, config: &str) -> (&'static str, String) {
    s.write("docker/config.json", config);
    (
        "DOCKER_CONFIG",
        s.path().join("docker").display().to_string(),
    )
}

pub fn local_host() -> String {
    format!("127.0.0.1:{}", servers::free_port())
}

pub fn auth_of(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A credential helper `docker-credential-planted` running `script`, configured for the host.
pub fn with_helper(s: &Scratch, script: &str) -> Run {
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

/// A kubeconfig whose user is an exec credential plugin running `script`.
pub fn with_exec_plugin(s: &Scratch, script: &str) -> Run {
    let plugin = s.write(
        "bin/kube-credential-planted",
        &format!("#!/bin/sh\n{script}\n"),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      \
         interactiveMode: Never\n",
        plugin.display()
    );
    deploy_with(s, &kubeconfig(&user), false)
}

pub fn tls_registry() -> (servers::Pki, servers::Server) {
    let pki = servers::pki();
    let handler: Handler =
        Arc::new(|_| response("200 OK", &["Content-Type: application/json"], "{}"));
    let server = serve(Some(&pki), handler);
    (pki, server)
}

pub fn plain(handler: Handler) -> servers::Server {
    serve(None, handler)
}

pub fn fleet_with(change: impl FnOnce(&fleet::Fleet)) -> fleet::Fleet {
    let f = fleet::Fleet::new();
    change(&f);
    f
}

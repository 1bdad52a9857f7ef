//! `Dockerfile.monoship` and `.dockerignore`: one multi-stage Dockerfile for every service of
//! the workspace (cargo-chef dependency caching, BuildKit cache mounts, a distroless non-root
//! runtime), for teams that build their images with Docker or Podman.
//!
//! The file does not depend on the list of services, so adding a service does not change it (a
//! change to `Dockerfile*` affects every service). It builds the binary named by the build
//! argument `BINARY` (the service's name when unset), installs the `docker` table's Debian
//! packages, and builds on its images: the workspace's settings are the defaults of its build
//! arguments, and [`build_args`] gives a service's own (for `build --builder docker|podman`).

use super::template::{self, Vars};
use super::{Context, GenerateError, GeneratedFile};
use crate::config::{DockerSettings, WorkspaceConfig};
use crate::workspace::Service;
use std::path::Path;

/// The generated Dockerfile's name, next to the workspace's `Cargo.toml`.
pub const DOCKERFILE: &str = "Dockerfile.monoship";
/// The generated ignore file (Docker and Podman both read it for the build context).
pub const DOCKERIGNORE: &str = ".dockerignore";
/// The cargo-chef release the `chef` stage installs.
pub const CARGO_CHEF_VERSION: &str = "0.1.78";
/// The port the runtime stage exposes and sets in `PORT`.
pub const PORT: u16 = 9100;
/// `docker.builder` when unset (`RUST_VERSION` is a build argument of the file).
pub const DEFAULT_BUILDER: &str = "docker.io/library/rust:${RUST_VERSION}-slim-bookworm";
/// `docker.runtime` when unset: glibc and CA certificates, no shell, no apt-get.
pub const DEFAULT_RUNTIME: &str = "gcr.io/distroless/cc-debian12:nonroot";

const DOCKERFILE_TEMPLATE: &str = include_str!("templates/Dockerfile.monoship");
const DOCKERIGNORE_TEMPLATE: &str = include_str!("templates/dockerignore");

/// The `docker` settings in force for one service (or the workspace's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docker {
    pub builder: String,
    pub runtime: String,
    pub build_packages: Vec<String>,
    pub runtime_packages: Vec<String>,
}

/// The Dockerfile and its ignore file.
pub fn render(ctx: &Context) -> Result<Vec<GeneratedFile>, GenerateError> {
    let defaults = settings(&ctx.config, None, "Cargo.toml")?;
    for s in &ctx.services {
        settings(&ctx.config, Some(s), &own_file(s))?;
    }
    let mut vars = Vars::new();
    vars.set("dockerfile", DOCKERFILE)
        .set("rust_version", &ctx.rust.version)
        .set("rust_version_source", &ctx.rust.source)
        .set("cargo_chef_version", CARGO_CHEF_VERSION)
        .set("builder", &defaults.builder)
        .set("runtime", &defaults.runtime)
        .set("build_packages", defaults.build_packages.join(" "))
        .set("runtime_packages", defaults.runtime_packages.join(" "))
        .set("port", PORT.to_string());
    Ok(vec![
        GeneratedFile {
            path: DOCKERFILE.into(),
            contents: template::render(DOCKERFILE, DOCKERFILE_TEMPLATE, &vars)?,
        },
        GeneratedFile {
            path: DOCKERIGNORE.into(),
            contents: template::render(DOCKERIGNORE, DOCKERIGNORE_TEMPLATE, &vars)?,
        },
    ])
}

fn own_file(s: &Service) -> String {
    if s.dir.is_empty() {
        "Cargo.toml".into()
    } else {
        format!("{}/Cargo.toml", s.dir)
    }
}

/// The workspace's `docker` keys (`service: None`), or a service's over them, checked: package
/// names are Debian's, images are one word, and runtime packages need a runtime image other
/// than the default (which has no apt-get). `file` is named in errors.
pub fn settings(
    ws: &WorkspaceConfig,
    service: Option<&Service>,
    file: &str,
) -> Result<Docker, GenerateError> {
    let none = DockerSettings::default();
    let base = ws.docker.as_ref().unwrap_or(&none);
    let own = service
        .and_then(|s| s.config.docker.as_ref())
        .unwrap_or(&none);
    let err = |message: String| GenerateError::Input {
        path: file.to_string(),
        message: match service {
            Some(s) => format!("service `{}`: {message}", s.name),
            None => message,
        },
    };
    let list = |get: fn(&DockerSettings) -> &Option<Vec<String>>| {
        get(own)
            .clone()
            .or_else(|| get(base).clone())
            .unwrap_or_default()
    };
    let image = |get: fn(&DockerSettings) -> &Option<String>, default: &str| {
        get(own)
            .clone()
            .or_else(|| get(base).clone())
            .unwrap_or_else(|| default.into())
    };
    let d = Docker {
        builder: image(|d| &d.builder, DEFAULT_BUILDER),
        runtime: image(|d| &d.runtime, DEFAULT_RUNTIME),
        build_packages: list(|d| &d.build_packages),
        runtime_packages: list(|d| &d.runtime_packages),
    };
    for (key, value) in [("builder", &d.builder), ("runtime", &d.runtime)] {
        if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"') {
            return Err(err(format!(
                "`docker.{key}` = \"{value}\" is not an image reference"
            )));
        }
    }
    for (key, list) in [
        ("build-packages", &d.build_packages),
        ("runtime-packages", &d.runtime_packages),
    ] {
        if let Some(p) = list.iter().find(|p| !debian_package(p)) {
            return Err(err(format!(
                "`docker.{key}`: `{p}` is not a Debian package name (lowercase letters, digits, \
                 `+`, `-`, `.`, at least two characters)"
            )));
        }
    }
    if !d.runtime_packages.is_empty() && d.runtime == DEFAULT_RUNTIME {
        return Err(err(format!(
            "`docker.runtime-packages` needs a runtime image with apt-get, and {DEFAULT_RUNTIME} \
             has none: set `docker.runtime` (say \"docker.io/library/debian:bookworm-slim\")"
        )));
    }
    Ok(d)
}

fn debian_package(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c))
}

/// The build arguments of one service besides `SERVICE_NAME`: `BINARY` (its binary), and each
/// `docker` setting of the service that differs from the workspace's (the file's default).
pub fn build_args(ws: &WorkspaceConfig, s: &Service) -> Result<Vec<String>, GenerateError> {
    let defaults = settings(ws, None, "Cargo.toml")?;
    let own = settings(ws, Some(s), &own_file(s))?;
    let mut args = vec![format!("BINARY={}", s.binary)];
    let pairs = [
        ("BUILDER_IMAGE", defaults.builder, own.builder),
        ("RUNTIME_IMAGE", defaults.runtime, own.runtime),
        (
            "BUILD_PACKAGES",
            defaults.build_packages.join(" "),
            own.build_packages.join(" "),
        ),
        (
            "RUNTIME_PACKAGES",
            defaults.runtime_packages.join(" "),
            own.runtime_packages.join(" "),
        ),
    ];
    for (name, default, value) in pairs {
        if default != value {
            args.push(format!("{name}={value}"));
        }
    }
    Ok(args)
}

/// Whether `.dockerignore` in `out` exists and was not generated by monoship: such a file is
/// the team's, and `generate dockerfile` leaves it alone (without `--force`).
pub fn hand_written_ignore(out: &Path) -> bool {
    std::fs::read_to_string(out.join(DOCKERIGNORE))
        .is_ok_and(|text| super::origin(DOCKERIGNORE, &text) == super::Origin::Foreign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::RustVersion;
    use serde_json::json;

    fn ctx(version: &str) -> Context {
        Context {
            services: Vec::new(),
            rust: RustVersion {
                version: version.into(),
                source: "rust-toolchain.toml (channel)".into(),
            },
            config: Default::default(),
            root: "/w".into(),
            repo_root: "/w".into(),
            workspace_dir: String::new(),
            monoship_package: None,
            origin_head: None,
            only_environment: None,
        }
    }

    #[test]
    fn renders_both_files_with_the_rust_version() {
        let files = render(&ctx("1.88.0")).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [DOCKERFILE, DOCKERIGNORE]);
        let docker = &files[0].contents;
        assert!(
            docker.starts_with("# syntax=docker/dockerfile:1\n"),
            "{docker}"
        );
        assert!(docker.contains("ARG RUST_VERSION=1.88.0\n"), "{docker}");
        assert!(docker.contains("# Rust 1.88.0, from rust-toolchain.toml (channel).\n"));
        assert!(docker.contains(&format!("ARG CARGO_CHEF_VERSION={CARGO_CHEF_VERSION}\n")));
        assert!(!docker.contains("{{") && !docker.contains("}}"), "{docker}");
        for f in &files {
            assert!(f.contents.contains(super::super::MARKER), "{}", f.path);
            assert!(f.contents.ends_with('\n'), "{}", f.path);
        }
    }

    #[test]
    fn every_stage_that_uses_service_name_declares_it() {
        let files = render(&ctx("1.95")).unwrap();
        let docker = &files[0].contents;
        let mut stage = String::new();
        let mut declared = false;
        for line in docker.lines().filter(|l| !l.starts_with('#')) {
            if let Some(rest) = line.strip_prefix("FROM ") {
                stage = rest.to_string();
                declared = false;
            } else if line == "ARG SERVICE_NAME" {
                declared = true;
            } else if line.contains("${SERVICE_NAME}") {
                assert!(
                    declared,
                    "stage `{stage}` uses SERVICE_NAME before `ARG SERVICE_NAME`"
                );
            }
        }
    }

    fn svc(name: &str, binary: &str, docker: serde_json::Value) -> Service {
        Service {
            name: name.into(),
            package: name.into(),
            binary: binary.into(),
            mapped_from: None,
            dir: format!("apps/{name}"),
            inputs: Vec::new(),
            config: crate::config::ServiceConfig::from_metadata(
                &json!({"monoship": {"docker": docker}}),
                Path::new("apps/x/Cargo.toml"),
            )
            .unwrap(),
            features: Default::default(),
        }
    }

    fn ws(docker: serde_json::Value) -> WorkspaceConfig {
        WorkspaceConfig::from_metadata(
            &json!({"monoship": {"docker": docker}}),
            Path::new("Cargo.toml"),
        )
        .unwrap()
    }

    #[test]
    fn build_args_name_the_binary_and_what_the_service_sets_itself() {
        let w = ws(json!({"build-packages": ["libssl-dev"]}));
        let plain = svc("users", "users", json!({}));
        assert_eq!(build_args(&w, &plain).unwrap(), ["BINARY=users"]);
        let own = svc(
            "orders",
            "orders-server",
            json!({"build-packages": ["libclang-dev", "pkg-config"],
                   "runtime-packages": ["libpq5"],
                   "runtime": "docker.io/library/debian:bookworm-slim"}),
        );
        assert_eq!(
            build_args(&w, &own).unwrap(),
            [
                "BINARY=orders-server",
                "RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim",
                "BUILD_PACKAGES=libclang-dev pkg-config",
                "RUNTIME_PACKAGES=libpq5",
            ]
        );
    }

    #[test]
    fn bad_docker_settings_name_the_file_and_the_key() {
        let e = settings(
            &ws(json!({})),
            Some(&svc("a", "a", json!({"runtime-packages": ["libpq5"]}))),
            "apps/a/Cargo.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("apps/a/Cargo.toml: service `a`: `docker.runtime-packages` needs"),
            "{e}"
        );
        let e = settings(
            &ws(json!({"build-packages": ["libssl-dev; rm -rf /"]})),
            None,
            "Cargo.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("Cargo.toml: `docker.build-packages`"), "{e}");
        let e = settings(&ws(json!({"builder": "rust latest"})), None, "Cargo.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`docker.builder`"), "{e}");
        let e = WorkspaceConfig::from_metadata(
            &json!({"monoship": {"docker": {"packages": []}}}),
            Path::new("Cargo.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`docker.packages`: unknown field `packages`"),
            "{e}"
        );
    }

    #[test]
    fn workspace_settings_are_the_defaults_of_the_build_arguments() {
        let mut c = ctx("1.95");
        c.config = ws(json!({"build-packages": ["libclang-dev"],
                                          "builder": "registry.local/rust:1.95"}));
        let docker = &render(&c).unwrap()[0].contents;
        assert!(
            docker.contains("ARG BUILD_PACKAGES=\"libclang-dev\"\n"),
            "{docker}"
        );
        assert!(
            docker.contains("ARG BUILDER_IMAGE=registry.local/rust:1.95\n"),
            "{docker}"
        );
        assert!(
            docker.contains(&format!("ARG RUNTIME_IMAGE={DEFAULT_RUNTIME}\n")),
            "{docker}"
        );
    }

    #[test]
    fn a_hand_written_dockerignore_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!hand_written_ignore(dir.path()));
        std::fs::write(dir.path().join(DOCKERIGNORE), "target\n").unwrap();
        assert!(hand_written_ignore(dir.path()));
    }
}

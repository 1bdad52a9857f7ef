//! `Dockerfile.monoship` and `.dockerignore`: one multi-stage Dockerfile for every service of
//! the workspace (cargo-chef dependency caching, BuildKit cache mounts, a distroless non-root
//! runtime), for teams that build their images with Docker or Podman.
//!
//! The file does not depend on the list of services, so adding a service does not change it (a
//! change to `Dockerfile*` affects every service). It expects each service's binary to be named
//! like the service: see [`binary_mismatches`].

use super::template::{self, Vars};
use super::{Context, GenerateError, GeneratedFile};
use crate::workspace::Service;

/// The generated Dockerfile's name, next to the workspace's `Cargo.toml`.
pub const DOCKERFILE: &str = "Dockerfile.monoship";
/// The generated ignore file (Docker and Podman both read it for the build context).
pub const DOCKERIGNORE: &str = ".dockerignore";
/// The cargo-chef release the `chef` stage installs.
pub const CARGO_CHEF_VERSION: &str = "0.1.78";
/// The port the runtime stage exposes and sets in `PORT`.
pub const PORT: u16 = 9100;

const DOCKERFILE_TEMPLATE: &str = include_str!("templates/Dockerfile.monoship");
const DOCKERIGNORE_TEMPLATE: &str = include_str!("templates/dockerignore");

/// The Dockerfile and its ignore file.
pub fn render(ctx: &Context) -> Result<Vec<GeneratedFile>, GenerateError> {
    let mut vars = Vars::new();
    vars.set("dockerfile", DOCKERFILE)
        .set("rust_version", &ctx.rust.version)
        .set("rust_version_source", &ctx.rust.source)
        .set("cargo_chef_version", CARGO_CHEF_VERSION)
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

/// Services whose binary is not named like the service: the Dockerfile builds
/// `--bin ${SERVICE_NAME}`, so these cannot be built with it.
pub fn binary_mismatches<'a>(services: impl IntoIterator<Item = &'a Service>) -> Vec<&'a Service> {
    services
        .into_iter()
        .filter(|s| s.binary != s.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::RustVersion;

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

    #[test]
    fn binary_mismatches_are_found() {
        let svc = |name: &str, binary: &str| Service {
            name: name.into(),
            package: name.into(),
            binary: binary.into(),
            dir: format!("apps/{name}"),
            inputs: Vec::new(),
            config: Default::default(),
            features: Default::default(),
        };
        let services = vec![svc("users", "users"), svc("orders", "orders-server")];
        let found: Vec<&str> = binary_mismatches(&services)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(found, ["orders"]);
    }
}

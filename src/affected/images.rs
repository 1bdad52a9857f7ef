//! The files a service's Dockerfiles copy into its image from the build context, which are
//! inputs of that service alone (reason `dockerfile-copy`).
//!
//! A service's Dockerfiles are the `Dockerfile*` files in its package directory (at any depth,
//! not in a nested package, `target/` or a hidden directory), read from the working tree. Each is
//! read as built from the workspace root (`docker build -f apps/users/Dockerfile .`, the context
//! of `Dockerfile.monoship` and `monoship build --builder docker|podman`) and, when the
//! workspace is a directory of a larger git work tree, also as built from that tree's root;
//! each with the `.dockerignore` beside it (`Dockerfile.dockerignore`) or else the context
//! root's.
//!
//! A copied file is an input of the image unless the crate graph already decides about it: a
//! source that is a directory holding a workspace package (`COPY . .`, `COPY crates ./crates`,
//! `COPY apps/users apps/users`) is a copy for the cargo build, and the Rust build files
//! (`Cargo.toml`, `Cargo.lock`, `*.rs`, `.cargo/`, `rust-toolchain*`) are the crate graph's
//! wherever they are copied. A Dockerfile monoship cannot read fails closed for its service.

use crate::dockerfile::{Copied, DockerIgnore, Sources};
use crate::workspace::{self, Workspace};
use std::path::Path;

/// The Dockerfiles of every service, read.
#[derive(Debug, Default)]
pub struct ImageCopies {
    /// (service index, workspace-relative Dockerfile path, its sources in each context).
    dockerfiles: Vec<(usize, String, Vec<Context>)>,
    /// The git work tree's root and the workspace's directory in it (with a `/`), when the
    /// workspace is below it: a second build context.
    outer: Option<(std::path::PathBuf, String)>,
    /// Dockerfiles that cannot be read: (service index, what and where).
    pub failures: Vec<(usize, String)>,
    /// Every package directory (workspace-relative; `""` for a root package).
    package_dirs: Vec<String>,
}

/// A Dockerfile's sources as built in one context: the workspace root (`prefix` `""`) or the
/// git work tree's root above it (`prefix`: the workspace's directory there, with a `/`).
#[derive(Debug)]
struct Context {
    prefix: String,
    sources: Sources,
}

/// A file that a service's Dockerfile copies into its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerfileInput {
    pub service: usize,
    /// The Dockerfile (workspace-relative).
    pub dockerfile: String,
    /// The line of the instruction that copies it.
    pub line: usize,
}

impl ImageCopies {
    /// Find and read the Dockerfiles of `ws`'s services.
    pub fn load(ws: &Workspace) -> ImageCopies {
        let mut out = ImageCopies::none(ws);
        for (i, s) in ws.services.iter().enumerate() {
            for file in service_dockerfiles(&ws.root, &s.dir, &out.package_dirs) {
                let rel = workspace::rel(&ws.root, &file);
                if let Err(why) = out.add(ws, i, &rel) {
                    out.failures.push((i, why));
                }
            }
        }
        out
    }

    /// No Dockerfile yet, for [`ImageCopies::add`].
    pub fn none(ws: &Workspace) -> ImageCopies {
        let root = std::fs::canonicalize(&ws.root).unwrap_or_else(|_| ws.root.clone());
        let outer = crate::changes::Git::open(&root).ok().and_then(|git| {
            let dir = root.strip_prefix(git.workdir()).ok()?;
            let dir = workspace::rel(Path::new(""), dir);
            (!dir.is_empty()).then(|| (git.workdir().to_path_buf(), format!("{dir}/")))
        });
        ImageCopies {
            package_dirs: ws.packages.iter().map(|p| p.dir.clone()).collect(),
            outer,
            ..ImageCopies::default()
        }
    }

    /// Read `file` (workspace-relative) as a Dockerfile of service `service`, with the
    /// `.dockerignore` beside it or else the workspace root's; what fails says which file and
    /// line.
    pub fn add(&mut self, ws: &Workspace, service: usize, file: &str) -> Result<(), String> {
        let path = ws.root.join(file);
        let beside = path.with_file_name(format!(
            "{}.dockerignore",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let ignore = |context: &Path| {
            if beside.is_file() {
                beside.clone()
            } else {
                context.join(".dockerignore")
            }
        };
        let mut contexts = vec![Context {
            prefix: String::new(),
            sources: read(&path, &ignore(&ws.root), &ws.root)?,
        }];
        if let Some((git_root, prefix)) = &self.outer {
            contexts.push(Context {
                prefix: prefix.clone(),
                sources: read(&path, &ignore(git_root), &ws.root)?,
            });
        }
        self.dockerfiles.push((service, file.to_string(), contexts));
        Ok(())
    }

    /// The services whose Dockerfiles copy `path` (workspace-relative) into their images.
    pub fn inputs(&self, path: &str) -> Vec<DockerfileInput> {
        if is_rust_build_file(path) {
            return Vec::new();
        }
        let mut out: Vec<DockerfileInput> = Vec::new();
        for (service, dockerfile, contexts) in &self.dockerfiles {
            let copy = contexts.iter().find_map(|ctx| {
                let copied = ctx.sources.copies(&format!("{}{path}", ctx.prefix));
                copied
                    .into_iter()
                    .find(|c| !self.build_copy(path, &ctx.prefix, c))
            });
            let Some(c) = copy else {
                continue;
            };
            if !out.iter().any(|d| d.service == *service) {
                out.push(DockerfileInput {
                    service: *service,
                    dockerfile: dockerfile.clone(),
                    line: c.line,
                });
            }
        }
        out
    }

    /// Whether a copy of `path` in the context of `prefix` is one of a directory holding a
    /// workspace package (for the cargo build).
    fn build_copy(&self, path: &str, prefix: &str, c: &Copied) -> bool {
        if c.root.len() == prefix.len() + path.len() {
            return false; // the file itself
        }
        // A directory above the workspace root holds all of it.
        let Some(root) = c.root.strip_prefix(prefix) else {
            return true;
        };
        root.is_empty()
            || self
                .package_dirs
                .iter()
                .any(|d| d == root || d.strip_prefix(root).is_some_and(|r| r.starts_with('/')))
    }
}

/// The files cargo reads for a build, which the crate graph (and the other rules) decide about.
pub fn is_rust_build_file(path: &str) -> bool {
    let name = path.rsplit_once('/').map_or(path, |(_, n)| n);
    matches!(name, "Cargo.toml" | "Cargo.lock")
        || name.ends_with(".rs")
        || name.starts_with("rust-toolchain")
        || path.starts_with(".cargo/")
        || path.contains("/.cargo/")
}

/// A Dockerfile and its context's ignore file, read: what fails says which file and line.
fn read(dockerfile: &Path, ignore: &Path, root: &Path) -> Result<Sources, String> {
    let rel = |p: &Path| workspace::rel(root, p);
    let ignore = match std::fs::read_to_string(ignore) {
        Ok(text) => DockerIgnore::parse(&text)
            .map_err(|(line, m)| format!("{}:{line}: {m}", rel(ignore)))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(format!("{}: {e}", rel(ignore))),
    };
    let text =
        std::fs::read_to_string(dockerfile).map_err(|e| format!("{}: {e}", rel(dockerfile)))?;
    Sources::new(&text, ignore)
        .map_err(|e| format!("{}:{}: {}", rel(dockerfile), e.line, e.message))
}

/// The `Dockerfile*` files below a service's directory, sorted; not in nested packages,
/// `target/`, `node_modules/` or hidden directories.
fn service_dockerfiles(root: &Path, dir: &str, package_dirs: &[String]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(ty) = entry.file_type() else {
                continue;
            };
            if ty.is_dir() {
                let rel = workspace::rel(root, &path);
                let skip = name.starts_with('.')
                    || matches!(name.as_str(), "target" | "node_modules")
                    || package_dirs.contains(&rel);
                if !skip {
                    stack.push(path);
                }
            } else if path.is_file()
                && name.starts_with("Dockerfile")
                && !name.ends_with(".dockerignore")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_build_files_are_the_crate_graphs() {
        for p in [
            "Cargo.toml",
            "Cargo.lock",
            "apps/a/Cargo.toml",
            "src/x.rs",
            ".cargo/config.toml",
        ] {
            assert!(is_rust_build_file(p), "{p}");
        }
        assert!(is_rust_build_file("rust-toolchain.toml"));
        for p in ["config/app.toml", "Cargo.toml.orig", "web/x.rsx"] {
            assert!(!is_rust_build_file(p), "{p}");
        }
    }

    #[test]
    fn copies_of_package_directories_are_for_the_cargo_build() {
        let text = "FROM x\nCOPY . .\nCOPY crates ./crates\nCOPY config ./config\n\
                    COPY crates/assets/static /srv\nCOPY Cargo.toml Cargo.lock ./\n";
        let sources = Sources::new(text, DockerIgnore::default()).unwrap();
        let outer = Sources::new(text, DockerIgnore::default()).unwrap();
        let contexts = vec![
            Context {
                prefix: String::new(),
                sources,
            },
            // Built from the repository root, with the workspace in `ws/`.
            Context {
                prefix: "ws/".into(),
                sources: outer,
            },
        ];
        let copies = ImageCopies {
            dockerfiles: vec![(0, "apps/a/Dockerfile".into(), contexts)],
            outer: None,
            failures: Vec::new(),
            package_dirs: vec!["apps/a".into(), "crates/assets".into()],
        };
        let lines = |p: &str| -> Vec<usize> { copies.inputs(p).iter().map(|d| d.line).collect() };
        assert_eq!(lines("config/app.toml"), [4]);
        assert_eq!(lines("crates/assets/static/i.html"), [5]);
        assert!(lines("crates/assets/README.txt").is_empty());
        assert!(lines("Cargo.lock").is_empty());
        assert!(lines("crates/assets/static/gen.rs").is_empty());
        assert!(lines("web/index.html").is_empty());
    }

    #[test]
    fn a_dockerfile_built_from_the_repository_root_above_the_workspace() {
        // The workspace is `bridge/` of the repository, built with the repository as context.
        let text = "FROM x\nCOPY rust /app/rust\nCOPY bridge /app/bridge\n\
                    COPY bridge/scripts/check.sh /bin/\n";
        let context = |prefix: &str| Context {
            prefix: prefix.into(),
            sources: Sources::new(text, DockerIgnore::default()).unwrap(),
        };
        let copies = ImageCopies {
            dockerfiles: vec![(
                0,
                "Dockerfile".into(),
                vec![context(""), context("bridge/")],
            )],
            outer: None,
            failures: Vec::new(),
            package_dirs: vec!["svix-bridge".into()],
        };
        let lines = |p: &str| -> Vec<usize> { copies.inputs(p).iter().map(|d| d.line).collect() };
        assert_eq!(lines("scripts/check.sh"), [4]);
        // `COPY bridge …` is the whole workspace: for the cargo build.
        assert!(lines("svix-bridge/config.yaml").is_empty());
        assert!(lines("notes.txt").is_empty());
    }
}

//! The files a service's Dockerfiles copy into its image from the build context, which are
//! inputs of that service alone (reason `dockerfile-copy`).
//!
//! A service's Dockerfiles are the `Dockerfile*` files in its package directory (at any depth,
//! not in a nested package, `target/` or a hidden directory), read from the working tree. Each is
//! read as built from the workspace root (`docker build -f apps/users/Dockerfile .`, the context
//! of `Dockerfile.monoship` and `monoship build --builder docker|podman`), with the
//! `.dockerignore` beside it (`Dockerfile.dockerignore`) or else the workspace root's.
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
    /// (service index, workspace-relative Dockerfile path, its sources).
    dockerfiles: Vec<(usize, String, Sources)>,
    /// Dockerfiles that cannot be read: (service index, what and where).
    pub failures: Vec<(usize, String)>,
    /// Every package directory (workspace-relative; `""` for a root package).
    package_dirs: Vec<String>,
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
        ImageCopies {
            package_dirs: ws.packages.iter().map(|p| p.dir.clone()).collect(),
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
        let ignore = if beside.is_file() {
            beside
        } else {
            ws.root.join(".dockerignore")
        };
        let sources = read(&path, &ignore, &ws.root)?;
        self.dockerfiles.push((service, file.to_string(), sources));
        Ok(())
    }

    /// The services whose Dockerfiles copy `path` (workspace-relative) into their images.
    pub fn inputs(&self, path: &str) -> Vec<DockerfileInput> {
        if is_rust_build_file(path) {
            return Vec::new();
        }
        let mut out: Vec<DockerfileInput> = Vec::new();
        for (service, dockerfile, sources) in &self.dockerfiles {
            let copied = sources.copies(path);
            let Some(c) = copied.iter().find(|c| !self.build_copy(path, c)) else {
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

    /// Whether a copy is one of a directory holding a workspace package (for the cargo build).
    fn build_copy(&self, path: &str, c: &Copied) -> bool {
        c.root != path
            && (c.root.is_empty()
                || self.package_dirs.iter().any(|d| {
                    d == &c.root
                        || d.strip_prefix(c.root.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                }))
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
            } else if ty.is_file()
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
        let copies = ImageCopies {
            dockerfiles: vec![(0, "apps/a/Dockerfile".into(), sources)],
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
}

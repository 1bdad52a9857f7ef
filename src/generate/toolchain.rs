//! Which Rust version generated build files use: read from the workspace, never from the machine
//! that runs the generator, so the output is the same everywhere.
//!
//! The first of these that names a version (`1.86` or `1.86.0`) wins:
//!
//! 1. `channel` in `rust-toolchain.toml` (or the legacy `rust-toolchain`, TOML or a bare channel)
//!    — what cargo in the workspace actually uses; `stable`, `nightly-…` and the like name no
//!    version and are skipped;
//! 2. `workspace.package.rust-version` in the root `Cargo.toml`;
//! 3. `package.rust-version` in the root `Cargo.toml`;
//! 4. [`DEFAULT_RUST_VERSION`].

use super::GenerateError;
use std::path::Path;

/// The version used when the workspace names none.
pub const DEFAULT_RUST_VERSION: &str = "1.95";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustVersion {
    /// `1.86` or `1.86.0`.
    pub version: String,
    /// Where it came from, for humans: `rust-toolchain.toml (channel)`, ….
    pub source: String,
}

impl RustVersion {
    pub fn default_version() -> RustVersion {
        RustVersion {
            version: DEFAULT_RUST_VERSION.to_string(),
            source: "monoship's default (the workspace pins no version in rust-toolchain.toml or rust-version)".into(),
        }
    }
}

/// `1.86` or `1.86.0`.
pub fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The Rust version of the workspace whose root is `root`.
pub fn detect(root: &Path) -> Result<RustVersion, GenerateError> {
    for name in ["rust-toolchain.toml", "rust-toolchain"] {
        let path = root.join(name);
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        let channel = toolchain_channel(&text, name == "rust-toolchain").map_err(|message| {
            GenerateError::Input {
                path: path.display().to_string(),
                message,
            }
        })?;
        match channel {
            Some(c) if is_version(&c) => {
                return Ok(RustVersion {
                    version: c,
                    source: format!("{name} (channel)"),
                });
            }
            // A named channel (`stable`, a nightly) pins no version: look further.
            _ => break,
        }
    }
    let manifest = root.join("Cargo.toml");
    if let Some(text) = read_optional(&manifest)? {
        let doc: toml::Table = toml::from_str(&text).map_err(|e| GenerateError::Input {
            path: manifest.display().to_string(),
            message: e.message().to_string(),
        })?;
        for (table, key) in [
            (
                &["workspace", "package"][..],
                "workspace.package.rust-version",
            ),
            (&["package"][..], "package.rust-version"),
        ] {
            let mut cur = Some(&doc);
            for t in table {
                cur = cur.and_then(|c| c.get(*t)).and_then(|v| v.as_table());
            }
            if let Some(v) = cur
                .and_then(|c| c.get("rust-version"))
                .and_then(|v| v.as_str())
                .filter(|v| is_version(v))
            {
                return Ok(RustVersion {
                    version: v.to_string(),
                    source: format!("{key} in Cargo.toml"),
                });
            }
        }
    }
    Ok(RustVersion::default_version())
}

/// The `channel` of a toolchain file (`None` when it names none).
fn toolchain_channel(text: &str, legacy: bool) -> Result<Option<String>, String> {
    if legacy && !text.contains('[') {
        // The legacy file may hold just the channel name.
        let c = text.trim();
        return Ok((!c.is_empty()).then(|| c.to_string()));
    }
    let doc: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    Ok(doc
        .get("toolchain")
        .and_then(|t| t.get("channel"))
        .and_then(|c| c.as_str())
        .map(str::to_string))
}

fn read_optional(path: &Path) -> Result<Option<String>, GenerateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(GenerateError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn detect_in(files: &[(&str, &str)]) -> Result<RustVersion, GenerateError> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        detect(dir.path())
    }

    const MANIFEST: &str =
        "[workspace]\nmembers = []\n[workspace.package]\nrust-version = \"1.86\"\n";

    #[test]
    fn versions() {
        assert!(is_version("1.86") && is_version("1.86.0"));
        assert!(!is_version("stable") && !is_version("1") && !is_version("1.86.0.1"));
        assert!(!is_version("nightly-2025-01-01") && !is_version("1..2"));
    }

    #[test]
    fn toolchain_file_wins() {
        let v = detect_in(&[
            ("rust-toolchain.toml", "[toolchain]\nchannel = \"1.90.0\"\n"),
            ("Cargo.toml", MANIFEST),
        ])
        .unwrap();
        assert_eq!(v.version, "1.90.0");
        assert_eq!(v.source, "rust-toolchain.toml (channel)");
    }

    #[test]
    fn legacy_toolchain_file_with_a_bare_channel() {
        let v = detect_in(&[("rust-toolchain", "1.89\n")]).unwrap();
        assert_eq!(v.version, "1.89");
    }

    #[test]
    fn named_channel_falls_back_to_rust_version() {
        let v = detect_in(&[
            ("rust-toolchain.toml", "[toolchain]\nchannel = \"stable\"\n"),
            ("Cargo.toml", MANIFEST),
        ])
        .unwrap();
        assert_eq!(v.version, "1.86");
        assert_eq!(v.source, "workspace.package.rust-version in Cargo.toml");
    }

    #[test]
    fn package_rust_version() {
        let v = detect_in(&[(
            "Cargo.toml",
            "[package]\nname = \"x\"\nrust-version = \"1.80.1\"\n",
        )])
        .unwrap();
        assert_eq!(v.version, "1.80.1");
        assert_eq!(v.source, "package.rust-version in Cargo.toml");
    }

    #[test]
    fn default_when_nothing_names_a_version() {
        let v = detect_in(&[("Cargo.toml", "[workspace]\nmembers = []\n")]).unwrap();
        assert_eq!(v, RustVersion::default_version());
        assert_eq!(v.version, DEFAULT_RUST_VERSION);
    }

    #[test]
    fn malformed_toolchain_file_is_named() {
        let e = detect_in(&[("rust-toolchain.toml", "[toolchain\n")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("rust-toolchain.toml"), "{e}");
    }
}

//! Files a package reads at build time from outside the usual places, found without building:
//! string literals of `include_str!`, `include_bytes!` and `include!` (relative to the source file,
//! or `concat!(env!("CARGO_MANIFEST_DIR"), "...")` relative to the package), and
//! `cargo:rerun-if-changed=` / `cargo::rerun-if-changed=` literals (relative to the package).
//! Paths built at run time (format strings, variables) are not found.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefKind {
    /// Embedded by an `include_*!` macro.
    Include,
    /// Declared as a build-script input.
    BuildInput,
}

#[derive(Debug, Clone)]
pub struct Reference {
    /// Absolute, normalised path of the referenced file or directory.
    pub target: PathBuf,
    pub kind: RefKind,
    /// The source file that holds the reference.
    pub from: PathBuf,
}

/// All references in the `.rs` files below `pkg_dir`, skipping `target/` and nested packages.
pub fn scan_package(pkg_dir: &Path) -> std::io::Result<Vec<Reference>> {
    let mut out = Vec::new();
    let mut stack = vec![pkg_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                let name = entry.file_name();
                if name == "target"
                    || name.to_string_lossy().starts_with('.')
                    || path.join("Cargo.toml").exists()
                {
                    continue;
                }
                stack.push(path);
            } else if ty.is_file() && path.extension().is_some_and(|e| e == "rs") {
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                scan_source(&text, &path, pkg_dir, &mut out);
            }
        }
    }
    Ok(out)
}

fn scan_source(text: &str, file: &Path, pkg_dir: &Path, out: &mut Vec<Reference>) {
    let file_dir = file.parent().unwrap_or(pkg_dir);
    for mac in ["include_str!", "include_bytes!", "include!"] {
        let mut rest = text;
        while let Some(i) = rest.find(mac) {
            rest = &rest[i + mac.len()..];
            let arg = rest.trim_start();
            let Some(arg) = arg.strip_prefix('(') else {
                continue;
            };
            let arg = arg.trim_start();
            if let Some((lit, _)) = string_literal(arg) {
                out.push(Reference {
                    target: normalize(&file_dir.join(lit)),
                    kind: RefKind::Include,
                    from: file.to_path_buf(),
                });
            } else if let Some(after) = arg.strip_prefix("concat!")
                // concat!(env!("CARGO_MANIFEST_DIR"), "/path")
                && let Some(after) = opened(after).strip_prefix("env!")
                && let Some((var, tail)) = string_literal(opened(after))
                && var == "CARGO_MANIFEST_DIR"
                && let Some((lit, _)) = string_literal(closed_then_comma(tail))
            {
                out.push(Reference {
                    target: normalize(&pkg_dir.join(lit.trim_start_matches('/'))),
                    kind: RefKind::Include,
                    from: file.to_path_buf(),
                });
            }
        }
    }
    let consts = string_consts(text);
    for key in ["cargo:rerun-if-changed=", "cargo::rerun-if-changed="] {
        let mut rest = text;
        while let Some(i) = rest.find(key) {
            rest = &rest[i + key.len()..];
            let end = rest.find(['"', '\n']).unwrap_or(rest.len());
            let Some(lit) = expand_format(&rest[..end], &rest[end..], &consts) else {
                continue;
            };
            if lit.is_empty() {
                continue;
            }
            out.push(Reference {
                target: normalize(&pkg_dir.join(lit)),
                kind: RefKind::BuildInput,
                from: file.to_path_buf(),
            });
        }
    }
}

/// What follows a macro's opening parenthesis.
fn opened(s: &str) -> &str {
    s.trim_start().trim_start_matches('(').trim_start()
}

/// What follows `), ` after a macro argument.
fn closed_then_comma(s: &str) -> &str {
    s.trim_start()
        .trim_start_matches(')')
        .trim_start()
        .trim_start_matches(',')
        .trim_start()
}

/// `const NAME: &str = "...";` (and `static`) items of a file.
fn string_consts(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line
            .trim_start()
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ");
        let Some(rest) = line
            .strip_prefix("const ")
            .or_else(|| line.strip_prefix("static "))
        else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(':') else {
            continue;
        };
        let Some((ty, value)) = rest.split_once('=') else {
            continue;
        };
        if ty.trim() != "&str" && ty.trim() != "&'static str" {
            continue;
        }
        if let Some((lit, _)) = string_literal(value.trim_start()) {
            out.push((name.trim().to_string(), lit));
        }
    }
    out
}

/// The text of a `println!` format string after `rerun-if-changed=`, with `{NAME}` or `{}`
/// filled in from string constants of the same file; `None` when a part is not a constant.
fn expand_format(fmt: &str, after: &str, consts: &[(String, String)]) -> Option<String> {
    if fmt.contains('\\') {
        return None;
    }
    let lookup = |name: &str| {
        consts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    // Positional arguments after the closing quote: `", A, B)`.
    let mut args = after
        .trim_start_matches('"')
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let name = &rest[open + 1..close];
        let value = if name.is_empty() {
            lookup(args.next()?)?
        } else {
            lookup(name)?
        };
        out.push_str(&value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A plain or raw string literal at the start of `s`: its value and what follows it.
fn string_literal(s: &str) -> Option<(String, &str)> {
    if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((value, &body[i + 1..])),
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        None
    } else if let Some(raw) = s.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw[hashes..].strip_prefix('"')?;
        let close = format!("\"{}", "#".repeat(hashes));
        let end = body.find(&close)?;
        Some((body[..end].to_string(), &body[end + close.len()..]))
    } else {
        None
    }
}

/// Resolve `.` and `..` without touching the file system.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals_of_every_form() {
        let src = r##"
            const A: &str = include_str!("../../config/routes.json");
            const B: &[u8] = include_bytes!(r#"data/x.bin"#);
            const C: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/init.sql"));
            include!(concat!(env!("OUT_DIR"), "/gen.rs"));
            const SCHEMA: &str = "../../proto/a.proto";
            fn main() { println!("cargo:rerun-if-changed=../../schemas/events.json"); println!("cargo::rerun-if-changed={}", x); }
            fn more() { println!("cargo:rerun-if-changed={SCHEMA}"); println!("cargo:rerun-if-changed={}", SCHEMA); }
        "##;
        let mut out = Vec::new();
        scan_source(
            src,
            Path::new("/w/apps/gw/src/main.rs"),
            Path::new("/w/apps/gw"),
            &mut out,
        );
        let got: Vec<_> = out
            .iter()
            .map(|r| (r.target.display().to_string(), r.kind))
            .collect();
        assert!(
            got.contains(&("/w/apps/config/routes.json".into(), RefKind::Include)),
            "{got:?}"
        );
        assert!(
            got.contains(&("/w/apps/gw/src/data/x.bin".into(), RefKind::Include)),
            "{got:?}"
        );
        assert!(
            got.contains(&("/w/apps/gw/sql/init.sql".into(), RefKind::Include)),
            "{got:?}"
        );
        assert!(
            got.contains(&("/w/schemas/events.json".into(), RefKind::BuildInput)),
            "{got:?}"
        );
        let proto = ("/w/proto/a.proto".to_string(), RefKind::BuildInput);
        assert_eq!(got.iter().filter(|g| **g == proto).count(), 2, "{got:?}");
        assert_eq!(got.len(), 6, "{got:?}");
    }
}

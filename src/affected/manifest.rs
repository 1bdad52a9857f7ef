//! Semantic diffs of `Cargo.toml` and `Cargo.lock`: which parts of a change can alter a binary.

use std::collections::{BTreeMap, BTreeSet};
use toml::{Table, Value};

pub fn parse(text: &[u8], what: &str) -> Result<Table, String> {
    let text = std::str::from_utf8(text).map_err(|_| format!("{what}: not UTF-8"))?;
    text.parse::<Table>()
        .map_err(|e| format!("{what}: {}", e.message()))
}

/// Sections of a package manifest that cannot change the package's build output.
fn strip_non_binary(table: &Table) -> Table {
    let mut t = table.clone();
    t.remove("dev-dependencies");
    t.remove("dev_dependencies");
    t.remove("badges");
    t.remove("lints");
    if let Some(Value::Table(pkg)) = t.get_mut("package") {
        pkg.remove("metadata");
    }
    if let Some(Value::Table(targets)) = t.get_mut("target") {
        for (_, v) in targets.iter_mut() {
            if let Value::Table(tt) = v {
                tt.remove("dev-dependencies");
                tt.remove("dev_dependencies");
            }
        }
        targets.retain(|_, v| !matches!(v, Value::Table(tt) if tt.is_empty()));
    }
    // Workspace-level sections are judged separately.
    for key in ["workspace", "profile", "patch", "replace"] {
        t.remove(key);
    }
    t
}

/// The binary-relevant top-level sections that differ between two package manifests.
pub fn package_changes(base: &Table, head: &Table) -> Vec<String> {
    table_diff(&strip_non_binary(base), &strip_non_binary(head))
        .into_iter()
        .map(|k| format!("[{k}]"))
        .collect()
}

/// Keys whose values differ (added, removed or changed).
fn table_diff(a: &Table, b: &Table) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

fn sub<'a>(t: &'a Table, key: &str) -> Option<&'a Table> {
    t.get(key).and_then(Value::as_table)
}

/// What changed in the workspace root manifest.
#[derive(Debug, Default, PartialEq)]
pub struct RootChanges {
    /// Sections whose change affects every service, e.g. `[profile.release]`.
    pub global: Vec<String>,
    /// Changed `[workspace.dependencies]` entries.
    pub workspace_dependencies: Vec<String>,
    /// Changed `[workspace.package]` keys.
    pub workspace_package: Vec<String>,
    /// If the root manifest is also a package: its binary-relevant changed sections.
    pub root_package: Vec<String>,
}

pub fn root_changes(base: &Table, head: &Table) -> RootChanges {
    let mut out = RootChanges::default();
    let empty = Table::new();
    for section in ["profile", "patch"] {
        let (a, b) = (
            sub(base, section).unwrap_or(&empty),
            sub(head, section).unwrap_or(&empty),
        );
        for k in table_diff(a, b) {
            out.global.push(format!("[{section}.{k}]"));
        }
    }
    if base.get("replace") != head.get("replace") {
        out.global.push("[replace]".into());
    }
    let (wa, wb) = (
        sub(base, "workspace").unwrap_or(&empty),
        sub(head, "workspace").unwrap_or(&empty),
    );
    for k in table_diff(wa, wb) {
        match k.as_str() {
            "dependencies" => {
                out.workspace_dependencies = table_diff(
                    sub(wa, "dependencies").unwrap_or(&empty),
                    sub(wb, "dependencies").unwrap_or(&empty),
                )
            }
            "package" => {
                out.workspace_package = table_diff(
                    sub(wa, "package").unwrap_or(&empty),
                    sub(wb, "package").unwrap_or(&empty),
                )
            }
            // Membership changes show up as the members' own files; metadata is configuration;
            // lints do not change code generation.
            "members" | "exclude" | "default-members" | "metadata" | "lints" => {}
            other => out.global.push(format!("[workspace.{other}]")),
        }
    }
    let is_package = base.contains_key("package") || head.contains_key("package");
    let rest = package_changes(base, head);
    if is_package {
        out.root_package = rest;
    } else {
        // A virtual manifest has nothing else that belongs to one package: fail towards all.
        out.global.extend(rest);
    }
    out
}

/// Does this member manifest inherit `[workspace.dependencies].name` in a normal or build
/// dependency table (including `[target.*]` ones)?
pub fn inherits_dependency(member: &Table, name: &str) -> bool {
    let inherits = |deps: Option<&Table>| {
        deps.and_then(|d| d.get(name))
            .and_then(Value::as_table)
            .and_then(|t| t.get("workspace"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let tables = ["dependencies", "build-dependencies", "build_dependencies"];
    if tables.iter().any(|t| inherits(sub(member, t))) {
        return true;
    }
    sub(member, "target").is_some_and(|targets| {
        targets
            .values()
            .filter_map(Value::as_table)
            .any(|tt| tables.iter().any(|t| inherits(sub(tt, t))))
    })
}

/// Does this member manifest inherit `[workspace.package].key`?
pub fn inherits_package_key(member: &Table, key: &str) -> bool {
    sub(member, "package")
        .and_then(|p| p.get(key))
        .and_then(Value::as_table)
        .and_then(|t| t.get("workspace"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// One resolved registry or git package whose identity changed in `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockChange {
    pub name: String,
    pub version: String,
    pub source: String,
    /// Versions of the same name at base that are gone at head.
    pub previous: Vec<String>,
}

type LockKey = (String, String, String, String);

fn lock_entries(table: &Table) -> BTreeSet<LockKey> {
    crate::workspace::lockfile::packages(table)
        // Path packages (workspace members) carry no source; their changes are file changes.
        .filter(|p| !p.source.is_empty())
        .map(|p| (p.name, p.version, p.source, p.checksum))
        .collect()
}

/// Resolved packages present at head that were not resolved identically at base.
pub fn lock_changes(base: &Table, head: &Table) -> Vec<LockChange> {
    let (a, b) = (lock_entries(base), lock_entries(head));
    let mut base_versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (n, v, _, _) in &a {
        base_versions.entry(n).or_default().insert(v);
    }
    let head_versions: BTreeSet<(&str, &str)> = b
        .iter()
        .map(|(n, v, _, _)| (n.as_str(), v.as_str()))
        .collect();
    b.difference(&a)
        .map(|(n, v, s, _)| LockChange {
            name: n.clone(),
            version: v.clone(),
            source: s.clone(),
            previous: base_versions
                .get(n.as_str())
                .map(|vs| {
                    vs.iter()
                        .filter(|old| !head_versions.contains(&(n.as_str(), **old)))
                        .map(|s| s.to_string())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn dev_dependencies_and_metadata_do_not_count() {
        let a = t("[package]\nname='a'\n[dependencies]\nx='1'\n[dev-dependencies]\ny='1'");
        let b = t(
            "[package]\nname='a'\n[package.metadata.monoship]\ninputs=[]\n[dependencies]\nx='1'\n[dev-dependencies]\ny='2'",
        );
        assert!(package_changes(&a, &b).is_empty());
        let c = t("[package]\nname='a'\n[dependencies]\nx='2'");
        assert_eq!(package_changes(&a, &c), vec!["[dependencies]"]);
    }

    #[test]
    fn root_sections_are_classified() {
        let a = t(
            "[workspace]\nmembers=['a']\n[workspace.dependencies]\nx='1'\ny='1'\n[profile.release]\nopt-level=2",
        );
        let b = t(
            "[workspace]\nmembers=['a','b']\n[workspace.dependencies]\nx='1'\ny='2'\n[profile.release]\nopt-level=3",
        );
        let c = root_changes(&a, &b);
        assert_eq!(c.global, vec!["[profile.release]"]);
        assert_eq!(c.workspace_dependencies, vec!["y"]);
        assert!(c.root_package.is_empty());
    }

    #[test]
    fn inheritance_is_found_in_target_tables() {
        let m = t(
            "[target.'cfg(unix)'.dependencies]\nx={workspace=true}\n[dev-dependencies]\ny={workspace=true}",
        );
        assert!(inherits_dependency(&m, "x"));
        assert!(!inherits_dependency(&m, "y"));
    }

    #[test]
    fn lock_bump_is_one_change() {
        let a = t(
            "[[package]]\nname='u'\nversion='1.0.0'\nsource='registry+x'\nchecksum='a'\n[[package]]\nname='w'\nversion='0.1.0'",
        );
        let b = t(
            "[[package]]\nname='u'\nversion='1.1.0'\nsource='registry+x'\nchecksum='b'\n[[package]]\nname='w'\nversion='0.1.0'",
        );
        let c = lock_changes(&a, &b);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].name.as_str(), c[0].version.as_str()), ("u", "1.1.0"));
        assert_eq!(c[0].previous, vec!["1.0.0"]);
    }
}

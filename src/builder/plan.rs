//! Grouping services into as few cargo invocations as correctness allows.
//!
//! Cargo unifies features across the packages of one invocation, so two services may share an
//! invocation only if every package they both use is built with the same features for each of
//! them alone. The feature sets come from `cargo tree -p SERVICE -e normal,build -f '{p}|{f}'`
//! (with the service's configured features), which resolves one package at a time.

use crate::config::Features;
use crate::workspace::features::Tree;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Package (as `cargo tree` prints it) → its enabled features, for one service built alone.
pub type FeatureMap = BTreeMap<String, String>;

pub fn features_alone(
    manifest: &Path,
    package: &str,
    features: &Features,
    target: &str,
    offline: bool,
) -> Result<FeatureMap, String> {
    let tree = Tree {
        manifest,
        package,
        target,
        offline,
        locked: true,
    };
    Ok(parse_tree(&tree.run(features, "none", "{p}|{f}")?))
}

/// The cache's name of a package built with `features`: the package, and the cargo flags
/// when there are any.
fn cache_entry(package: &str, features: &Features) -> String {
    let args = features.cargo_args([package]);
    if args.is_empty() {
        package.to_string()
    } else {
        format!("{package} {}", args.join(" "))
    }
}

/// The feature map of each of `packages` built alone (with its features), from `cache` when
/// nothing that decides features has changed since it was written: the manifests,
/// `Cargo.lock`, cargo's configuration files, the target and cargo's version (all hashed into
/// the cache's key). Missing entries come from `cargo tree`, a few at a time, and are added to
/// the cache. The result has one map for each of `packages`, in their order (a package can be
/// there twice, built with different features for two services).
pub fn features_cached(
    ws: &crate::workspace::Workspace,
    packages: &[(&str, &Features)],
    target: &str,
    offline: bool,
    cache: &Path,
) -> Result<Vec<FeatureMap>, String> {
    let key = cache_key(ws, target)?;
    let mut known: BTreeMap<String, FeatureMap> = std::fs::read(cache)
        .ok()
        .and_then(|b| serde_json::from_slice::<Cached>(&b).ok())
        .filter(|c| c.key == key)
        .map(|c| c.packages)
        .unwrap_or_default();
    let missing: Vec<(&str, &Features)> = packages
        .iter()
        .copied()
        .filter(|(p, f)| !known.contains_key(&cache_entry(p, f)))
        .collect();
    if !missing.is_empty() {
        let found = crate::parallel::map(&missing, |(p, f)| {
            features_alone(&ws.manifest, p, f, target, offline)
        });
        for ((p, f), map) in missing.iter().zip(found) {
            known.insert(cache_entry(p, f), map?);
        }
        let body = serde_json::to_vec(&Cached {
            key,
            packages: known.clone(),
        })
        .expect("json");
        // Best effort: without the cache the next build asks cargo again.
        let _ = crate::atomic::write_in_new_dir(cache, &body);
    }
    Ok(packages
        .iter()
        .map(|(p, f)| known[&cache_entry(p, f)].clone())
        .collect())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cached {
    key: String,
    packages: BTreeMap<String, FeatureMap>,
}

fn cache_key(ws: &crate::workspace::Workspace, target: &str) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut add = |label: &str, bytes: &[u8]| {
        h.update(label.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let version = Command::new(&cargo)
        .arg("-V")
        .output()
        .map_err(|e| format!("running cargo -V: {e}"))?;
    add("cargo", &version.stdout);
    add("target", target.as_bytes());
    let mut files = vec![ws.manifest.clone(), ws.root.join("Cargo.lock")];
    files.extend(ws.packages.iter().map(|p| p.manifest_path.clone()));
    for dir in ws.root.ancestors() {
        files.push(dir.join(".cargo/config.toml"));
        files.push(dir.join(".cargo/config"));
    }
    let home = super::cargo_home();
    files.push(home.join("config.toml"));
    files.push(home.join("config"));
    for f in files {
        add(&f.to_string_lossy(), &std::fs::read(&f).unwrap_or_default());
    }
    Ok(format!("{:x}", h.finalize()))
}

fn parse_tree(text: &str) -> FeatureMap {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_end_matches("(*)").trim_end();
            let (pkg, features) = l.split_once('|')?;
            Some((pkg.trim().to_string(), features.trim().to_string()))
        })
        .collect()
}

/// Services whose shared packages agree on features, greedily, in the given order.
pub fn group<'a>(services: &[(&'a str, FeatureMap)]) -> Vec<Vec<&'a str>> {
    let mut groups: Vec<(Vec<&str>, FeatureMap)> = Vec::new();
    for (name, features) in services {
        let fits = groups.iter_mut().find(|(_, merged)| {
            features
                .iter()
                .all(|(pkg, f)| merged.get(pkg).is_none_or(|g| g == f))
        });
        match fits {
            Some((names, merged)) => {
                names.push(name);
                merged.extend(features.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            None => groups.push((vec![name], features.clone())),
        }
    }
    groups.into_iter().map(|(names, _)| names).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace with services `a` and `b`; `b` enables feature `extra` of library `l`.
    fn workspace(dir: &Path) -> crate::workspace::Workspace {
        let write = |p: &str, text: &str| {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nresolver = \"2\"\nmembers = [\"a\", \"b\", \"l\"]\n",
        );
        write(
            "l/Cargo.toml",
            "[package]\nname = \"l\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[features]\nextra = []\n",
        );
        write("l/src/lib.rs", "");
        for (name, dep) in [
            ("a", "l = { path = \"../l\" }"),
            ("b", "l = { path = \"../l\", features = [\"extra\"] }"),
        ] {
            write(
                &format!("{name}/Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\n{dep}\n"
                ),
            );
            write(&format!("{name}/src/main.rs"), "fn main() {}\n");
        }
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["generate-lockfile", "--offline", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .status()
            .unwrap();
        assert!(status.success());
        let target = crate::workspace::host_target();
        let meta = crate::workspace::cargo_metadata(&dir.join("Cargo.toml"), target, true).unwrap();
        crate::workspace::Workspace::from_metadata(meta, target).unwrap()
    }

    #[test]
    fn features_are_cached_until_a_manifest_changes() {
        let dir = tempfile::tempdir().unwrap();
        let ws = workspace(dir.path());
        let target = crate::workspace::host_target();
        let cache = dir.path().join("target/monoship/cache/features.json");
        let none = Features::default();
        let both = [("a", &none), ("b", &none)];
        let l = |m: &[FeatureMap], p: usize| {
            m[p].iter()
                .find(|(k, _)| k.starts_with("l v"))
                .unwrap()
                .1
                .clone()
        };
        let first = features_cached(&ws, &both, target, true, &cache).unwrap();
        assert_eq!(
            (l(&first, 0), l(&first, 1)),
            (String::new(), "extra".to_string())
        );
        assert!(cache.exists());

        // The cache answers while nothing changed: a doctored entry is returned as it is.
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        doc["packages"]["a"] = serde_json::json!({"l v0.1.0 (cached)": "from-cache"});
        std::fs::write(&cache, doc.to_string()).unwrap();
        let cached = features_cached(&ws, &both, target, true, &cache).unwrap();
        assert_eq!(l(&cached, 0), "from-cache");

        // A service's configured features are a cache entry of their own.
        let extra = Features {
            features: vec!["l/extra".into()],
            ..Features::default()
        };
        let with = features_cached(&ws, &[("a", &extra)], target, true, &cache).unwrap();
        assert_eq!(l(&with, 0), "extra");
        let cached = features_cached(&ws, &both, target, true, &cache).unwrap();
        assert_eq!(l(&cached, 0), "from-cache");

        // A manifest change makes it ask cargo again.
        let manifest = dir.path().join("a/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            text.replace(
                "path = \"../l\" }",
                "path = \"../l\", features = [\"extra\"] }",
            ),
        )
        .unwrap();
        let again = features_cached(&ws, &both, target, true, &cache).unwrap();
        assert_eq!(l(&again, 0), "extra");
    }

    #[test]
    fn conflicting_features_split_groups() {
        let t = |s: &str| parse_tree(s);
        let gateway = t(
            "gateway v0.1.0 (/w/apps/gateway)|\ncommon v0.1.0 (/w/crates/common)|\ntokio v1.0.0|rt (*)\n",
        );
        let search = t("search v0.1.0 (/w/apps/search)|\ncommon v0.1.0 (/w/crates/common)|\n");
        let reports =
            t("reports v0.1.0 (/w/apps/reports)|\ncommon v0.1.0 (/w/crates/common)|verbose\n");
        let analytics =
            t("analytics v0.1.0 (/w/apps/analytics)|\ncommon v0.1.0 (/w/crates/common)|verbose\n");
        assert_eq!(gateway.get("tokio v1.0.0").map(String::as_str), Some("rt"));
        let groups = group(&[
            ("gateway", gateway),
            ("reports", reports),
            ("search", search),
            ("analytics", analytics),
        ]);
        assert_eq!(
            groups,
            vec![vec!["gateway", "search"], vec!["reports", "analytics"]]
        );
    }
}

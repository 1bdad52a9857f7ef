//! Grouping services into as few cargo invocations as correctness allows.
//!
//! Cargo unifies features across the packages of one invocation, so two services may share an
//! invocation only if every package they both use is built with the same features for each of
//! them alone. The feature sets come from `cargo tree -p SERVICE -e normal,build -f '{p}|{f}'`,
//! which resolves one package at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Package (as `cargo tree` prints it) → its enabled features, for one service built alone.
pub type FeatureMap = BTreeMap<String, String>;

pub fn features_alone(
    manifest: &Path,
    package: &str,
    target: &str,
    offline: bool,
) -> Result<FeatureMap, String> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["tree", "--locked", "--manifest-path"])
        .arg(manifest)
        .args(["-p", package, "--target", target, "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}|{f}"]);
    if offline {
        cmd.arg("--offline");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running cargo tree: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or(err.trim());
        return Err(format!("cargo tree -p {package}: {line}"));
    }
    Ok(parse_tree(&String::from_utf8_lossy(&out.stdout)))
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

    #[test]
    fn conflicting_features_split_groups() {
        let t = |s: &str| parse_tree(s);
        let gateway = t("gateway v0.1.0 (/w/apps/gateway)|\ncommon v0.1.0 (/w/crates/common)|\ntokio v1.0.0|rt (*)\n");
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

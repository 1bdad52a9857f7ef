//! Cargo features a service is built with: `features`, `no-default-features`, `all-features`.

use super::ConfigError;
use serde::Deserialize;
use std::path::Path;

/// The cargo features a service is built with, as configured (in the workspace table, the
/// defaults, or a service's table; each key set in a service's table wins).
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct FeatureSettings {
    /// `--features`: the service's own features (`name`) or a dependency's (`dep/name`).
    pub features: Option<Vec<String>>,
    /// `--no-default-features`.
    pub no_default_features: Option<bool>,
    /// `--all-features`.
    pub all_features: Option<bool>,
}

impl FeatureSettings {
    /// Every name is one cargo feature: `name` or `dep/name`, nothing cargo would split.
    pub(super) fn check(&self, file: &Path, table: &'static str) -> Result<(), ConfigError> {
        for f in self.features.iter().flatten() {
            let parts: Vec<&str> = f.split('/').collect();
            let bad = parts.len() > 2
                || parts
                    .iter()
                    .any(|p| p.is_empty() || p.contains(|c: char| c == ',' || c.is_whitespace()));
            if bad {
                return Err(ConfigError::Invalid {
                    file: file.display().to_string(),
                    table,
                    message: format!("`features`: `{f}` is not `name` or `dependency/name`"),
                });
            }
        }
        Ok(())
    }

    /// This table's keys over `defaults`'.
    pub fn over(&self, defaults: &FeatureSettings) -> Features {
        let mut features = self
            .features
            .clone()
            .or_else(|| defaults.features.clone())
            .unwrap_or_default();
        features.sort();
        features.dedup();
        Features {
            features,
            no_default_features: self
                .no_default_features
                .or(defaults.no_default_features)
                .unwrap_or(false),
            all_features: self.all_features.or(defaults.all_features).unwrap_or(false),
        }
    }
}

/// The cargo features a service is built with: cargo's defaults unless configured.
#[derive(Debug, Default, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Features {
    /// Sorted, without repeats.
    pub features: Vec<String>,
    pub no_default_features: bool,
    pub all_features: bool,
}

impl Features {
    /// Cargo's defaults: no feature flag at all.
    pub fn is_default(&self) -> bool {
        *self == Features::default()
    }

    /// The flags of a cargo command that selects `packages` (`-p`), all configured with these
    /// features. A feature of the package itself is named `package/feature`, so it cannot reach
    /// another selected package; a dependency's (`dep/feature`) is passed as it is.
    pub fn cargo_args<'a>(&self, packages: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut args = Vec::new();
        if self.all_features {
            args.push("--all-features".to_string());
        }
        if self.no_default_features {
            args.push("--no-default-features".to_string());
        }
        if !self.features.is_empty() {
            let mut list: Vec<String> = Vec::new();
            for package in packages {
                for f in &self.features {
                    list.push(if f.contains('/') {
                        f.clone()
                    } else {
                        format!("{package}/{f}")
                    });
                }
            }
            list.sort();
            list.dedup();
            args.extend(["--features".to_string(), list.join(",")]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ServiceConfig, WorkspaceConfig};
    use serde_json::json;

    #[test]
    fn features_take_the_service_keys_over_the_workspace_defaults() {
        let all = WorkspaceConfig::from_metadata(
            &json!({"monoship": {"features": ["lib/x"], "no-default-features": true}}),
            Path::new("Cargo.toml"),
        )
        .unwrap();
        let own = ServiceConfig::from_metadata(
            &json!({"monoship": {"features": ["b", "a", "b"], "port": 1}}),
            Path::new("apps/a/Cargo.toml"),
        )
        .unwrap();
        let f = own.features.over(&all.features);
        assert_eq!(f.features, ["a", "b"]);
        assert!(f.no_default_features && !f.all_features);
        assert_eq!(
            f.cargo_args(["s", "t"]),
            ["--no-default-features", "--features", "s/a,s/b,t/a,t/b"]
        );
        let inherited = ServiceConfig::default().features.over(&all.features);
        assert_eq!(inherited.cargo_args(["s"])[1..], ["--features", "lib/x"]);
        assert!(
            ServiceConfig::default()
                .features
                .over(&FeatureSettings::default())
                .is_default()
        );
    }

    #[test]
    fn malformed_features_and_unknown_keys_are_named() {
        let err = |monoship: serde_json::Value| {
            ServiceConfig::from_metadata(
                &json!({ "monoship": monoship }),
                Path::new("apps/a/Cargo.toml"),
            )
            .unwrap_err()
            .to_string()
        };
        for bad in ["a b", "", "a/b/c", "x,y"] {
            let e = err(json!({"features": [bad]}));
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        // Beside two flattened tables, an unknown key is still one.
        let e = err(json!({"feature": ["x"]}));
        assert!(e.contains("unknown field `feature`"), "{e}");
    }
}

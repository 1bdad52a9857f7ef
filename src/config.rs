//! Configuration: `[workspace.metadata.monoship]` in the workspace root manifest and
//! `[package.metadata.monoship]` per service package.
//!
//! Precedence, lowest first: built-in defaults < workspace table < package table < command-line flags.
//! List keys (`global-inputs`, `ignore`) extend the built-in defaults instead of replacing them;
//! a glob with a leading `!` takes back what the globs before it match ([`crate::globs`]).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::path::Path;

/// Globs whose change affects every service (before the configured `global-inputs`, which can
/// take them back with `!`). A Dockerfile elsewhere belongs to the package whose directory holds
/// it.
pub const DEFAULT_GLOBAL_INPUTS: &[&str] = &[
    "Dockerfile*",
    "rust-toolchain",
    "rust-toolchain.toml",
    ".cargo/config",
    ".cargo/config.toml",
];

/// Globs that never affect a service unless a package embeds the file.
pub const DEFAULT_IGNORE: &[&str] = &[
    "**/*.md",
    "docs/**",
    ".github/**",
    "LICENSE*",
    "**/.gitignore",
];

/// Default service globs (package directories relative to the workspace root).
pub const DEFAULT_SERVICES: &[&str] = &["apps/*"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: invalid [{table}]: {message}")]
    Invalid {
        file: String,
        table: &'static str,
        message: String,
    },
    #[error("{file}: invalid glob `{glob}` in `{key}`: {message}")]
    Glob {
        file: String,
        key: String,
        glob: String,
        message: String,
    },
    /// Globs of `services` that match no workspace member, all of them.
    #[error("{file}: {}", unmatched_services(globs))]
    UnmatchedServices { file: String, globs: Vec<String> },
    /// `services = []`.
    #[error("{file}: `services` is empty: list the directories of the service packages")]
    EmptyServices { file: String },
    /// No `services`, no member under the default globs and none with a binary target.
    #[error(
        "{file}: no services: no workspace member is in the default `services = [{}]` and none \
         has a binary target; set `services` in [workspace.metadata.monoship]",
        quoted(DEFAULT_SERVICES, "\"", ", ")
    )]
    NoServices { file: String },
}

/// `` `services` glob `svc/*` matches no workspace member `` (or globs, each named).
fn unmatched_services(globs: &[String]) -> String {
    let list = quoted(globs, "`", ", ");
    match globs.len() {
        1 => format!("`services` glob {list} matches no workspace member"),
        _ => format!("`services` globs {list} match no workspace member"),
    }
}

fn quoted(items: &[impl AsRef<str>], quote: &str, sep: &str) -> String {
    items
        .iter()
        .map(|i| format!("{quote}{}{quote}", i.as_ref()))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `[workspace.metadata.monoship]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkspaceConfig {
    /// Globs of package directories that are services.
    pub services: Option<Vec<String>>,
    /// Extra globs whose change affects every service.
    #[serde(default)]
    pub global_inputs: Vec<String>,
    /// Extra globs that never affect a service.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Target triple whose dependency graph is analysed (default: the host's) and, when set,
    /// that `build` and `ship` compile for (default `x86_64-unknown-linux-gnu`).
    pub target: Option<String>,
    /// Cargo profile of `build` and `ship` (default `release`).
    pub profile: Option<String>,
    /// Registry images are published to, `HOST[/PREFIX]` (default for `--registry`).
    pub registry: Option<String>,
    /// Image name template; placeholders `{registry}`, `{prefix}`, `{service}`
    /// (default `{registry}/{service}`).
    pub image: Option<String>,
    /// The `{prefix}` of the image template (default empty).
    pub prefix: Option<String>,
    /// Tags for published images besides the revision's short sha.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Namespace of the services' Deployments (default: the kubeconfig context's, else
    /// `default`).
    pub namespace: Option<String>,
    /// Deployment name template; placeholders `{service}`, `{prefix}` (default `{service}`).
    pub deployment: Option<String>,
    /// The container whose image `deploy` sets (default: the one named like the service, else
    /// the only one).
    pub container: Option<String>,
    /// Pods per Deployment in `monoship generate k8s` (default 2; a service's own value wins).
    pub replicas: Option<u32>,
    /// Container resources in `monoship generate k8s`, per quantity over the defaults.
    pub resources: Option<Resources>,
    /// The probes of `monoship generate k8s` (per key; a service's own keys win).
    pub probe: Option<Probe>,
    /// Extra container ports of `monoship generate k8s` (a service's own list replaces these).
    pub ports: Option<Vec<ContainerPort>>,
    /// `generate dockerfile` and `build --builder docker|podman` (a service's own keys win).
    pub docker: Option<DockerSettings>,
    /// Image settings for every service (a service's own table overrides them).
    #[serde(flatten)]
    pub image_settings: ImageSettings,
    /// Cargo features for every service (a service's own keys override them).
    #[serde(flatten)]
    pub features: FeatureSettings,
    /// The environments (`--env NAME`), by name.
    #[serde(default)]
    pub environments: std::collections::BTreeMap<String, EnvironmentConfig>,
}

/// `[workspace.metadata.monoship.environments.NAME]`: where the environment runs, and what it
/// sets over the workspace's and the services' own keys.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EnvironmentConfig {
    /// The kubeconfig context (default: the kubeconfig's current one).
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub registry: Option<String>,
    /// `generate k8s` in this environment.
    pub replicas: Option<u32>,
    pub resources: Option<Resources>,
}

/// `[package.metadata.monoship.environments.NAME]`: a service's own keys in one environment.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceEnvironment {
    pub namespace: Option<String>,
    pub replicas: Option<u32>,
    pub resources: Option<Resources>,
}

/// Image settings, in the workspace table (defaults) or a service's table.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct ImageSettings {
    /// The port the service listens on (`PORT` and the exposed port; default 9100).
    pub port: Option<u16>,
    /// Extra environment variables of the image.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Extra files copied into the image.
    #[serde(default)]
    pub files: Vec<ExtraFile>,
    /// Link statically (default true; the built-in base has no C library).
    #[serde(rename = "static")]
    pub static_link: Option<bool>,
    /// `builtin` (default: monoship's own scratch-like base) or an image reference to build on.
    pub base: Option<String>,
    /// Strip debug info from the binary in the image (default true; monoship's builder).
    pub strip: Option<bool>,
}

impl ImageSettings {
    /// A service's settings: this table's over `defaults`' (`env` merged, this table's value
    /// winning; `files` both, the defaults' first).
    pub fn over(&self, defaults: &ImageSettings) -> ImageSettings {
        let mut env = defaults.env.clone();
        env.extend(self.env.clone());
        ImageSettings {
            port: self.port.or(defaults.port),
            env,
            files: defaults.files.iter().chain(&self.files).cloned().collect(),
            static_link: self.static_link.or(defaults.static_link),
            base: self.base.clone().or_else(|| defaults.base.clone()),
            strip: self.strip.or(defaults.strip),
        }
    }
}

/// A file copied into an image.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExtraFile {
    /// Path relative to the workspace root.
    pub src: String,
    /// Absolute path in the image.
    pub dst: String,
    /// File mode (default 0o444).
    pub mode: Option<u32>,
}

/// `[package.metadata.monoship]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceConfig {
    /// Extra globs, relative to the workspace root, whose change affects this service.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Overrides of the workspace's `namespace`, `deployment` and `container` for this service.
    pub namespace: Option<String>,
    pub deployment: Option<String>,
    pub container: Option<String>,
    /// Services deployed before this one (`deploy` goes in waves; a failed one skips this).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Overrides of the workspace's `replicas` and `resources` for this service.
    pub replicas: Option<u32>,
    pub resources: Option<Resources>,
    /// Overrides of the workspace's `probe` (per key) and `ports` (the whole list).
    pub probe: Option<Probe>,
    pub ports: Option<Vec<ContainerPort>>,
    /// Overrides of the workspace's `docker` keys (each key as a whole).
    pub docker: Option<DockerSettings>,
    #[serde(flatten)]
    pub image_settings: ImageSettings,
    #[serde(flatten)]
    pub features: FeatureSettings,
    /// Its keys in each environment, by environment name.
    #[serde(default)]
    pub environments: std::collections::BTreeMap<String, ServiceEnvironment>,
}

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
    fn check(&self, file: &Path, table: &'static str) -> Result<(), ConfigError> {
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

/// `resources = { requests = { cpu = "50m", memory = "64Mi" }, limits = { memory = "128Mi" } }`:
/// Kubernetes quantities of the generated Deployment's container. Each quantity set here replaces
/// the one below it (defaults < workspace < service); `""` removes it.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub requests: ResourceList,
    #[serde(default)]
    pub limits: ResourceList,
}

/// The quantities of `requests` or `limits`.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResourceList {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
}

/// `probe = { path = "/healthz", port = 8081, scheme = "HTTPS" }`: the `httpGet` of the
/// generated Deployment's three probes (defaults: `/health`, the service's `port`, HTTP).
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub path: Option<String>,
    pub port: Option<u16>,
    pub scheme: Option<Scheme>,
}

/// The scheme of an HTTP probe.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Scheme {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

/// `ports = [{ name = "metrics", port = 9090 }]`: a container port besides `http`, also a port
/// of the generated Service.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    pub name: String,
    pub port: u16,
}

/// `docker = { build-packages = ["libclang-dev"], runtime-packages = ["libpq5"],
/// builder = "IMAGE", runtime = "IMAGE" }`: what `Dockerfile.monoship` builds on and installs.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DockerSettings {
    /// Debian packages installed in the build stages (apt-get).
    pub build_packages: Option<Vec<String>>,
    /// Debian packages installed in the runtime image (needs a `runtime` with apt-get).
    pub runtime_packages: Option<Vec<String>>,
    /// The image of the build stages.
    pub builder: Option<String>,
    /// The image the service runs on.
    pub runtime: Option<String>,
}

impl WorkspaceConfig {
    /// Parse from the `workspace.metadata` JSON value that `cargo metadata` reports.
    pub fn from_metadata(
        metadata: &serde_json::Value,
        file: &Path,
    ) -> Result<WorkspaceConfig, ConfigError> {
        let table = "workspace.metadata.monoship";
        let config: WorkspaceConfig = parse_table(metadata, file, table)?;
        config.features.check(file, table)?;
        Ok(config)
    }
}

impl ServiceConfig {
    pub fn from_metadata(
        metadata: &serde_json::Value,
        file: &Path,
    ) -> Result<ServiceConfig, ConfigError> {
        let table = "package.metadata.monoship";
        let config: ServiceConfig = parse_table(metadata, file, table)?;
        config.features.check(file, table)?;
        Ok(config)
    }
}

fn parse_table<T: Default + for<'de> Deserialize<'de>>(
    metadata: &serde_json::Value,
    file: &Path,
    table: &'static str,
) -> Result<T, ConfigError> {
    match metadata.get("monoship") {
        None | Some(serde_json::Value::Null) => Ok(T::default()),
        // The error names the key at fault (`replicas`, `resources.limits.memory`, …).
        Some(value) => serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::Invalid {
                file: file.display().to_string(),
                table,
                message: if path == "." {
                    inner.to_string()
                } else {
                    format!("`{path}`: {inner}")
                },
            }
        }),
    }
}

/// Compile globs (relative to the workspace root, `/`-separated; `*` stays within one path
/// component, `**` crosses components).
pub fn compile_globs<'a>(
    globs: impl IntoIterator<Item = &'a str>,
    file: &Path,
    key: &str,
) -> Result<GlobSet, ConfigError> {
    let globs = globs
        .into_iter()
        .map(|glob| compile_glob(glob, file, key))
        .collect::<Result<Vec<_>, _>>()?;
    build_set(globs, file, key)
}

/// The set of `globs` (compiled by [`compile_glob`]), in their order.
pub fn build_set(
    globs: impl IntoIterator<Item = Glob>,
    file: &Path,
    key: &str,
) -> Result<GlobSet, ConfigError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(glob);
    }
    builder.build().map_err(|e| ConfigError::Glob {
        file: file.display().to_string(),
        key: key.to_string(),
        glob: String::new(),
        message: e.to_string(),
    })
}

pub fn compile_glob(glob: &str, file: &Path, key: &str) -> Result<Glob, ConfigError> {
    let err = |message: String| ConfigError::Glob {
        file: file.display().to_string(),
        key: key.to_string(),
        glob: glob.to_string(),
        message,
    };
    if glob.is_empty() {
        return Err(err("empty glob".into()));
    }
    if glob.starts_with('/') {
        return Err(err("globs are relative to the workspace root".into()));
    }
    GlobBuilder::new(glob.trim_end_matches('/'))
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| err(e.kind().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_key_is_named() {
        let err = WorkspaceConfig::from_metadata(
            &json!({"monoship": {"service": ["apps/*"]}}),
            Path::new("Cargo.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `service`"), "{err}");
        assert!(err.starts_with("Cargo.toml:"), "{err}");
    }

    #[test]
    fn image_settings_parse_and_unknown_keys_still_fail() {
        let c = ServiceConfig::from_metadata(
            &json!({"monoship": {"port": 8080, "static": false, "env": {"A": "1"},
                    "files": [{"src": "x.txt", "dst": "/etc/x.txt"}]}}),
            Path::new("apps/a/Cargo.toml"),
        )
        .unwrap();
        assert_eq!(c.image_settings.port, Some(8080));
        assert_eq!(c.image_settings.static_link, Some(false));
        assert_eq!(c.image_settings.files[0].dst, "/etc/x.txt");
        let err = ServiceConfig::from_metadata(
            &json!({"monoship": {"prot": 8080}}),
            Path::new("apps/a/Cargo.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("prot") && err.contains("apps/a/Cargo.toml"),
            "{err}"
        );
    }

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

    #[test]
    fn star_stays_in_one_component() {
        let set = compile_globs(["apps/*"], Path::new("x"), "services").unwrap();
        assert!(set.is_match("apps/users"));
        assert!(!set.is_match("apps/users/src"));
        let set = compile_globs(["**/*.md"], Path::new("x"), "ignore").unwrap();
        assert!(set.is_match("README.md"));
        assert!(set.is_match("apps/users/README.md"));
    }

    #[test]
    fn malformed_glob_is_an_error() {
        let err = compile_globs(["apps/[x"], Path::new("Cargo.toml"), "ignore")
            .unwrap_err()
            .to_string();
        assert!(err.contains("apps/[x") && err.contains("ignore"), "{err}");
    }
}

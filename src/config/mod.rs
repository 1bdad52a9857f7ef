//! Configuration: `[workspace.metadata.monoship]` in the workspace root manifest and
//! `[package.metadata.monoship]` per service package.
//!
//! Precedence, lowest first: built-in defaults < workspace table < package table < command-line flags.
//! List keys (`global-inputs`, `ignore`) extend the built-in defaults instead of replacing them;
//! a glob with a leading `!` takes back what the globs before it match ([`crate::globs`]).

mod docker;
mod features;
mod image;
mod k8s;
mod objects;

pub use docker::DockerSettings;
pub use features::{FeatureSettings, Features};
pub use image::{ExtraFile, ImageSettings};
pub use k8s::{ContainerPort, Probe, ResourceList, Resources, Scheme};
pub use objects::{HelmSettings, ObjectSettings, PreDeploy, PreDeployCommand, Source};

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
    pub workflow: Option<crate::generate::workflow::WorkflowConfig>,
    /// Image settings for every service (a service's own table overrides them).
    #[serde(flatten)]
    pub image_settings: ImageSettings,
    /// Cargo features for every service (a service's own keys override them).
    #[serde(flatten)]
    pub features: FeatureSettings,
    /// Where every service's Kubernetes objects come from, and its pre-deploy jobs (a
    /// service's own source replaces this one).
    #[serde(flatten)]
    pub objects: ObjectSettings,
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
    /// Several clusters, rolled out one after the other (the first is the canary).
    pub contexts: Option<Vec<String>>,
    pub namespace: Option<String>,
    pub registry: Option<String>,
    /// `generate k8s` in this environment.
    pub replicas: Option<u32>,
    pub resources: Option<Resources>,
    /// Environment variables of every service's container in this environment (`generate
    /// k8s` overlays; a service's own environment table wins per variable).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The only environment `monoship promote` takes this one's images from.
    pub promote_from: Option<String>,
}

/// `[package.metadata.monoship.environments.NAME]`: a service's own keys in one environment.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceEnvironment {
    pub namespace: Option<String>,
    pub replicas: Option<u32>,
    pub resources: Option<Resources>,
    /// Over the environment's `env`, per variable.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// `[package.metadata.monoship]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceConfig {
    /// The service's name when it is not the package's (images, Deployments, `affected`).
    pub name: Option<String>,
    /// The binary target it runs (default: the package's only one, else cargo's `default-run`).
    pub binary: Option<String>,
    /// Several services built from this package, by name (instead of `name` and `binary`).
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, ServiceEntry>,
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
    /// Where its Kubernetes objects come from, and its pre-deploy jobs.
    #[serde(flatten)]
    pub objects: ObjectSettings,
    /// Its keys in each environment, by environment name.
    #[serde(default)]
    pub environments: std::collections::BTreeMap<String, ServiceEnvironment>,
    /// The container environment variables an environment gives the service (set by
    /// `Workspace::in_environment`, not read from the table).
    #[serde(skip)]
    pub environment_env: std::collections::BTreeMap<String, String>,
}

/// `[package.metadata.monoship.services.NAME]`: one of several services of a package.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// The binary target it runs (default: the one named like the table).
    pub binary: Option<String>,
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

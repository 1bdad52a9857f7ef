//! What `monoship generate k8s` renders per service: `resources`, `probe`, `ports`.

use serde::Deserialize;

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

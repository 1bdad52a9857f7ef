//! `docker`: what `Dockerfile.monoship` builds on and installs.

use serde::Deserialize;

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

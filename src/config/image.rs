//! Image settings: what an image carries and runs on (the workspace's defaults, a service's own).

use serde::Deserialize;

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

//! What a build is made with: its options at the workspace's HEAD, each service's image
//! settings (base image, port, environment, files, linking, stripping), and the base images
//! pulled.

use super::{BuildError, DEFAULT_PROFILE, DEFAULT_TARGET, Options, io};
use crate::image;
use crate::workspace::Workspace;
use std::path::Path;

impl Options {
    /// A build of `ws` at its HEAD commit: `profile` and `target` from the flags, else the
    /// configuration, else [`DEFAULT_PROFILE`] and [`DEFAULT_TARGET`]; labelled with
    /// `SOURCE_DATE_EPOCH` when set, else the commit's time. Every service unless `services`.
    pub fn at_head(
        ws: &Workspace,
        profile: Option<&str>,
        target: Option<&str>,
        offline: bool,
    ) -> Result<Options, BuildError> {
        let git =
            crate::changes::Git::open(&ws.root).map_err(|e| BuildError::Config(e.to_string()))?;
        let (revision, commit_time) = git
            .head_info()
            .map_err(|e| BuildError::Config(e.to_string()))?;
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.parse().map_err(|_| {
                BuildError::Config(format!("SOURCE_DATE_EPOCH is not a number: `{v}`"))
            })?,
            Err(_) => commit_time,
        };
        let pick = |flag: Option<&str>, config: &Option<String>, default: &str| {
            flag.map(str::to_string)
                .or_else(|| config.clone())
                .unwrap_or_else(|| default.to_string())
        };
        Ok(Options {
            services: Vec::new(),
            profile: pick(profile, &ws.config.profile, DEFAULT_PROFILE),
            target: pick(target, &ws.config.target, DEFAULT_TARGET),
            static_link: None,
            offline,
            revision: revision.to_string(),
            epoch,
            out_dir: None,
            runtime: None,
        })
    }
}

/// The image a service's image is built on (`base`: `builtin`, or a reference).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum BaseImage {
    /// monoship's own: CA certificates, a passwd entry, nothing else.
    Builtin,
    /// An image pulled from a registry.
    Pulled(String),
}

impl BaseImage {
    fn parse(value: Option<String>) -> BaseImage {
        match value {
            None => BaseImage::Builtin,
            Some(v) if v == "builtin" => BaseImage::Builtin,
            Some(reference) => BaseImage::Pulled(reference),
        }
    }
}

/// A service's image settings: its own table, else the workspace's, else the defaults.
pub(super) struct Settings {
    pub(super) base: BaseImage,
    pub(super) port: u16,
    pub(super) env: Vec<String>,
    pub(super) files: Vec<(String, u32, Vec<u8>)>,
    pub(super) static_link: bool,
    /// Strip the binary's debug info in the image (`strip`, default true).
    pub(super) strip: bool,
}

impl Settings {
    pub(super) fn resolve(
        ws: &Workspace,
        s: &crate::workspace::Service,
        opts: &Options,
    ) -> Result<Settings, BuildError> {
        let set = s.config.image_settings.over(&ws.config.image_settings);
        let static_link = opts.static_link.or(set.static_link).unwrap_or(true);
        let base = BaseImage::parse(set.base.clone());
        if !static_link && base == BaseImage::Builtin {
            return Err(BuildError::Config(format!(
                "service `{}`: static = false needs a `base` image with a C library; the built-in base has none",
                s.name
            )));
        }
        let mut files = Vec::new();
        for f in &set.files {
            let Some(dst) = f.dst.strip_prefix('/') else {
                return Err(BuildError::Config(format!(
                    "service `{}`: file destination `{}` must be absolute",
                    s.name, f.dst
                )));
            };
            let src = ws.root.join(&f.src);
            let data = std::fs::read(&src).map_err(|e| {
                BuildError::Config(format!("service `{}`: file `{}`: {e}", s.name, f.src))
            })?;
            files.push((dst.to_string(), f.mode.unwrap_or(0o444), data));
        }
        Ok(Settings {
            base,
            port: set.port.unwrap_or(9100),
            env: set.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            files,
            static_link,
            strip: set.strip.unwrap_or(true),
        })
    }
}

/// Pull a base image (once; its blobs are cached by digest under the target directory) and
/// take its layers as they are. Plain HTTP only for registries on this machine.
pub(super) fn pull_base(
    reference: &str,
    target_dir: &Path,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<image::Base, BuildError> {
    let err = |message: String| BuildError::Base {
        reference: reference.to_string(),
        message,
    };
    let host = reference.split('/').next().unwrap_or("");
    let transport = crate::registry::Transport::for_base(host);
    let cache = crate::registry::pull::cache_dir(target_dir);
    let pulled = crate::registry::pull::pull(reference, &cache, transport, runtime)
        .map_err(|e| err(e.to_string()))?;
    let config: serde_json::Value = std::fs::read(pulled.blob_path(&pulled.config.digest))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| err("unreadable image config".into()))?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != pulled.layers.len() {
        return Err(err("the config's diff_ids do not match the layers".into()));
    }
    let mut layers = Vec::new();
    for (blob, diff_id) in pulled.layers.iter().zip(diff_ids) {
        let path = pulled.blob_path(&blob.digest);
        let data = std::fs::read(&path).map_err(io(&path))?;
        layers.push(image::layer::Layer {
            blob: data,
            digest: blob.digest.clone(),
            diff_id,
            media_type: blob.media_type.clone(),
        });
    }
    let env = config["config"]["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok(image::Base {
        name: format!("{}@{}", pulled.repository, pulled.digest),
        layers,
        env,
    })
}

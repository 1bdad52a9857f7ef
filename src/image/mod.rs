//! Image assembly without Docker: base layers + one layer with the service binary, written as
//! an OCI image layout.

pub mod base;
pub mod digest;
pub mod layer;
pub mod oci;

use layer::{Entry, Layer};
use std::collections::BTreeMap;

pub use oci::{Image, ImageSpec};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("building a layer: {0}")]
    Layer(std::io::Error),
    #[error("writing the image layout {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What to put in one service's image.
#[derive(Debug, Clone)]
pub struct ServiceImage<'a> {
    /// The binary's file name: the image runs `/app/NAME`.
    pub binary_name: &'a str,
    pub binary: &'a [u8],
    pub port: u16,
    pub env: Vec<String>,
    /// Extra files: path in the image (relative to `/`), mode, contents.
    pub files: Vec<(String, u32, Vec<u8>)>,
    pub labels: BTreeMap<String, String>,
    /// Seconds since the epoch for every file time and the `created` field.
    pub epoch: u64,
    /// Where compressed layers are kept between builds (see [`layer::build_with`]).
    pub layer_cache: Option<&'a std::path::Path>,
}

/// What a service image is built on.
#[derive(Debug, Clone)]
pub struct Base {
    /// `monoship:static` for the built-in base, else the pulled reference pinned by digest.
    pub name: String,
    pub layers: Vec<Layer>,
    /// The base image's environment (`PATH`, …), overridden by the service's.
    pub env: Vec<String>,
}

/// The built-in base: the same for every service and every commit (its files carry a fixed
/// time), so a registry stores it once.
pub fn builtin_base() -> Result<Base, ImageError> {
    builtin_base_cached(None)
}

/// [`builtin_base`], its layer kept in `layer_cache` (see [`layer::build_with`]).
pub fn builtin_base_cached(layer_cache: Option<&std::path::Path>) -> Result<Base, ImageError> {
    Ok(Base {
        name: BUILTIN_BASE.into(),
        layers: vec![
            layer::build_with(base::entries(), BASE_EPOCH, layer_cache)
                .map_err(ImageError::Layer)?,
        ],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
    })
}

/// The file time of the built-in base: 2000-01-01T00:00:00Z.
pub const BASE_EPOCH: u64 = 946_684_800;

/// The name of the built-in base in build records.
pub const BUILTIN_BASE: &str = "monoship:static";

/// The service's image: the base's layers as they are, then one layer with the binary.
pub fn assemble(svc: &ServiceImage<'_>, base: &Base) -> Result<Image, ImageError> {
    let mut entries = vec![
        Entry::Dir {
            path: "app".into(),
            mode: 0o755,
        },
        Entry::File {
            path: format!("app/{}", svc.binary_name),
            mode: 0o555,
            data: svc.binary.to_vec(),
        },
    ];
    for (path, mode, data) in &svc.files {
        // Parent directories of extra files, so every path in the layer has its directory.
        let mut parent = std::path::Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            entries.push(Entry::Dir {
                path: p.to_string_lossy().into_owned(),
                mode: 0o755,
            });
            parent = p.parent();
        }
        entries.push(Entry::File {
            path: path.clone(),
            mode: *mode,
            data: data.clone(),
        });
    }
    let app = layer::build_with(entries, svc.epoch, svc.layer_cache).map_err(ImageError::Layer)?;
    let mut ours = vec![format!("PORT={}", svc.port)];
    if base.name == BUILTIN_BASE {
        ours.push("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_string());
    }
    ours.extend(svc.env.iter().cloned());
    let key = |e: &String| e.split('=').next().unwrap_or("").to_string();
    let mut env: Vec<String> = base
        .env
        .iter()
        .filter(|b| !ours.iter().any(|o| key(o) == key(b)))
        .cloned()
        .collect();
    env.extend(ours);
    let spec = ImageSpec {
        entrypoint: vec![format!("/app/{}", svc.binary_name)],
        user: format!("{0}:{0}", base::NONROOT),
        env,
        working_dir: "/app".into(),
        exposed_ports: vec![svc.port],
        labels: svc.labels.clone(),
        created: rfc3339(svc.epoch),
    };
    let mut layers = base.layers.clone();
    layers.push(app);
    Ok(Image::assemble(&spec, layers))
}

/// `1970-01-01T00:00:00Z` style UTC time.
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn same_binary_same_image_digest() {
        let base = builtin_base().unwrap();
        let svc = |bin: &'static [u8]| ServiceImage {
            binary_name: "users",
            binary: bin,
            port: 9100,
            env: vec![],
            files: vec![],
            labels: BTreeMap::from([("org.opencontainers.image.title".into(), "users".into())]),
            epoch: 10,
            layer_cache: None,
        };
        let a = assemble(&svc(b"\x7fELF one"), &base).unwrap();
        let b = assemble(&svc(b"\x7fELF one"), &builtin_base().unwrap()).unwrap();
        assert_eq!(a.digest, b.digest);
        let c = assemble(&svc(b"\x7fELF two"), &base).unwrap();
        assert_ne!(a.digest, c.digest);
        assert_eq!(
            a.layers[0].digest, c.layers[0].digest,
            "the base layer is shared"
        );
    }
}

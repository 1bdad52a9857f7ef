//! OCI image config, manifest, and the image layout directory.

use super::digest::{self, sha256};
use super::layer::Layer;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn of(media_type: &str, data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: sha256(data),
            size: data.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// What goes into an image's config.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub entrypoint: Vec<String>,
    pub user: String,
    pub env: Vec<String>,
    pub working_dir: String,
    pub exposed_ports: Vec<u16>,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339, from SOURCE_DATE_EPOCH.
    pub created: String,
}

/// A finished image: its blobs (config, layers) and manifest.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl Image {
    pub fn assemble(spec: &ImageSpec, layers: Vec<Layer>) -> Image {
        let ports: BTreeMap<String, Value> = spec
            .exposed_ports
            .iter()
            .map(|p| (format!("{p}/tcp"), json!({})))
            .collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": spec.created,
            "config": {
                "User": spec.user,
                "Entrypoint": spec.entrypoint,
                "Env": spec.env,
                "WorkingDir": spec.working_dir,
                "ExposedPorts": ports,
                "Labels": spec.labels,
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": layers.iter().map(|_| json!({"created": spec.created, "created_by": "monoship"})).collect::<Vec<_>>(),
        });
        let config = serde_json::to_vec(&config).expect("json");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": Descriptor::of(CONFIG, &config),
            "layers": layers.iter().map(|l| Descriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.blob.len() as u64,
                annotations: BTreeMap::new(),
            }).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).expect("json");
        Image {
            digest: sha256(&manifest),
            config,
            layers,
            manifest,
        }
    }

    /// Compressed bytes of all layers plus the config.
    pub fn size(&self) -> u64 {
        self.config.len() as u64 + self.layers.iter().map(|l| l.blob.len() as u64).sum::<u64>()
    }
}

/// Write `images` (name → image) into an OCI image layout at `dir`: blobs are added (existing
/// ones kept), `index.json` lists exactly these images, each annotated with its name.
pub fn write_layout(dir: &Path, images: &[(String, &Image)]) -> std::io::Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let put = |d: &str, data: &[u8]| -> std::io::Result<()> {
        let path = blobs.join(digest::hex(d));
        if !path.exists() {
            crate::atomic::write(&path, data)?;
        }
        Ok(())
    };
    let mut manifests = Vec::new();
    for (name, image) in images {
        for l in &image.layers {
            put(&l.digest, &l.blob)?;
        }
        put(&sha256(&image.config), &image.config)?;
        put(&image.digest, &image.manifest)?;
        let mut d = Descriptor::of(MANIFEST, &image.manifest);
        d.annotations.insert(REF_NAME.into(), name.clone());
        manifests.push(d);
    }
    write_index(dir, &manifests).map_err(|(_, e)| e)
}

/// The layout's `oci-layout` marker, then its `index.json` listing `manifests` (written last by
/// every writer of a layout, whose blobs are all there by then: it never names a missing one).
/// An error comes with the file it was writing.
pub fn write_index<M: Serialize>(
    dir: &Path,
    manifests: &[M],
) -> Result<(), (PathBuf, std::io::Error)> {
    let marker = dir.join("oci-layout");
    crate::atomic::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| (marker, e))?;
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests});
    let path = dir.join("index.json");
    crate::atomic::write(&path, &serde_json::to_vec_pretty(&index).expect("json"))
        .map_err(|e| (path, e))
}

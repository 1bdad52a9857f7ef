//! Reading what `monoship build` left: the build record and the images in the OCI layout.

use super::PublishError;
use crate::builder::{BuildRecord, ServiceRecord};
use crate::image::oci;
use crate::registry::pull::BlobRef;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The build record in `dir`, or [`PublishError::NoBuildRecord`].
pub fn read_record(dir: &Path) -> Result<(BuildRecord, PathBuf), PublishError> {
    let path = dir.join(crate::builder::BUILD_RECORD);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PublishError::NoBuildRecord(path.display().to_string()));
        }
        Err(source) => {
            return Err(PublishError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let record = serde_json::from_slice(&bytes).map_err(|e| PublishError::BadBuildRecord {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    Ok((record, path))
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    config: BlobRef,
    layers: Vec<BlobRef>,
}

/// One service's image, as built.
#[derive(Debug, Clone)]
pub struct LocalImage {
    pub service: String,
    pub digest: String,
    pub media_type: String,
    pub manifest: Vec<u8>,
    /// Layers in manifest order, then the config: the order they are pushed in.
    pub blobs: Vec<BlobRef>,
    blob_dir: PathBuf,
}

impl LocalImage {
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, PublishError> {
        let path = self.blob_dir.join(crate::image::digest::hex(digest));
        std::fs::read(&path).map_err(|source| PublishError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// The images of `services` in the layout at `dir`, checked against the build record.
pub fn read_images(
    dir: &Path,
    services: &[&ServiceRecord],
) -> Result<Vec<LocalImage>, PublishError> {
    let layout_err = |path: &Path, detail: String| PublishError::Layout {
        path: path.display().to_string(),
        detail,
    };
    let index_path = dir.join("index.json");
    let bytes = std::fs::read(&index_path)
        .map_err(|e| layout_err(&index_path, format!("{e}; run `monoship build` again")))?;
    let index: Index = serde_json::from_slice(&bytes)
        .map_err(|e| layout_err(&index_path, format!("not an OCI image index: {e}")))?;
    let blob_dir = dir.join("blobs/sha256");
    let mut out = Vec::new();
    for s in services {
        let entry = index
            .manifests
            .iter()
            .find(|m| m.annotations.get(oci::REF_NAME) == Some(&s.service))
            .ok_or_else(|| {
                layout_err(
                    &index_path,
                    format!("no image for `{}`; run `monoship build` again", s.service),
                )
            })?;
        if entry.digest != s.image_digest {
            return Err(layout_err(
                &index_path,
                format!(
                    "the image of `{}` is {} but the build record says {}; run `monoship build` again",
                    s.service, entry.digest, s.image_digest
                ),
            ));
        }
        let manifest_path = blob_dir.join(crate::image::digest::hex(&entry.digest));
        let manifest =
            std::fs::read(&manifest_path).map_err(|e| layout_err(&manifest_path, e.to_string()))?;
        let actual = crate::image::digest::sha256(&manifest);
        if actual != entry.digest {
            return Err(layout_err(
                &manifest_path,
                format!("content is {actual}, not {}", entry.digest),
            ));
        }
        let parsed: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| layout_err(&manifest_path, format!("not an image manifest: {e}")))?;
        let mut blobs = parsed.layers;
        blobs.push(parsed.config);
        for b in &blobs {
            let p = blob_dir.join(crate::image::digest::hex(&b.digest));
            let size = std::fs::metadata(&p)
                .map_err(|e| layout_err(&p, format!("blob of `{}`: {e}", s.service)))?
                .len();
            if size != b.size {
                return Err(layout_err(
                    &p,
                    format!("blob is {size} bytes, the manifest says {}", b.size),
                ));
            }
        }
        out.push(LocalImage {
            service: s.service.clone(),
            digest: entry.digest.clone(),
            media_type: entry
                .media_type
                .clone()
                .unwrap_or_else(|| oci::MANIFEST.to_string()),
            manifest,
            blobs,
            blob_dir: blob_dir.clone(),
        });
    }
    Ok(out)
}

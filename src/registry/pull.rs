//! Pulling an image (manifest, config, layers) into a content-addressed cache:
//! `<cache>/blobs/sha256/<hex>`, as in an OCI image layout. Blobs already in the cache are not
//! fetched again; every blob is verified against its digest before it lands there.

use super::{Registry, RegistryError};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub(super) const ACCEPTED: &[&str] = &[OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST];

/// A content descriptor as it appears in manifests.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct BlobRef {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct ManifestDoc {
    #[serde(rename = "mediaType", default)]
    pub(super) media_type: Option<String>,
    pub(super) config: Option<BlobRef>,
    #[serde(default)]
    pub(super) layers: Vec<BlobRef>,
    #[serde(default)]
    pub(super) manifests: Vec<IndexEntry>,
}

#[derive(Debug, Deserialize)]
pub(super) struct IndexEntry {
    pub(super) digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    os: String,
    architecture: String,
}

/// An image in the cache.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// `registry/repository`, without tag or digest.
    pub repository: String,
    /// The digest of the (platform) image manifest.
    pub digest: String,
    pub media_type: String,
    pub manifest: Vec<u8>,
    pub config: BlobRef,
    pub layers: Vec<BlobRef>,
    /// `<cache>/blobs/sha256`: each blob is the file named by its hex digest.
    pub blobs: PathBuf,
}

impl PulledImage {
    /// The cached file of a blob of this image.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs.join(crate::image::digest::hex(digest))
    }
}

/// The blob cache of a workspace: `<target-dir>/monoship/cache`.
pub fn cache_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("monoship/cache")
}

/// Pull `reference` (`host/repo:tag` or `host/repo@sha256:…`; Docker Hub names as docker
/// spells them) for linux/amd64 into `cache`. `transport`: plain HTTP only for local registries.
/// Credentials come from the environment or docker's config. `runtime`: the caller's
/// (multi-threaded; the caller is not async), else a current-thread one made for the pull.
pub fn pull(
    reference: &str,
    cache: &Path,
    transport: super::Transport,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<PulledImage, RegistryError> {
    let parsed: oci_client::Reference = reference
        .parse()
        .map_err(|e| RegistryError::Usage(format!("bad image reference `{reference}`: {e}")))?;
    let host = parsed.resolve_registry().to_string();
    let registry = Registry::connect(&host, transport)?;
    let wanted = parsed
        .digest()
        .or(parsed.tag())
        .unwrap_or("latest")
        .to_string();
    let work = pull_image(
        &registry,
        parsed.repository(),
        &wanted,
        cache,
        ("linux", "amd64"),
    );
    match runtime {
        Some(handle) => handle.block_on(work),
        None => own_runtime()?.block_on(work),
    }
}

/// A current-thread runtime for a caller that has none.
fn own_runtime() -> Result<tokio::runtime::Runtime, RegistryError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RegistryError::Io {
            path: "tokio runtime".into(),
            source,
        })
}

/// Pull `repository:reference` from `registry` into `cache`; an index resolves to the manifest
/// for `platform` (os, architecture).
pub async fn pull_image(
    registry: &Registry,
    repository: &str,
    reference: &str,
    cache: &Path,
    platform: (&str, &str),
) -> Result<PulledImage, RegistryError> {
    registry.login(repository, false).await?;
    let blobs = cache.join("blobs/sha256");
    tokio::fs::create_dir_all(&blobs)
        .await
        .map_err(io(&blobs))?;
    let (mut bytes, mut digest) = registry
        .pull_manifest(repository, reference, ACCEPTED)
        .await?;
    let mut doc = parse(&bytes, registry)?;
    if is_index(&doc) {
        store(&blobs, &digest, &bytes).await?;
        let (os, arch) = platform;
        let entry = doc
            .manifests
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == os && p.architecture == arch)
            })
            .ok_or_else(|| RegistryError::Protocol {
                registry: registry.host().to_string(),
                detail: format!("{repository}:{reference} has no image for {os}/{arch}"),
            })?;
        let wanted = entry.digest.clone();
        (bytes, digest) = registry
            .pull_manifest(repository, &wanted, ACCEPTED)
            .await?;
        doc = parse(&bytes, registry)?;
    }
    let config = doc.config.clone().ok_or_else(|| RegistryError::Protocol {
        registry: registry.host().to_string(),
        detail: format!("{repository}:{reference}: the manifest has no config"),
    })?;
    store(&blobs, &digest, &bytes).await?;
    for blob in std::iter::once(&config).chain(doc.layers.iter()) {
        fetch_blob(registry, repository, blob, &blobs).await?;
    }
    Ok(PulledImage {
        repository: format!("{}/{repository}", registry.host()),
        digest,
        media_type: doc.media_type.unwrap_or_else(|| OCI_MANIFEST.to_string()),
        manifest: bytes,
        config,
        layers: doc.layers,
        blobs,
    })
}

pub(super) fn is_index(doc: &ManifestDoc) -> bool {
    matches!(doc.media_type.as_deref(), Some(OCI_INDEX | DOCKER_LIST))
        || (doc.config.is_none() && !doc.manifests.is_empty())
}

pub(super) fn parse(bytes: &[u8], registry: &Registry) -> Result<ManifestDoc, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Protocol {
        registry: registry.host().to_string(),
        detail: format!("unreadable manifest: {e}"),
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn hex_of(digest: &str) -> Result<&str, RegistryError> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| RegistryError::Usage(format!("unsupported digest `{digest}`")))
}

/// Write bytes whose digest is known (and checked) into the cache.
async fn store(blobs: &Path, digest: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let hex = hex_of(digest)?;
    let actual = format!("{:x}", Sha256::digest(bytes));
    if actual != hex {
        return Err(RegistryError::Usage(format!(
            "content does not match its digest {digest}"
        )));
    }
    let path = blobs.join(hex);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let tmp = blobs.join(format!("{hex}.{}.partial", std::process::id()));
    let stored = async {
        tokio::fs::write(&tmp, bytes).await.map_err(io(&tmp))?;
        tokio::fs::rename(&tmp, &path).await.map_err(io(&path))
    }
    .await;
    if stored.is_err() {
        // A full disk must not stay full of what could not be stored.
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    stored
}

async fn fetch_blob(
    registry: &Registry,
    repository: &str,
    blob: &BlobRef,
    blobs: &Path,
) -> Result<(), RegistryError> {
    let hex = hex_of(&blob.digest)?;
    let path = blobs.join(hex);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        tracing::debug!("{} is cached", blob.digest);
        return Ok(());
    }
    tracing::debug!("pulling {} ({} bytes)", blob.digest, blob.size);
    let tmp = blobs.join(format!("{hex}.{}.partial", std::process::id()));
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
    // The client verifies the digest while streaming.
    let pulled = registry
        .pull_blob(repository, &blob.digest, &mut file)
        .await;
    let stored = match pulled {
        Err(e) => Err(e),
        Ok(_) => match file.flush().await {
            Err(e) => Err(io(&tmp)(e)),
            Ok(()) => tokio::fs::rename(&tmp, &path).await.map_err(io(&path)),
        },
    };
    drop(file);
    if stored.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_detection() {
        let index: ManifestDoc = serde_json::from_str(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
                "manifests":[{"digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#,
        )
        .unwrap();
        assert!(is_index(&index));
        let manifest: ManifestDoc = serde_json::from_str(
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:bb","size":2},"layers":[]}"#,
        )
        .unwrap();
        assert!(!is_index(&manifest));
    }

    #[test]
    fn digests_are_checked() {
        assert!(hex_of("sha256:abc").is_err());
        assert!(hex_of(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(hex_of(&format!("sha512:{}", "a".repeat(64))).is_err());
    }
}

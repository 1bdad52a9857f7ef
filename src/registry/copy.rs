//! Copying an image by digest from one repository to another, in one registry or between two:
//! only the blobs the target lacks (mounted across repositories inside one registry, else
//! streamed through memory from the source and uploaded), and the manifest last, so a failure
//! never leaves a tag pointing at missing blobs. The manifest's bytes are pushed unchanged, so
//! the digest in the target is the digest in the source.

use super::pull::{ACCEPTED, OCI_MANIFEST, is_index, parse};
use super::{Registry, RegistryError};
use serde::Serialize;

/// One side of a copy: a registry and a repository in it.
pub struct Side<'a> {
    pub registry: &'a Registry,
    pub repository: &'a str,
}

/// What a copy did (or, in a dry run, would do) with the blobs and the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    /// Blobs streamed from the source and uploaded.
    pub copied: u32,
    /// Blobs mounted from the source repository (same registry).
    pub mounted: u32,
    /// Blobs the target already had.
    pub present: u32,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Tags (re)pointed at the digest; empty when every tag already named it.
    pub tagged: Vec<String>,
}

impl Copied {
    /// Nothing was (or would be) sent.
    pub fn is_noop(&self) -> bool {
        self.copied == 0 && self.mounted == 0 && self.tagged.is_empty()
    }
}

/// Copy the image `digest` (a manifest, or an index and its manifests) from `from` to `to`,
/// tagged `tags` there. `dry_run`: look, send nothing.
pub async fn copy_image(
    from: &Side<'_>,
    to: &Side<'_>,
    digest: &str,
    tags: &[String],
    dry_run: bool,
) -> Result<Copied, RegistryError> {
    from.registry.login(from.repository, false).await?;
    to.registry.login(to.repository, !dry_run).await?;
    let mut out = Copied::default();
    let (bytes, media_type) = copy_manifest_content(from, to, digest, dry_run, &mut out).await?;
    for tag in tags {
        let current = to.registry.tag_digest(to.repository, tag).await?;
        if current.as_deref() == Some(digest) {
            continue;
        }
        if !dry_run {
            to.registry
                .push_manifest(to.repository, tag, &bytes, &media_type)
                .await?;
        }
        out.tagged.push(tag.clone());
    }
    Ok(out)
}

/// The blobs (and, for an index, the manifests) of `digest` into the target; the manifest's
/// bytes and media type for the caller to push last.
async fn copy_manifest_content(
    from: &Side<'_>,
    to: &Side<'_>,
    digest: &str,
    dry_run: bool,
    out: &mut Copied,
) -> Result<(Vec<u8>, String), RegistryError> {
    let (bytes, got) = from
        .registry
        .pull_manifest(from.repository, digest, ACCEPTED)
        .await?;
    if got != digest {
        return Err(RegistryError::Protocol {
            registry: from.registry.host().to_string(),
            detail: format!("{}@{digest} answered a manifest of {got}", from.repository),
        });
    }
    let doc = parse(&bytes, from.registry)?;
    if is_index(&doc) {
        for m in &doc.manifests {
            let (child, media_type) =
                Box::pin(copy_manifest_content(from, to, &m.digest, dry_run, out)).await?;
            if !dry_run {
                to.registry
                    .push_manifest(to.repository, &m.digest, &child, &media_type)
                    .await?;
            }
        }
    } else {
        for blob in doc.config.iter().chain(&doc.layers) {
            copy_blob(from, to, &blob.digest, blob.size, dry_run, out).await?;
        }
    }
    let media_type = doc
        .media_type
        .clone()
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok((bytes, media_type))
}

/// One blob: present, mounted (same registry) or streamed and uploaded.
async fn copy_blob(
    from: &Side<'_>,
    to: &Side<'_>,
    digest: &str,
    size: u64,
    dry_run: bool,
    out: &mut Copied,
) -> Result<(), RegistryError> {
    if to.registry.blob_exists(to.repository, digest).await? {
        out.present += 1;
        return Ok(());
    }
    let same_registry = from.registry.host() == to.registry.host();
    if dry_run {
        if same_registry {
            out.mounted += 1;
        } else {
            out.copied += 1;
            out.bytes += size;
        }
        return Ok(());
    }
    if same_registry
        && to
            .registry
            .mount_blob(to.repository, from.repository, digest)
            .await?
    {
        out.mounted += 1;
        return Ok(());
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 30));
    from.registry
        .pull_blob(from.repository, digest, &mut data)
        .await?;
    let len = data.len() as u64;
    to.registry.upload_blob(to.repository, digest, data).await?;
    out.copied += 1;
    out.bytes += len;
    Ok(())
}

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

/// Blobs known to be in the target registry, by digest: a repository holding each (so a blob
/// another image of the same run already brought is mounted, not uploaded again).
pub type Known = std::collections::BTreeMap<String, String>;

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
    known: &mut Known,
) -> Result<Copied, RegistryError> {
    from.registry.login(from.repository, false).await?;
    to.registry.login(to.repository, !dry_run).await?;
    let mut out = Copied::default();
    let mut job = Job {
        from,
        to,
        dry_run,
        known,
        out: &mut out,
    };
    let (bytes, media_type) = copy_manifest_content(&mut job, digest).await?;
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

/// One copy under way.
struct Job<'a, 'b> {
    from: &'a Side<'b>,
    to: &'a Side<'b>,
    dry_run: bool,
    known: &'a mut Known,
    out: &'a mut Copied,
}

/// The blobs (and, for an index, the manifests) of `digest` into the target; the manifest's
/// bytes and media type for the caller to push last.
async fn copy_manifest_content(
    job: &mut Job<'_, '_>,
    digest: &str,
) -> Result<(Vec<u8>, String), RegistryError> {
    let (from, to, dry_run) = (job.from, job.to, job.dry_run);
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
            let (child, media_type) = Box::pin(copy_manifest_content(job, &m.digest)).await?;
            if !dry_run {
                to.registry
                    .push_manifest(to.repository, &m.digest, &child, &media_type)
                    .await?;
            }
        }
    } else {
        for blob in doc.config.iter().chain(&doc.layers) {
            copy_blob(job, &blob.digest, blob.size).await?;
        }
    }
    let media_type = doc
        .media_type
        .clone()
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok((bytes, media_type))
}

/// One blob: present, mounted (from the source repository in the same registry, or from a
/// repository of the target registry a copy of this run brought it to) or streamed and
/// uploaded.
async fn copy_blob(job: &mut Job<'_, '_>, digest: &str, size: u64) -> Result<(), RegistryError> {
    let (from, to) = (job.from, job.to);
    let out = &mut *job.out;
    if to.registry.blob_exists(to.repository, digest).await? {
        out.present += 1;
        job.known
            .insert(digest.to_string(), to.repository.to_string());
        return Ok(());
    }
    let mount_from = if from.registry.host() == to.registry.host() {
        Some(from.repository.to_string())
    } else {
        job.known.get(digest).cloned()
    };
    if job.dry_run {
        if mount_from.is_some() {
            out.mounted += 1;
        } else {
            out.copied += 1;
            out.bytes += size;
        }
        // As if it were there now: the next image's copy would mount it.
        job.known
            .insert(digest.to_string(), to.repository.to_string());
        return Ok(());
    }
    if let Some(source) = &mount_from
        && to
            .registry
            .mount_blob(to.repository, source, digest)
            .await?
    {
        out.mounted += 1;
        job.known
            .insert(digest.to_string(), to.repository.to_string());
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
    job.known
        .insert(digest.to_string(), to.repository.to_string());
    Ok(())
}

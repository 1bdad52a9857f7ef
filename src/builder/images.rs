//! One image per built service, assembled on every core: reading and hashing the binary,
//! the layer (compressed once, then kept in the layer cache) and the image config.

use super::{BuildError, Options, ServiceRecord, Settings, io};
use crate::image::{self, oci};
use crate::workspace::Service;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one service's image is made of.
pub(super) struct Job<'a> {
    pub service: &'a Service,
    pub binary: &'a PathBuf,
    pub version: String,
    pub settings: &'a Settings,
    pub base: &'a image::Base,
    /// The service's record from the last build that built it.
    pub before: Option<&'a ServiceRecord>,
}

/// Every job's record and image, in the order of `jobs`.
pub(super) fn assemble_all(
    jobs: &[Job<'_>],
    opts: &Options,
    cache: &Path,
) -> Result<Vec<(ServiceRecord, oci::Image)>, BuildError> {
    crate::parallel::map(jobs, |j| one(j, opts, cache))
        .into_iter()
        .collect()
}

fn one(
    job: &Job<'_>,
    opts: &Options,
    cache: &Path,
) -> Result<(ServiceRecord, oci::Image), BuildError> {
    let s = job.service;
    let binary = std::fs::read(job.binary).map_err(io(job.binary))?;
    let binary_sha256 = image::digest::hex(&image::digest::sha256(&binary)).to_string();
    let set = job.settings;
    let assemble_at = |revision: &str, epoch: u64| {
        let labels = BTreeMap::from([
            ("org.opencontainers.image.title".to_string(), s.name.clone()),
            (
                "org.opencontainers.image.version".to_string(),
                job.version.clone(),
            ),
            (
                "org.opencontainers.image.revision".to_string(),
                revision.to_string(),
            ),
            (
                "org.opencontainers.image.created".to_string(),
                image::rfc3339(epoch),
            ),
            ("org.opencontainers.image.source".to_string(), s.dir.clone()),
        ]);
        image::assemble(
            &image::ServiceImage {
                binary_name: &s.binary,
                binary: &binary,
                port: set.port,
                env: set.env.clone(),
                files: set.files.clone(),
                labels,
                epoch,
                layer_cache: Some(cache),
            },
            job.base,
        )
    };
    // The same binary (and settings) as before: the image as it was, labels included.
    let kept = match job.before {
        Some(r) if r.binary_sha256 == binary_sha256 && !r.image_revision.is_empty() => {
            let again = assemble_at(&r.image_revision, r.image_epoch)?;
            (again.digest == r.image_digest)
                .then(|| (again, r.image_revision.clone(), r.image_epoch))
        }
        _ => None,
    };
    let (img, image_revision, image_epoch) = match kept {
        Some(k) => k,
        None => (
            assemble_at(&opts.revision, opts.epoch)?,
            opts.revision.clone(),
            opts.epoch,
        ),
    };
    let changed = job.before.is_none_or(|r| r.image_digest != img.digest);
    let record = ServiceRecord {
        service: s.name.clone(),
        binary_sha256,
        binary_size: binary.len() as u64,
        image_digest: img.digest.clone(),
        image_size: img.size(),
        base: job.base.name.clone(),
        changed,
        image_revision,
        image_epoch,
    };
    Ok((record, img))
}

//! One image per built service, assembled on every core: reading the binary, stripping it
//! (its original kept beside the build record) and hashing it, the layer (compressed once,
//! then kept in the layer cache) and the image config.

use super::strip::{self, Stripper};
use super::{BuildError, Dirs, Options, ServiceRecord, Settings, io};
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
    dirs: &Dirs,
) -> Result<Vec<(ServiceRecord, oci::Image)>, BuildError> {
    let scratch = dirs.cache.join("strip");
    let stripper = Stripper::new(&dirs.out, &scratch);
    let all = crate::parallel::map(jobs, |j| one(j, opts, &dirs.layers, &stripper))
        .into_iter()
        .collect();
    let _ = std::fs::remove_dir(&scratch);
    all
}

fn one(
    job: &Job<'_>,
    opts: &Options,
    cache: &Path,
    stripper: &Stripper<'_>,
) -> Result<(ServiceRecord, oci::Image), BuildError> {
    let s = job.service;
    let built = std::fs::read(job.binary).map_err(io(job.binary))?;
    let (binary, debug) = strip::prepare(&s.name, built, job.settings.strip, stripper)?;
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
        debug: Some(debug),
    };
    Ok((record, img))
}

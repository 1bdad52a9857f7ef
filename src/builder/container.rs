//! The build stage with Docker or Podman: each service built from `Dockerfile.monoship`
//! ([`docker`]), then its image exported into the build's OCI layout and a build record — the
//! outputs of monoship's own builder, so publish, `deploy` and `ship` take them alike.
//!
//! Podman exports with `podman save --format oci-dir`; Docker with `docker save` (an OCI image
//! layout inside the archive since Docker 25).

use super::docker::{self, DockerBuildError, Engine, Job};
use super::{BUILD_RECORD, BuildError, BuildRecord, Event, LAYOUT, Output, ServiceRecord, io};
use crate::image::{digest, oci};
use crate::workspace::Workspace;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the `base` of a container-built service's record says.
pub const BASE: &str = "Dockerfile.monoship";

#[derive(Debug, Clone)]
pub struct Options {
    /// The engine, the services (none: all), the revision and time of the images.
    pub plan: docker::Options,
    /// Image builds at a time.
    pub jobs: usize,
    /// Where the OCI layout and build record go (default `<target-dir>/monoship`).
    pub out_dir: Option<PathBuf>,
}

/// Build every service of `opts` with the engine, then write the layout and the record. A
/// failed build fails the stage (naming the services and where their logs are) after every
/// build has ended; nothing is written then.
pub fn run(
    ws: &Workspace,
    opts: &Options,
    emit: &mut dyn FnMut(Event),
) -> Result<Output, BuildError> {
    let engine = opts.plan.engine;
    let jobs = docker::plan(ws, &opts.plan)?;
    let program = docker::preflight(engine)?;
    let outcomes = docker::run(&program, &jobs, opts.jobs, &mut |e| {
        emit(Event::Container(e))
    });
    let failed: Vec<&docker::Outcome> = outcomes.iter().filter(|o| !o.ok).collect();
    if let Some(first) = failed.first() {
        return Err(DockerBuildError::Failed {
            program: engine.program(),
            services: failed.iter().map(|o| o.service.clone()).collect(),
            logs: first
                .log
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        }
        .into());
    }
    let out = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("monoship"));
    let layout = out.join(LAYOUT);
    let staging = out.join("cache").join("container-export");
    let mut images = Vec::new();
    for job in &jobs {
        let image = export(&program, engine, job, &staging, &layout)?;
        emit(Event::ImageAssembled {
            service: job.service.clone(),
            digest: image.manifest.digest.clone(),
            size: image.size,
        });
        images.push((job.service.clone(), image));
    }
    let _ = std::fs::remove_dir_all(&staging);
    let manifests: Vec<&oci::Descriptor> = images.iter().map(|(_, i)| &i.manifest).collect();
    oci::write_index(&layout, &manifests).map_err(|(path, e)| io(&path)(e))?;
    let record_path = out.join(BUILD_RECORD);
    let index_path = out.join("cache").join("images.json");
    let mut before = super::latest_images(&record_path, &index_path);
    let record = BuildRecord {
        revision: opts.plan.revision.clone(),
        services: images
            .iter()
            .map(|(service, image)| ServiceRecord {
                service: service.clone(),
                binary_sha256: String::new(),
                binary_size: 0,
                image_digest: image.manifest.digest.clone(),
                image_size: image.size,
                base: BASE.into(),
                changed: before
                    .get(service)
                    .is_none_or(|b| b.image_digest != image.manifest.digest),
                image_revision: opts.plan.revision.clone(),
                image_epoch: opts.plan.epoch,
                debug: None,
            })
            .collect(),
    };
    super::write_records(&record, &record_path, &mut before, &index_path)?;
    Ok(Output {
        record,
        layout,
        record_path,
    })
}

/// One exported image: its manifest's descriptor, and its size (manifest, config, layers).
#[derive(Debug, Clone)]
struct Exported {
    manifest: oci::Descriptor,
    size: u64,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct Manifest {
    config: Entry,
    layers: Vec<Entry>,
}

/// Export `job`'s image with the engine into a staging layout, then move its blobs into
/// `layout` (blobs already there are kept: same digest, same content).
fn export(
    program: &Path,
    engine: Engine,
    job: &Job,
    staging: &Path,
    layout: &Path,
) -> Result<Exported, BuildError> {
    let dir = staging.join(&job.service);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    match engine {
        Engine::Podman => save(
            program,
            engine,
            job,
            &["save", "--format", "oci-dir", "-o"],
            &dir,
        )?,
        Engine::Docker => {
            let archive = staging.join(format!("{}.tar", job.service));
            save(program, engine, job, &["save", "-o"], &archive)?;
            let file = std::fs::File::open(&archive).map_err(io(&archive))?;
            tar::Archive::new(file).unpack(&dir).map_err(io(&archive))?;
        }
    }
    let bad = |detail: String| DockerBuildError::Export {
        program: engine.program(),
        service: job.service.clone(),
        detail,
    };
    let index_path = dir.join("index.json");
    let index: Index = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("no OCI image layout (index.json) in what it saved".into()))?;
    let entry = match index.manifests.as_slice() {
        [one] if one.media_type == oci::MANIFEST => one,
        [one] => {
            return Err(bad(format!("saved a {}, not an image manifest", one.media_type)).into());
        }
        _ => return Err(bad(format!("saved {} images, not one", index.manifests.len())).into()),
    };
    let blobs = dir.join("blobs/sha256");
    let manifest_bytes = std::fs::read(blobs.join(digest::hex(&entry.digest)))
        .map_err(|e| bad(format!("manifest {}: {e}", entry.digest)))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad(format!("manifest {}: {e}", entry.digest)))?;
    let target = layout.join("blobs/sha256");
    std::fs::create_dir_all(&target).map_err(io(&target))?;
    let mut size = entry.size;
    for blob in manifest.layers.iter().chain([&manifest.config]) {
        size += blob.size;
        move_blob(&blobs, &target, &blob.digest)?;
    }
    move_blob(&blobs, &target, &entry.digest)?;
    Ok(Exported {
        manifest: oci::Descriptor {
            media_type: entry.media_type.clone(),
            digest: entry.digest.clone(),
            size: entry.size,
            annotations: [(oci::REF_NAME.to_string(), job.service.clone())].into(),
        },
        size,
    })
}

/// `program ARGS… OUT TAG`; its last line of errors is the error.
fn save(
    program: &Path,
    engine: Engine,
    job: &Job,
    args: &[&str],
    out: &Path,
) -> Result<(), BuildError> {
    let result = Command::new(program)
        .args(args)
        .arg(out)
        .arg(&job.tag)
        .stdin(Stdio::null())
        .output()
        .map_err(io(program))?;
    if result.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&result.stderr);
    Err(DockerBuildError::Export {
        program: engine.program(),
        service: job.service.clone(),
        detail: stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("it failed")
            .to_string(),
    }
    .into())
}

fn move_blob(from: &Path, to: &Path, d: &str) -> Result<(), BuildError> {
    let (src, dst) = (from.join(digest::hex(d)), to.join(digest::hex(d)));
    if dst.exists() {
        return Ok(());
    }
    std::fs::rename(&src, &dst)
        .or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
        .map_err(io(&dst))
}

//! `monoship publish`: push the images `monoship build` made to a registry.
//!
//! Per image: if every tag already resolves to the image's digest, nothing is pushed
//! (`unchanged`). Otherwise each blob is checked with HEAD and only missing ones are sent —
//! mounted from another repository of the same registry when the blob is known to be there,
//! uploaded otherwise — and the manifest goes last, once per tag, so a failure never leaves a
//! tag pointing at missing blobs. The result is written next to the build record as
//! `publish.json` (schema: docs/publish.md).

pub mod export;
pub mod layout;
pub mod naming;

use crate::registry::{Registry, RegistryError};
use layout::LocalImage;
use naming::ImageName;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const PUBLISH_RECORD: &str = "publish.json";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("no build record at {0}: run `monoship build` first")]
    NoBuildRecord(String),
    /// A build record that does not parse (truncated, not JSON): like a missing one, a usage
    /// error, as for `deploy`.
    #[error("{path}: not a build record ({detail}); run `monoship build` again")]
    BadBuildRecord { path: String, detail: String },
    #[error(
        "service `{service}` is not in the build record {record} (build it first: `monoship build {service}`)"
    )]
    UnknownService { service: String, record: String },
    #[error(transparent)]
    Invalid(#[from] crate::invalid::Invalid),
    #[error("{path}: {detail}")]
    Layout { path: String, detail: String },
    #[error("{service}: {source}")]
    Service {
        service: String,
        source: RegistryError,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl PublishError {
    /// The registry's error behind this one, if any.
    fn registry(&self) -> Option<&RegistryError> {
        match self {
            PublishError::Registry(e) | PublishError::Service { source: e, .. } => Some(e),
            _ => None,
        }
    }

    /// The registry cannot be reached (exit code 6).
    pub fn is_unreachable(&self) -> bool {
        self.registry().is_some_and(RegistryError::is_unreachable)
    }

    /// The registry refused the credentials or denied access (exit code 7).
    pub fn is_denied(&self) -> bool {
        self.registry().is_some_and(RegistryError::is_denied)
    }

    /// The user's mistake (exit code 2) rather than a failed operation (1).
    pub fn is_usage(&self) -> bool {
        match self {
            PublishError::NoBuildRecord(_)
            | PublishError::BadBuildRecord { .. }
            | PublishError::UnknownService { .. }
            | PublishError::Invalid(_) => true,
            PublishError::Registry(e) | PublishError::Service { source: e, .. } => e.is_usage(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The directory holding `build.json` and the `oci` layout (default
    /// `<target-dir>/monoship`); `publish.json` is written there too.
    pub from: PathBuf,
    /// `HOST[/PREFIX]`, the `{registry}` of the image template.
    pub registry: Option<String>,
    /// The image name template (`{registry}`, `{prefix}`, `{service}`).
    pub image: String,
    pub prefix: String,
    /// Tags besides the revision's short sha.
    pub tags: Vec<String>,
    /// Services to publish; empty: every service in the build record.
    pub services: Vec<String>,
    /// Plain HTTP, for a registry on this machine only.
    pub insecure: bool,
}

impl Options {
    /// The registry, normalized (`HOST[/PREFIX]`, no scheme or trailing slash).
    fn registry(&self) -> Result<Option<String>, PublishError> {
        self.registry
            .as_deref()
            .map(naming::normalize_registry)
            .transpose()
            .map_err(PublishError::from)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pushed,
    Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobCounts {
    pub uploaded: u32,
    pub mounted: u32,
    pub present: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceResult {
    pub service: String,
    /// `registry/repository@sha256:…`
    pub reference: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub result: Outcome,
    pub uploaded_bytes: u64,
    pub blobs: BlobCounts,
}

impl ServiceResult {
    /// `registry/repository`
    pub fn repository(&self) -> &str {
        self.reference
            .split_once('@')
            .map_or(self.reference.as_str(), |(r, _)| r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRecord {
    pub registry: String,
    /// The revision of the build record.
    pub revision: String,
    pub services: Vec<ServiceResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    Present,
    Mounted,
    Uploaded,
}

/// What the stage reports while it runs.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        service: String,
        image: String,
        tags: Vec<String>,
    },
    Blob {
        service: String,
        digest: String,
        size: u64,
        action: BlobAction,
        /// For a mount: the repository it came from.
        from: Option<String>,
    },
    Finished(ServiceResult),
}

pub struct Output {
    /// This run's results (the services published now).
    pub record: PublishRecord,
    pub record_path: PathBuf,
}

/// One image to push, with where it goes.
struct Job {
    image: LocalImage,
    name: ImageName,
}

/// Check names, tags and `--insecure` without a build record (before a build starts).
pub fn validate(opts: &Options) -> Result<(), PublishError> {
    let registry = opts.registry()?;
    let name = naming::image_name(&opts.image, registry.as_deref(), &opts.prefix, "service")
        .map_err(PublishError::from)?;
    crate::registry::check_insecure(&name.host, opts.insecure)
        .map_err(|e| PublishError::Invalid(crate::invalid::Invalid::from(e.to_string())))?;
    naming::tags("0123456789ab", &opts.tags).map_err(PublishError::from)?;
    Ok(())
}

/// Publish the build recorded in `opts.from` (its `build.json`).
pub async fn run(opts: &Options, emit: &mut dyn FnMut(Event)) -> Result<Output, PublishError> {
    let (build, build_path) = layout::read_record(&opts.from)?;
    push(&build, &build_path, opts, emit).await
}

/// Publish `build`, whose images are in the OCI layout of `opts.from` (`build_path`: where
/// its record is, for messages).
pub async fn push(
    build: &crate::builder::BuildRecord,
    build_path: &Path,
    opts: &Options,
    emit: &mut dyn FnMut(Event),
) -> Result<Output, PublishError> {
    let (jobs, tags, registry_label) = plan(build, build_path, opts)?;
    let record_path = opts.from.join(PUBLISH_RECORD);
    let previous = read_previous(&record_path);

    let mut clients: BTreeMap<String, Registry> = BTreeMap::new();
    for j in &jobs {
        if !clients.contains_key(&j.name.host) {
            let transport = crate::registry::Transport::checked(&j.name.host, opts.insecure)?;
            let r = Registry::connect(&j.name.host, transport)?;
            clients.insert(j.name.host.clone(), r);
        }
    }
    // Reach every registry (and check credentials where a token service does) first.
    for j in &jobs {
        clients[&j.name.host]
            .login(&j.name.repository, true)
            .await?;
    }
    let mut known = Known::from_previous(previous.as_ref());
    let mut results = Vec::new();
    for j in &jobs {
        let client = &clients[&j.name.host];
        let r = push_one(client, j, &tags, &mut known, emit)
            .await
            .map_err(|source| PublishError::Service {
                service: j.image.service.clone(),
                source,
            })?;
        emit(Event::Finished(r.clone()));
        results.push(r);
    }

    let record = PublishRecord {
        registry: registry_label,
        revision: build.revision.clone(),
        services: results,
    };
    let merged = merge(previous, &record, build);
    let json = serde_json::to_vec_pretty(&merged).expect("json");
    crate::atomic::write(&record_path, &json).map_err(|source| PublishError::Io {
        path: record_path.display().to_string(),
        source,
    })?;
    Ok(Output {
        record,
        record_path,
    })
}

/// What a publish pushes: one job per selected service (its image and name), the tags, and
/// the registry's label for the record.
fn plan(
    build: &crate::builder::BuildRecord,
    build_path: &Path,
    opts: &Options,
) -> Result<(Vec<Job>, Vec<String>, String), PublishError> {
    let selected = selected(build, build_path, opts)?;
    let registry = opts.registry()?;
    let tags = naming::tags(&build.revision, &opts.tags).map_err(PublishError::from)?;
    let mut names = Vec::new();
    for s in &selected {
        let name = naming::image_name(&opts.image, registry.as_deref(), &opts.prefix, &s.service)
            .map_err(PublishError::from)?;
        crate::registry::Transport::checked(&name.host, opts.insecure)?;
        names.push(name);
    }
    let images = layout::read_images(&opts.from.join(crate::builder::LAYOUT), &selected)?;
    let jobs: Vec<Job> = images
        .into_iter()
        .zip(names)
        .map(|(image, name)| Job { image, name })
        .collect();
    let registry_label = registry.unwrap_or_else(|| {
        jobs.first()
            .map(|j| j.name.host.clone())
            .unwrap_or_default()
    });
    Ok((jobs, tags, registry_label))
}

/// The services of `build` that `opts.services` names (all of them when it names none).
fn selected<'b>(
    build: &'b crate::builder::BuildRecord,
    build_path: &Path,
    opts: &Options,
) -> Result<Vec<&'b crate::builder::ServiceRecord>, PublishError> {
    if opts.services.is_empty() {
        return Ok(build.services.iter().collect());
    }
    opts.services
        .iter()
        .map(|name| {
            build
                .services
                .iter()
                .find(|s| &s.service == name)
                .ok_or_else(|| PublishError::UnknownService {
                    service: name.clone(),
                    record: build_path.display().to_string(),
                })
        })
        .collect()
}

/// Which repositories (host, repository) are known to hold a blob.
struct Known {
    blobs: HashMap<String, Vec<(String, String)>>,
    /// Repositories of the previous publish: candidates to mount from after a HEAD there.
    previous: Vec<(String, String)>,
}

impl Known {
    fn from_previous(previous: Option<&PublishRecord>) -> Known {
        let mut repos = Vec::new();
        for s in previous.into_iter().flat_map(|p| &p.services) {
            if let Some((host, repo)) = s.repository().split_once('/') {
                let pair = (host.to_string(), repo.to_string());
                if !repos.contains(&pair) {
                    repos.push(pair);
                }
            }
        }
        Known {
            blobs: HashMap::new(),
            previous: repos,
        }
    }

    fn add(&mut self, digest: &str, name: &ImageName) {
        let places = self.blobs.entry(digest.to_string()).or_default();
        let pair = (name.host.clone(), name.repository.clone());
        if !places.contains(&pair) {
            places.push(pair);
        }
    }

    /// Repositories of `host` other than `repository` known to hold `digest`.
    fn sources(&self, digest: &str, name: &ImageName) -> Vec<String> {
        self.blobs
            .get(digest)
            .into_iter()
            .flatten()
            .filter(|(h, r)| *h == name.host && *r != name.repository)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

async fn push_one(
    client: &Registry,
    job: &Job,
    tags: &[String],
    known: &mut Known,
    emit: &mut dyn FnMut(Event),
) -> Result<ServiceResult, RegistryError> {
    let image = &job.image;
    let name = &job.name;
    emit(Event::Started {
        service: image.service.clone(),
        image: name.to_string(),
        tags: tags.to_vec(),
    });
    let mut missing_tags = Vec::new();
    for tag in tags {
        let current = client.tag_digest(&name.repository, tag).await?;
        tracing::debug!(
            "{name}:{tag} is {}",
            current.as_deref().unwrap_or("not there")
        );
        if current.as_deref() != Some(image.digest.as_str()) {
            missing_tags.push(tag.clone());
        }
    }
    let mut result = ServiceResult {
        service: image.service.clone(),
        reference: format!("{name}@{}", image.digest),
        digest: image.digest.clone(),
        tags: tags.to_vec(),
        result: Outcome::Unchanged,
        uploaded_bytes: 0,
        blobs: BlobCounts::default(),
    };
    if missing_tags.is_empty() {
        // The manifest is there, so are its blobs: later images may mount them from here.
        for b in &image.blobs {
            known.add(&b.digest, name);
        }
        return Ok(result);
    }
    for blob in &image.blobs {
        let (action, from) = send_blob(client, name, image, &blob.digest, known).await?;
        match action {
            BlobAction::Present => result.blobs.present += 1,
            BlobAction::Mounted => result.blobs.mounted += 1,
            BlobAction::Uploaded => {
                result.blobs.uploaded += 1;
                result.uploaded_bytes += blob.size;
            }
        }
        known.add(&blob.digest, name);
        emit(Event::Blob {
            service: image.service.clone(),
            digest: blob.digest.clone(),
            size: blob.size,
            action,
            from,
        });
    }
    // Last: the manifest, once per tag that does not point at it yet.
    for tag in &missing_tags {
        client
            .push_manifest(&name.repository, tag, &image.manifest, &image.media_type)
            .await?;
        tracing::debug!("tagged {name}:{tag}");
    }
    result.result = Outcome::Pushed;
    Ok(result)
}

/// Make one blob present in the image's repository.
async fn send_blob(
    client: &Registry,
    name: &ImageName,
    image: &LocalImage,
    digest: &str,
    known: &Known,
) -> Result<(BlobAction, Option<String>), RegistryError> {
    if client.blob_exists(&name.repository, digest).await? {
        return Ok((BlobAction::Present, None));
    }
    for from in known.sources(digest, name) {
        if client.mount_blob(&name.repository, &from, digest).await? {
            return Ok((BlobAction::Mounted, Some(from)));
        }
    }
    for (host, from) in &known.previous {
        if *host != name.host || *from == name.repository {
            continue;
        }
        if client.blob_exists(from, digest).await?
            && client.mount_blob(&name.repository, from, digest).await?
        {
            return Ok((BlobAction::Mounted, Some(from.clone())));
        }
    }
    let data = image
        .read_blob(digest)
        .map_err(|e| RegistryError::Protocol {
            registry: name.host.clone(),
            detail: e.to_string(),
        })?;
    tracing::debug!("uploading {digest} ({} bytes) to {name}", data.len());
    client.upload_blob(&name.repository, digest, data).await?;
    Ok((BlobAction::Uploaded, None))
}

fn read_previous(path: &Path) -> Option<PublishRecord> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `publish.json` after this run: this run's services, plus earlier entries for the same
/// registry whose image is still the one in the build record.
fn merge(
    previous: Option<PublishRecord>,
    now: &PublishRecord,
    build: &crate::builder::BuildRecord,
) -> PublishRecord {
    let mut services = now.services.clone();
    if let Some(p) = previous.filter(|p| p.registry == now.registry) {
        for s in p.services {
            let current = build
                .services
                .iter()
                .any(|b| b.service == s.service && b.image_digest == s.digest);
            if current && !services.iter().any(|n| n.service == s.service) {
                services.push(s);
            }
        }
    }
    services.sort_by(|a, b| a.service.cmp(&b.service));
    PublishRecord {
        registry: now.registry.clone(),
        revision: now.revision.clone(),
        services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{BuildRecord, ServiceRecord};

    fn result(service: &str, digest: &str) -> ServiceResult {
        ServiceResult {
            service: service.into(),
            reference: format!("r.io/{service}@{digest}"),
            digest: digest.into(),
            tags: vec!["abc".into()],
            result: Outcome::Pushed,
            uploaded_bytes: 1,
            blobs: BlobCounts::default(),
        }
    }

    fn build(services: &[(&str, &str)]) -> BuildRecord {
        BuildRecord {
            revision: "abc".into(),
            services: services
                .iter()
                .map(|(s, d)| ServiceRecord {
                    service: s.to_string(),
                    binary_sha256: String::new(),
                    binary_size: 0,
                    image_digest: d.to_string(),
                    image_size: 0,
                    base: String::new(),
                    changed: true,
                    image_revision: "abc".into(),
                    image_epoch: 0,
                    debug: None,
                })
                .collect(),
        }
    }

    #[test]
    fn merge_keeps_current_earlier_entries() {
        let previous = PublishRecord {
            registry: "r.io".into(),
            revision: "abc".into(),
            services: vec![result("a", "sha256:1"), result("b", "sha256:old")],
        };
        let now = PublishRecord {
            registry: "r.io".into(),
            revision: "abc".into(),
            services: vec![result("c", "sha256:3")],
        };
        let b = build(&[("a", "sha256:1"), ("b", "sha256:new"), ("c", "sha256:3")]);
        let merged = merge(Some(previous.clone()), &now, &b);
        let names: Vec<&str> = merged.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        let other = PublishRecord {
            registry: "elsewhere.io".into(),
            ..now.clone()
        };
        assert_eq!(merge(Some(previous), &other, &b).services.len(), 1);
    }

    #[test]
    fn repository_of_a_reference() {
        assert_eq!(result("a", "sha256:1").repository(), "r.io/a");
    }
}

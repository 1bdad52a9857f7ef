//! The pipeline's seams: small interfaces for the stages that touch the outside world (cargo,
//! a registry, the Kubernetes API), each with its real implementation here and a fake in the
//! pipeline's unit tests.

use super::ShipError;
use crate::builder::{self, BuildError};
use crate::deploy::images::{self, Artifact, Naming};
use crate::deploy::plan::ServicePlan;
use crate::deploy::status::{self, ServiceStatus};
use crate::deploy::{self, DeployError, ServiceResult};
use crate::invalid::Invalid;
use crate::publish::{self, naming};
use crate::workspace::Workspace;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// A stage's future (the traits stay usable as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Compiles services into images: a build record and an OCI layout.
pub trait Builder {
    fn build(&self, job: BuildJob<'_>) -> Result<builder::Output, BuildError>;
}

/// What a builder is handed: the workspace, the services to build (none: all), and where its
/// events go.
pub struct BuildJob<'a> {
    pub ws: &'a Workspace,
    pub services: &'a [String],
    pub emit: &'a mut dyn FnMut(builder::Event),
    /// The caller's async runtime, for what a build fetches (base images).
    pub runtime: Option<&'a tokio::runtime::Handle>,
}

/// monoship's own builder: cargo, then reproducible OCI images ([`builder::run`]) of the
/// workspace's HEAD commit.
pub struct CargoBuilder {
    /// `--profile`, `--target` (else the configuration's, else the defaults).
    pub profile: Option<String>,
    pub target: Option<String>,
    pub offline: bool,
}

impl Builder for CargoBuilder {
    fn build(&self, job: BuildJob<'_>) -> Result<builder::Output, BuildError> {
        let BuildJob {
            ws,
            services,
            emit,
            runtime,
        } = job;
        let opts = builder::Options {
            services: services.to_vec(),
            runtime: runtime.cloned(),
            ..builder::Options::at_head(
                ws,
                self.profile.as_deref(),
                self.target.as_deref(),
                self.offline,
            )?
        };
        builder::run(ws, &opts, emit)
    }
}

/// Docker or Podman with `Dockerfile.monoship`, one build per service
/// ([`builder::container::run`]), exported into the same layout and record.
pub struct ContainerBuilder {
    /// Engine, revision, time, builds at a time, output (the services are the job's).
    pub options: builder::container::Options,
}

impl Builder for ContainerBuilder {
    fn build(&self, job: BuildJob<'_>) -> Result<builder::Output, BuildError> {
        let mut opts = self.options.clone();
        opts.plan.services = job.services.to_vec();
        builder::container::run(job.ws, &opts, job.emit)
    }
}

/// How images reach the place they are deployed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// Pushed to a registry.
    Registry,
    /// Written into an OCI image layout (a directory).
    Layout,
    /// Nothing pushed: the reference a push would make.
    DryRun,
}

/// A built image, published: the reference to deploy, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub artifact: Artifact,
    /// Bytes uploaded (0 when every blob was there, or nothing was pushed).
    pub uploaded_bytes: u64,
}

/// Makes built images deployable.
pub trait Publisher {
    fn mode(&self) -> PublishMode;
    /// What can be checked before anything is built (names, tags, `--insecure`).
    fn check(&self) -> Result<(), ShipError> {
        Ok(())
    }
    /// Per service of `job.services`, its published image.
    fn publish<'a>(&'a self, job: PublishJob<'a>) -> Publishing<'a>;
}

/// What a publisher is handed: the build, the services of it to publish, and where its
/// events go.
pub struct PublishJob<'a> {
    pub built: &'a builder::Output,
    pub services: &'a [String],
    pub emit: &'a mut dyn FnMut(publish::Event),
}

impl PublishJob<'_> {
    /// `base` (registry, naming, tags) for this job's build and services.
    fn options(&self, base: &publish::Options) -> publish::Options {
        publish::Options {
            from: self
                .built
                .layout
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            services: self.services.to_vec(),
            ..base.clone()
        }
    }
}

/// A publisher's answer: per service, its published image.
pub type Publishing<'a> = BoxFuture<'a, Result<BTreeMap<String, Published>, ShipError>>;

/// Push to a registry: only missing blobs, the manifest last ([`publish::push`]).
pub struct RegistryPublisher {
    /// Registry, naming and tags (`from` and `services` are the build's).
    pub options: publish::Options,
}

impl Publisher for RegistryPublisher {
    fn mode(&self) -> PublishMode {
        PublishMode::Registry
    }

    fn check(&self) -> Result<(), ShipError> {
        Ok(publish::validate(&self.options)?)
    }

    fn publish<'a>(&'a self, job: PublishJob<'a>) -> Publishing<'a> {
        let opts = job.options(&self.options);
        let PublishJob { built, emit, .. } = job;
        Box::pin(async move {
            let out = publish::push(&built.record, &built.record_path, &opts, emit).await?;
            let revision = out.record.revision;
            Ok(published(
                out.record.services,
                &revision,
                publish::PUBLISH_RECORD,
            ))
        })
    }
}

/// Into an OCI image layout: only missing blobs, the index last ([`publish::export::export`]).
/// Its references (`oci:DIR:SERVICE`) are for podman, skopeo or a hand-off, not for a cluster.
pub struct LayoutPublisher {
    /// Tags besides the revision's short sha (`from` and `services` are the build's).
    pub options: publish::Options,
    pub dest: PathBuf,
}

impl Publisher for LayoutPublisher {
    fn mode(&self) -> PublishMode {
        PublishMode::Layout
    }

    fn check(&self) -> Result<(), ShipError> {
        naming::tags("0123456789ab", &self.options.tags).map_err(ShipError::from)?;
        Ok(())
    }

    fn publish<'a>(&'a self, job: PublishJob<'a>) -> Publishing<'a> {
        let opts = job.options(&self.options);
        let PublishJob { built, emit, .. } = job;
        Box::pin(async move {
            let out = publish::export::export(
                &built.record,
                &built.record_path,
                &opts,
                &self.dest,
                emit,
            )?;
            Ok(published(out, &built.record.revision, "oci-layout"))
        })
    }
}

/// Per service, its published image from a stage's results.
fn published(
    results: Vec<publish::ServiceResult>,
    revision: &str,
    source: &str,
) -> BTreeMap<String, Published> {
    results
        .into_iter()
        .map(|p| {
            let artifact = Artifact {
                reference: p.reference,
                digest: p.digest,
                revision: Some(revision.to_string()),
                source: source.into(),
                promoted_from: None,
            };
            let published = Published {
                artifact,
                uploaded_bytes: p.uploaded_bytes,
            };
            (p.service, published)
        })
        .collect()
}

/// Push nothing: each image's reference as a push with `naming` would make it.
pub struct DryRunPublisher {
    pub naming: Naming,
}

impl DryRunPublisher {
    /// The digest-pinned reference a publish of `digest` would produce for `service`.
    pub fn reference(
        &self,
        service: &str,
        digest: &str,
        revision: &str,
    ) -> Result<Artifact, Invalid> {
        let registry = self
            .naming
            .registry
            .as_deref()
            .map(naming::normalize_registry)
            .transpose()?;
        let name = naming::image_name(
            &self.naming.template,
            registry.as_deref(),
            &self.naming.prefix,
            service,
        )?;
        let reference = format!("{name}@{digest}");
        images::check_reference(&reference)?;
        Ok(Artifact {
            reference,
            digest: digest.to_string(),
            revision: Some(revision.to_string()),
            source: crate::builder::BUILD_RECORD.into(),
            promoted_from: None,
        })
    }
}

impl Publisher for DryRunPublisher {
    fn mode(&self) -> PublishMode {
        PublishMode::DryRun
    }

    fn publish<'a>(&'a self, job: PublishJob<'a>) -> Publishing<'a> {
        let PublishJob {
            built, services, ..
        } = job;
        Box::pin(async move {
            let mut out = BTreeMap::new();
            for s in built
                .record
                .services
                .iter()
                .filter(|s| services.contains(&s.service))
            {
                let artifact = self
                    .reference(&s.service, &s.image_digest, &built.record.revision)
                    .map_err(ShipError::from)?;
                let published = Published {
                    artifact,
                    uploaded_bytes: 0,
                };
                out.insert(s.service.clone(), published);
            }
            Ok(out)
        })
    }
}

/// What the pipeline needs of a cluster.
pub trait Cluster {
    /// The namespace of a service that names none (the kubeconfig context's).
    fn namespace(&self) -> &str;
    /// The git revision each service's Deployment runs ([`super::deployed_revisions`]).
    fn deployed_revisions<'a>(
        &'a self,
        ws: &'a Workspace,
        namespace_flag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Option<String>>, DeployError>>;
    /// Roll `job.targets` out ([`deploy::run::run`]).
    fn deploy<'a>(&'a self, job: DeployJob<'a>) -> Deploying<'a>;
    /// What each of `services` runs and where its rollout stands ([`deploy::status`]).
    fn statuses<'a>(
        &'a self,
        ws: &'a Workspace,
        services: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ServiceStatus>, DeployError>>;
}

/// What a cluster is handed to deploy: the services, which names are services (for
/// `depends_on`), the deploy options, and where its events go.
pub struct DeployJob<'a> {
    pub targets: Vec<ServicePlan>,
    pub known: &'a dyn Fn(&str) -> bool,
    pub opts: &'a deploy::Options,
    pub emit: &'a mut dyn FnMut(deploy::Event),
}

/// A cluster's answer: each service's result.
pub type Deploying<'a> = BoxFuture<'a, Result<Vec<ServiceResult>, DeployError>>;

/// A Kubernetes API server.
pub struct KubeCluster {
    pub client: kube::Client,
    /// The kubeconfig context's namespace (else `default`).
    pub namespace: String,
}

impl Cluster for KubeCluster {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn deployed_revisions<'a>(
        &'a self,
        ws: &'a Workspace,
        namespace_flag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, Option<String>>, DeployError>> {
        Box::pin(super::deployed_revisions(
            &self.client,
            ws,
            namespace_flag,
            &self.namespace,
        ))
    }

    fn deploy<'a>(&'a self, job: DeployJob<'a>) -> Deploying<'a> {
        let DeployJob {
            targets,
            known,
            opts,
            emit,
        } = job;
        Box::pin(deploy::run::run(&self.client, targets, known, opts, emit))
    }

    fn statuses<'a>(
        &'a self,
        ws: &'a Workspace,
        services: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<ServiceStatus>, DeployError>> {
        Box::pin(async move {
            let targets = services
                .iter()
                .map(|s| super::locate(ws, s, None, &self.namespace))
                .collect::<Result<Vec<_>, _>>()?;
            let snaps = status::snapshots(&self.client, &targets).await?;
            let now = k8s_openapi::jiff::Timestamp::now();
            Ok(status::report(&self.namespace, &targets, &snaps, now).services)
        })
    }
}

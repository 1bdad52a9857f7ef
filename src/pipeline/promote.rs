//! `monoship promote FROM TO`: what runs in one environment, shipped to the next without a
//! rebuild.
//!
//! 1. **read** — what each service runs in FROM ([`Cluster::statuses`]): only a rollout that
//!    is complete and available, with the digest and revision monoship recorded, is a
//!    candidate; the others are refused with their reason ([`candidates`]);
//! 2. **copy** — each candidate's image into TO's registry by digest ([`Mirror`]): only the
//!    missing blobs, the manifest last; every copy ends before anything is deployed, so a
//!    registry that fails leaves TO's cluster as it was;
//! 3. **deploy** — TO's [`Cluster`] rolls them out like `deploy` (waves, verdicts, rollback),
//!    recording `monoship.dev/promoted-from` on each Deployment.

use super::seams::{BoxFuture, Cluster, DeployJob};
use super::select::{deploy_target, naming};
use crate::deploy::images::{Artifact, PromotedFrom};
use crate::deploy::status::{ServiceStatus, State};
use crate::deploy::{self, DeployError, ServiceResult};
use crate::invalid::Invalid;
use crate::publish::naming as names;
use crate::registry::copy::Copied;
use crate::registry::{self, RegistryError};
use crate::workspace::Workspace;
use serde::Serialize;

/// Why `monoship promote` stopped before deploying.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The workspace was not loaded in an environment (a bug of the caller).
    #[error("promote needs both workspaces in their environments")]
    NoEnvironment,
    /// TO takes images only from its `promote-from`.
    #[error(
        "environment `{to}` is promoted only from `{allowed}` (`promote-from` in {file}), not from `{from}`"
    )]
    NotAllowed {
        from: String,
        to: String,
        allowed: String,
        file: String,
    },
    /// Reading what runs in FROM.
    #[error(transparent)]
    Source(DeployError),
    /// Deploying in TO.
    #[error(transparent)]
    Deploy(DeployError),
    /// Copying `service`'s image failed: nothing was deployed.
    #[error("{service}: copying {source_image} to {target}: {error}")]
    Copy {
        service: String,
        source_image: String,
        target: String,
        error: RegistryError,
    },
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

impl PromoteError {
    pub fn is_unreachable(&self) -> bool {
        match self {
            PromoteError::Source(e) | PromoteError::Deploy(e) => e.is_unreachable(),
            PromoteError::Copy { error, .. } => error.is_unreachable(),
            _ => false,
        }
    }

    pub fn is_denied(&self) -> bool {
        match self {
            PromoteError::Source(e) | PromoteError::Deploy(e) => e.is_denied(),
            PromoteError::Copy { error, .. } => error.is_denied(),
            _ => false,
        }
    }

    /// A usage or configuration error (exit code 2).
    pub fn is_usage(&self) -> bool {
        match self {
            PromoteError::NotAllowed { .. } | PromoteError::Invalid(_) => true,
            PromoteError::Copy { error, .. } => error.is_usage(),
            PromoteError::Source(e) | PromoteError::Deploy(e) => e.is_usage(),
            PromoteError::NoEnvironment => false,
        }
    }
}

/// A service FROM runs as promote wants it: complete, available, pinned by digest, with the
/// revision monoship recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub service: String,
    /// `host/repository@sha256:…` in FROM.
    pub image: String,
    pub digest: String,
    pub revision: String,
}

/// A service promote leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub service: String,
    /// Its rollout state in FROM.
    pub state: State,
    pub reason: String,
}

/// Split FROM's statuses into what can be promoted and what is refused.
pub fn candidates(from: &str, statuses: &[ServiceStatus]) -> (Vec<Candidate>, Vec<Refused>) {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for s in statuses {
        let refuse = |reason: String| Refused {
            service: s.service.clone(),
            state: s.state,
            reason,
        };
        let detail = s
            .reason
            .as_deref()
            .map_or(String::new(), |r| format!(": {r}"));
        match (s.state, &s.image, &s.digest, &s.revision) {
            (State::Complete, Some(image), Some(digest), Some(revision)) => ok.push(Candidate {
                service: s.service.clone(),
                image: image.clone(),
                digest: digest.clone(),
                revision: revision.clone(),
            }),
            (State::Complete, ..) => refused.push(refuse(format!(
                "not deployed by monoship in {from} (no digest and revision recorded for the \
                 image it runs; deploy it there with monoship first)"
            ))),
            (State::Missing, ..) => refused.push(refuse(format!(
                "missing in {from}: no Deployment {} in namespace {}",
                s.deployment, s.namespace
            ))),
            (State::Failed, ..) => refused.push(refuse(format!("failing in {from}{detail}"))),
            (State::Progressing, ..) => {
                refused.push(refuse(format!("mid-rollout in {from}{detail}")))
            }
        }
    }
    (ok, refused)
}

/// One image to copy: `source` (`host/repo@sha256:…`) to `target`, tagged `tags` there;
/// `dry_run`: look, send nothing.
pub struct CopyJob<'a> {
    pub source: &'a str,
    pub target: &'a names::ImageName,
    pub tags: &'a [String],
    pub dry_run: bool,
}

/// Copies an image by digest into another repository (a registry, or a fake in tests).
pub trait Mirror {
    fn copy<'a>(&'a self, job: CopyJob<'a>) -> BoxFuture<'a, Result<Copied, RegistryError>>;
}

/// Real registries: credentials as for `publish`; plain HTTP only with `insecure`, and only
/// for registries on this machine.
#[derive(Default)]
pub struct RegistryMirror {
    pub insecure: bool,
    /// Per target registry, the blobs this mirror's copies brought there (and where).
    pub known: std::sync::Mutex<std::collections::BTreeMap<String, registry::copy::Known>>,
}

impl Mirror for RegistryMirror {
    fn copy<'a>(&'a self, job: CopyJob<'a>) -> BoxFuture<'a, Result<Copied, RegistryError>> {
        let CopyJob {
            source,
            target,
            tags,
            dry_run,
        } = job;
        Box::pin(async move {
            let parsed: oci_client::Reference = source.parse().map_err(|e| {
                RegistryError::Usage(format!("bad image reference `{source}`: {e}"))
            })?;
            let digest = parsed.digest().ok_or_else(|| {
                RegistryError::Usage(format!("`{source}` is not pinned by digest"))
            })?;
            let host = parsed.resolve_registry().to_string();
            let connect = |h: &str| {
                let transport =
                    registry::Transport::checked(h, self.insecure && registry::is_local(h))?;
                registry::Registry::connect(h, transport)
            };
            let from = connect(&host)?;
            let to = connect(&target.host)?;
            let mut known = self
                .known
                .lock()
                .map(|k| k.get(&target.host).cloned().unwrap_or_default())
                .unwrap_or_default();
            let copied = registry::copy::copy_image(
                &registry::copy::Side {
                    registry: &from,
                    repository: parsed.repository(),
                },
                &registry::copy::Side {
                    registry: &to,
                    repository: &target.repository,
                },
                digest,
                tags,
                dry_run,
                &mut known,
            )
            .await;
            if let Ok(mut k) = self.known.lock() {
                k.entry(target.host.clone()).or_default().extend(known);
            }
            copied
        })
    }
}

/// What a promotion is handed.
pub struct PromoteJob<'a> {
    /// The workspace in FROM and in TO ([`Workspace::in_environment`]).
    pub from: &'a Workspace,
    pub to: &'a Workspace,
    /// The services to promote (named, or every service).
    pub services: &'a [String],
    pub source: &'a dyn Cluster,
    pub target: &'a dyn Cluster,
    pub mirror: &'a dyn Mirror,
    pub deploy: &'a deploy::Options,
    pub emit: &'a mut dyn FnMut(Event),
}

/// What a promotion reports while it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// FROM was read: what goes, what is refused.
    Planned {
        candidates: Vec<Candidate>,
        refused: Vec<Refused>,
    },
    /// A service's image is in TO's registry (`target`: `host/repo@sha256:…`).
    Copied {
        service: String,
        target: String,
        copied: Copied,
    },
    Deploy(deploy::Event),
}

/// One promoted service.
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    pub service: String,
    pub digest: String,
    pub revision: String,
    /// The image in FROM and the one deployed in TO (same digest).
    pub source_image: String,
    pub target_image: String,
    pub copy: Copied,
    pub deploy: ServiceResult,
}

/// The result of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteReport {
    pub from: String,
    pub to: String,
    pub dry_run: bool,
    pub promoted: Vec<Promoted>,
    pub refused: Vec<Refused>,
}

/// Promote `job.services` from `job.from`'s environment to `job.to`'s (see the module's
/// documentation).
pub async fn promote(job: PromoteJob<'_>) -> Result<PromoteReport, PromoteError> {
    let PromoteJob {
        from,
        to,
        services,
        source,
        target,
        mirror,
        deploy: opts,
        emit,
    } = job;
    let (Some(from_env), Some(to_env)) = (&from.environment, &to.environment) else {
        return Err(PromoteError::NoEnvironment);
    };
    if let Some(allowed) = to_env
        .promote_from
        .as_ref()
        .filter(|a| **a != from_env.name)
    {
        return Err(PromoteError::NotAllowed {
            from: from_env.name.clone(),
            to: to_env.name.clone(),
            allowed: allowed.clone(),
            file: to.manifest.display().to_string(),
        });
    }
    let statuses = source
        .statuses(from, services)
        .await
        .map_err(PromoteError::Source)?;
    let (candidates, refused) = candidates(&from_env.name, &statuses);
    emit(Event::Planned {
        candidates: candidates.clone(),
        refused: refused.clone(),
    });
    let time = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut copies = Vec::new();
    let mut targets = Vec::new();
    for c in &candidates {
        let (image, copied) = copy_one(to, c, mirror, opts.dry_run).await?;
        emit(Event::Copied {
            service: c.service.clone(),
            target: image.clone(),
            copied: copied.clone(),
        });
        let artifact = Artifact {
            reference: image,
            digest: c.digest.clone(),
            revision: Some(c.revision.clone()),
            source: format!("promote from {}", from_env.name),
            promoted_from: Some(PromotedFrom {
                environment: from_env.name.clone(),
                digest: c.digest.clone(),
                revision: Some(c.revision.clone()),
                time: time.clone(),
            }),
        };
        targets.push(deploy_target(
            to,
            &c.service,
            artifact,
            None,
            target.namespace(),
        )?);
        copies.push(copied);
    }
    let results = if targets.is_empty() {
        Vec::new()
    } else {
        let known = |s: &str| to.service(s).is_some();
        target
            .deploy(DeployJob {
                targets,
                known: &known,
                opts,
                emit: &mut |e| emit(Event::Deploy(e)),
            })
            .await
            .map_err(PromoteError::Deploy)?
    };
    Ok(PromoteReport {
        from: from_env.name.clone(),
        to: to_env.name.clone(),
        dry_run: opts.dry_run,
        promoted: rows(&candidates, copies, results),
        refused,
    })
}

/// Copy one candidate's image into TO's registry: the reference deployed there, and what
/// was sent.
async fn copy_one(
    to: &Workspace,
    c: &Candidate,
    mirror: &dyn Mirror,
    dry_run: bool,
) -> Result<(String, Copied), PromoteError> {
    let n = naming(&to.config, None);
    let name = names::image_name(&n.template, n.registry.as_deref(), &n.prefix, &c.service)
        .map_err(|e| {
            Invalid(format!(
                "{}: the image in {}: {e}",
                c.service,
                to.manifest.display()
            ))
        })?;
    let tags = names::tags(&c.revision, &[])?;
    let copied = mirror
        .copy(CopyJob {
            source: &c.image,
            target: &name,
            tags: &tags,
            dry_run,
        })
        .await
        .map_err(|error| PromoteError::Copy {
            service: c.service.clone(),
            source_image: c.image.clone(),
            target: name.to_string(),
            error,
        })?;
    Ok((format!("{name}@{}", c.digest), copied))
}

/// The rows of the report, in the candidates' order.
fn rows(
    candidates: &[Candidate],
    copies: Vec<Copied>,
    results: Vec<ServiceResult>,
) -> Vec<Promoted> {
    let mut results: std::collections::BTreeMap<String, ServiceResult> = results
        .into_iter()
        .map(|r| (r.service.clone(), r))
        .collect();
    candidates
        .iter()
        .zip(copies)
        .filter_map(|(c, copy)| {
            let deploy = results.remove(&c.service)?;
            Some(Promoted {
                service: c.service.clone(),
                digest: c.digest.clone(),
                revision: c.revision.clone(),
                source_image: c.image.clone(),
                target_image: deploy.to.image.clone().unwrap_or_default(),
                copy,
                deploy,
            })
        })
        .collect()
}

//! The one error of the command line: each stage's error, folded in with `?`, and the few the
//! command line finds itself. [`CliError::exit_code`] is the only place an exit code is
//! decided (the codes are in [`exit`]); its `Display` is the one line after `error:`.

use super::exit;
use monoship::affected::AffectedError;
use monoship::builder::BuildError;
use monoship::cluster::ConnectError;
use monoship::demo::DemoError;
use monoship::deploy::DeployError;
use monoship::deploy::logs::NoLogs;
use monoship::generate::GenerateError;
use monoship::init::InitError;
use monoship::invalid::Invalid;
use monoship::pipeline::ShipError;
use monoship::pipeline::promote::PromoteError;
use monoship::publish::PublishError;
use monoship::workspace::WorkspaceError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Loading the workspace or analysing a change (always a usage error: a bad revision, not
    /// a git repository, not a Cargo workspace, a bad configuration).
    #[error(transparent)]
    Affected(#[from] AffectedError),
    /// Reading the workspace without the analysis (`init`).
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Reading the kubeconfig and starting the client.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The deploy stage, and the commands reading the cluster. `service`: the service whose
    /// Deployment was looked up, named when it is missing ([`CliResult::for_service`]); the
    /// API server is named in [`DeployError::Unreachable`] ([`CliResult::at`]).
    #[error("{}", deploy_line(.source, .service.as_deref()))]
    Deploy {
        source: DeployError,
        service: Option<String>,
    },
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// A service the workspace does not have.
    #[error("unknown service `{0}` (see `monoship services`)")]
    UnknownService(String),
    /// A run that SIGINT or SIGTERM stopped, after its results were shown.
    #[error("interrupted by {signal}: {summary}")]
    Interrupted { signal: String, summary: String },
    /// An I/O error of the command line's own (`what`: what it was doing).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// An input check of the library (image references, records, manifests, names,
    /// registries, tags, templates).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// `-C DIR` that cannot be entered.
    #[error("-C {}: cannot change to this directory: {source}", .dir.display())]
    ChangeDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    /// `--format` that a command does not render.
    #[error("`{command}` does not support --format {format}")]
    Format { command: String, format: String },
    /// Arguments that do not go together, or an environment a flag needs (the line says
    /// which).
    #[error("{0}")]
    Arguments(&'static str),
    /// `--explain` of a service the workspace does not have.
    #[error("unknown service `{name}` (services: {})", .known.join(", "))]
    UnknownAmong { name: String, known: Vec<String> },
    /// The same service in two `--image` flags.
    #[error("--image {0}=… is given twice")]
    ImageTwice(String),
    /// `--image` of a service outside the ones named.
    #[error("--image names `{0}`, which is not among the services to deploy")]
    ImageNotSelected(String),
    /// `deploy` with no service named and no records to take them from.
    #[error(
        "nothing to deploy: name services, pass --image SERVICE=REF, or build and publish \
         first (no records in {})",
        .0.display()
    )]
    NothingToDeploy(std::path::PathBuf),
    /// `deploy --manifests` whose files lack the service's Deployment.
    #[error(
        "{service}: no Deployment `{deployment}` (apps/v1) in the manifests in {} \
         (`monoship generate k8s` writes them)",
        .dir.display()
    )]
    NoDeploymentIn {
        service: String,
        deployment: String,
        dir: std::path::PathBuf,
    },
    /// `logs --container` naming a container the Deployment does not have.
    #[error(
        "deployment {namespace}/{deployment} has no container `{container}` (containers: {})",
        .known.join(", ")
    )]
    NoContainer {
        namespace: String,
        deployment: String,
        container: String,
        known: Vec<String>,
    },
    /// `logs` that read none.
    #[error(transparent)]
    NoLogs(#[from] NoLogs),
    /// `generate --check`: generated files that differ from what monoship would write.
    #[error("out of date: {} (run `{rerun}`)", .stale.join(", "))]
    OutOfDate { stale: Vec<String>, rerun: String },
    /// `check`: changes that would fail closed with the configuration as it is.
    #[error(
        "{files} tracked file(s) would fail closed and {dockerfiles} Dockerfile(s) cannot be read \
         (see above; `monoship init --dry-run` shows the table with the proposal applied)"
    )]
    WouldFailClosed { files: usize, dockerfiles: usize },
    /// `affected --strict` on an analysis that failed closed.
    #[error("analysis failed closed (--strict): {0}")]
    Strict(String),
    /// `demo`: the build left no record.
    #[error("the build wrote no {}", .0.display())]
    NoBuildRecord(std::path::PathBuf),
    /// The pipeline's own failures (a service that was not published).
    #[error(transparent)]
    Ship(ShipError),
    /// `promote`: a copy that failed (nothing deployed), or `promote-from`.
    #[error(transparent)]
    Promote(Box<PromoteError>),
}

impl CliError {
    /// The exit code (documented in [`exit`] and README.md).
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            CliError::Deploy { source, .. } if source.is_busy() => return exit::BUSY,
            CliError::Deploy { source, .. } if source.is_unreachable() => return exit::UNREACHABLE,
            CliError::Deploy { source, .. } if source.is_denied() => return exit::DENIED,
            CliError::Publish(e) if e.is_unreachable() => return exit::UNREACHABLE,
            CliError::Publish(e) if e.is_denied() => return exit::DENIED,
            CliError::Promote(e) if e.is_unreachable() => return exit::UNREACHABLE,
            CliError::Promote(e) if e.is_denied() => return exit::DENIED,
            CliError::Interrupted { signal, .. } => return exit::signal(signal),
            CliError::Affected(_)
            | CliError::Workspace(_)
            | CliError::Init(_)
            | CliError::UnknownService(_)
            | CliError::Invalid(_)
            | CliError::ChangeDir { .. }
            | CliError::Format { .. }
            | CliError::Arguments(_)
            | CliError::UnknownAmong { .. }
            | CliError::ImageTwice(_)
            | CliError::ImageNotSelected(_)
            | CliError::NothingToDeploy(_)
            | CliError::NoDeploymentIn { .. }
            | CliError::NoContainer { .. } => true,
            CliError::Generate(e) => e.is_usage(),
            CliError::Build(e) => e.is_usage(),
            CliError::Publish(e) => e.is_usage(),
            CliError::Connect(e) => e.is_usage(),
            CliError::Deploy { source, .. } => source.is_usage(),
            CliError::Demo(e) => e.is_usage(),
            CliError::Promote(e) => e.is_usage(),
            CliError::Io { .. }
            | CliError::Json(_)
            | CliError::NoLogs(_)
            | CliError::OutOfDate { .. }
            | CliError::Strict(_)
            | CliError::WouldFailClosed { .. }
            | CliError::NoBuildRecord(_)
            | CliError::Ship(_) => false,
        };
        if usage { exit::USAGE } else { exit::FAILED }
    }

    /// Name the API server in an error that says it cannot be reached.
    pub fn at(mut self, api_server: &str) -> Self {
        if let CliError::Deploy {
            source: DeployError::Unreachable { server, .. },
            ..
        } = &mut self
        {
            *server = Some(api_server.to_string());
        }
        self
    }

    /// Name the service in an error that says its Deployment is missing.
    pub fn for_service(self, name: &str) -> Self {
        match self {
            CliError::Deploy { source, .. } => CliError::Deploy {
                source,
                service: Some(name.to_string()),
            },
            other => other,
        }
    }
}

/// An I/O error of the command line, saying what it was doing.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let what = what.into();
    move |source| CliError::Io { what, source }
}

fn deploy_line(e: &DeployError, service: Option<&str>) -> String {
    match (e, service) {
        (DeployError::DeploymentNotFound { namespace, name }, Some(service)) => {
            format!("service `{service}`: deployment `{name}` not found in namespace `{namespace}`")
        }
        _ => e.to_string(),
    }
}

/// [`CliError::at`] and [`CliError::for_service`] on a result of any stage.
pub trait CliResult<T> {
    fn at(self, api_server: &str) -> Result<T, CliError>;
    fn for_service(self, name: &str) -> Result<T, CliError>;
}

impl<T, E: Into<CliError>> CliResult<T> for Result<T, E> {
    fn at(self, api_server: &str) -> Result<T, CliError> {
        self.map_err(|e| e.into().at(api_server))
    }

    fn for_service(self, name: &str) -> Result<T, CliError> {
        self.map_err(|e| e.into().for_service(name))
    }
}

impl From<DeployError> for CliError {
    fn from(source: DeployError) -> Self {
        CliError::Deploy {
            source,
            service: None,
        }
    }
}

impl From<PromoteError> for CliError {
    fn from(e: PromoteError) -> Self {
        match e {
            PromoteError::Source(e) | PromoteError::Deploy(e) => e.into(),
            PromoteError::Invalid(m) => CliError::Invalid(m),
            e => CliError::Promote(Box::new(e)),
        }
    }
}

impl From<ShipError> for CliError {
    fn from(e: ShipError) -> Self {
        match e {
            ShipError::Affected(e) => e.into(),
            ShipError::Build(e) => e.into(),
            ShipError::Publish(e) => e.into(),
            ShipError::Deploy(e) => e.into(),
            ShipError::Invalid(m) => CliError::Invalid(m),
            e @ ShipError::NotPublished(_) => CliError::Ship(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoship::registry::RegistryError;

    #[test]
    fn codes() {
        let busy = CliError::from(DeployError::Busy("held".into()));
        assert_eq!((busy.exit_code(), busy.to_string().as_str()), (3, "held"));
        let usage = CliError::from(DeployError::Invalid(Invalid::from("bad")));
        assert_eq!(usage.exit_code(), exit::USAGE);
        let api = CliError::from(DeployError::Api("no".into()));
        assert_eq!(api.exit_code(), exit::FAILED);
        let build = CliError::from(BuildError::UnknownService("x".into()));
        assert_eq!(build.exit_code(), exit::USAGE);
        let ship = CliError::from(ShipError::NotPublished("users".into()));
        assert_eq!(ship.exit_code(), exit::FAILED);
        assert_eq!(ship.to_string(), "users: no image was published");
        let down = CliError::from(DeployError::Unreachable {
            server: None,
            message: "connection refused".into(),
        });
        assert_eq!(down.exit_code(), exit::UNREACHABLE);
        let denied = CliError::from(DeployError::Forbidden("forbidden: …".into()));
        assert_eq!(denied.exit_code(), exit::DENIED);
        let registry = |e| {
            CliError::from(PublishError::Service {
                service: "users".into(),
                source: e,
            })
        };
        let unreachable = registry(RegistryError::Unreachable {
            registry: "r.io".into(),
            detail: "dns".into(),
        });
        assert_eq!(unreachable.exit_code(), exit::UNREACHABLE);
        let refused = registry(RegistryError::AuthFailed {
            registry: "r.io".into(),
            hint: String::new(),
        });
        assert_eq!(refused.exit_code(), exit::DENIED);
        let term = CliError::Interrupted {
            signal: "SIGTERM".into(),
            summary: "…".into(),
        };
        assert_eq!(term.exit_code(), exit::SIGTERM);
    }

    #[test]
    fn rollouts_that_end_badly_say_how() {
        use monoship::deploy::Outcome::*;
        assert_eq!(exit::of_rollouts([Deployed, Unchanged]), exit::OK);
        assert_eq!(
            exit::of_rollouts([Deployed, RolledBack, Skipped]),
            exit::ROLLED_BACK
        );
        assert_eq!(exit::of_rollouts([RolledBack, Error]), exit::FAILED);
        assert_eq!(
            exit::of_rollouts([Error, RollbackFailed]),
            exit::LEFT_FAILED
        );
        assert_eq!(exit::of_rollouts([Deployed, Failed]), exit::LEFT_FAILED);
    }

    #[test]
    fn the_server_and_the_service_are_named() {
        let unreachable: Result<(), DeployError> = Err(DeployError::Unreachable {
            server: None,
            message: "connection refused".into(),
        });
        let e = unreachable.at("https://127.0.0.1:6443").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot reach the Kubernetes API server at https://127.0.0.1:6443: connection refused"
        );
        assert_eq!(e.exit_code(), exit::UNREACHABLE);
        let missing: Result<(), DeployError> = Err(DeployError::DeploymentNotFound {
            namespace: "shop".into(),
            name: "users-api".into(),
        });
        let e = missing.at("s").for_service("users").unwrap_err();
        assert_eq!(
            e.to_string(),
            "service `users`: deployment `users-api` not found in namespace `shop`"
        );
    }
}

//! What the commands that talk to Kubernetes share: the cluster flags (`KubeArgs` to reach
//! it, `ClusterArgs` to follow a rollout, `RolloutArgs` for many), the connection, the workspace with
//! the named services checked, and where a service runs. `deploy`, `ship`, `rollback`,
//! `status`, `history` and `logs` take these from here, not from one another.

use super::{Cli, CliError, workspace_options};
use monoship::cluster::{self, ConnectOptions};
use monoship::deploy::status::ServiceRef;
use monoship::deploy::{Options, Others, Stop};
use monoship::pipeline::{Cluster, Clusters, KubeCluster};
use monoship::workspace::Workspace;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct KubeArgs {
    /// Namespace of the Deployments (default: `namespace` in the configuration, else the
    /// kubeconfig context's).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

/// How to reach the cluster and follow a rollout (`rollback`; in [`RolloutArgs`] for `deploy`
/// and `ship`).
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Time limit per rollout, e.g. 90s, 5m (default: derived from the probes).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Restarts of a new container tolerated before OOM kills, probe kills or exits fail it.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_restarts: i32,
    /// Show the exact change (server-side dry run), change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When another monoship run is deploying a service, wait for it instead of refusing.
    #[arg(long, conflicts_with = "force")]
    pub wait_for_others: bool,
    /// Deploy even when another monoship run holds a service's lease (taking it over) or a
    /// change monoship did not make is in progress.
    #[arg(long)]
    pub force: bool,
}

impl ClusterArgs {
    /// The deploy stage's options of these flags, stopped by `stop`.
    pub fn options(&self, stop: Stop) -> Options {
        let others = if self.force {
            Others::Force
        } else if self.wait_for_others {
            Others::Wait
        } else {
            Others::Refuse
        };
        Options {
            timeout: self.timeout,
            max_restarts: self.max_restarts,
            dry_run: self.dry_run,
            others,
            stop,
            ..Options::default()
        }
    }
}

/// The flags of a run of many rollouts: `deploy` and `ship`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Rollouts at a time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
    /// Leave a failed rollout as it is instead of rolling it back.
    #[arg(long)]
    pub no_rollback: bool,
    /// Start no more services after the first failure (they are `skipped`).
    #[arg(long)]
    pub fail_fast: bool,
    /// Take over fields of the services' objects that another field manager owns (else such
    /// a conflict ends the run before anything changes).
    #[arg(long)]
    pub force_conflicts: bool,
}

impl RolloutArgs {
    /// The deploy stage's options of these flags, stopped by `stop`.
    pub fn options(&self, stop: Stop) -> Options {
        Options {
            parallel: usize::try_from(self.parallel).unwrap_or(usize::MAX),
            no_rollback: self.no_rollback,
            fail_fast: self.fail_fast,
            force_conflicts: self.force_conflicts,
            ..self.cluster.options(stop)
        }
    }
}

/// The longest `--timeout`: 30 days (a rollout that takes longer has no deadline worth the name).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// `90`, `90s`, `1m30s`, `5m`, `500ms`, `1h`; more than zero and at most [`MAX_TIMEOUT`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (like 90s, 5m, 1m30s)");
    let too_long = || format!("`{text}` is longer than the longest timeout, 720h (30 days)");
    let total = if let Ok(secs) = text.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let (number, after) = rest.split_at(digits);
            // All digits, so the only way to fail is a number too large for u64.
            let n: u64 = if number.is_empty() {
                return Err(bad());
            } else {
                number.parse().map_err(|_| too_long())?
            };
            let unit = after
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit);
            let part = match unit {
                "ms" => Some(Duration::from_millis(n)),
                "s" => Some(Duration::from_secs(n)),
                "m" => n.checked_mul(60).map(Duration::from_secs),
                "h" => n.checked_mul(3600).map(Duration::from_secs),
                _ => return Err(bad()),
            };
            total = part
                .and_then(|p| total.checked_add(p))
                .ok_or_else(too_long)?;
            rest = next;
        }
        total
    };
    if total.is_zero() {
        return Err(format!(
            "`{text}` is no time at all: give a timeout above zero"
        ));
    }
    if total > MAX_TIMEOUT {
        return Err(too_long());
    }
    Ok(total)
}

/// Connect like kubectl; a configuration problem is a usage error.
/// Connect as `args` say; the context, when `--context` names none, is the environment's.
pub async fn connect(args: &KubeArgs, ws: &Workspace) -> Result<cluster::Connection, CliError> {
    let environment = ws.environment.as_ref().and_then(|e| e.context.clone());
    Ok(cluster::connect(&ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone().or(environment),
    })
    .await?)
}

/// Every cluster a deploy goes to, connected: the environment's `contexts` in order (or
/// `--context`, or the one cluster of [`connect`]).
pub struct Connected {
    /// The first cluster's API server (named in errors) and namespace.
    pub server: String,
    pub namespace: String,
    pub kubes: Vec<(String, KubeCluster)>,
}

impl Connected {
    /// The clusters as one (rollouts cluster by cluster).
    pub fn clusters(&self) -> Clusters<'_> {
        Clusters {
            clusters: self
                .kubes
                .iter()
                .map(|(name, k)| (name.clone(), k as &dyn Cluster))
                .collect(),
        }
    }
}

/// Connect to every cluster of the environment (see [`Connected`]).
pub async fn connect_all(args: &KubeArgs, ws: &Workspace) -> Result<Connected, CliError> {
    let contexts = ws
        .environment
        .as_ref()
        .map(|e| e.contexts.clone())
        .unwrap_or_default();
    let mut conns = Vec::new();
    if args.context.is_some() || contexts.len() < 2 {
        let conn = connect(args, ws).await?;
        let name = args
            .context
            .clone()
            .or_else(|| ws.environment.as_ref().and_then(|e| e.context.clone()))
            .unwrap_or_default();
        conns.push((name, conn));
    } else {
        for context in contexts {
            let conn = cluster::connect(&ConnectOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: Some(context.clone()),
            })
            .await?;
            conns.push((context, conn));
        }
    }
    let (server, namespace) = (conns[0].1.server.clone(), conns[0].1.namespace.clone());
    Ok(Connected {
        server,
        namespace,
        kubes: conns
            .into_iter()
            .map(|(name, c)| {
                let kube = KubeCluster {
                    client: c.client,
                    namespace: c.namespace,
                };
                (name, kube)
            })
            .collect(),
    })
}

/// The workspace, and `services` checked against it (all of them when empty, else without
/// repeats).
pub fn load(cli: &Cli, services: &[String]) -> Result<(Workspace, Vec<String>), CliError> {
    load_with(&workspace_options(cli), services)
}

/// [`load`] with these options (`status --env A,B` loads the base configuration).
pub fn load_with(
    opts: &monoship::affected::Options,
    services: &[String],
) -> Result<(Workspace, Vec<String>), CliError> {
    let ws = monoship::affected::load_workspace(opts)?;
    if let Some(s) = services.iter().find(|s| ws.service(s).is_none()) {
        return Err(CliError::UnknownService(s.clone()));
    }
    let names = if services.is_empty() {
        ws.services.iter().map(|s| s.name.clone()).collect()
    } else {
        let mut seen = std::collections::BTreeSet::new();
        services
            .iter()
            .filter(|s| seen.insert(s.to_string()))
            .cloned()
            .collect()
    };
    Ok((ws, names))
}

/// Where a service runs: namespace (flag, service table, workspace table, context), the
/// Deployment (name template) and the configured container.
/// Connected to the cluster of `kube`, and where `service` runs there.
pub async fn connect_to(
    ws: &Workspace,
    service: &str,
    kube: &KubeArgs,
) -> Result<(cluster::Connection, ServiceRef), CliError> {
    let conn = connect(kube, ws).await?;
    let at = monoship::pipeline::locate(ws, service, kube.namespace.as_deref(), &conn.namespace)?;
    Ok((conn, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0m0s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(parse_duration("720h").unwrap(), MAX_TIMEOUT);
        for huge in [
            "18446744073709551615s",
            "18446744073709551615s1s",
            "18446744073709551615",
            "307445734561825861m",
            "5124095576030431h",
            "99999999999999999999999s",
            "721h",
        ] {
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains("longer than"), "{huge}: {e}");
        }
    }
}

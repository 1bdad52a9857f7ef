//! Environments (`--env NAME`, `MONOSHIP_ENV`): the configuration as one environment sees it.
//!
//! An environment is an overlay: its keys win over the workspace table's and the services'
//! own, and a service's `[package.metadata.monoship.environments.NAME]` wins over both; every
//! stage then reads the configuration as it always does (namespace, registry, replicas,
//! resources). Without `--env` nothing changes.

use super::{Service, Workspace, WorkspaceError};
use crate::config::{ConfigError, EnvironmentConfig, WorkspaceConfig};

/// The environment a workspace was loaded for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// The kubeconfig context its (first) cluster is reached with (`None`: the current one).
    pub context: Option<String>,
    /// `contexts`: every cluster's context, in rollout order (empty: only `context`).
    pub contexts: Vec<String>,
    /// `promote-from`: the only environment `monoship promote` takes this one's images from.
    pub promote_from: Option<String>,
}

impl Workspace {
    /// This workspace in environment `name` (see the module's documentation); an unknown name
    /// is an error naming the environments there are.
    pub fn in_environment(mut self, name: &str) -> Result<Workspace, WorkspaceError> {
        let Some(env) = self.config.environments.get(name).cloned() else {
            let known: Vec<&str> = self
                .config
                .environments
                .keys()
                .map(String::as_str)
                .collect();
            return Err(WorkspaceError::UnknownEnvironment {
                name: name.to_string(),
                file: self.manifest.display().to_string(),
                known: if known.is_empty() {
                    "none is configured".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                },
            });
        };
        overlay(&mut self.config, &mut self.services, name, &env);
        self.environment = Some(Environment {
            name: name.to_string(),
            context: env
                .context
                .or_else(|| env.contexts.as_ref().and_then(|c| c.first().cloned())),
            contexts: env.contexts.unwrap_or_default(),
            promote_from: env.promote_from,
        });
        Ok(self)
    }
}

/// The workspace table and the services as environment `name` sees them (`None`: no such
/// environment), exactly as [`Workspace::in_environment`] resolves them.
pub fn view(
    config: &WorkspaceConfig,
    services: &[Service],
    name: &str,
) -> Option<(WorkspaceConfig, Vec<Service>)> {
    let env = config.environments.get(name)?.clone();
    let (mut config, mut services) = (config.clone(), services.to_vec());
    overlay(&mut config, &mut services, name, &env);
    Some((config, services))
}

/// Environment `name`'s keys over the workspace table's, and each service's own environment
/// table over both.
fn overlay(c: &mut WorkspaceConfig, services: &mut [Service], name: &str, env: &EnvironmentConfig) {
    c.namespace = env.namespace.clone().or(c.namespace.take());
    c.registry = env.registry.clone().or(c.registry.take());
    c.replicas = env.replicas.or(c.replicas);
    c.resources = env.resources.clone().or(c.resources.take());
    for s in services {
        let own = s.config.environments.get(name).cloned().unwrap_or_default();
        let sc = &mut s.config;
        sc.namespace = own
            .namespace
            .or(env.namespace.clone())
            .or(sc.namespace.take());
        sc.replicas = own.replicas.or(env.replicas).or(sc.replicas);
        sc.environment_env = env.env.clone();
        sc.environment_env.extend(own.env);
        sc.resources = own
            .resources
            .or(env.resources.clone())
            .or(sc.resources.take());
    }
}

/// [`check`] of a workspace of unit tests.
#[cfg(test)]
pub fn check_for_test(ws: &Workspace) -> Result<(), ConfigError> {
    check(&ws.config, "Cargo.toml", &ws.services, |_| String::new())
}

/// A container environment variable's name as Kubernetes takes it: letters, digits, `_`, `-`
/// and `.`, not starting with a digit.
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Every environment a service's table names, and each `promote-from`, is one of the
/// workspace's (and no environment promotes from itself).
pub(super) fn check(
    config: &WorkspaceConfig,
    workspace_manifest: &str,
    services: &[Service],
    manifest_of: impl Fn(&Service) -> String,
) -> Result<(), ConfigError> {
    for (name, env) in &config.environments {
        let contexts = env.contexts.as_deref();
        let bad_contexts = match (&env.context, contexts) {
            (Some(_), Some(_)) => Some("give `context` or `contexts`, not both"),
            (_, Some([])) => Some("`contexts` is empty"),
            (_, Some(c)) if c.iter().collect::<std::collections::BTreeSet<_>>().len() < c.len() => {
                Some("`contexts` names a context twice")
            }
            _ => None,
        };
        if let Some(var) = env.env.keys().find(|k| !is_env_name(k)) {
            return Err(ConfigError::Invalid {
                file: workspace_manifest.to_string(),
                table: "workspace.metadata.monoship",
                message: format!("environment `{name}`: `env`: `{var}` is not a variable name"),
            });
        }
        if let Some(why) = bad_contexts {
            return Err(ConfigError::Invalid {
                file: workspace_manifest.to_string(),
                table: "workspace.metadata.monoship",
                message: format!("environment `{name}`: {why}"),
            });
        }
        let Some(from) = &env.promote_from else {
            continue;
        };
        if from == name || !config.environments.contains_key(from) {
            return Err(ConfigError::Invalid {
                file: workspace_manifest.to_string(),
                table: "workspace.metadata.monoship",
                message: format!(
                    "`promote-from` of environment `{name}` names {}",
                    if from == name {
                        "the environment itself".to_string()
                    } else {
                        format!("no environment: `{from}`")
                    }
                ),
            });
        }
    }
    for s in services {
        let bad = s
            .config
            .environments
            .iter()
            .find_map(|(env, t)| t.env.keys().find(|k| !is_env_name(k)).map(|k| (env, k)));
        if let Some((env, var)) = bad {
            return Err(ConfigError::Invalid {
                file: manifest_of(s),
                table: "package.metadata.monoship",
                message: format!("environment `{env}`: `env`: `{var}` is not a variable name"),
            });
        }
    }
    for s in services {
        if let Some(name) = s
            .config
            .environments
            .keys()
            .find(|n| !config.environments.contains_key(*n))
        {
            let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
            return Err(ConfigError::Invalid {
                file: manifest_of(s),
                table: "package.metadata.monoship",
                message: format!(
                    "unknown environment `{name}` in `environments` (the workspace's: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{EnvironmentConfig, ServiceEnvironment};

    #[test]
    fn an_environment_wins_over_the_tables_and_a_services_own_wins_over_it() {
        let mut ws = crate::workspace::fake(&["users", "orders", "email"]);
        ws.config.namespace = Some("shop".into());
        ws.config.registry = Some("registry.example/shop".into());
        ws.config.environments.insert(
            "staging".into(),
            EnvironmentConfig {
                context: Some("staging-ctx".into()),
                namespace: Some("shop-staging".into()),
                registry: Some("registry.staging/shop".into()),
                replicas: Some(1),
                ..Default::default()
            },
        );
        ws.services[0].config.namespace = Some("payments".into());
        ws.services[1].config.environments.insert(
            "staging".into(),
            ServiceEnvironment {
                namespace: Some("orders-staging".into()),
                replicas: Some(3),
                ..Default::default()
            },
        );
        let base = crate::workspace::fake(&["x"]);
        assert!(base.environment.is_none());
        let ws = ws.in_environment("staging").unwrap();
        let env = ws.environment.as_ref().unwrap();
        assert_eq!(
            (env.name.as_str(), env.context.as_deref()),
            ("staging", Some("staging-ctx"))
        );
        assert_eq!(ws.config.namespace.as_deref(), Some("shop-staging"));
        assert_eq!(ws.config.registry.as_deref(), Some("registry.staging/shop"));
        let svc = |n: &str| &ws.service(n).unwrap().config;
        // The environment's namespace over the service's own; the service's environment
        // table over the environment's.
        assert_eq!(svc("users").namespace.as_deref(), Some("shop-staging"));
        assert_eq!(svc("orders").namespace.as_deref(), Some("orders-staging"));
        assert_eq!(svc("orders").replicas, Some(3));
        assert_eq!(svc("email").replicas, Some(1));
    }

    #[test]
    fn an_unknown_environment_names_the_known_ones() {
        let ws = crate::workspace::fake(&["users"]);
        let err = ws.in_environment("staging").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown environment `staging` (none is configured;"),
            "{err}"
        );
    }
}

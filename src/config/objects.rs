//! Where a service's Kubernetes objects come from (`manifests`, `kustomize`, `helm`) and the
//! jobs that run before its rollout (`pre-deploy`).

use crate::invalid::Invalid;
use serde::Deserialize;

/// The keys of the workspace table (every service's default) and of a service's own table
/// (which replaces the workspace's source as a whole).
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectSettings {
    /// A directory (or one file) of YAML/JSON: every object in it is the service's.
    pub manifests: Option<String>,
    /// A kustomization directory, rendered with `kubectl kustomize` (or `kustomize build`).
    pub kustomize: Option<String>,
    /// A Helm chart, rendered with `helm template`.
    pub helm: Option<HelmSettings>,
    /// Jobs run to completion before the rollout, in order.
    pub pre_deploy: Option<Vec<PreDeploy>>,
}

/// `helm = { chart = "deploy/charts/service", values = [...], release = "{service}" }`.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HelmSettings {
    pub chart: String,
    #[serde(default)]
    pub values: Vec<String>,
    /// The release name (default `{service}`).
    pub release: Option<String>,
}

/// One entry of `pre-deploy`: a Job of the service's objects, by name, or a job made from the
/// service's pod template with the new image and a command.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PreDeploy {
    Job(String),
    Command(PreDeployCommand),
}

/// `{ name = "migrate", command = ["migrate", "up"] }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PreDeployCommand {
    pub name: String,
    pub command: Vec<String>,
}

impl PreDeploy {
    pub fn name(&self) -> &str {
        match self {
            PreDeploy::Job(n) => n,
            PreDeploy::Command(c) => &c.name,
        }
    }
}

/// Where a service's objects come from, its placeholders expanded (paths relative to the
/// workspace root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Manifests(String),
    Kustomize(String),
    Helm {
        chart: String,
        values: Vec<String>,
        release: String,
    },
}

impl Source {
    /// The configuration key it comes from.
    pub fn key(&self) -> &'static str {
        match self {
            Source::Manifests(_) => "manifests",
            Source::Kustomize(_) => "kustomize",
            Source::Helm { .. } => "helm",
        }
    }

    /// The paths (relative to the workspace root) whose change changes what it renders.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Source::Manifests(p) | Source::Kustomize(p) => vec![p.as_str()],
            Source::Helm { chart, values, .. } => std::iter::once(chart.as_str())
                .chain(values.iter().map(String::as_str))
                .collect(),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Manifests(p) => write!(f, "manifests {p}"),
            Source::Kustomize(p) => write!(f, "kustomize {p}"),
            Source::Helm { chart, .. } => write!(f, "helm chart {chart}"),
        }
    }
}

impl ObjectSettings {
    fn count(&self) -> usize {
        usize::from(self.manifests.is_some())
            + usize::from(self.kustomize.is_some())
            + usize::from(self.helm.is_some())
    }

    /// The service's source: its own table's when it sets one, else the workspace's; `None`
    /// when neither does. Placeholders `{service}` and `{env}` (the environment's name; a
    /// template using it without `--env` is an error).
    pub fn source(
        workspace: &ObjectSettings,
        service_table: &ObjectSettings,
        service: &str,
        env: Option<&str>,
    ) -> Result<Option<Source>, Invalid> {
        for (table, s) in [("package", service_table), ("workspace", workspace)] {
            if s.count() > 1 {
                return Err(Invalid(format!(
                    "{service}: the {table} table sets more than one of `manifests`, \
                     `kustomize` and `helm`: choose one"
                )));
            }
        }
        let chosen = if service_table.count() == 1 {
            service_table
        } else {
            workspace
        };
        let no_env = format!("{service}: `{{env}}` is used but no environment is chosen (--env)");
        let expand = |key: &str, template: &str| {
            crate::placeholders::expand(
                &format!("`{key}`"),
                template,
                &[
                    ("service", Ok(service)),
                    ("env", env.ok_or(no_env.as_str())),
                ],
            )
        };
        Ok(if let Some(m) = &chosen.manifests {
            Some(Source::Manifests(expand("manifests", m)?))
        } else if let Some(k) = &chosen.kustomize {
            Some(Source::Kustomize(expand("kustomize", k)?))
        } else if let Some(h) = &chosen.helm {
            Some(Source::Helm {
                chart: expand("helm.chart", &h.chart)?,
                values: h
                    .values
                    .iter()
                    .map(|v| expand("helm.values", v))
                    .collect::<Result<_, _>>()?,
                release: expand("helm.release", h.release.as_deref().unwrap_or("{service}"))?,
            })
        } else {
            None
        })
    }

    /// The service's `pre-deploy` jobs: its own list, else the workspace's.
    pub fn pre_deploy<'a>(
        workspace: &'a ObjectSettings,
        service_table: &'a ObjectSettings,
    ) -> &'a [PreDeploy] {
        service_table
            .pre_deploy
            .as_deref()
            .or(workspace.pre_deploy.as_deref())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> ObjectSettings {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_service_table_replaces_the_workspace_source() {
        let ws = parse("kustomize = \"deploy/overlays/{env}/{service}\"\n");
        let own = parse(
            "helm = { chart = \"deploy/charts/svc\", values = [\"v/{service}.yaml\"] }\n\
             pre-deploy = [\"migrate\", { name = \"seed\", command = [\"seed\", \"--all\"] }]\n",
        );
        let none = ObjectSettings::default();
        assert_eq!(
            ObjectSettings::source(&ws, &none, "users", Some("qa")).unwrap(),
            Some(Source::Kustomize("deploy/overlays/qa/users".into()))
        );
        let helm = ObjectSettings::source(&ws, &own, "users", None).unwrap();
        assert_eq!(
            helm,
            Some(Source::Helm {
                chart: "deploy/charts/svc".into(),
                values: vec!["v/users.yaml".into()],
                release: "users".into(),
            })
        );
        assert_eq!(helm.unwrap().paths(), ["deploy/charts/svc", "v/users.yaml"]);
        let jobs = ObjectSettings::pre_deploy(&ws, &own);
        assert_eq!(
            jobs.iter().map(PreDeploy::name).collect::<Vec<_>>(),
            ["migrate", "seed"]
        );
        assert_eq!(
            ObjectSettings::source(&none, &none, "users", None).unwrap(),
            None
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let both = parse("manifests = \"a\"\nkustomize = \"b\"\n");
        let none = ObjectSettings::default();
        let e = ObjectSettings::source(&none, &both, "users", None).unwrap_err();
        assert!(
            e.0.contains("users: the package table sets more than one"),
            "{e}"
        );
        let ws = parse("kustomize = \"deploy/{env}\"\n");
        let e = ObjectSettings::source(&ws, &none, "users", None).unwrap_err();
        assert!(e.0.contains("no environment is chosen"), "{e}");
        let ws = parse("kustomize = \"deploy/{nope}\"\n");
        let e = ObjectSettings::source(&ws, &none, "users", None).unwrap_err();
        assert!(e.0.contains("unknown placeholder `{nope}`"), "{e}");
    }
}

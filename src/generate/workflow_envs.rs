//! Environments in `generate workflow`: pushes deploy to the environment promotions start from
//! (`--env` on build and deploy), and each environment with `promote-from` gets a job run by
//! hand (`workflow_dispatch`, input `promote`) that runs `monoship promote FROM NAME` under the
//! GitHub environment of that name, so its protection rules and approvals apply.
//!
//! Without an environment that promotes from another, nothing here changes the file.

use super::workflow::{Registry, expression_string, shell_word, yaml_scalar};
use super::{Context, GenerateError};
use std::collections::{BTreeMap, BTreeSet};

/// The value of the `promote` input that promotes nothing (the push path runs instead).
pub const NO_PROMOTION: &str = "none";

/// One promotion job: what runs in `from` goes to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub from: String,
    pub to: String,
    /// The job's id in the workflow.
    pub job: String,
}

/// Where pushes deploy, and the promotions run by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environments {
    /// The environment promotions start from: named by another's `promote-from` and promoted
    /// into from none (the first by name when there are several). `None`: pushes deploy as
    /// without environments.
    pub source: Option<String>,
    /// Every environment with `promote-from`, by name.
    pub promotions: Vec<Promotion>,
}

impl Environments {
    pub fn for_context(ctx: &Context) -> Environments {
        let envs = &ctx.config.environments;
        let sources: BTreeSet<&str> = envs
            .values()
            .filter_map(|e| e.promote_from.as_deref())
            .collect();
        let source = sources
            .iter()
            .find(|s| envs.get(**s).is_some_and(|e| e.promote_from.is_none()))
            .map(|s| s.to_string());
        let mut taken = BTreeSet::new();
        let promotions = envs
            .iter()
            .enumerate()
            .filter_map(|(i, (name, e))| {
                let from = e.promote_from.clone()?;
                let job = job_id(name, i + 1, &mut taken);
                Some(Promotion {
                    from,
                    to: name.clone(),
                    job,
                })
            })
            .collect();
        Environments { source, promotions }
    }

    /// The sources besides [`Environments::source`] that pushes do not deploy to (several
    /// chains of promotions).
    pub fn other_sources(ctx: &Context) -> Vec<String> {
        let envs = &ctx.config.environments;
        let chosen = Environments::for_context(ctx).source;
        let mut others: Vec<String> = envs
            .values()
            .filter_map(|e| e.promote_from.clone())
            .filter(|s| envs.get(s).is_some_and(|e| e.promote_from.is_none()))
            .filter(|s| Some(s) != chosen.as_ref())
            .collect();
        others.sort();
        others.dedup();
        others
    }

    /// ` --env NAME` for build and deploy, or "".
    pub fn env_flag(&self) -> String {
        self.source
            .as_deref()
            .map(|s| format!(" --env {}", shell_word(s)))
            .unwrap_or_default()
    }

    /// What the workflow's concurrency group adds with promotions: the environment a run
    /// promotes into, or `none` for a push's.
    pub fn concurrency_suffix(&self) -> String {
        if self.promotions.is_empty() {
            return String::new();
        }
        format!(
            "-${{{{ github.event_name == 'workflow_dispatch' && inputs.promote || '{NO_PROMOTION}' }}}}"
        )
    }

    /// Names the workflow cannot carry: a `${{` (GitHub would evaluate it wherever it stands) or
    /// a control character, and `none`, the `promote` input's value for no promotion.
    pub fn check(&self, ctx: &Context) -> Result<(), GenerateError> {
        let names = self
            .promotions
            .iter()
            .flat_map(|p| [&p.from, &p.to])
            .chain(self.source.as_ref());
        for name in names {
            let bad = if name.contains("${{") || name.contains(char::is_control) {
                Some("holds `${{` or a control character, which a workflow file cannot carry")
            } else if self.promotions.iter().any(|p| &p.to == name) && name == NO_PROMOTION {
                Some("is the value of the workflow's `promote` input that promotes nothing")
            } else {
                None
            };
            if let Some(why) = bad {
                return Err(GenerateError::Input {
                    path: ctx.root.join("Cargo.toml").display().to_string(),
                    message: format!(
                        "environment `{}` {why}: rename it to generate the workflow",
                        name.escape_debug()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The registry `build --push` pushes to: the source environment's, else the workspace's.
    pub fn build_registry<'a>(&self, ctx: &'a Context) -> Option<&'a str> {
        self.source
            .as_deref()
            .and_then(|s| ctx.config.environments.get(s))
            .and_then(|e| e.registry.as_deref())
            .or(ctx.config.registry.as_deref())
    }

    /// The registry a promotion into `to` copies to.
    fn target_registry<'a>(ctx: &'a Context, to: &str) -> Option<&'a str> {
        ctx.config
            .environments
            .get(to)
            .and_then(|e| e.registry.as_deref())
            .or(ctx.config.registry.as_deref())
    }

    /// Whether some promotion copies to GitHub's container registry (`packages: write`).
    pub fn promotes_to_ghcr(&self, ctx: &Context) -> bool {
        self.promotions.iter().any(|p| {
            Registry::for_registry(Environments::target_registry(ctx, &p.to)) == Registry::Ghcr
        })
    }

    /// The promotion jobs, one template item each.
    pub fn items(&self, ctx: &Context) -> Vec<BTreeMap<String, String>> {
        self.promotions
            .iter()
            .map(|p| {
                let registry = Registry::for_registry(Environments::target_registry(ctx, &p.to));
                let (user, password) = registry.login();
                let pairs = [
                    ("job_id", p.job.clone()),
                    (
                        "job_name",
                        yaml_scalar(&format!("promote {} to {}", p.from, p.to)),
                    ),
                    (
                        "job_if",
                        yaml_scalar(&format!(
                            "github.event_name == 'workflow_dispatch' && inputs.promote == {}",
                            expression_string(&p.to)
                        )),
                    ),
                    (
                        "step_name",
                        yaml_scalar(&format!("Promote {} to {}", p.from, p.to)),
                    ),
                    ("from_yaml", yaml_scalar(&p.from)),
                    ("to_yaml", yaml_scalar(&p.to)),
                    (
                        "promote_run",
                        // A literal block: the names are shell words, and no line break
                        // reaches here (see `check`).
                        format!(
                            "|\n          monoship promote {} {} --format json \
                             > \"$RUNNER_TEMP/promote.json\" \
                             2> >(tee \"$RUNNER_TEMP/promote.log\" >&2)",
                            shell_word(&p.from),
                            shell_word(&p.to)
                        ),
                    ),
                    ("promote_user", user.to_string()),
                    ("promote_password", password.to_string()),
                ];
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            })
            .collect()
    }

    /// The header's lines about environments.
    pub fn about(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(source) = &self.source {
            lines.push(format!(
                "Pushes build, push and deploy in environment {source} (`--env {source}`)."
            ));
        }
        for p in &self.promotions {
            lines.push(format!(
                "By hand (input `promote` = {}), job `{}` runs `monoship promote {} {}` under the \
                 GitHub environment {}: its protection rules and reviewers gate it.",
                p.to, p.job, p.from, p.to, p.to
            ));
        }
        lines
    }

    /// What the repository must provide for the environments, one line each.
    pub fn needs(&self) -> Vec<String> {
        let source = self.source.iter().map(|s| {
            format!(
                "the KUBECONFIG secret's kubeconfig has the context(s) of environment {s}                  (`context`/`contexts`; else its current context is used)"
            )
        });
        source
            .chain(self.promotions.iter().map(|p| {
                format!(
                    "GitHub environment {}: secret KUBECONFIG there (or the repository's) must \
                     reach both {} and {}; the registry login must be accepted by both registries",
                    p.to, p.from, p.to
                )
            }))
            .collect()
    }
}

/// `promote-NAME` when the name is a valid job id, else `promote-N`; never one taken.
fn job_id(name: &str, index: usize, taken: &mut BTreeSet<String>) -> String {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    let mut id = if safe {
        format!("promote-{}", name.to_ascii_lowercase())
    } else {
        format!("promote-{index}")
    };
    while taken.contains(&id) {
        id.push('-');
    }
    taken.insert(id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EnvironmentConfig, WorkspaceConfig};

    fn ctx(envs: &[(&str, Option<&str>)]) -> Context {
        let mut config = WorkspaceConfig::default();
        for (name, from) in envs {
            config.environments.insert(
                name.to_string(),
                EnvironmentConfig {
                    promote_from: from.map(str::to_string),
                    ..Default::default()
                },
            );
        }
        Context::for_test(config, Vec::new())
    }

    #[test]
    fn pushes_go_to_the_start_of_the_chain_and_each_promotion_is_a_job() {
        let c = ctx(&[
            ("dev", None),
            ("staging", Some("dev")),
            ("production", Some("staging")),
            ("sandbox", None),
        ]);
        let envs = Environments::for_context(&c);
        assert_eq!(envs.source.as_deref(), Some("dev"));
        assert_eq!(envs.env_flag(), " --env dev");
        let jobs: Vec<(&str, &str, &str)> = envs
            .promotions
            .iter()
            .map(|p| (p.from.as_str(), p.to.as_str(), p.job.as_str()))
            .collect();
        assert_eq!(
            jobs,
            [
                ("staging", "production", "promote-production"),
                ("dev", "staging", "promote-staging")
            ]
        );
        assert!(Environments::other_sources(&c).is_empty());
    }

    #[test]
    fn without_promotions_nothing_changes() {
        for c in [ctx(&[]), ctx(&[("staging", None), ("production", None)])] {
            let envs = Environments::for_context(&c);
            assert_eq!(envs, Environments::default());
            assert_eq!(envs.env_flag(), "");
            assert!(envs.about().is_empty() && envs.needs().is_empty());
        }
    }

    #[test]
    fn job_ids_are_valid_and_distinct() {
        let c = ctx(&[
            ("a", None),
            ("Prod", Some("a")),
            ("prod", Some("a")),
            ("prod eu", Some("a")),
        ]);
        let envs = Environments::for_context(&c);
        let jobs: Vec<&str> = envs.promotions.iter().map(|p| p.job.as_str()).collect();
        assert_eq!(jobs, ["promote-prod", "promote-prod-", "promote-4"]);
        let c = ctx(&[("a", None), ("b", Some("a")), ("c", None), ("d", Some("c"))]);
        assert_eq!(Environments::other_sources(&c), ["c"]);
        let c = ctx(&[("a", None), ("none", Some("a"))]);
        let e = Environments::for_context(&c).check(&c).unwrap_err();
        assert!(e.to_string().contains("`promote` input"), "{e}");
    }
}

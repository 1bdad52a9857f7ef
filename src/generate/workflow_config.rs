//! `[workspace.metadata.monoship.workflow]`: the branch `generate workflow` triggers on and where
//! its jobs get monoship. Every value is checked as it is read, so that a bad one is a
//! configuration error naming its key (`workflow.install`, `workflow.branch`) and the file.

use serde::Deserialize;
use std::path::Path;

/// `[workspace.metadata.monoship.workflow]`.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkflowConfig {
    /// The branch whose pushes run the workflow (default: the one `origin/HEAD` names, else
    /// `main`).
    pub branch: Option<BranchName>,
    /// Where the jobs get monoship (default: `cargo install --path` when monoship's own package
    /// is in the workspace, else the crates.io release that generated the file).
    pub install: Option<InstallSource>,
}

/// A branch name as git allows it (`git check-ref-format --branch`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BranchName(String);

impl BranchName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BranchName {
    type Error = String;

    fn try_from(name: String) -> Result<BranchName, String> {
        let bad_char = |c: char| {
            c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[')
        };
        let bad_part = |p: &str| p.is_empty() || p.starts_with('.') || p.ends_with(".lock");
        let ok = !name.is_empty()
            && name != "@"
            && !name.starts_with('-')
            && !name.ends_with('.')
            && !name.contains(bad_char)
            && !name.contains(['\\'])
            && !name.contains("..")
            && !name.contains("@{")
            && !name.split('/').any(bad_part);
        if ok {
            Ok(BranchName(name))
        } else {
            Err(format!(
                "`{}` is not a branch name git allows",
                name.escape_debug()
            ))
        }
    }
}

/// `install = { … }`: one source of monoship for the workflow's jobs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawInstall")]
pub enum InstallSource {
    /// `{ git = "URL", rev = "REV" }`: `cargo install --locked --git URL --rev REV monoship`.
    Git { url: String, rev: String },
    /// `{ version = "X.Y.Z" }`: that release from crates.io.
    Version(String),
    /// `{ url = "URL", sha256 = "HEX" }`: a prebuilt binary, checked against its SHA-256.
    Binary { url: String, sha256: String },
}

/// The table as written, before it is known to name exactly one source.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstall {
    git: Option<String>,
    rev: Option<String>,
    version: Option<String>,
    url: Option<String>,
    sha256: Option<String>,
}

impl TryFrom<RawInstall> for InstallSource {
    type Error = String;

    fn try_from(raw: RawInstall) -> Result<InstallSource, String> {
        let sources: Vec<&str> = [
            ("git", raw.git.is_some()),
            ("version", raw.version.is_some()),
            ("url", raw.url.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        match sources[..] {
            [] => {
                return Err(
                    "set one source: `git` (with `rev`), `version` or `url` (with `sha256`)".into(),
                );
            }
            [_] => {}
            _ => {
                return Err(format!(
                    "{} are {} sources: set one of them",
                    sources
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    sources.len()
                ));
            }
        }
        if raw.rev.is_some() && raw.git.is_none() {
            return Err("`rev` goes with `git`".into());
        }
        if raw.sha256.is_some() && raw.url.is_none() {
            return Err("`sha256` goes with `url`".into());
        }
        if let Some(url) = raw.git {
            let rev = raw
                .rev
                .ok_or("`git` needs `rev`: the commit (or tag) of monoship to install")?;
            return Ok(InstallSource::Git {
                url: word("git", url)?,
                rev: word("rev", rev)?,
            });
        }
        if let Some(version) = raw.version {
            return version_number(version).map(InstallSource::Version);
        }
        let url = raw.url.expect("the one source left");
        let sha256 = raw
            .sha256
            .ok_or("`url` needs `sha256`: the SHA-256 of the binary, 64 hex digits")?;
        Ok(InstallSource::Binary {
            url: download_url(url)?,
            sha256: sha256_hex(&sha256)?,
        })
    }
}

/// A value for a command line: not empty, no control character, not an option.
fn word(key: &str, value: String) -> Result<String, String> {
    if value.is_empty() || value.starts_with('-') || value.contains(char::is_control) {
        return Err(format!(
            "`{key}` `{}` is empty, starts with `-` or holds a control character",
            value.escape_debug()
        ));
    }
    Ok(value)
}

/// An exact release: `0.4.1`, `1.0.0-rc.1` (cargo would read `^0.4` as a range, and the cached
/// binary would not follow it).
fn version_number(v: String) -> Result<String, String> {
    let ok = v.starts_with(|c: char| c.is_ascii_digit())
        && v.split(['-', '+']).next().is_some_and(|core| {
            core.split('.').count() == 3
                && core
                    .split('.')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "`version` `{}` is not a release version like 0.4.1",
            v.escape_debug()
        ))
    }
}

fn download_url(url: String) -> Result<String, String> {
    let url = word("url", url)?;
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        return Err(format!("`url` `{url}` is not an http(s) URL"));
    }
    Ok(url)
}

/// 64 hex digits, lowercase.
fn sha256_hex(hex: &str) -> Result<String, String> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!(
            "`sha256` `{}` is not a SHA-256 (64 hex digits)",
            hex.escape_debug()
        ))
    }
}

/// The branch a workflow triggers on when neither the configuration nor `origin/HEAD` names one.
pub const FALLBACK_BRANCH: &str = "main";

const CONFIG_TABLE: &str = "[workspace.metadata.monoship.workflow]";

/// The branch whose pushes run the workflow, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub name: String,
    pub from: BranchFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchFrom {
    /// `branch` in the configuration.
    Config,
    /// `origin/HEAD`: the remote's default branch.
    OriginHead,
    /// Neither: [`FALLBACK_BRANCH`].
    Fallback,
}

impl Branch {
    pub fn for_context(ctx: &super::Context) -> Branch {
        let configured = ctx.config.workflow.as_ref().and_then(|w| w.branch.as_ref());
        match (configured, &ctx.origin_head) {
            (Some(b), _) => Branch {
                name: b.as_str().to_string(),
                from: BranchFrom::Config,
            },
            (None, Some(b)) => Branch {
                name: b.clone(),
                from: BranchFrom::OriginHead,
            },
            (None, None) => Branch {
                name: FALLBACK_BRANCH.to_string(),
                from: BranchFrom::Fallback,
            },
        }
    }

    /// The file header's lines (without `# `) on where the branch came from.
    pub fn about(&self) -> Vec<String> {
        let name = &self.name;
        match self.from {
            BranchFrom::Config => vec![format!(
                "The branch, {name}, is `branch` in {CONFIG_TABLE}."
            )],
            BranchFrom::OriginHead => vec![
                format!("The branch, {name}, is the repository's default branch: origin/HEAD when"),
                format!("this file was generated. `branch` in {CONFIG_TABLE} pins it,"),
                "so that `--check` agrees in a clone without origin/HEAD (actions/checkout)."
                    .into(),
            ],
            BranchFrom::Fallback => vec![
                format!(
                    "The branch, {name}, is the default: origin/HEAD was not set when this file was"
                ),
                "generated (`git remote set-head origin --auto` sets it from the remote).".into(),
                format!("`branch` in {CONFIG_TABLE} names another."),
            ],
        }
    }
}

/// The branch `refs/remotes/origin/HEAD` points at (what `git symbolic-ref
/// refs/remotes/origin/HEAD` prints, without `refs/remotes/origin/`): the remote's default
/// branch as the clone last saw it. `None` when there is no repository, no `origin/HEAD` (a
/// clone by actions/checkout has none), or it is not a branch name.
pub fn origin_head(repo_root: &Path) -> Option<String> {
    let repo = gix::open(repo_root).ok()?;
    let head = repo.try_find_reference("refs/remotes/origin/HEAD").ok()??;
    let target = head.target();
    let name = target.try_name()?.as_bstr().to_string();
    let branch = name.strip_prefix("refs/remotes/origin/")?;
    BranchName::try_from(branch.to_string()).ok().map(|b| b.0)
}

#[cfg(test)]
#[path = "workflow_config_tests.rs"]
mod tests;

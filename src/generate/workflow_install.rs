//! How the jobs of `generate workflow` get monoship: the install step's script, the cache key of
//! the installed binary, and the lines of the file's header that say where it comes from.

use super::Context;
use super::workflow::{expression_string, join, shell_word};
use super::workflow_config::InstallSource;

/// Where the workflow's header sends a reader who wants another source.
const CONFIG_TABLE: &str = "[workspace.metadata.monoship.workflow]";

/// Where a workflow's jobs get monoship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `cargo install --locked monoship --version V`: a release from crates.io (by default the
    /// one that generated the file).
    Release(String),
    /// The workspace has a member package named `monoship` in this directory (relative to the
    /// workspace root, "" for the root): `cargo install --locked --path DIR`.
    Path(String),
    /// `cargo install --locked --git URL --rev REV monoship`.
    Git { url: String, rev: String },
    /// A prebuilt binary, downloaded and checked against its SHA-256 (lowercase hex).
    Binary { url: String, sha256: String },
}

impl Install {
    /// `install` in the configuration, else monoship's own package in the workspace, else the
    /// release that generates the file.
    pub fn for_context(ctx: &Context) -> Install {
        let configured = ctx
            .config
            .workflow
            .as_ref()
            .and_then(|w| w.install.as_ref());
        match (configured, &ctx.monoship_package) {
            (Some(InstallSource::Version(v)), _) => Install::Release(v.clone()),
            (Some(InstallSource::Git { url, rev }), _) => Install::Git {
                url: url.clone(),
                rev: rev.clone(),
            },
            (Some(InstallSource::Binary { url, sha256 }), _) => Install::Binary {
                url: url.clone(),
                sha256: sha256.clone(),
            },
            (None, Some(dir)) => Install::Path(dir.clone()),
            (None, None) => Install::Release(env!("CARGO_PKG_VERSION").to_string()),
        }
    }

    /// The install step's script, one command a line; the binary lands in `~/.cargo/bin`,
    /// which is on the runner's PATH.
    pub fn script(&self) -> Vec<String> {
        match self {
            Install::Release(v) => vec![format!(
                "cargo install --locked monoship --version {}",
                shell_word(v)
            )],
            Install::Path(dir) => vec![format!(
                "cargo install --locked --path {}",
                shell_word(if dir.is_empty() { "." } else { dir })
            )],
            Install::Git { url, rev } => vec![format!(
                "cargo install --locked --git {} --rev {} monoship",
                shell_word(url),
                shell_word(rev)
            )],
            Install::Binary { url, sha256 } => vec![
                format!(
                    "curl --fail --silent --show-error --location --retry 3 \
                     --output \"$RUNNER_TEMP/monoship\" {}",
                    shell_word(url)
                ),
                format!("echo \"{sha256}  $RUNNER_TEMP/monoship\" | sha256sum --check --strict -"),
                "chmod +x \"$RUNNER_TEMP/monoship\"".to_string(),
                "mkdir -p \"$HOME/.cargo/bin\"".to_string(),
                "mv \"$RUNNER_TEMP/monoship\" \"$HOME/.cargo/bin/monoship\"".to_string(),
            ],
        }
    }

    /// The `actions/cache` key of `~/.cargo/bin/monoship`. Configured values reach it only as
    /// a checked version, a checksum or a hash, so nothing in it is read as an expression.
    pub fn cache_key(&self, workspace_dir: &str) -> String {
        let os = "monoship-${{ runner.os }}";
        match self {
            Install::Release(v) => format!("{os}-{v}"),
            Install::Path(dir) => {
                let at = |rel: &str| join(&join(workspace_dir, dir), rel);
                format!(
                    "{os}-${{{{ hashFiles({}, {}, {}) }}}}",
                    expression_string(&at("Cargo.toml")),
                    expression_string(&at("src/**")),
                    expression_string(&join(workspace_dir, "Cargo.lock"))
                )
            }
            Install::Git { url, rev } => {
                let digest = crate::image::digest::sha256(format!("{url}\n{rev}").as_bytes());
                format!("{os}-git-{}", &crate::image::digest::hex(&digest)[..16])
            }
            Install::Binary { sha256, .. } => format!("{os}-sha256-{sha256}"),
        }
    }

    /// The file header's lines (without `# `) on where monoship comes from, and why.
    pub fn about(&self, configured: bool) -> Vec<String> {
        let command = self.script().join("; ");
        let mut lines = match self {
            Install::Binary { url, sha256 } => vec![
                format!("monoship is downloaded from {url}"),
                format!("and checked against its SHA-256 {sha256}"),
            ],
            _ => vec![format!("monoship is installed with `{command}`")],
        };
        let cached = match self {
            Install::Release(_) => "cached per release",
            Install::Path(_) => "cached until its sources or Cargo.lock change",
            Install::Git { .. } => "cached per `git` and `rev`",
            Install::Binary { .. } => "cached per checksum",
        };
        let why = match (configured, self) {
            (true, _) => format!("`install` in {CONFIG_TABLE}"),
            (false, Install::Path(_)) => {
                "the default: monoship's own package is in this workspace".into()
            }
            (false, _) => "the default: the crates.io release that generated this file".into(),
        };
        lines.push(format!("({why}), {cached}."));
        if !configured {
            lines.extend([
                format!("`install` in {CONFIG_TABLE} sets another source:"),
                "{ git = URL, rev = REV }, { version = X.Y.Z } or { url = URL, sha256 = HEX }."
                    .into(),
            ]);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git() -> Install {
        Install::Git {
            url: "https://github.com/acme/monoship".into(),
            rev: "v0.4.1".into(),
        }
    }

    fn binary() -> Install {
        Install::Binary {
            url: "https://example.com/dl/monoship?v=1&os=linux".into(),
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn each_source_installs_with_its_own_command() {
        assert_eq!(
            Install::Release("0.4.1".into()).script(),
            ["cargo install --locked monoship --version 0.4.1"]
        );
        assert_eq!(
            Install::Path(String::new()).script(),
            ["cargo install --locked --path ."]
        );
        assert_eq!(
            git().script(),
            [
                "cargo install --locked --git https://github.com/acme/monoship --rev v0.4.1 \
                 monoship"
            ]
        );
        let script = binary().script();
        assert_eq!(
            script[0],
            "curl --fail --silent --show-error --location --retry 3 --output \
             \"$RUNNER_TEMP/monoship\" 'https://example.com/dl/monoship?v=1&os=linux'"
        );
        assert_eq!(
            script[1],
            format!(
                "echo \"{}  $RUNNER_TEMP/monoship\" | sha256sum --check --strict -",
                "ab".repeat(32)
            )
        );
        assert!(
            script
                .last()
                .unwrap()
                .ends_with("\"$HOME/.cargo/bin/monoship\"")
        );
    }

    #[test]
    fn cache_keys_carry_no_configured_text() {
        let os = "monoship-${{ runner.os }}";
        assert_eq!(
            Install::Release("0.4.1".into()).cache_key(""),
            format!("{os}-0.4.1")
        );
        let key = git().cache_key("");
        assert!(key.starts_with(&format!("{os}-git-")), "{key}");
        assert_eq!(key.len(), os.len() + "-git-".len() + 16);
        let other = Install::Git {
            url: "https://github.com/acme/monoship".into(),
            rev: "v0.4.2".into(),
        };
        assert_ne!(other.cache_key(""), key);
        assert_eq!(
            binary().cache_key(""),
            format!("{os}-sha256-{}", "ab".repeat(32))
        );
    }

    #[test]
    fn hostile_values_stay_one_shell_word_and_no_expression() {
        let evil = Install::Git {
            url: "https://x/'; rm -rf / #".into(),
            rev: "${{ secrets.TOKEN }}".into(),
        };
        let line = &evil.script()[0];
        assert!(!line.contains("${{"), "{line}");
        assert_eq!(
            line,
            "cargo install --locked --git 'https://x/'\\''; rm -rf / #' \
             --rev '$''{{ secrets.TOKEN }}' monoship"
        );
        assert!(!evil.cache_key("").contains("secrets"));
    }

    #[test]
    fn the_header_says_where_monoship_comes_from() {
        let about = Install::Release("0.4.1".into()).about(false).join("\n");
        assert!(
            about.contains("the default: the crates.io release that generated this file"),
            "{about}"
        );
        assert!(about.contains("`install` in [workspace.metadata.monoship.workflow]"));
        let about = Install::Path("tools/monoship".into())
            .about(false)
            .join("\n");
        assert!(about.contains("`cargo install --locked --path tools/monoship`"));
        assert!(about.contains("monoship's own package is in this workspace"));
        let about = git().about(true).join("\n");
        assert!(about.contains("(`install` in [workspace.metadata.monoship.workflow])"));
        assert!(!about.contains("sets another source"), "{about}");
        let about = binary().about(true).join("\n");
        assert!(about.contains("downloaded from https://example.com/dl/monoship?v=1&os=linux"));
        assert!(about.contains(&"ab".repeat(32)));
    }
}

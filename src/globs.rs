//! Ordered glob lists (`global-inputs`, `ignore`, a service's `inputs`): a glob with a leading
//! `!` takes back what the globs before it match, built-in ones included. A path is in the list
//! when the last glob that matches it has no `!`.

use crate::config::{self, ConfigError};
use globset::GlobSet;
use std::path::Path;

/// Where the glob that put a path in a [`GlobList`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// monoship's own defaults.
    BuiltIn,
    /// The configuration.
    Configured,
}

#[derive(Debug, Clone)]
pub struct GlobList {
    set: GlobSet,
    /// Per glob of `set`: whether it had a leading `!`.
    negated: Vec<bool>,
    /// How many globs of `set`, from the first, are built in.
    built_in: usize,
}

impl GlobList {
    /// The `built_in` globs, then the `configured` ones of `key` in `file`.
    pub fn new<'a>(
        built_in: &'static [&'static str],
        configured: impl IntoIterator<Item = &'a str>,
        file: &Path,
        key: &str,
    ) -> Result<GlobList, ConfigError> {
        let mut all: Vec<&str> = built_in.to_vec();
        all.extend(configured);
        let mut globs = Vec::new();
        let mut negated = Vec::new();
        for glob in all {
            let (not, pattern) = match glob.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, glob),
            };
            let compiled = config::compile_glob(pattern, file, key).map_err(|e| match e {
                // Named as written, `!` included.
                ConfigError::Glob {
                    file, key, message, ..
                } => ConfigError::Glob {
                    file,
                    key,
                    glob: glob.to_string(),
                    message,
                },
                other => other,
            })?;
            globs.push(compiled);
            negated.push(not);
        }
        Ok(GlobList {
            set: config::build_set(globs, file, key)?,
            negated,
            built_in: built_in.len(),
        })
    }

    /// Where the last glob that matches `path` comes from; `None` when none does or that one
    /// has a `!`.
    pub fn matched(&self, path: &str) -> Option<Origin> {
        let last = self.set.matches(path).into_iter().max()?;
        match (self.negated[last], last < self.built_in) {
            (true, _) => None,
            (false, true) => Some(Origin::BuiltIn),
            (false, false) => Some(Origin::Configured),
        }
    }

    pub fn is_match(&self, path: &str) -> bool {
        self.matched(path).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(built_in: &'static [&'static str], configured: &[&str]) -> GlobList {
        GlobList::new(
            built_in,
            configured.iter().copied(),
            Path::new("Cargo.toml"),
            "global-inputs",
        )
        .unwrap()
    }

    #[test]
    fn the_last_matching_glob_decides() {
        let l = list(
            &["Dockerfile*", "rust-toolchain"],
            &["!Dockerfile*", "Dockerfile.monoship"],
        );
        assert_eq!(l.matched("Dockerfile"), None);
        assert_eq!(l.matched("Dockerfile.monoship"), Some(Origin::Configured));
        assert_eq!(l.matched("rust-toolchain"), Some(Origin::BuiltIn));
        assert_eq!(l.matched("apps/a/Dockerfile"), None);
        // A `!` glob takes back only what comes before it.
        let l = list(&[], &["!deploy/a.yaml", "deploy/**"]);
        assert!(l.is_match("deploy/a.yaml"));
        let l = list(&[], &["deploy/**", "!deploy/a.yaml"]);
        assert!(!l.is_match("deploy/a.yaml") && l.is_match("deploy/b.yaml"));
    }

    #[test]
    fn a_bad_negated_glob_is_named_as_written() {
        for bad in ["!", "![x"] {
            let err = GlobList::new(&[], [bad], Path::new("Cargo.toml"), "ignore")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`{bad}`")) && err.contains("ignore"),
                "{err}"
            );
        }
    }
}

//! `.dockerignore`: what a build context leaves out. One pattern a line (`#` comments), `*`,
//! `?` and `[…]` within a path component, `**` across components, `!` takes back; a pattern
//! that matches a directory leaves out everything below it; the last matching pattern decides.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    /// Each pattern, and whether it had a `!`.
    patterns: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    /// The patterns of `text`; a malformed one is an error naming its line (1-based).
    pub fn parse(text: &str) -> Result<DockerIgnore, (usize, String)> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = super::clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&super::literal_braces(&pattern))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| (i + 1, format!("`{line}`: {}", e.kind())))?;
            patterns.push((glob.compile_matcher(), negated));
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether the context leaves `path` (relative to the context, `/`-separated) out.
    pub fn excludes(&self, path: &str) -> bool {
        let mut out = false;
        for (glob, negated) in &self.patterns {
            if super::self_or_ancestor(path, |p| glob.is_match(p)).is_some() {
                out = !negated;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_exceptions_and_the_last_pattern() {
        let ig = DockerIgnore::parse(
            "# build output\ntarget\n/docs/**\n*.md\n!README.md\nweb/*/cache\n\n",
        )
        .unwrap();
        assert!(ig.excludes("target/debug/x"));
        assert!(ig.excludes("target"));
        assert!(ig.excludes("docs/a/b.txt"));
        assert!(ig.excludes("CHANGES.md"));
        assert!(!ig.excludes("README.md"));
        // `*` stays within one component.
        assert!(!ig.excludes("apps/a/NOTES.md"));
        assert!(ig.excludes("web/app/cache/x.js"));
        assert!(!ig.excludes("web/app/src/x.js"));
        assert!(!ig.excludes("config/app.toml"));
        let all = DockerIgnore::parse("**\n!config/app.toml\n").unwrap();
        assert!(all.excludes("apps/a/src/main.rs"));
        assert!(!all.excludes("config/app.toml"));
        assert_eq!(DockerIgnore::parse("a\n[x\n").unwrap_err().0, 2);
    }
}

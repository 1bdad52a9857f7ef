//! insta snapshots of monoship's human output, with what differs from run to run redacted:
//! the test's temporary paths, namespaces and revisions (named by the test), and, always,
//! durations, the progress lines' timestamps and ages.
//!
//! ```ignore
//! let _redacted = snapshot::redact().path(f.path(), "[FLEET]").scope();
//! insta::assert_snapshot!("name", run.stdout);
//! ```

use std::path::Path;

/// The redactions of one snapshot (or a few), made into insta settings by [`Redact::scope`].
pub struct Redact {
    settings: insta::Settings,
}

/// The redactions every snapshot gets: durations (`12.3s`, `in 4.0s`) as `[DURATION]` and the
/// `[   2.6s]` of progress lines as `[TIME]`.
pub fn redact() -> Redact {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"(?m)^\[ *\d+\.\ds\]", "[TIME]");
    settings.add_filter(r"\b\d+\.\ds\b", "[DURATION]");
    Redact { settings }
}

impl Redact {
    /// `text` wherever it appears, as `token`.
    pub fn text(mut self, text: &str, token: &str) -> Redact {
        self.settings.add_filter(&escape(text), token);
        self
    }

    /// A path of the test (its display form), as `token`.
    pub fn path(self, path: &Path, token: &str) -> Redact {
        self.text(&path.display().to_string(), token)
    }

    /// A git revision, whole or in the 12 characters monoship shows, as `token`.
    pub fn revision(self, revision: &str, token: &str) -> Redact {
        let short = &revision[..12];
        self.text(revision, token).text(short, token)
    }

    /// Every sha256 digest, whole or short (`sha256:1f3c5e9a7b2d`), as `sha256:[DIGEST]`: the
    /// images of real builds (their labels name the revision).
    pub fn digests(mut self) -> Redact {
        self.settings
            .add_filter(r"sha256:[0-9a-f]{12}([0-9a-f]{52})?\b", "sha256:[DIGEST]");
        self
    }

    /// Sizes but none (`8.3 MiB`, `512 B`; not `0 B`) as `[SIZE]`.
    pub fn sizes(mut self) -> Redact {
        self.settings
            .add_filter(r"\b([1-9]\d*(\.\d)?|0\.\d) (B|KiB|MiB|GiB)\b", "[SIZE]");
        self
    }

    /// The ages of `status` (`45s`, `12m`) as `[AGE]`.
    pub fn ages(mut self) -> Redact {
        self.settings.add_filter(r"\b\d+[smhd]\b", "[AGE]");
        self
    }

    /// A table whose cells (durations, sizes, ages) vary in width from run to run: the spaces
    /// between its columns as two, whatever the widths.
    pub fn columns(mut self) -> Redact {
        self.settings.add_filter(r"(\S) {2,}", "$1  ");
        self
    }

    /// What matches the regular expression `pattern`, as `token`.
    pub fn pattern(mut self, pattern: &str, token: &str) -> Redact {
        self.settings.add_filter(pattern, token);
        self
    }

    /// Pod names of Deployment `name` (`users-5d8c7b9f4-x2x7k`) as `name-[POD]`.
    pub fn pods_of(mut self, name: &str) -> Redact {
        let pattern = format!(r"\b{}-[a-z0-9]{{6,10}}-[a-z0-9]{{5}}\b", escape(name));
        self.settings.add_filter(&pattern, format!("{name}-[POD]"));
        self
    }

    /// Bind the redactions to the current scope (and thread).
    pub fn scope(self) -> impl Drop {
        self.settings.bind_to_scope()
    }
}

/// `text` as a regular expression that matches it literally.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

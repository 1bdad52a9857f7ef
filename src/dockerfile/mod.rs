//! What a Dockerfile takes from its build context: the sources of its `COPY` and `ADD`
//! instructions and of `RUN --mount=type=bind` (copies from a stage or an image, `--from`, and
//! URLs are not the context's), less what the context's `.dockerignore` leaves out.
//!
//! A small parser of the instruction lines: parser directives (`# escape=`), comments, line
//! continuations, the JSON-array form, flags (`--chown`, `--chmod`, `--link`, …), heredoc
//! bodies (skipped: their text is in the Dockerfile), and `$VAR`/`${VAR}` in sources from the
//! `ARG` defaults and `ENV` values above them. What it cannot read (an unknown instruction, a
//! source naming a variable without a value) is an error naming the line.

mod ignore;
mod parse;

pub use ignore::DockerIgnore;

use globset::{GlobBuilder, GlobMatcher};

/// One instruction that reads the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRead {
    /// Its first line (1-based).
    pub line: usize,
    /// `COPY`, `ADD` or `RUN --mount`.
    pub instruction: String,
    /// The sources as written (variables substituted).
    pub sources: Vec<String>,
}

/// A line monoship cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every read of the build context in the Dockerfile `text`.
pub fn context_reads(text: &str) -> Result<Vec<ContextRead>, ParseError> {
    parse::context_reads(text)
}

/// A Dockerfile's sources, ready to match paths of its context against.
#[derive(Debug, Clone)]
pub struct Sources {
    /// (line, the source relative to the context root, its matcher; `None`: the whole context).
    sources: Vec<(usize, String, Option<GlobMatcher>)>,
    ignore: DockerIgnore,
}

/// A path of the context that an instruction copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The instruction's line.
    pub line: usize,
    /// What its source matched: the path itself, or a directory above it (`""`: the whole
    /// context).
    pub root: String,
}

impl Sources {
    /// The sources of `text` (a Dockerfile) in a context that leaves out what `ignore` does.
    pub fn new(text: &str, ignore: DockerIgnore) -> Result<Sources, ParseError> {
        let mut sources = Vec::new();
        for read in context_reads(text)? {
            for source in &read.sources {
                let clean = clean(source);
                let glob = if clean.is_empty() {
                    None
                } else {
                    let glob = GlobBuilder::new(&literal_braces(&clean))
                        .literal_separator(true)
                        .backslash_escape(true)
                        .build()
                        .map_err(|e| ParseError {
                            line: read.line,
                            message: format!("source `{source}`: {}", e.kind()),
                        })?;
                    Some(glob.compile_matcher())
                };
                sources.push((read.line, clean, glob));
            }
        }
        Ok(Sources { sources, ignore })
    }

    /// How the instructions copy `path` (relative to the context root): one entry per source
    /// that takes it; none when `.dockerignore` leaves it out.
    pub fn copies(&self, path: &str) -> Vec<Copied> {
        if self.ignore.excludes(path) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (line, _, glob) in &self.sources {
            let root = match glob {
                None => Some(String::new()),
                Some(g) => self_or_ancestor(path, |p| g.is_match(p)).map(str::to_string),
            };
            if let Some(root) = root {
                out.push(Copied { line: *line, root });
            }
        }
        out
    }
}

/// `path` as Docker cleans a context path: no leading `/`, no `.` components, `..` going up
/// (never above the root), no trailing `/`. `""` is the root.
pub(crate) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Docker's patterns have no `{a,b}`: braces are themselves.
fn literal_braces(pattern: &str) -> String {
    pattern.replace('{', "\\{").replace('}', "\\}")
}

/// The first of `path`'s ancestor directories (from the top) and `path` itself that `f` takes.
fn self_or_ancestor(path: &str, f: impl Fn(&str) -> bool) -> Option<&str> {
    path.match_indices('/')
        .map(|(i, _)| &path[..i])
        .chain(std::iter::once(path))
        .find(|p| f(p))
}

#[cfg(test)]
mod tests;

//! The configuration `monoship init` proposes and `monoship check` checks: `ignore` globs for
//! the tracked files outside every package that no build reads, the files the services'
//! Dockerfiles copy into their images, and the files a change to which would still fail closed.

use super::categories::{self, Root};
use crate::affected::AffectedError;
use crate::affected::images::ImageCopies;
use crate::affected::owners::{Owner, Owners};
use crate::workspace::Workspace;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A directory with more files that a build could read than this gets no glob of its own.
const MAX_EXCEPTIONS: usize = 5;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// `ignore` globs to add, in order (a `!` glob takes back part of the one before it).
    pub ignore: Vec<IgnoreGlob>,
    /// The files the services' Dockerfiles copy into their images: inputs of those services
    /// (`affected` counts them already; nothing to write).
    pub image_inputs: Vec<ImageInput>,
    /// `inputs` for services whose Dockerfile lies outside their directory (named after them):
    /// the Dockerfile and the files it copies that nothing takes yet.
    pub inputs: Vec<InputsProposal>,
    /// Dockerfiles monoship cannot read: their services fail closed on any change.
    pub unreadable_dockerfiles: Vec<UnreadableDockerfile>,
    /// Tracked files a change to which fails closed with the configuration as it is.
    pub unowned: Vec<String>,
    /// Those that would still fail closed with the proposal applied, and why.
    pub remaining: Vec<Remaining>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoreGlob {
    pub glob: String,
    /// The top-level directory (`web/`) or the root file it is about.
    pub group: String,
    /// How many of the failing-closed files it takes (0 for a `!` glob).
    pub files: usize,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInput {
    pub service: String,
    pub path: String,
    pub dockerfile: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputsProposal {
    pub service: String,
    /// The manifest whose `[package.metadata.monoship]` takes them (`init` adds them there).
    pub manifest: String,
    pub dockerfile: String,
    /// Globs to add to the service's `inputs`.
    pub inputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableDockerfile {
    pub service: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remaining {
    pub path: String,
    pub why: String,
}

impl Proposal {
    /// Whether nothing fails closed with the configuration as it is.
    pub fn is_clean(&self) -> bool {
        self.unowned.is_empty() && self.unreadable_dockerfiles.is_empty()
    }

    /// The globs to add to `ignore`, in order.
    pub fn ignore_globs(&self) -> Vec<String> {
        self.ignore.iter().map(|g| g.glob.clone()).collect()
    }
}

/// The state of one tracked file under the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// An `ignore` glob takes it already.
    Ignored,
    /// Another rule takes it (a package, a global input, an input, a copy, …).
    Owned,
    /// Inside a package's directory.
    InPackage,
    /// Nothing takes it: a change fails closed.
    Unowned,
}

/// The proposal for the workspace `ws`, whose tracked files (workspace-relative) are `files`,
/// with `extra_ignore` (globs about to be written) counted as configured.
pub fn propose(
    ws: &Workspace,
    files: &[String],
    extra_ignore: &[String],
) -> Result<Proposal, AffectedError> {
    let owners = Owners::new(ws, extra_ignore)?;
    let mut states = Vec::new();
    let mut image_inputs = Vec::new();
    for path in files {
        let state = match owners.owner(path) {
            None => State::Unowned,
            Some(Owner::Ignored) => State::Ignored,
            Some(Owner::Package(_)) => State::InPackage,
            Some(_) => State::Owned,
        };
        for d in owners.dockerfile_inputs(path) {
            image_inputs.push(ImageInput {
                service: ws.services[d.service].name.clone(),
                path: path.clone(),
                dockerfile: d.dockerfile,
                line: d.line,
            });
        }
        states.push((path.clone(), state));
    }
    image_inputs.sort_by(|a, b| (&a.service, &a.path).cmp(&(&b.service, &b.path)));
    let keep = copied_by_other_dockerfiles(ws, &states);
    let (ignore, mut remaining) = classify(&states, &keep);
    let inputs = outside_dockerfiles(ws, &states, &mut remaining);
    let unreadable_dockerfiles = owners
        .copies
        .failures
        .iter()
        .map(|(i, why)| UnreadableDockerfile {
            service: ws.services[*i].name.clone(),
            why: why.clone(),
        })
        .collect();
    let unowned = states
        .iter()
        .filter(|(_, s)| *s == State::Unowned)
        .map(|(p, _)| p.clone())
        .collect();
    Ok(Proposal {
        ignore,
        image_inputs,
        inputs,
        unreadable_dockerfiles,
        unowned,
        remaining,
    })
}

/// The unowned files that a Dockerfile other than the services' own copies into an image (a
/// root `Dockerfile*`, one outside every package, one of a package that is no service), each
/// with why it is no `ignore` candidate. When one of them cannot be read, what it copies is not
/// known, and no unowned file is a candidate.
fn copied_by_other_dockerfiles(
    ws: &Workspace,
    states: &[(String, State)],
) -> HashMap<String, String> {
    let mut copies = ImageCopies::none(ws);
    let mut unreadable = None;
    for (path, _) in states {
        if categories::is_dockerfile_name(path) {
            // The service index is not used: only the Dockerfile and the line are.
            if let Err(why) = copies.add(ws, 0, path) {
                unreadable.get_or_insert(why);
            }
        }
    }
    let unowned = states.iter().filter(|(_, s)| *s == State::Unowned);
    let mut keep = HashMap::new();
    for (path, _) in unowned {
        let why = match (&unreadable, copies.inputs(path).first()) {
            (Some(why), _) => format!(
                "not proposed for `ignore`: a Dockerfile cannot be read ({why}), so what it \
                 copies is not known"
            ),
            (None, Some(d)) => format!(
                "copied into an image by {}:{}, whose services are not known: declare it in \
                 `global-inputs` or the `inputs` of the service it builds",
                d.dockerfile, d.line
            ),
            (None, None) => continue,
        };
        keep.insert(path.clone(), why);
    }
    keep
}

/// `inputs` for each still-unowned Dockerfile outside every package that is named after one
/// service (`docker/users.Dockerfile`, `docker/users/Dockerfile`, `ops/Dockerfile.users`): the
/// Dockerfile and the unowned files it copies into the image, which leave `remaining`.
fn outside_dockerfiles(
    ws: &Workspace,
    states: &[(String, State)],
    remaining: &mut Vec<Remaining>,
) -> Vec<InputsProposal> {
    let mut out = Vec::new();
    let dockerfiles: Vec<String> = remaining
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| categories::is_dockerfile_name(p))
        .collect();
    for path in dockerfiles {
        let Some(service) = named_service(ws, &path) else {
            continue;
        };
        let mut copies = ImageCopies::none(ws);
        if let Err(why) = copies.add(ws, service, &path) {
            if let Some(r) = remaining.iter_mut().find(|r| r.path == path) {
                r.why = format!("cannot read it: {why}");
            }
            continue;
        }
        let mut taken = vec![path.clone()];
        taken.extend(
            states
                .iter()
                .filter(|(p, s)| *s == State::Unowned && !copies.inputs(p).is_empty())
                .map(|(p, _)| p.clone()),
        );
        remaining.retain(|r| !taken.contains(&r.path));
        let s = &ws.services[service];
        out.push(InputsProposal {
            service: s.name.clone(),
            manifest: match s.dir.as_str() {
                "" => "Cargo.toml".into(),
                dir => format!("{dir}/Cargo.toml"),
            },
            dockerfile: path,
            inputs: taken.iter().map(|p| escape(p)).collect(),
        });
    }
    out
}

/// The service a Dockerfile's name (or, for a plain `Dockerfile`, its directory's) names.
fn named_service(ws: &Workspace, path: &str) -> Option<usize> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let stem = file
        .strip_prefix("Dockerfile")
        .or_else(|| file.strip_suffix("Dockerfile"))
        .unwrap_or(file)
        .trim_matches(|c| c == '.' || c == '-' || c == '_');
    let name = match stem {
        "" => dir.rsplit('/').next().unwrap_or(""),
        stem => stem,
    };
    ws.services
        .iter()
        .position(|s| s.name == name || s.package == name)
}

/// The `ignore` globs for the unowned files of `states` (every tracked file, sorted or not),
/// and the unowned files no glob takes, each with why.
pub fn classify(
    states: &[(String, State)],
    keep: &HashMap<String, String>,
) -> (Vec<IgnoreGlob>, Vec<Remaining>) {
    let projects = projects(states);
    let mut roots: BTreeMap<Root, (String, Vec<&str>)> = BTreeMap::new();
    let mut remaining = Vec::new();
    for (path, _) in states.iter().filter(|(_, s)| *s == State::Unowned) {
        if let Some(why) = keep.get(path) {
            remaining.push(Remaining {
                path: path.clone(),
                why: why.clone(),
            });
            continue;
        }
        match categories::category(path, &projects) {
            Some((root, why)) => roots.entry(root).or_insert((why, Vec::new())).1.push(path),
            None => remaining.push(Remaining {
                path: path.clone(),
                why: categories::build_readable(path)
                    .unwrap_or("no rule recognizes it as a file no build reads")
                    .to_string(),
            }),
        }
    }
    let mut globs = Vec::new();
    for (root, (why, paths)) in roots {
        match root {
            Root::File(f) => globs.push(IgnoreGlob {
                group: group_of(&f, false),
                glob: escape(&f),
                files: 1,
                why,
            }),
            Root::Dir(d) => globs.extend(dir_globs(&d, &why, &paths, states, keep)),
        }
    }
    // By top-level directory (a `!` glob stays after the one it takes back from).
    globs.sort_by(|a, b| a.group.cmp(&b.group));
    remaining.sort_by(|a, b| a.path.cmp(&b.path));
    (globs, remaining)
}

/// `DIR/**` for a directory of files no build reads, with a `!` glob for each file in it that
/// another rule takes or a build could read; one glob per file instead when it holds package
/// files or more than [`MAX_EXCEPTIONS`] such files.
fn dir_globs(
    dir: &str,
    why: &str,
    paths: &[&str],
    states: &[(String, State)],
    keep: &HashMap<String, String>,
) -> Vec<IgnoreGlob> {
    let prefix = format!("{dir}/");
    let inside: Vec<&(String, State)> = states
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .collect();
    let exceptions: Vec<&str> = inside
        .iter()
        .filter(|(p, s)| match s {
            State::Ignored => false,
            // A file of a nested project (`web/admin/`) has a glob of its own.
            State::Unowned => categories::build_readable(p).is_some() || keep.contains_key(p),
            State::Owned | State::InPackage => true,
        })
        .map(|(p, _)| p.as_str())
        .collect();
    let in_package = inside.iter().any(|(_, s)| *s == State::InPackage);
    let group = group_of(dir, true);
    if in_package || exceptions.len() > MAX_EXCEPTIONS {
        return paths
            .iter()
            .map(|p| IgnoreGlob {
                glob: escape(p),
                group: group.clone(),
                files: 1,
                why: why.to_string(),
            })
            .collect();
    }
    let mut out = vec![IgnoreGlob {
        glob: format!("{}/**", escape(dir)),
        group: group.clone(),
        files: paths.len(),
        why: why.to_string(),
    }];
    for e in exceptions {
        out.push(IgnoreGlob {
            glob: format!("!{}", escape(e)),
            group: group.clone(),
            files: 0,
            why: "a build could read it, or another rule takes it".into(),
        });
    }
    out
}

/// The directories outside packages (not the root) holding a marker file of another
/// language's project.
fn projects(states: &[(String, State)]) -> Vec<(String, String)> {
    // Each directory with the first of MARKERS it holds (`pyproject.toml` before `poetry.lock`).
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for (path, state) in states {
        if *state == State::InPackage {
            continue;
        }
        let Some((dir, name)) = path.rsplit_once('/') else {
            continue;
        };
        if let Some(i) = categories::MARKERS.iter().position(|(m, _)| *m == name) {
            let best = found.entry(dir).or_insert(i);
            *best = (*best).min(i);
        }
    }
    found
        .into_iter()
        .map(|(dir, i)| {
            let (marker, what) = categories::MARKERS[i];
            (dir.to_string(), format!("{what} ({marker})"))
        })
        .collect()
}

/// The top-level directory of `path` (`web/`), or `path` itself for a file of the root.
fn group_of(path: &str, is_dir: bool) -> String {
    match path.split_once('/') {
        Some((top, _)) => format!("{top}/"),
        None if is_dir => format!("{path}/"),
        None => path.to_string(),
    }
}

/// `path` as a glob that matches it alone.
fn escape(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if "*?[]{}\\!".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;

/// The files of the workspace at `root` that git tracks or would (untracked ones not
/// ignored), relative to `root`, sorted: what `git ls-files` lists. `None` outside a git
/// repository.
pub fn tracked_files(root: &Path) -> Result<Option<Vec<String>>, AffectedError> {
    if crate::changes::Git::open(root).is_err() {
        return Ok(None);
    }
    let out = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| AffectedError::Usage(format!("cannot run git ls-files: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(AffectedError::Usage(format!(
            "git ls-files in {}: {}",
            root.display(),
            err.trim()
        )));
    }
    let mut files: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(Some(files))
}

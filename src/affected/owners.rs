//! What the rules of [`super::classify`] make of a path of the workspace by itself, without a
//! change: for `monoship check` and `monoship init`, which look for the files a change to
//! which would fail closed.

use super::AffectedError;
use super::base::{is_dockerfile, workspace_refs};
use super::images::{DockerfileInput, ImageCopies};
use super::settings;
use crate::config::{DEFAULT_GLOBAL_INPUTS, DEFAULT_IGNORE};
use crate::globs::{GlobList, Origin};
use crate::workspace::{self, Workspace};
use std::collections::HashMap;

/// The rule that takes a path, in the order the analysis tries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The root `Cargo.toml` or `Cargo.lock` (compared semantically).
    RootManifest,
    /// Read at build time by these packages (`include_str!`, `rerun-if-changed`).
    BuildRef(Vec<String>),
    /// Carried by these services' images (`files`).
    ImageFile(Vec<String>),
    /// Copied by these services' Dockerfiles.
    DockerfileCopy(Vec<String>),
    /// An `ignore` glob.
    Ignored,
    /// A `global-inputs` glob.
    Global,
    /// These services' `inputs`.
    Input(Vec<String>),
    /// Inside this package's directory.
    Package(String),
}

/// The rules of a workspace, ready to ask about paths.
pub struct Owners<'a> {
    ws: &'a Workspace,
    ignore: GlobList,
    global: GlobList,
    inputs: Vec<(usize, GlobList)>,
    refs: HashMap<String, Vec<String>>,
    image_files: HashMap<String, Vec<usize>>,
    /// The services' Dockerfiles, read.
    pub copies: ImageCopies,
}

impl<'a> Owners<'a> {
    /// The rules of `ws`, with `extra_ignore` after its `ignore` globs.
    pub fn new(ws: &'a Workspace, extra_ignore: &[String]) -> Result<Owners<'a>, AffectedError> {
        let file = ws.manifest.as_path();
        let list = |built_in: &'static [&'static str], globs: Vec<&str>, key: &str| {
            GlobList::new(built_in, globs, file, key).map_err(workspace::WorkspaceError::from)
        };
        let strs = |v: &'a [String]| v.iter().map(String::as_str).collect::<Vec<_>>();
        let mut ignore_globs = strs(&ws.config.ignore);
        ignore_globs.extend(extra_ignore.iter().map(String::as_str));
        let ignore = list(DEFAULT_IGNORE, ignore_globs, "ignore")?;
        let global = list(
            DEFAULT_GLOBAL_INPUTS,
            strs(&ws.config.global_inputs),
            "global-inputs",
        )?;
        let mut inputs = Vec::new();
        for (i, s) in ws.services.iter().enumerate() {
            if !s.inputs.is_empty() {
                inputs.push((i, list(&[], strs(&s.inputs), "inputs")?));
            }
        }
        let mut refs: HashMap<String, Vec<String>> = HashMap::new();
        for (target, pkg, _) in workspace_refs(ws).map_err(AffectedError::Usage)? {
            refs.entry(target).or_default().push(pkg);
        }
        Ok(Owners {
            ws,
            ignore,
            global,
            inputs,
            refs,
            image_files: settings::image_files(ws),
            copies: ImageCopies::load(ws),
        })
    }

    /// The first rule that takes `path` (workspace-relative); `None`: a change to it fails
    /// closed.
    pub fn owner(&self, path: &str) -> Option<Owner> {
        if path == "Cargo.toml" || path == "Cargo.lock" {
            return Some(Owner::RootManifest);
        }
        let referrers: Vec<String> = self
            .refs
            .iter()
            .filter(|(t, _)| {
                path == t.as_str()
                    || path
                        .strip_prefix(t.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .flat_map(|(_, p)| p.clone())
            .collect();
        if !referrers.is_empty() {
            return Some(Owner::BuildRef(referrers));
        }
        if let Some(services) = self.image_files.get(path) {
            return Some(Owner::ImageFile(self.names(services.iter().copied())));
        }
        let copies = self.dockerfile_inputs(path);
        if !copies.is_empty() {
            return Some(Owner::DockerfileCopy(
                self.names(copies.iter().map(|d| d.service)),
            ));
        }
        if self.ignore.is_match(path) {
            return Some(Owner::Ignored);
        }
        let claiming: Vec<usize> = self
            .inputs
            .iter()
            .filter(|(_, l)| l.is_match(path))
            .map(|(i, _)| *i)
            .collect();
        match self.global.matched(path) {
            Some(Origin::BuiltIn) if claiming.is_empty() => return Some(Owner::Global),
            Some(Origin::Configured) => return Some(Owner::Global),
            _ => {}
        }
        if !claiming.is_empty() {
            return Some(Owner::Input(self.names(claiming.into_iter())));
        }
        self.package_of(path).map(Owner::Package)
    }

    /// The services whose Dockerfiles copy `path` into their images.
    pub fn dockerfile_inputs(&self, path: &str) -> Vec<DockerfileInput> {
        self.copies.inputs(path)
    }

    /// The package whose directory holds `path` (longest prefix), by name.
    pub fn package_of(&self, path: &str) -> Option<String> {
        let mut cur = path;
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if let Some(p) = self.ws.package_by_dir(cur) {
                return Some(p.name.clone());
            }
        }
        self.ws.package_by_dir("").map(|p| p.name.clone())
    }

    /// Whether `path` is a `Dockerfile*` by its name.
    pub fn is_dockerfile(path: &str) -> bool {
        is_dockerfile(path)
    }

    fn names(&self, services: impl Iterator<Item = usize>) -> Vec<String> {
        let mut out: Vec<String> = services.map(|i| self.ws.services[i].name.clone()).collect();
        out.sort();
        out.dedup();
        out
    }
}

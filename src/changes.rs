//! Change detection through git (gix): revisions, merge-base, tree diff with renames,
//! and the working tree's uncommitted and untracked files.

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// The input is wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Git data could not be read; the caller fails closed.
    #[error("{0}")]
    Analysis(String),
}

fn analysis(context: &str) -> impl Fn(gix::Error) -> ChangesError + '_ {
    move |e| ChangesError::Analysis(format!("{context}: {e}"))
}

/// The branches tried, in order, for the default base.
pub const DEFAULT_BASES: &[&str] = &["origin/main", "main", "origin/master", "master"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One changed path, repository-relative and `/`-separated. A rename is reported as the
/// deletion of the old path and the addition of the new one, so both count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedPath {
    pub path: String,
    pub kind: ChangeKind,
    /// For the two halves of a rename: the other path.
    pub renamed: Option<String>,
}

/// The base revision as the user asked for it.
#[derive(Debug, Clone)]
pub enum Base {
    /// A commit present in the repository.
    Commit { id: ObjectId, name: String },
    /// A full commit id that this repository does not have (a shallow clone, typically).
    Missing(String),
}

pub struct Git {
    repo: gix::Repository,
    workdir: PathBuf,
}

pub struct Diff {
    /// The commit the diff starts from: the merge-base of base and head.
    pub from: ObjectId,
    /// The head commit, or `None` for the working tree.
    pub head: Option<ObjectId>,
    pub paths: Vec<ChangedPath>,
}

impl Git {
    pub fn open(dir: &Path) -> Result<Git, ChangesError> {
        let repo = gix::discover(dir).map_err(|_| {
            ChangesError::Usage(format!(
                "not a git repository (or any parent): {}",
                dir.display()
            ))
        })?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| ChangesError::Usage("a bare repository has no working tree".into()))?
            .to_path_buf();
        let workdir = std::fs::canonicalize(&workdir).unwrap_or(workdir);
        Ok(Git { repo, workdir })
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The HEAD commit id and its committer time (seconds since the epoch).
    pub fn head_info(&self) -> Result<(ObjectId, u64), ChangesError> {
        let id = self.head_commit()?;
        let commit = self
            .repo
            .find_commit(id)
            .map_err(analysis("reading HEAD"))?;
        let time = commit.time().map_err(analysis("reading HEAD's time"))?;
        Ok((id, time.seconds.max(0) as u64))
    }

    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow().unwrap_or(false)
    }

    fn head_commit(&self) -> Result<ObjectId, ChangesError> {
        self.repo
            .head_id()
            .map(|id| id.detach())
            .map_err(|_| ChangesError::Usage("the repository has no commits yet".into()))
    }

    /// Resolve `--base`, or the default: the first of [`DEFAULT_BASES`] that exists.
    pub fn resolve_base(&self, spec: Option<&str>) -> Result<Base, ChangesError> {
        match spec {
            Some(spec) => {
                if spec.len() == 40 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let id = ObjectId::from_hex(spec.as_bytes())
                        .map_err(|e| ChangesError::Usage(format!("bad commit id `{spec}`: {e}")))?;
                    return Ok(if self.repo.has_object(id) {
                        Base::Commit {
                            id,
                            name: spec.to_string(),
                        }
                    } else {
                        Base::Missing(spec.to_string())
                    });
                }
                let id = self.resolve_commit(spec)?;
                Ok(Base::Commit {
                    id,
                    name: spec.to_string(),
                })
            }
            None => {
                for name in DEFAULT_BASES {
                    if let Ok(id) = self.resolve_commit(name) {
                        return Ok(Base::Commit {
                            id,
                            name: name.to_string(),
                        });
                    }
                }
                Err(ChangesError::Usage(format!(
                    "no default base: none of {} exists; pass --base REV",
                    DEFAULT_BASES.join(", ")
                )))
            }
        }
    }

    /// A revision name that must resolve to a commit (usage error otherwise).
    pub fn resolve_commit(&self, spec: &str) -> Result<ObjectId, ChangesError> {
        let id = self
            .repo
            .rev_parse_single(spec)
            .map_err(|_| ChangesError::Usage(format!("unknown revision `{spec}`")))?;
        let object = id
            .object()
            .map_err(|_| ChangesError::Usage(format!("unknown revision `{spec}`")))?;
        let commit = object
            .peel_to_commit()
            .map_err(|_| ChangesError::Usage(format!("`{spec}` does not name a commit")))?;
        Ok(commit.id)
    }

    /// How many commits `newer` has that `older` has not (`git rev-list --count
    /// older..newer`); `None` when either is not a commit of this repository.
    pub fn commits_between(&self, older: &str, newer: &str) -> Option<u64> {
        let older = self.resolve_commit(older).ok()?;
        let newer = self.resolve_commit(newer).ok()?;
        let walk = self
            .repo
            .rev_walk([newer])
            .with_hidden([older])
            .all()
            .ok()?;
        let mut n = 0;
        for info in walk {
            info.ok()?;
            n += 1;
        }
        Some(n)
    }

    /// Changes from the merge-base of `base` and `head` to `head` (`None`: the working tree).
    pub fn diff(&self, base: ObjectId, head: Option<ObjectId>) -> Result<Diff, ChangesError> {
        let head_commit = match head {
            Some(h) => h,
            None => self.head_commit()?,
        };
        let from = self
            .repo
            .merge_base(base, head_commit)
            .map_err(analysis("merge-base"))?
            .map(|id| id.detach())
            .ok_or_else(|| {
                let mut why = format!(
                    "no merge-base between {} and {}",
                    short(base),
                    short(head_commit)
                );
                if self.is_shallow() {
                    why.push_str(" (shallow clone: fetch more history)");
                }
                ChangesError::Analysis(why)
            })?;
        let mut paths = self.tree_diff(from, head_commit)?;
        if head.is_none() {
            paths.extend(self.worktree_changes()?);
        }
        paths.sort_by(|a, b| a.path.cmp(&b.path));
        paths.dedup_by(|a, b| a.path == b.path);
        Ok(Diff { from, head, paths })
    }

    fn tree_of(&self, commit: ObjectId) -> Result<gix::Tree<'_>, ChangesError> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(analysis("reading a commit's tree"))
    }

    fn tree_diff(&self, from: ObjectId, to: ObjectId) -> Result<Vec<ChangedPath>, ChangesError> {
        if from == to {
            return Ok(Vec::new());
        }
        let old = self.tree_of(from)?;
        let new = self.tree_of(to)?;
        let mut opts = gix::diff::Options::default();
        opts.track_path().track_rewrites(Some(Default::default()));
        let changes = self
            .repo
            .diff_tree_to_tree(&old, &new, opts)
            .map_err(analysis("tree diff"))?;
        let mut out = Vec::new();
        for change in changes {
            if change.entry_mode().is_tree() {
                continue;
            }
            use gix::object::tree::diff::ChangeDetached as C;
            let path = change.location().to_str_lossy().into_owned();
            match &change {
                C::Addition { .. } => out.push(changed(path, ChangeKind::Added, None)),
                C::Deletion { .. } => out.push(changed(path, ChangeKind::Deleted, None)),
                C::Modification { .. } => out.push(changed(path, ChangeKind::Modified, None)),
                C::Rewrite {
                    source_location,
                    copy,
                    ..
                } => {
                    let source = source_location.to_str_lossy().into_owned();
                    if !*copy {
                        out.push(changed(
                            source.clone(),
                            ChangeKind::Deleted,
                            Some(path.clone()),
                        ));
                    }
                    out.push(changed(path, ChangeKind::Added, Some(source)));
                }
            }
        }
        Ok(out)
    }

    /// Staged, unstaged and untracked (not ignored) files, relative to HEAD.
    fn worktree_changes(&self) -> Result<Vec<ChangedPath>, ChangesError> {
        use gix::status::{Item, UntrackedFiles};
        let iter = self
            .repo
            .status(gix::progress::Discard)
            .map_err(analysis("status"))?
            .untracked_files(UntrackedFiles::Files)
            .index_worktree_rewrites(None)
            .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
            .into_iter(Vec::<BString>::new())
            .map_err(analysis("status"))?;
        let mut out = Vec::new();
        for item in iter {
            let item = item.map_err(analysis("status"))?;
            let kind = match &item {
                Item::IndexWorktree(iw) => {
                    use gix::status::index_worktree::iter::Summary as S;
                    match iw.summary() {
                        None => continue,
                        Some(S::Removed) => ChangeKind::Deleted,
                        Some(S::Added) | Some(S::IntentToAdd) | Some(S::Copied)
                        | Some(S::Renamed) => ChangeKind::Added,
                        Some(_) => ChangeKind::Modified,
                    }
                }
                Item::TreeIndex(change) => match change {
                    gix::diff::index::Change::Addition { .. } => ChangeKind::Added,
                    gix::diff::index::Change::Deletion { .. } => ChangeKind::Deleted,
                    _ => ChangeKind::Modified,
                },
            };
            out.push(changed(
                item.location().to_str_lossy().into_owned(),
                kind,
                None,
            ));
        }
        Ok(out)
    }

    /// A file's content at `commit`, or `None` if it does not exist there.
    pub fn read_at(&self, commit: ObjectId, path: &str) -> Result<Option<Vec<u8>>, ChangesError> {
        let tree = self.tree_of(commit)?;
        let entry = tree
            .lookup_entry_by_path(path)
            .map_err(analysis("reading a tree"))?;
        match entry {
            Some(e) if e.mode().is_blob() => {
                let blob = self
                    .repo
                    .find_blob(e.object_id())
                    .map_err(analysis("reading a blob"))?;
                Ok(Some(blob.data.clone()))
            }
            _ => Ok(None),
        }
    }

    /// Every `Cargo.toml` at `commit` below `dir` (repository-relative, "" for the top),
    /// skipping `target` directories, at most `depth` levels deep.
    pub fn manifests_at(
        &self,
        commit: ObjectId,
        dir: &str,
        depth: usize,
    ) -> Result<Vec<String>, ChangesError> {
        let mut tree = self.tree_of(commit)?;
        if !dir.is_empty() {
            match tree
                .peel_to_entry_by_path(dir)
                .map_err(analysis("reading a tree"))?
            {
                Some(e) if e.mode().is_tree() => {
                    tree = self
                        .repo
                        .find_tree(e.object_id())
                        .map_err(analysis("reading a tree"))?;
                }
                _ => return Ok(Vec::new()),
            }
        }
        let mut out = Vec::new();
        self.walk_manifests(&tree, dir, depth, &mut out)?;
        Ok(out)
    }

    fn walk_manifests(
        &self,
        tree: &gix::Tree<'_>,
        prefix: &str,
        depth: usize,
        out: &mut Vec<String>,
    ) -> Result<(), ChangesError> {
        let join = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            }
        };
        let mut subtrees = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(analysis("reading a tree"))?;
            let name = entry.filename().to_str_lossy();
            if entry.mode().is_blob() && name == "Cargo.toml" {
                out.push(join(&name));
            } else if entry.mode().is_tree()
                && depth > 0
                && name != "target"
                && !name.starts_with('.')
            {
                subtrees.push((join(&name), entry.object_id()));
            }
        }
        for (path, id) in subtrees {
            let sub = self
                .repo
                .find_tree(id)
                .map_err(analysis("reading a tree"))?;
            self.walk_manifests(&sub, &path, depth - 1, out)?;
        }
        Ok(())
    }
}

fn changed(path: String, kind: ChangeKind, renamed: Option<String>) -> ChangedPath {
    ChangedPath {
        path,
        kind,
        renamed,
    }
}

pub fn short(id: ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

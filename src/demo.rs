//! The demo's repository: a copy of a workspace (the bundled example) in a new git repository,
//! with one committed change to a shared crate, for the stages to run on.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The file the demo changes.
pub const CHANGED: &str = "crates/db/src/pool.rs";

const GIT_ID: [&str; 4] = [
    "-c",
    "user.name=demo",
    "-c",
    "user.email=demo@example.invalid",
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The workspace to copy is not one the demo can use (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl DemoError {
    /// A workspace the demo cannot use (exit code 2) rather than a failed step (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, DemoError::Usage(_))
    }
}

/// The repository made.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Its working tree: the copied workspace.
    pub path: PathBuf,
}

/// Copy the workspace at `source` (not its `target` or `.git`) to `work/fleet`, commit it, then
/// commit a change to [`CHANGED`].
pub fn prepare(source: &Path, work: &Path) -> Result<Repository, DemoError> {
    if !source.join("Cargo.toml").is_file() {
        return Err(DemoError::Usage(format!(
            "{}: no Cargo.toml (the demo copies a workspace: examples/fleet, or -C DIR)",
            source.display()
        )));
    }
    let repo = work.join("fleet");
    copy_tree(source, &repo)
        .map_err(|e| DemoError::Failed(format!("copying {}: {e}", source.display())))?;
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-qm", "fleet"])?;
    let path = repo.join(CHANGED);
    if !path.is_file() {
        return Err(DemoError::Usage(format!(
            "{}: the demo changes {CHANGED}, which is missing",
            source.display()
        )));
    }
    let failed = |e: std::io::Error| DemoError::Failed(format!("{}: {e}", path.display()));
    let mut text = std::fs::read_to_string(&path).map_err(failed)?;
    text.push_str("\n/// The pool size the demo tunes.\npub const DEMO_POOL_SIZE: usize = 16;\n");
    std::fs::write(&path, text).map_err(failed)?;
    git(&repo, &["commit", "-qam", "tune the db pool"])?;
    Ok(Repository { path: repo })
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<(), DemoError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(GIT_ID)
        .args(args)
        .output()
        .map_err(|e| DemoError::Failed(format!("running git: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(DemoError::Failed(format!(
        "git {} failed: {why}",
        args.join(" ")
    )))
}

//! A throw-away git repository holding a copy of `examples/market` (services in a nested
//! layout, two services of one package, a feature-gated embedded file, a file embedded by
//! another package, a service Dockerfile that copies a root config, side files at the root).

use super::fleet::{Fleet, copy_tree, sources};
use std::path::{Path, PathBuf};

/// The six services of the market, sorted.
pub const ALL: &[&str] = &[
    "gateway",
    "indexer",
    "mailer",
    "repricer",
    "storefront",
    "user-profile",
];

/// The market in this repository.
pub fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/market")
}

/// The market's files committed on `main` (the base), with branch `feature` checked out.
pub fn repository() -> Fleet {
    let f = files();
    f.git(&["init", "-q", "-b", "main"]);
    f.commit("base");
    f.git(&["checkout", "-q", "-b", "feature"]);
    f
}

/// The market's files without a git repository.
pub fn files() -> Fleet {
    let f = Fleet::empty();
    copy_tree(&source(), f.path(), sources);
    f
}

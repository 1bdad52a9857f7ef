//! Unit tests of `[workspace.metadata.monoship.workflow]` (src/generate/workflow_config.rs).
use super::*;
use crate::config::WorkspaceConfig;
use serde_json::json;
use std::process::Command;

fn parse(workflow: serde_json::Value) -> Result<WorkflowConfig, String> {
    WorkspaceConfig::from_metadata(
        &json!({ "monoship": { "workflow": workflow } }),
        Path::new("/r/Cargo.toml"),
    )
    .map(|c| c.workflow.unwrap_or_default())
    .map_err(|e| e.to_string())
}

#[test]
fn each_install_source_reads() {
    let w = parse(json!({"branch": "trunk", "install": {"git": "https://g/m", "rev": "v1"}}));
    let w = w.unwrap();
    assert_eq!(w.branch.unwrap().as_str(), "trunk");
    assert_eq!(
        w.install,
        Some(InstallSource::Git {
            url: "https://g/m".into(),
            rev: "v1".into()
        })
    );
    let w = parse(json!({"install": {"version": "0.4.1"}})).unwrap();
    assert_eq!(w.install, Some(InstallSource::Version("0.4.1".into())));
    let hex = "AB".repeat(32);
    let w = parse(json!({"install": {"url": "https://x/monoship", "sha256": hex}})).unwrap();
    assert_eq!(
        w.install,
        Some(InstallSource::Binary {
            url: "https://x/monoship".into(),
            sha256: "ab".repeat(32)
        })
    );
}

#[test]
fn bad_install_tables_name_the_key_and_the_file() {
    let sha = "ab".repeat(32);
    for (install, message) in [
        (
            json!({"git": "https://g", "url": "https://u", "sha256": sha}),
            "`git` and `url` are 2 sources",
        ),
        (
            json!({"version": "1.0.0", "url": "https://u", "sha256": sha}),
            "`version` and `url` are 2 sources",
        ),
        (json!({}), "set one source"),
        (json!({"url": "https://u"}), "`url` needs `sha256`"),
        (
            json!({"url": "https://u", "sha256": "abc"}),
            "`sha256` `abc` is not a SHA-256",
        ),
        (
            json!({"url": "ftp://u", "sha256": sha}),
            "is not an http(s) URL",
        ),
        (json!({"git": "https://g"}), "`git` needs `rev`"),
        (
            json!({"version": "1.0.0", "rev": "x"}),
            "`rev` goes with `git`",
        ),
        (
            json!({"git": "https://g", "rev": "x", "sha256": sha}),
            "`sha256` goes with `url`",
        ),
        (
            json!({"version": "^1.0"}),
            "`version` `^1.0` is not a release version",
        ),
        (json!({"version": "1.0"}), "is not a release version"),
        (json!({"git": "--config=x", "rev": "x"}), "starts with `-`"),
        (
            json!({"git": "https://g", "rev": "a\nb"}),
            "control character",
        ),
    ] {
        let e = parse(json!({ "install": install })).unwrap_err();
        assert!(
            e.starts_with(
                "/r/Cargo.toml: invalid [workspace.metadata.monoship]: `workflow.install`: "
            ),
            "{e}"
        );
        assert!(e.contains(message), "{install}: {e}");
    }
    let e = parse(json!({"install": {"branch": "x"}})).unwrap_err();
    assert!(e.contains("unknown field `branch`"), "{e}");
    let e = parse(json!({"trigger": "x"})).unwrap_err();
    assert!(
        e.contains("`workflow`: unknown field `trigger`") || e.contains("`workflow.trigger`"),
        "{e}"
    );
}

#[test]
fn branch_names_are_the_ones_git_allows() {
    for good in [
        "main",
        "trunk",
        "release/1.x",
        "feat+x",
        "a#b",
        "it's",
        "v1.0",
        "x]",
    ] {
        assert!(parse(json!({ "branch": good })).is_ok(), "{good}");
    }
    for bad in [
        "", "a b", "a..b", "a~1", "-x", "a/", "/a", "a.lock", ".a", "a:b", "a\tb", "x*", "@",
        "a@{1}", "a\\b", "a.",
    ] {
        let e = parse(json!({ "branch": bad })).unwrap_err();
        assert!(e.contains("`workflow.branch`: "), "{bad}: {e}");
        assert!(e.contains("is not a branch name git allows"), "{bad}: {e}");
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn origin_head_is_the_branch_it_points_at() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(origin_head(dir), None, "not a repository");
    git(dir, &["init", "-q", "-b", "main"]);
    assert_eq!(origin_head(dir), None, "no origin/HEAD");
    git(
        dir,
        &["remote", "add", "origin", "https://example.com/r.git"],
    );
    git(
        dir,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/trunk",
        ],
    );
    assert_eq!(origin_head(dir).as_deref(), Some("trunk"));
    git(
        dir,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/release/2",
        ],
    );
    assert_eq!(origin_head(dir).as_deref(), Some("release/2"));
}

#[test]
fn the_branch_comes_from_the_config_then_origin_head_then_main() {
    let mut ctx = super::super::Context::for_test(WorkspaceConfig::default(), Vec::new());
    assert_eq!(Branch::for_context(&ctx).from, BranchFrom::Fallback);
    assert_eq!(Branch::for_context(&ctx).name, "main");
    assert!(
        Branch::for_context(&ctx)
            .about()
            .join(" ")
            .contains("origin/HEAD was not set")
    );
    ctx.origin_head = Some("trunk".into());
    let b = Branch::for_context(&ctx);
    assert_eq!((b.name.as_str(), b.from), ("trunk", BranchFrom::OriginHead));
    assert!(
        b.about()
            .join(" ")
            .contains("the repository's default branch")
    );
    ctx.config.workflow = Some(parse(json!({"branch": "develop"})).unwrap());
    let b = Branch::for_context(&ctx);
    assert_eq!((b.name.as_str(), b.from), ("develop", BranchFrom::Config));
    assert!(b.about()[0].contains("`branch` in [workspace.metadata.monoship.workflow]"));
}

//! `monoship generate workflow` on a copy of examples/fleet: the snapshot, `--check`, variants
//! (the branch from `origin/HEAD` or the configuration, each install source), configuration
//! errors, and upstream actionlint (with shellcheck for the `run:` scripts) reporting nothing.
//!
//! actionlint comes from `scripts/testenv/actionlint`, which builds it once through the Go module
//! proxy and caches it; if it cannot be built, these tests fail (they never skip).

use crate::support::fleet::Fleet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const WORKFLOW: &str = ".github/workflows/deploy-changed.yml";

/// The actionlint binary, built on first use by scripts/testenv/actionlint.
fn actionlint() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testenv/actionlint");
        let out = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed: actionlint could not be built:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Run actionlint on `file` from `repo`: (success, findings, verbose log).
fn lint(repo: &Path, file: &Path) -> (bool, String, String) {
    let out = Command::new(actionlint())
        .args(["-no-color", "-oneline", "-verbose"])
        .arg(file)
        .current_dir(repo)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// actionlint finds nothing in `file`, and did run shellcheck on its scripts.
fn assert_clean(repo: &Path, file: &Path) {
    let (success, findings, log) = lint(repo, file);
    assert!(
        success && findings.is_empty(),
        "actionlint findings in {}:\n{findings}\n{}",
        file.display(),
        fs::read_to_string(file).unwrap_or_default()
    );
    assert!(
        !log.contains("Rule \"shellcheck\" was disabled"),
        "actionlint ran without shellcheck:\n{log}"
    );
}

#[test]
fn snapshot_at_the_repository_root() {
    let f = Fleet::new();
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert_eq!(
        run.stdout,
        format!("created    {}/{WORKFLOW}\n", f.path().display())
    );
    assert!(
        run.stderr.contains("warning: no `registry`"),
        "{}",
        run.stderr
    );
    insta::assert_snapshot!("workflow", f.read(WORKFLOW));
}

#[test]
fn actionlint_and_shellcheck_find_nothing() {
    let f = Fleet::new();
    f.run(&["generate", "workflow"]).ok();
    assert_clean(f.path(), &f.path().join(WORKFLOW));

    // The linter is live: it does report a finding in a script.
    let bad = f.path().join(".github/workflows/bad.yml");
    fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $X\n",
    )
    .unwrap();
    let (success, findings, _) = lint(f.path(), &bad);
    assert!(!success && findings.contains("SC2086"), "{findings}");
}

#[test]
fn variants_pass_actionlint_too() {
    // ghcr.io: the job's own token and `packages: write`; the branch pinned, so no warning.
    let f = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            "\n[workspace.metadata.monoship]\nregistry = \"ghcr.io/acme\"\n\
             [workspace.metadata.monoship.workflow]\nbranch = \"main\"\n",
        )
    });
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert_eq!(run.stderr, "", "{}", run.stderr);
    let text = f.read(WORKFLOW);
    assert!(text.contains("  packages: write\n"), "{text}");
    assert!(text.contains("${{ secrets.GITHUB_TOKEN }}"), "{text}");
    assert!(
        text.contains("run: monoship build --affected --base \"$MONOSHIP_BASE\" --push\n"),
        "{text}"
    );
    assert_clean(f.path(), &f.path().join(WORKFLOW));

    // A workspace in a subdirectory of the repository: the workflow goes to the repository's
    // .github, and runs in the workspace.
    let f = Fleet::nested();
    f.append(
        "Cargo.toml",
        "\n[workspace.metadata.monoship]\nregistry = \"registry.example.com/acme\"\n",
    );
    f.run(&["generate", "workflow"]).ok();
    let repo = f.path().parent().unwrap();
    let file = repo.join(WORKFLOW);
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("    working-directory: fleet\n"), "{text}");
    assert!(text.contains("hashFiles('fleet/Cargo.lock')"), "{text}");
    assert!(
        text.contains("          path: fleet/target/monoship\n"),
        "{text}"
    );
    assert!(
        text.contains("${{ secrets.MONOSHIP_REGISTRY_PASSWORD }}"),
        "{text}"
    );
    assert!(!f.path().join(".github").exists());
    assert_clean(repo, &file);
}

#[test]
fn a_hostile_workspace_directory_still_gives_a_valid_workflow() {
    let dir = "my fleet: #1 'x'";
    let f = Fleet::nested_in(dir);
    f.run(&["generate", "workflow"]).ok();
    let repo = f.path().parent().unwrap();
    let file = repo.join(WORKFLOW);
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("    working-directory: \"my fleet: #1 'x'\"\n"),
        "{text}"
    );
    assert!(
        text.contains("hashFiles('my fleet: #1 ''x''/Cargo.lock')"),
        "{text}"
    );
    assert!(text.contains("SERVICE: ${{ matrix.service }}\n"), "{text}");
    assert_clean(repo, &file);
    f.run(&["generate", "workflow", "--check"]).ok();
}

#[test]
fn every_required_piece() {
    let f = Fleet::new();
    f.run(&["generate", "workflow"]).ok();
    let text = f.read(WORKFLOW);
    for piece in [
        "          fetch-depth: 0\n",
        "run: monoship affected --base \"$MONOSHIP_BASE\" --format github-matrix --github-output\n",
        "      services: ${{ steps.affected.outputs.services }}\n",
        "      any: ${{ steps.affected.outputs.any }}\n",
        "    if: needs.detect.outputs.any == 'true'\n",
        "run: monoship build --affected --base \"$MONOSHIP_BASE\" --push --registry \"$MONOSHIP_REGISTRY\"\n",
        "        uses: actions/cache@v4\n",
        "          key: monoship-target-${{ runner.os }}-${{ hashFiles('Cargo.lock') }}\n",
        "      fail-fast: false\n",
        "      matrix: ${{ fromJSON(needs.detect.outputs.services) }}\n",
        "          SERVICE: ${{ matrix.service }}\n        run: monoship deploy \"$SERVICE\" 2>&1 | tee \"$RUNNER_TEMP/deploy.log\"\n",
        "monoship affected --base \"$MONOSHIP_BASE\" --format mermaid\n",
        "} >> \"$GITHUB_STEP_SUMMARY\"\n",
        "uses: actions/upload-artifact@v4\n",
        "uses: actions/download-artifact@v4\n",
        "    shell: bash\n",
    ] {
        assert!(text.contains(piece), "missing `{piece}` in:\n{text}");
    }
    // The build is one job, skipped when nothing is affected; deploys wait for it.
    assert_eq!(text.matches("monoship build ").count(), 2, "{text}");
    assert!(text.contains("    needs: [detect, build]\n"), "{text}");
}

#[test]
fn check_reports_a_diff_and_depends_on_is_warned_about() {
    let f = Fleet::new_with(|f| {
        f.append(
            "apps/orders/Cargo.toml",
            "\n[package.metadata.monoship]\ndepends-on = [\"users\"]\n",
        )
    });
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert!(
        run.stderr
            .contains("warning: orders set `depends-on`, but the workflow deploys every service in its own job"),
        "{}",
        run.stderr
    );
    let run = f.run(&["generate", "workflow", "--check"]);
    run.ok();
    assert_eq!(run.stdout, "up to date: deploy-changed.yml\n");

    f.replace(
        WORKFLOW,
        "      fail-fast: false\n",
        "      fail-fast: true\n",
    );
    let run = f.run(&["generate", "workflow", "--check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(
            "--- deploy-changed.yml (on disk)\n+++ deploy-changed.yml (generated)\n@@ "
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("-      fail-fast: true\n+      fail-fast: false\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("error: out of date: deploy-changed.yml (run `monoship generate workflow`)"),
        "{}",
        run.stderr
    );
}

/// `[workspace.metadata.monoship.workflow]` with `body`, on the fleet.
fn fleet_with_workflow(body: &str) -> Fleet {
    Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            &format!("\n[workspace.metadata.monoship.workflow]\n{body}"),
        )
    })
}

#[test]
fn the_branch_is_the_one_origin_head_names() {
    let origin = Fleet::new();
    origin.git(&["checkout", "-q", "-b", "trunk"]);
    let f = origin.clone_repo();
    assert_eq!(
        f.git(&["symbolic-ref", "refs/remotes/origin/HEAD"]),
        "refs/remotes/origin/trunk"
    );
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert!(
        run.stderr.contains(
            "warning: the workflow runs on pushes to `trunk` (origin/HEAD); set `branch = \"trunk\"`"
        ),
        "{}",
        run.stderr
    );
    let text = f.read(WORKFLOW);
    assert!(text.contains("  push:\n    branches: [trunk]\n"), "{text}");
    assert!(
        text.contains("# On every push to trunk (or by hand"),
        "{text}"
    );
    assert!(
        text.contains(
            "# The branch, trunk, is the repository's default branch: origin/HEAD when\n"
        ),
        "{text}"
    );
    assert!(!text.contains("[main]"), "{text}");
    assert_clean(f.path(), &f.path().join(WORKFLOW));
    f.run(&["generate", "workflow", "--check"]).ok();

    // Without origin/HEAD (a clone by actions/checkout), the default is main, and --check says
    // the file is out of date ...
    f.git(&["remote", "set-head", "origin", "--delete"]);
    let check = f.run(&["generate", "workflow", "--check"]);
    assert_eq!(check.code, 1, "{}\n{}", check.stdout, check.stderr);
    assert!(
        check
            .stdout
            .contains("-    branches: [trunk]\n+    branches: [main]\n"),
        "{}",
        check.stdout
    );
    // ... unless the branch is pinned in the configuration.
    f.append(
        "Cargo.toml",
        "\n[workspace.metadata.monoship.workflow]\nbranch = \"trunk\"\n",
    );
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert!(!run.stderr.contains("origin/HEAD"), "{}", run.stderr);
    let text = f.read(WORKFLOW);
    assert!(text.contains("    branches: [trunk]\n"), "{text}");
    assert!(
        text.contains(
            "# The branch, trunk, is `branch` in [workspace.metadata.monoship.workflow].\n"
        ),
        "{text}"
    );
    f.git(&["remote", "set-head", "origin", "trunk"]);
    f.run(&["generate", "workflow", "--check"]).ok();
}

#[test]
fn without_origin_head_the_branch_is_main_and_the_header_says_why() {
    let f = Fleet::new();
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert!(
        run.stderr
            .contains("warning: origin/HEAD is not set: the workflow runs on pushes to `main`"),
        "{}",
        run.stderr
    );
    let text = f.read(WORKFLOW);
    assert!(text.contains("    branches: [main]\n"), "{text}");
    assert!(
        text.contains("# The branch, main, is the default: origin/HEAD was not set"),
        "{text}"
    );
}

#[test]
fn each_install_source_passes_actionlint() {
    let sha = "0123456789abcdef".repeat(4);
    let url = "https://dl.example.com/monoship?os=linux&v=0.9";
    let cases: [(String, Vec<String>); 3] = [
        (
            "install = { git = \"https://github.com/acme/monoship\", rev = \"v0.9.0\" }\n".into(),
            vec![
                "        run: cargo install --locked --git https://github.com/acme/monoship --rev \
                 v0.9.0 monoship\n"
                    .into(),
                "          key: monoship-${{ runner.os }}-git-".into(),
            ],
        ),
        (
            "install = { version = \"0.9.0\" }\n".into(),
            vec![
                "        run: cargo install --locked monoship --version 0.9.0\n".into(),
                "          key: monoship-${{ runner.os }}-0.9.0\n".into(),
            ],
        ),
        (
            format!("install = {{ url = \"{url}\", sha256 = \"{sha}\" }}\n"),
            vec![
                format!(
                    "        run: |\n          curl --fail --silent --show-error --location \
                     --retry 3 --output \"$RUNNER_TEMP/monoship\" '{url}'\n"
                ),
                format!(
                    "          echo \"{sha}  $RUNNER_TEMP/monoship\" | sha256sum --check \
                     --strict -\n"
                ),
                "          chmod +x \"$RUNNER_TEMP/monoship\"\n".into(),
                "          mv \"$RUNNER_TEMP/monoship\" \"$HOME/.cargo/bin/monoship\"\n".into(),
                format!("          key: monoship-${{{{ runner.os }}}}-sha256-{sha}\n"),
                format!("# monoship is downloaded from {url}\n"),
            ],
        ),
    ];
    for (config, pieces) in cases {
        let f = fleet_with_workflow(&config);
        f.run(&["generate", "workflow"]).ok();
        let text = f.read(WORKFLOW);
        for piece in &pieces {
            // Each of the three jobs installs monoship; the header says it once.
            let times = if piece.starts_with('#') { 1 } else { 3 };
            assert_eq!(
                text.matches(piece.as_str()).count(),
                times,
                "`{piece}` in:\n{text}"
            );
        }
        assert!(
            text.contains("(`install` in [workspace.metadata.monoship.workflow]), cached"),
            "{text}"
        );
        assert_clean(f.path(), &f.path().join(WORKFLOW));
        f.run(&["generate", "workflow", "--check"]).ok();
    }
}

#[test]
fn the_default_install_is_explained_in_the_header() {
    let f = Fleet::new();
    f.run(&["generate", "workflow"]).ok();
    let text = f.read(WORKFLOW);
    assert!(
        text.contains("(the default: the crates.io release that generated this file)"),
        "{text}"
    );
    assert!(
        text.contains(
            "# `install` in [workspace.metadata.monoship.workflow] sets another source:\n"
        ),
        "{text}"
    );
}

#[test]
fn bad_workflow_settings_are_configuration_errors() {
    let sha = "ab".repeat(32);
    for (body, message) in [
        (
            format!(
                "install = {{ git = \"https://g/m\", rev = \"v1\", url = \"https://u\", sha256 = \"{sha}\" }}\n"
            ),
            "`workflow.install`: `git` and `url` are 2 sources: set one of them",
        ),
        (
            "install = { url = \"https://dl.example.com/monoship\" }\n".to_string(),
            "`workflow.install`: `url` needs `sha256`: the SHA-256 of the binary, 64 hex digits",
        ),
        (
            "install = { url = \"https://dl.example.com/monoship\", sha256 = \"not-hex\" }\n"
                .to_string(),
            "`workflow.install`: `sha256` `not-hex` is not a SHA-256 (64 hex digits)",
        ),
        (
            "branch = \"two words\"\n".to_string(),
            "`workflow.branch`: `two words` is not a branch name git allows",
        ),
        (
            "trigger = \"main\"\n".to_string(),
            "unknown field `trigger`",
        ),
    ] {
        let f = fleet_with_workflow(&body);
        let run = f.run(&["generate", "workflow"]);
        let line = run.usage_error();
        assert!(
            line.starts_with(&format!(
                "error: {}: invalid [workspace.metadata.monoship]: ",
                f.path().join("Cargo.toml").display()
            )),
            "{line}"
        );
        assert!(line.contains(message), "{body}: {line}");
        assert!(!f.path().join(WORKFLOW).exists());
    }
}

/// The fleet with `staging` and `production` (promoted from staging), each its own registry.
fn fleet_with_environments(extra: &str) -> Fleet {
    Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            &format!(
                "\n[workspace.metadata.monoship]\nregistry = \"registry.example.com/shop\"\n\
                 [workspace.metadata.monoship.workflow]\nbranch = \"main\"\n\
                 [workspace.metadata.monoship.environments.staging]\ncontext = \"staging\"\n\
                 namespace = \"shop-staging\"\nregistry = \"registry.staging.example/shop\"\n\
                 [workspace.metadata.monoship.environments.production]\n\
                 contexts = [\"prod-eu\", \"prod-us\"]\nnamespace = \"shop\"\n\
                 promote-from = \"staging\"\n{extra}"
            ),
        )
    })
}

#[test]
fn environments_deploy_pushes_to_staging_and_promote_to_production_by_hand() {
    let f = fleet_with_environments("");
    let run = f.run(&["generate", "workflow"]);
    run.ok();
    assert_eq!(run.stderr, "", "{}", run.stderr);
    let text = f.read(WORKFLOW);
    insta::assert_snapshot!("workflow_environments", text);
    for piece in [
        "run: monoship build --affected --base \"$MONOSHIP_BASE\" --push --env staging\n",
        "run: monoship deploy \"$SERVICE\" --env staging 2>&1 | tee \"$RUNNER_TEMP/deploy.log\"\n",
        "    if: github.event_name != 'workflow_dispatch' || inputs.promote == 'none'\n",
        "        options:\n          - none\n          - production\n",
        "  promote-production:\n    name: promote staging to production\n",
        "    if: github.event_name == 'workflow_dispatch' && inputs.promote == 'production'\n",
        "    environment: production\n",
        "        run: |\n          monoship promote staging production --format json > \"$RUNNER_TEMP/promote.json\" 2> >(tee",
        "    environment: production\n    steps:\n",
    ] {
        assert!(text.contains(piece), "missing `{piece}` in:\n{text}");
    }
    assert_eq!(text.matches("monoship promote ").count(), 2, "{text}");
    assert_clean(f.path(), &f.path().join(WORKFLOW));
    let run = f.run(&["generate", "workflow", "--check"]);
    run.ok();
    assert_eq!(run.stdout, "up to date: deploy-changed.yml\n");
    // Removing the promotion is a change `--check` reports.
    f.replace("Cargo.toml", "promote-from = \"staging\"\n", "");
    let run = f.run(&["generate", "workflow", "--check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("-  promote-production:\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn hostile_environment_names_still_give_a_valid_workflow() {
    // A chain (qa → staging → "prod eu: #1 'x'"): pushes deploy to qa, two promotions by hand.
    let f = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            "\n[workspace.metadata.monoship]\nregistry = \"ghcr.io/acme\"\n\
             [workspace.metadata.monoship.workflow]\nbranch = \"main\"\n\
             [workspace.metadata.monoship.environments.qa]\n\
             [workspace.metadata.monoship.environments.staging]\npromote-from = \"qa\"\n\
             [workspace.metadata.monoship.environments.\"prod eu: #1 'x'\"]\n\
             promote-from = \"staging\"\nregistry = \"registry.example.com/shop\"\n",
        )
    });
    f.run(&["generate", "workflow"]).ok();
    let text = f.read(WORKFLOW);
    for piece in [
        "--push --env qa\n",
        "  promote-staging:\n",
        "  promote-1:\n",
        "    environment: \"prod eu: #1 'x'\"\n",
        "          monoship promote staging 'prod eu: #1 '\\''x'\\''' --format json",
        "inputs.promote == 'prod eu: #1 ''x'''",
        "  packages: write\n",
    ] {
        assert!(text.contains(piece), "missing `{piece}` in:\n{text}");
    }
    assert_clean(f.path(), &f.path().join(WORKFLOW));

    // A name GitHub would evaluate is refused, naming it.
    let f = Fleet::new_with(|f| {
        f.append(
            "Cargo.toml",
            "\n[workspace.metadata.monoship.environments.staging]\n\
             [workspace.metadata.monoship.environments.\"${{ secrets.X }}\"]\n\
             promote-from = \"staging\"\n",
        )
    });
    let err = f.run(&["generate", "workflow"]).usage_error().to_string();
    assert!(
        err.contains("environment `${{ secrets.X }}` holds `${{`"),
        "{err}"
    );
}

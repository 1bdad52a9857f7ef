//! `.github/workflows/deploy-changed.yml`: a GitHub Actions workflow that deploys what a push to
//! the default branch changed (`branch` in the configuration, else `origin/HEAD`'s, else main).
//! `detect` runs `monoship affected` (a matrix of services), `build` runs one `monoship build
//! --affected --push` and keeps the build and publish records as an artifact, and one `deploy`
//! job per service runs `monoship deploy SERVICE` with those records, writing its
//! result and the `affected` graph to the step summary.
//!
//! The file lists no service: the matrix is computed on each run, so adding a service does not
//! change it.

use super::template::{self, Vars};
use super::{Context, GenerateError, GeneratedFile};
use std::collections::BTreeMap;

pub use super::workflow_config::{
    Branch, BranchFrom, FALLBACK_BRANCH, InstallSource, WorkflowConfig, origin_head,
};
pub use super::workflow_envs::{Environments, NO_PROMOTION, Promotion};
pub use super::workflow_install::Install;

/// The workflow's file name, under `.github/workflows/` of the repository.
pub const FILE: &str = "deploy-changed.yml";
/// Where the workflow goes by default, relative to the root of the git repository.
pub const DEFAULT_DIR: &str = ".github/workflows";

const TEMPLATE: &str = include_str!("templates/deploy-changed.yml");

/// `s` as a YAML scalar: plain when that reads back as the string `s` (as every ordinary path
/// and command does), else double-quoted (a JSON string is a valid YAML double-quoted scalar).
pub(super) fn yaml_scalar(s: &str) -> String {
    let plain = !reads_as_other_type(s)
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '$' | '~' | '_'))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with([':', ' '])
        && !s.chars().any(|c| c.is_control() || c == '"' || c == '\\');
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

/// A plain scalar YAML would read as a boolean, null or number (`true`, `on`, `1.0`, `0x1f`).
fn reads_as_other_type(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) || lower.replace('_', "").parse::<f64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
}

/// `s` as a scalar inside a YAML flow sequence (`[a, b]`), where `,[]{}` end a plain one.
fn yaml_flow_scalar(s: &str) -> String {
    let yaml = yaml_scalar(s);
    if yaml == s && s.contains([',', '[', ']', '{', '}']) {
        serde_json::Value::from(s).to_string()
    } else {
        yaml
    }
}

/// `s` as one shell word: as it is when it holds no character the shell treats specially, else
/// single-quoted. A `${{` is split (`'$''{{'`): GitHub would evaluate it as an expression before
/// the shell sees the script.
pub(super) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | '+' | '@' | ':')
        })
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''").replace("${{", "$''{{"))
    }
}

/// `s` as a string literal of a GitHub Actions expression.
pub(super) fn expression_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A branch name as a pattern of GitHub's branch filters, which read `+`, `]` and a leading `!`
/// (and `*`, `?`, `[`, which git refuses in a branch name) as pattern characters.
fn branch_filter(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        if matches!(c, '+' | ']') || (i == 0 && c == '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The install step's `run:` value: one command as a scalar, several as a literal block.
fn run_value(script: &[String]) -> String {
    match script {
        [one] => yaml_scalar(one),
        lines => {
            let mut block = "|".to_string();
            for line in lines {
                block.push_str("\n          ");
                block.push_str(line);
            }
            block
        }
    }
}

pub(super) fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// Where `monoship build --push` pushes, and with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// `registry` in the configuration, on GitHub's container registry: the job's own token
    /// (`packages: write`).
    Ghcr,
    /// `registry` in the configuration, elsewhere: secrets `MONOSHIP_REGISTRY_USER` and
    /// `MONOSHIP_REGISTRY_PASSWORD`.
    Configured,
    /// No `registry` configured: the repository variable `MONOSHIP_REGISTRY` names it.
    Variable,
}

impl Registry {
    pub fn for_context(ctx: &Context) -> Registry {
        Registry::for_registry(ctx.config.registry.as_deref())
    }

    /// The kind of `registry` (`None`: not configured).
    pub fn for_registry(registry: Option<&str>) -> Registry {
        match registry {
            Some(r) if r == "ghcr.io" || r.starts_with("ghcr.io/") => Registry::Ghcr,
            Some(_) => Registry::Configured,
            None => Registry::Variable,
        }
    }

    /// The registry login's user and password, as workflow expressions.
    pub(super) fn login(&self) -> (&'static str, &'static str) {
        match self {
            Registry::Ghcr => ("${{ github.actor }}", "${{ secrets.GITHUB_TOKEN }}"),
            _ => (
                "${{ secrets.MONOSHIP_REGISTRY_USER }}",
                "${{ secrets.MONOSHIP_REGISTRY_PASSWORD }}",
            ),
        }
    }

    /// What the repository must provide, one line each.
    fn needs(&self) -> Vec<&'static str> {
        let mut needs = vec!["secret KUBECONFIG: a kubeconfig for `monoship deploy`"];
        match self {
            Registry::Ghcr => needs.push(
                "permission packages: write: images go to ghcr.io with the job's GITHUB_TOKEN",
            ),
            Registry::Configured => needs.push(
                "secrets MONOSHIP_REGISTRY_USER, MONOSHIP_REGISTRY_PASSWORD: the registry's login",
            ),
            Registry::Variable => needs.extend([
                "secrets MONOSHIP_REGISTRY_USER, MONOSHIP_REGISTRY_PASSWORD: the registry's login",
                "variable MONOSHIP_REGISTRY: the registry, HOST[/PREFIX] (no `registry` configured)",
            ]),
        }
        needs
    }
}

/// Paths go into block scalars as they are: a line break cannot be written there.
fn check_dir(ctx: &Context) -> Result<(), GenerateError> {
    if ctx.workspace_dir.chars().any(char::is_control) {
        return Err(GenerateError::Input {
            path: ctx.root.display().to_string(),
            message: "the workspace directory's name holds a control character, which a \
                      workflow file cannot carry"
                .into(),
        });
    }
    Ok(())
}

/// The workflow file.
pub fn render(ctx: &Context) -> Result<Vec<GeneratedFile>, GenerateError> {
    let install = Install::for_context(ctx);
    let envs = Environments::for_context(ctx);
    envs.check(ctx)?;
    let registry = Registry::for_registry(envs.build_registry(ctx));
    let promoting = !envs.promotions.is_empty();
    let (user, password) = registry.login();
    let mut needs: Vec<String> = registry.needs().into_iter().map(str::to_string).collect();
    needs.extend(envs.needs());
    let needs = lines(needs);
    let dir = ctx.workspace_dir.as_str();
    check_dir(ctx)?;
    let target = join(dir, "target");
    let target_key = format!(
        "monoship-target-${{{{ runner.os }}}}-${{{{ hashFiles({}) }}}}",
        expression_string(&join(dir, "Cargo.lock"))
    );
    let mut vars = Vars::new();
    let configured = ctx
        .config
        .workflow
        .as_ref()
        .is_some_and(|w| w.install.is_some());
    let branch = Branch::for_context(ctx);
    vars.set("branch", branch.name.as_str())
        .set(
            "branch_yaml",
            yaml_flow_scalar(&branch_filter(&branch.name)),
        )
        .list("branch_about", lines(branch.about()))
        .list("install_about", lines(install.about(configured)))
        .set("install_run", run_value(&install.script()))
        .set("install_key", yaml_scalar(&install.cache_key(dir)))
        .list("needs", needs)
        .set("records_dir", yaml_scalar(&format!("{target}/monoship")))
        .set("target_key", yaml_scalar(&target_key))
        .set("target", target)
        .set("registry_user", user)
        .set("registry_password", password)
        .set(
            "registry_flag",
            if registry == Registry::Variable {
                " --registry \"$MONOSHIP_REGISTRY\""
            } else {
                ""
            },
        )
        .set("env_flag", envs.env_flag())
        .set("concurrency_suffix", envs.concurrency_suffix())
        .list("environments_about", lines(envs.about()))
        .list("promote_input", one(promoting, &[("none", NO_PROMOTION)]))
        .list("promotions", envs.items(ctx))
        .list(
            "ghcr",
            one(
                registry == Registry::Ghcr || envs.promotes_to_ghcr(ctx),
                &[],
            ),
        )
        .list("registry_var", one(registry == Registry::Variable, &[]))
        .list(
            "subdir",
            one(!dir.is_empty(), &[("dir_yaml", yaml_scalar(dir).as_str())]),
        );
    Ok(vec![GeneratedFile {
        path: FILE.into(),
        contents: template::render(FILE, TEMPLATE, &vars)?,
    }])
}

/// One item with `pairs` when `yes`, else none: a `{{#each}}` that shows its lines or not.
fn one(yes: bool, pairs: &[(&str, &str)]) -> Vec<BTreeMap<String, String>> {
    if yes {
        vec![
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ]
    } else {
        Vec::new()
    }
}

/// Header lines, each an item `{{line}}`.
fn lines(lines: Vec<String>) -> Vec<BTreeMap<String, String>> {
    lines
        .into_iter()
        .map(|line| BTreeMap::from([("line".to_string(), line)]))
        .collect()
}

/// Services with `depends-on`: the workflow deploys each service in its own job, in parallel,
/// so it does not keep their order.
pub fn ordered_services(ctx: &Context) -> Vec<&str> {
    ctx.services
        .iter()
        .filter(|s| !s.config.depends_on.is_empty())
        .map(|s| s.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkspaceConfig;

    fn ctx(registry: Option<&str>, workspace_dir: &str, monoship: Option<&str>) -> Context {
        let config = WorkspaceConfig {
            registry: registry.map(str::to_string),
            ..Default::default()
        };
        Context {
            workspace_dir: workspace_dir.into(),
            monoship_package: monoship.map(str::to_string),
            ..Context::for_test(config, Vec::new())
        }
    }

    fn render_one(ctx: &Context) -> String {
        let files = render(ctx).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, FILE);
        files[0].contents.clone()
    }

    #[test]
    fn expressions_survive_and_nothing_is_left_over() {
        let out = render_one(&ctx(Some("ghcr.io/acme"), "", None));
        assert!(out.contains("${{ fromJSON(needs.detect.outputs.services) }}"));
        assert!(out.contains("SERVICE: ${{ matrix.service }}\n"));
        assert!(out.contains("run: monoship deploy \"$SERVICE\" "));
        // Matrix values reach scripts only through `env:`.
        for line in out.lines().filter(|l| l.trim_start().starts_with("run:")) {
            assert!(!line.contains("${{"), "{line}");
        }
        assert!(out.contains("  packages: write\n"));
        assert!(out.contains("MONOSHIP_REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}\n"));
        assert!(!out.contains("working-directory"));
        assert!(out.contains("hashFiles('Cargo.lock')"));
        assert!(out.contains(&format!(
            "run: cargo install --locked monoship --version {}\n",
            env!("CARGO_PKG_VERSION")
        )));
        for line in out.lines() {
            let unexpanded = line.replace("${{", "");
            assert!(!unexpanded.contains("{{"), "{line}");
        }
    }

    #[test]
    fn registry_variants() {
        let out = render_one(&ctx(Some("registry.example.com/acme"), "", None));
        assert!(!out.contains("packages: write"));
        assert!(out.contains("${{ secrets.MONOSHIP_REGISTRY_PASSWORD }}"));
        assert!(out.contains("--push\n"));
        let out = render_one(&ctx(None, "", None));
        assert!(out.contains("MONOSHIP_REGISTRY: ${{ vars.MONOSHIP_REGISTRY }}\n"));
        assert!(out.contains("--push --registry \"$MONOSHIP_REGISTRY\"\n"));
    }

    #[test]
    fn nested_workspace_and_monoship_from_the_workspace() {
        let out = render_one(&ctx(None, "fleet", Some("tools/monoship")));
        assert!(out.contains("    working-directory: fleet\n"));
        assert!(out.contains("hashFiles('fleet/Cargo.lock')"));
        assert!(out.contains("            fleet/target/monoship/build.json\n"));
        assert!(out.contains("          path: fleet/target/monoship\n"));
        assert!(out.contains("run: cargo install --locked --path tools/monoship\n"));
        assert!(out.contains(
            "hashFiles('fleet/tools/monoship/Cargo.toml', 'fleet/tools/monoship/src/**', \
             'fleet/Cargo.lock')"
        ));
    }

    #[test]
    fn every_interpolated_value_survives_a_hostile_directory_name() {
        let dir = "my fleet: #1 'x'";
        let out = render_one(&ctx(None, dir, Some("tools/mono ship")));
        let doc: serde_json::Value = serde_saphyr::from_str(&out).expect("valid YAML");
        assert_eq!(doc["defaults"]["run"]["working-directory"], dir);
        let build = &doc["jobs"]["build"]["steps"];
        let steps = build.as_array().unwrap();
        let install = steps
            .iter()
            .find(|s| s["name"] == "Install monoship")
            .unwrap();
        assert_eq!(
            install["run"],
            "cargo install --locked --path 'tools/mono ship'"
        );
        let cache = steps.iter().find(|s| s["id"] == "monoship").unwrap();
        assert!(
            cache["with"]["key"]
                .as_str()
                .unwrap()
                .contains("hashFiles('my fleet: #1 ''x''/tools/mono ship/Cargo.toml'")
        );
        let target = steps
            .iter()
            .find(|s| s["name"] == "Cache cargo and the target directory")
            .unwrap();
        assert_eq!(
            target["with"]["key"],
            "monoship-target-${{ runner.os }}-${{ hashFiles('my fleet: #1 ''x''/Cargo.lock') }}"
        );
        assert!(
            target["with"]["path"]
                .as_str()
                .unwrap()
                .contains("\nmy fleet: #1 'x'/target/*\n")
        );
        let deploy = doc["jobs"]["deploy"]["steps"].as_array().unwrap();
        let fetch = deploy
            .iter()
            .find(|s| s["name"] == "Fetch the build and publish records")
            .unwrap();
        assert_eq!(fetch["with"]["path"], "my fleet: #1 'x'/target/monoship");
    }

    fn with_workflow(mut ctx: Context, workflow: serde_json::Value) -> Context {
        let config = WorkspaceConfig::from_metadata(
            &serde_json::json!({"monoship": {"workflow": workflow}}),
            std::path::Path::new("/r/Cargo.toml"),
        )
        .unwrap();
        ctx.config.workflow = config.workflow;
        ctx
    }

    fn parsed(ctx: &Context) -> serde_json::Value {
        serde_saphyr::from_str(&render_one(ctx)).expect("valid YAML")
    }

    /// The script of the first job's install step.
    fn install_step(doc: &serde_json::Value) -> String {
        let steps = doc["jobs"]["detect"]["steps"].as_array().unwrap();
        let step = steps
            .iter()
            .find(|s| s["name"] == "Install monoship")
            .unwrap();
        step["run"].as_str().unwrap().to_string()
    }

    #[test]
    fn the_branch_is_configured_or_origin_heads_or_main() {
        let mut c = ctx(None, "", None);
        let out = render_one(&c);
        assert!(out.contains("    branches: [main]\n"), "{out}");
        assert!(out.contains("# The branch, main, is the default: origin/HEAD was not set"));
        c.origin_head = Some("trunk".into());
        let out = render_one(&c);
        assert!(
            out.contains("# On every push to trunk (or by hand"),
            "{out}"
        );
        assert!(out.contains("    branches: [trunk]\n"), "{out}");
        assert!(out.contains("is the repository's default branch: origin/HEAD when"));
        let out = render_one(&with_workflow(c, serde_json::json!({"branch": "develop"})));
        assert!(out.contains("    branches: [develop]\n"), "{out}");
        assert!(
            out.contains("# The branch, develop, is `branch` in"),
            "{out}"
        );
    }

    #[test]
    fn a_hostile_branch_name_is_one_literal_pattern() {
        for (branch, pattern) in [
            ("a,b]", "a,b\\]"),
            ("!x+y", "\\!x+y"),
            ("it's#1{x}", "it's#1{x}"),
            ("#1", "#1"),
            ("true", "true"),
            ("1.0", "1.0"),
            ("\"q\"", "\"q\""),
        ] {
            let c = with_workflow(ctx(None, "", None), serde_json::json!({ "branch": branch }));
            let doc = parsed(&c);
            let expected = pattern.replace("+", "\\+");
            assert_eq!(
                doc["on"]["push"]["branches"],
                serde_json::json!([expected]),
                "{branch}"
            );
        }
    }

    #[test]
    fn each_install_source_renders_a_working_step() {
        let sha = "ab".repeat(32);
        let c = with_workflow(
            ctx(None, "", Some("tools/monoship")),
            serde_json::json!({"install": {"url": "https://x/m?a=1&b=${{github.token}}", "sha256": sha}}),
        );
        let out = render_one(&c);
        let script = install_step(&parsed(&c));
        assert_eq!(
            script.lines().collect::<Vec<_>>(),
            [
                "curl --fail --silent --show-error --location --retry 3 --output \
                 \"$RUNNER_TEMP/monoship\" 'https://x/m?a=1&b=$''{{github.token}}'",
                &format!("echo \"{sha}  $RUNNER_TEMP/monoship\" | sha256sum --check --strict -"),
                "chmod +x \"$RUNNER_TEMP/monoship\"",
                "mkdir -p \"$HOME/.cargo/bin\"",
                "mv \"$RUNNER_TEMP/monoship\" \"$HOME/.cargo/bin/monoship\"",
            ]
        );
        assert!(out.contains(&format!(
            "key: monoship-${{{{ runner.os }}}}-sha256-{sha}\n"
        )));
        assert!(
            out.contains("# monoship is downloaded from https://x/m?a=1&b=${{github.token}}\n")
        );
        assert!(out.contains("(`install` in [workspace.metadata.monoship.workflow]), cached"));

        let c = with_workflow(
            ctx(None, "", Some("tools/monoship")),
            serde_json::json!({"install": {"git": "https://github.com/acme/monoship", "rev": "v1.2.0"}}),
        );
        assert_eq!(
            install_step(&parsed(&c)),
            "cargo install --locked --git https://github.com/acme/monoship --rev v1.2.0 monoship"
        );
        let c = with_workflow(
            ctx(None, "", None),
            serde_json::json!({"install": {"version": "9.1.0"}}),
        );
        assert_eq!(
            install_step(&parsed(&c)),
            "cargo install --locked monoship --version 9.1.0"
        );
        assert!(render_one(&c).contains("key: monoship-${{ runner.os }}-9.1.0\n"));
        // Without `install`: monoship's own package, then the release that generated the file.
        let own = render_one(&ctx(None, "", Some("tools/monoship")));
        assert!(own.contains("(the default: monoship's own package is in this workspace)"));
        let release = render_one(&ctx(None, "", None));
        assert!(release.contains("(the default: the crates.io release that generated this file)"));
    }

    #[test]
    fn a_line_break_in_the_directory_is_refused() {
        let e = render(&ctx(None, "a\nb", None)).unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
    }
}

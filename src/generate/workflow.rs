//! `.github/workflows/deploy-changed.yml`: a GitHub Actions workflow that deploys what a push to
//! main changed. `detect` runs `monoship affected` (a matrix of services), `build` runs one
//! `monoship build --affected --push` and keeps the build and publish records as an artifact, and
//! one `deploy` job per service runs `monoship deploy SERVICE` with those records, writing its
//! result and the `affected` graph to the step summary.
//!
//! The file lists no service: the matrix is computed on each run, so adding a service does not
//! change it.

use super::template::{self, Vars};
use super::{Context, GenerateError, GeneratedFile};
use std::collections::BTreeMap;

/// The workflow's file name, under `.github/workflows/` of the repository.
pub const FILE: &str = "deploy-changed.yml";
/// Where the workflow goes by default, relative to the root of the git repository.
pub const DEFAULT_DIR: &str = ".github/workflows";

const TEMPLATE: &str = include_str!("templates/deploy-changed.yml");

/// How the workflow gets monoship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `cargo install --locked monoship --version V`: the release that generated the file.
    Release(String),
    /// The workspace has a member package named `monoship` in this directory (relative to the
    /// workspace root, "" for the root): `cargo install --locked --path DIR`.
    Path(String),
}

impl Install {
    pub fn for_context(ctx: &Context) -> Install {
        match &ctx.monoship_package {
            Some(dir) => Install::Path(dir.clone()),
            None => Install::Release(env!("CARGO_PKG_VERSION").to_string()),
        }
    }

    fn command(&self) -> String {
        match self {
            Install::Release(v) => format!("cargo install --locked monoship --version {v}"),
            Install::Path(dir) => format!(
                "cargo install --locked --path {}",
                shell_word(if dir.is_empty() { "." } else { dir })
            ),
        }
    }

    /// The `actions/cache` key of `~/.cargo/bin/monoship`.
    fn cache_key(&self, workspace_dir: &str) -> String {
        match self {
            Install::Release(v) => format!("monoship-${{{{ runner.os }}}}-{v}"),
            Install::Path(dir) => {
                let at = |rel: &str| join(&join(workspace_dir, dir), rel);
                format!(
                    "monoship-${{{{ runner.os }}}}-${{{{ hashFiles({}, {}, {}) }}}}",
                    expression_string(&at("Cargo.toml")),
                    expression_string(&at("src/**")),
                    expression_string(&join(workspace_dir, "Cargo.lock"))
                )
            }
        }
    }

    /// How long the installed binary is cached, for the file's header.
    fn cached(&self) -> &'static str {
        match self {
            Install::Release(_) => "per release (the one that generated this file)",
            Install::Path(_) => "until its sources or Cargo.lock change",
        }
    }
}

/// `s` as a YAML scalar: plain when that reads back as `s` (as every ordinary path and command
/// does), else double-quoted (a JSON string is a valid YAML double-quoted scalar).
fn yaml_scalar(s: &str) -> String {
    let plain = s
        .chars()
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

/// `s` as one shell word: as it is when it holds no character the shell treats specially.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | '+' | '@'))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `s` as a string literal of a GitHub Actions expression.
fn expression_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn join(a: &str, b: &str) -> String {
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
        match ctx.config.registry.as_deref() {
            Some(r) if r == "ghcr.io" || r.starts_with("ghcr.io/") => Registry::Ghcr,
            Some(_) => Registry::Configured,
            None => Registry::Variable,
        }
    }

    /// The registry login's user and password, as workflow expressions.
    fn login(&self) -> (&'static str, &'static str) {
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
    let registry = Registry::for_context(ctx);
    let one = |yes: bool, pairs: &[(&str, &str)]| -> Vec<BTreeMap<String, String>> {
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
    };
    let (user, password) = registry.login();
    let needs = registry.needs();
    let needs = needs
        .into_iter()
        .map(|line| BTreeMap::from([("line".to_string(), line.to_string())]))
        .collect();
    let dir = ctx.workspace_dir.as_str();
    check_dir(ctx)?;
    let target = join(dir, "target");
    let target_key = format!(
        "monoship-target-${{{{ runner.os }}}}-${{{{ hashFiles({}) }}}}",
        expression_string(&join(dir, "Cargo.lock"))
    );
    let mut vars = Vars::new();
    vars.set("install_command", install.command())
        .set("install_run", yaml_scalar(&install.command()))
        .set("install_key", yaml_scalar(&install.cache_key(dir)))
        .set("install_cached", install.cached())
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
        .list("ghcr", one(registry == Registry::Ghcr, &[]))
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
    use crate::generate::RustVersion;

    fn ctx(registry: Option<&str>, workspace_dir: &str, monoship: Option<&str>) -> Context {
        Context {
            services: Vec::new(),
            rust: RustVersion {
                version: "1.95".into(),
                source: "the default".into(),
            },
            config: WorkspaceConfig {
                registry: registry.map(str::to_string),
                ..Default::default()
            },
            root: "/r".into(),
            repo_root: "/r".into(),
            workspace_dir: workspace_dir.into(),
            monoship_package: monoship.map(str::to_string),
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

    #[test]
    fn a_line_break_in_the_directory_is_refused() {
        let e = render(&ctx(None, "a\nb", None)).unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
    }
}

//! Which files outside every package no build reads, by what they are: the categories
//! `monoship init` and `monoship check` propose `ignore` globs for. Conservative: what a build
//! could read ([`build_readable`]) is never proposed.

/// Where a proposed glob starts: a directory (all of it) or one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Root {
    Dir(String),
    File(String),
}

/// CI systems' directories (at the top).
const CI_DIRS: &[&str] = &[
    ".circleci",
    ".gitlab",
    ".buildkite",
    ".woodpecker",
    ".github",
    ".ci",
    "ci",
];
/// CI systems' files (at the top).
const CI_FILES: &[&str] = &[
    ".gitlab-ci.yml",
    ".travis.yml",
    "azure-pipelines.yml",
    ".drone.yml",
    "Jenkinsfile",
    "appveyor.yml",
    ".appveyor.yml",
    "bitbucket-pipelines.yml",
    ".cirrus.yml",
    "codecov.yml",
    ".codecov.yml",
    ".woodpecker.yml",
];
/// Directories at the top that hold tests, scripts and documentation of the repository.
const REPO_DIRS: &[&str] = &["tests", "scripts", "docs", "doc", "examples", "samples"];
/// Editors' and development environments' directories (at the top).
const DEV_DIRS: &[&str] = &[".vscode", ".idea", ".devcontainer", ".husky", ".zed"];
/// Files of the repository's tooling (at any depth outside packages).
const TOOL_FILES: &[&str] = &[
    ".editorconfig",
    ".gitattributes",
    ".git-blame-ignore-revs",
    ".mailmap",
    "CODEOWNERS",
    ".pre-commit-config.yaml",
    "rustfmt.toml",
    ".rustfmt.toml",
    "clippy.toml",
    ".clippy.toml",
    "deny.toml",
    "typos.toml",
    "_typos.toml",
    ".typos.toml",
    "cliff.toml",
    "release.toml",
    ".envrc",
    ".tool-versions",
    ".markdownlint.json",
    ".yamllint",
    ".prettierrc",
    ".gitlint",
    "nextest.toml",
    "justfile",
    "Justfile",
    ".justfile",
    "Taskfile.yml",
    "Taskfile.yaml",
];

/// The files that mark a directory as a project in another language, and what it is.
pub const MARKERS: &[(&str, &str)] = &[
    ("pyproject.toml", "Python project"),
    ("setup.py", "Python project"),
    ("setup.cfg", "Python project"),
    ("poetry.lock", "Python project"),
    ("uv.lock", "Python project"),
    ("Pipfile", "Python project"),
    ("requirements.txt", "Python project"),
    ("package.json", "JavaScript project"),
    ("go.mod", "Go module"),
    ("pom.xml", "Java project"),
    ("build.gradle", "Java project"),
    ("build.gradle.kts", "Java project"),
    ("Gemfile", "Ruby project"),
];
/// Other files of such projects, ignored where they stand in the workspace root.
const PROJECT_FILES: &[&str] = &[
    "Pipfile.lock",
    "requirements-dev.txt",
    ".python-version",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    ".nvmrc",
    ".npmrc",
    "tsconfig.json",
    "go.sum",
    "Gemfile.lock",
];

/// A `Dockerfile*` or `*.Dockerfile` (not a `.dockerignore`), by its name.
pub fn is_dockerfile_name(path: &str) -> bool {
    let name = name(path);
    (name.starts_with("Dockerfile") || name.ends_with(".Dockerfile"))
        && !name.ends_with(".dockerignore")
}

/// Why a build could read `path` (so it is never proposed for `ignore`), if it could.
pub fn build_readable(path: &str) -> Option<&'static str> {
    let name = name(path);
    if super::super::affected::images::is_rust_build_file(path) || name == "build.rs" {
        Some("a Rust build file outside every package: cargo could read it")
    } else if is_dockerfile_name(path) {
        Some(
            "a Dockerfile no service's directory holds: name it in the `inputs` of the service it builds",
        )
    } else if name == ".dockerignore" || name.ends_with(".dockerignore") {
        Some("decides what Docker builds copy into images")
    } else {
        None
    }
}

/// What `path` is, when it is a file no build reads: the glob's root and why. `projects` are the
/// directories (outside packages, not the root) holding a [`MARKERS`] file, each with what it
/// is (`Python project (pyproject.toml)`).
pub fn category(path: &str, projects: &[(String, String)]) -> Option<(Root, String)> {
    if build_readable(path).is_some() {
        return None;
    }
    let name = name(path);
    let top = path.split_once('/').map(|(t, _)| t);
    if let Some(t) = top {
        if CI_DIRS.contains(&t) {
            return Some((Root::Dir(t.into()), "CI configuration".into()));
        }
        if DEV_DIRS.contains(&t) {
            return Some((
                Root::Dir(t.into()),
                "editor and dev environment settings".into(),
            ));
        }
        if REPO_DIRS.contains(&t) {
            return Some((
                Root::Dir(t.into()),
                format!("the repository's {t} (no package)"),
            ));
        }
    }
    // The nearest enclosing project of another language.
    if let Some((dir, what)) = projects
        .iter()
        .filter(|(d, _)| path.starts_with(&format!("{d}/")))
        .max_by_key(|(d, _)| d.len())
    {
        return Some((Root::Dir(dir.clone()), what.clone()));
    }
    let file = || Root::File(path.to_string());
    if top.is_none() && CI_FILES.contains(&name) {
        return Some((file(), "CI configuration".into()));
    }
    if TOOL_FILES.contains(&name) {
        return Some((file(), "repository tooling configuration".into()));
    }
    if top.is_none() && (MARKERS.iter().any(|(m, _)| *m == name) || PROJECT_FILES.contains(&name)) {
        return Some((file(), "another language's project file".into()));
    }
    if is_compose(name) {
        return Some((file(), "container compose file (local development)".into()));
    }
    if is_sample(name) {
        return Some((file(), "sample configuration".into()));
    }
    None
}

fn name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, n)| n)
}

/// `docker-compose.yml`, `compose.override.yaml`, `testing-docker-compose.yml`.
fn is_compose(name: &str) -> bool {
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    yaml && (name.starts_with("compose.")
        || name.starts_with("docker-compose")
        || name.contains("-compose."))
}

/// `app.toml.example`, `config.sample.yaml`, `.env.dist`.
fn is_sample(name: &str) -> bool {
    [".example", ".sample", ".dist"]
        .iter()
        .any(|s| name.ends_with(s) || name.contains(&format!("{s}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(path: &str) -> Option<(Root, String)> {
        let projects = vec![
            (
                "tools/py".to_string(),
                "Python project (pyproject.toml)".to_string(),
            ),
            (
                "web".to_string(),
                "JavaScript project (package.json)".to_string(),
            ),
        ];
        category(path, &projects)
    }

    fn dir(d: &str) -> Option<Root> {
        Some(Root::Dir(d.into()))
    }

    #[test]
    fn categories_of_files_no_build_reads() {
        let root = |p: &str| cat(p).map(|(r, _)| r);
        assert_eq!(root(".circleci/config.yml"), dir(".circleci"));
        assert_eq!(root("tools/py/poetry.lock"), dir("tools/py"));
        assert_eq!(root("tools/py/src/gen/x.py"), dir("tools/py"));
        assert_eq!(root("web/src/index.ts"), dir("web"));
        assert_eq!(root("scripts/release.sh"), dir("scripts"));
        assert_eq!(root("tests/smoke.sh"), dir("tests"));
        let file = |p: &str| Some(Root::File(p.into()));
        assert_eq!(root(".gitlab-ci.yml"), file(".gitlab-ci.yml"));
        assert_eq!(root("pyproject.toml"), file("pyproject.toml"));
        assert_eq!(
            root("config/app.toml.example"),
            file("config/app.toml.example")
        );
        assert_eq!(root("rustfmt.toml"), file("rustfmt.toml"));
        assert_eq!(root(".config/nextest.toml"), file(".config/nextest.toml"));
        assert_eq!(root(".justfile"), file(".justfile"));
        for p in [
            "docker-compose.yml",
            "compose.yaml",
            "testing-docker-compose.yml",
        ] {
            assert_eq!(root(p), file(p), "{p}");
        }
        assert!(cat("tools/py/pyproject.toml").unwrap().1.contains("Python"));
        // Not recognized: left to fail closed.
        for p in [
            "config/app.toml",
            "tools/gen.sh",
            "Makefile",
            "sub/.gitlab-ci.yml",
        ] {
            assert_eq!(root(p), None, "{p}");
        }
    }

    #[test]
    fn what_a_build_could_read_is_never_a_category() {
        for p in [
            "tools/py/Dockerfile",
            "scripts/build.rs",
            "tests/fixtures/Cargo.toml",
            ".cargo/config.toml",
            "rust-toolchain.toml",
            "web/Dockerfile.dockerignore",
            ".dockerignore",
            "docker/users.Dockerfile",
            ".github/x/Cargo.lock",
        ] {
            assert!(build_readable(p).is_some(), "{p}");
            assert_eq!(cat(p), None, "{p}");
        }
    }
}

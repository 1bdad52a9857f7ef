//! A service's objects from its source: the YAML/JSON files of a directory (or one file), the
//! output of `kubectl kustomize` (or `kustomize build`), or of `helm template`.

use super::Manifest;
use crate::config::Source;
use crate::invalid::Invalid;
use serde_json::{Value, json};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How much of a program's first line of errors a message keeps.
const MESSAGE_CHARS: usize = 300;

/// Why a source could not be rendered. Each is a usage error: the source, or the programs it
/// needs, are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The program that renders the source is not on `PATH`.
    #[error("{program} not found on PATH (needed to render {rendering})")]
    Missing { program: String, rendering: String },
    /// The program failed; `message` is the first line of its errors.
    #[error("{program} failed to render {rendering}: {message}")]
    Failed {
        program: String,
        rendering: String,
        message: String,
    },
    /// A file or the rendered output is not a set of objects.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

impl RenderError {
    /// Every render error is a usage error (exit code 2).
    pub fn is_usage(&self) -> bool {
        match self {
            RenderError::Missing { .. } | RenderError::Failed { .. } | RenderError::Invalid(_) => {
                true
            }
        }
    }
}

/// The objects of `source` (its paths relative to `root`), in the order they are rendered:
/// files sorted by path, a program's output as it prints it. `namespace` is the release's
/// namespace for Helm.
pub fn render(source: &Source, root: &Path, namespace: &str) -> Result<Vec<Manifest>, RenderError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    render_with(source, root, namespace, &path)
}

/// [`render`], finding the programs in the directories of `path` (a `PATH` value).
fn render_with(
    source: &Source,
    root: &Path,
    namespace: &str,
    path: &OsStr,
) -> Result<Vec<Manifest>, RenderError> {
    let missing = |program: &str| RenderError::Missing {
        program: program.to_string(),
        rendering: source.to_string(),
    };
    let (program, name, args, origin) = match source {
        Source::Manifests(p) => return Ok(load(&root.join(p))?),
        Source::Kustomize(dir) => {
            if let Some(kubectl) = find_program("kubectl", path) {
                let args = vec!["kustomize".into(), dir.into()];
                (kubectl, "kubectl", args, dir)
            } else if let Some(kustomize) = find_program("kustomize", path) {
                let args = vec!["build".into(), dir.into()];
                (kustomize, "kustomize", args, dir)
            } else {
                return Err(missing("kubectl (or kustomize)"));
            }
        }
        Source::Helm {
            chart,
            values,
            release,
        } => {
            let helm = find_program("helm", path).ok_or_else(|| missing("helm"))?;
            (
                helm,
                "helm",
                helm_args(release, chart, values, namespace),
                chart,
            )
        }
    };
    let failed = |message: String| RenderError::Failed {
        program: name.to_string(),
        rendering: source.to_string(),
        message,
    };
    let text = run(&program, &args, root).map_err(failed)?;
    Ok(parse(&text, Path::new(origin), false)?)
}

/// `helm template RELEASE CHART --namespace NAMESPACE -f VALUES...`.
pub fn helm_args(release: &str, chart: &str, values: &[String], namespace: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "template".into(),
        release.into(),
        chart.into(),
        "--namespace".into(),
        namespace.into(),
    ];
    for v in values {
        args.push("-f".into());
        args.push(v.into());
    }
    args
}

/// Runs `program` with `args` in `dir`: its output, or the first line of its errors.
fn run(program: &Path, args: &[OsString], dir: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(first_line(&stderr).unwrap_or_else(|| out.status.to_string()));
    }
    String::from_utf8(out.stdout).map_err(|_| "its output is not UTF-8".to_string())
}

/// The first non-empty line of `text`, trimmed, at most [`MESSAGE_CHARS`] characters.
fn first_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut chars = line.chars();
    let mut short: String = chars.by_ref().take(MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    Some(short)
}

/// The executable file `name` in the first directory of `path` (a `PATH` value) that has one.
pub fn find_program(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Every object in `path`: the `*.yaml`, `*.yml` and `*.json` files under a directory (sorted
/// by path, recursively), or one file (whatever its name).
pub fn load(path: &Path) -> Result<Vec<Manifest>, Invalid> {
    let mut files = Vec::new();
    if path.is_dir() {
        collect(path, &mut files).map_err(|e| Invalid(format!("{}: {e}", path.display())))?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Invalid(format!("{}: {e}", file.display())))?;
        let json = file.extension().is_some_and(|e| e == "json");
        out.extend(parse(&text, &file, json)?);
    }
    Ok(out)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// The objects of `text` (one JSON document, or several YAML documents), said to come from
/// `origin`: empty documents skipped, `kind: List` unpacked.
pub fn parse(text: &str, origin: &Path, json: bool) -> Result<Vec<Manifest>, Invalid> {
    let docs: Vec<Value> = if json {
        vec![
            serde_json::from_str(text)
                .map_err(|e| Invalid(format!("{}: {e}", origin.display())))?,
        ]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| {
            let message = e.to_string();
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            Invalid(format!("{}: {message}", origin.display()))
        })?
    };
    let mut out = Vec::new();
    let mut push = |object: Value| {
        out.push(Manifest {
            file: origin.to_path_buf(),
            object,
        })
    };
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(ref o) if o.get("kind") == Some(&json!("List")) => {
                let items = o.get("items").and_then(Value::as_array);
                items.into_iter().flatten().cloned().for_each(&mut push);
            }
            Value::Object(_) => push(doc),
            _ => {
                return Err(Invalid(format!(
                    "{}: a document is not an object",
                    origin.display()
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: users}
spec:
  selector: {matchLabels: {app: users}}
  template:
    metadata: {labels: {app: users}}
    spec:
      containers:
      - name: users
        image: example.test/users:1
        envFrom:
        - configMapRef: {name: users-config}
";

    #[test]
    fn manifests_are_a_directory_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("deploy/users");
        std::fs::create_dir_all(sub.join("nested")).unwrap();
        std::fs::write(sub.join("b.yaml"), DEPLOYMENT).unwrap();
        std::fs::write(
            sub.join("a.json"),
            r#"{"kind": "List", "items": [{"kind": "Service", "metadata": {"name": "s"}}]}"#,
        )
        .unwrap();
        std::fs::write(sub.join("nested/c.yml"), "---\nkind: ConfigMap\n---\n").unwrap();
        std::fs::write(sub.join("README.md"), "not an object").unwrap();
        let source = Source::Manifests("deploy/users".into());
        let all = render(&source, dir.path(), "shop").unwrap();
        let kinds: Vec<_> = all.iter().map(|m| m.object["kind"].clone()).collect();
        assert_eq!(kinds, ["Service", "Deployment", "ConfigMap"]);
        assert!(all[2].file.ends_with("nested/c.yml"));
        let one = Source::Manifests("deploy/users/b.yaml".into());
        let all = render(&one, dir.path(), "shop").unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].object["metadata"]["name"], "users");
        let none = Source::Manifests("deploy/nope".into());
        let e = render(&none, dir.path(), "shop").unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("deploy/nope"), "{e}");
    }

    #[test]
    fn bad_documents_name_their_origin() {
        let e = parse("a: [1, 2\n", Path::new("deploy/x.yaml"), false).unwrap_err();
        assert!(e.0.starts_with("deploy/x.yaml: "), "{e}");
        assert!(!e.0.contains('\n'), "{e}");
        let e = parse("- 1\n", Path::new("chart"), false).unwrap_err();
        assert_eq!(e.0, "chart: a document is not an object");
        let e = parse("{", Path::new("x.json"), true).unwrap_err();
        assert!(e.0.starts_with("x.json: "), "{e}");
    }

    #[test]
    fn helm_command_line() {
        let args = helm_args(
            "users",
            "deploy/charts/svc",
            &["v/common.yaml".into(), "v/users.yaml".into()],
            "shop",
        );
        let expected = [
            "template",
            "users",
            "deploy/charts/svc",
            "--namespace",
            "shop",
            "-f",
            "v/common.yaml",
            "-f",
            "v/users.yaml",
        ];
        assert_eq!(args, expected.map(OsString::from));
        assert_eq!(helm_args("r", "c", &[], "n").len(), 5);
    }

    #[test]
    fn missing_programs_are_named_with_the_source() {
        let empty = tempfile::tempdir().unwrap();
        let path = empty.path().as_os_str();
        assert_eq!(find_program("helm", path), None);
        let helm = Source::Helm {
            chart: "deploy/charts/svc".into(),
            values: vec![],
            release: "users".into(),
        };
        let e = render_with(&helm, empty.path(), "shop", path).unwrap_err();
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "helm not found on PATH (needed to render helm chart deploy/charts/svc)"
        );
        let kustomize = Source::Kustomize("deploy/overlays/qa".into());
        let e = render_with(&kustomize, empty.path(), "shop", path).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kubectl (or kustomize) not found on PATH (needed to render kustomize deploy/overlays/qa)"
        );
    }

    #[test]
    fn finds_executables_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(b.join("tool-dir")).unwrap();
        std::fs::write(a.join("tool"), "").unwrap();
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(find_program("tool", &path), Some(b.join("tool")));
        assert_eq!(find_program("tool-dir", &path), None);
    }

    #[test]
    fn failures_keep_the_first_line_of_errors() {
        assert_eq!(
            first_line("\n  \n  Error: bad chart  \nmore\n").unwrap(),
            "Error: bad chart"
        );
        assert_eq!(first_line(" \n"), None);
        let long = "x".repeat(500);
        let short = first_line(&long).unwrap();
        assert_eq!(short.chars().count(), MESSAGE_CHARS + 1);
        let dir = tempfile::tempdir().unwrap();
        let e = run(
            Path::new("/bin/sh"),
            &[
                "-c".into(),
                "echo out; echo '  oops ' >&2; echo more >&2; exit 3".into(),
            ],
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(e, "oops");
        let e = run(
            Path::new("/bin/sh"),
            &["-c".into(), "echo out; exit 4".into()],
            dir.path(),
        )
        .unwrap_err();
        assert!(e.contains('4'), "{e}");
    }

    #[test]
    fn kustomize_renders_an_overlay_with_kubectl() {
        let dir = tempfile::tempdir().unwrap();
        let overlay = dir.path().join("deploy/overlays/qa");
        std::fs::create_dir_all(&overlay).unwrap();
        std::fs::write(overlay.join("deployment.yaml"), DEPLOYMENT).unwrap();
        std::fs::write(
            overlay.join("kustomization.yaml"),
            "resources: [deployment.yaml]\n\
             configMapGenerator:\n\
             - name: users-config\n  literals: [LEVEL=debug, MODE=qa]\n",
        )
        .unwrap();
        let source = Source::Kustomize("deploy/overlays/qa".into());
        let all = render(&source, dir.path(), "shop").unwrap();
        let kinds: Vec<_> = all.iter().map(|m| m.object["kind"].clone()).collect();
        assert_eq!(kinds, ["ConfigMap", "Deployment"]);
        let config = &all[0].object;
        let name = config["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with("users-config-") && name.len() == 23,
            "{name}"
        );
        assert_eq!(config["data"]["LEVEL"], "debug");
        let used = &all[1].object["spec"]["template"]["spec"]["containers"][0]["envFrom"][0];
        assert_eq!(used["configMapRef"]["name"], name);
        assert_eq!(all[0].file, Path::new("deploy/overlays/qa"));
        let mut again = all.clone();
        assert!(crate::objects::config_hash(&mut again).is_empty());
        std::fs::write(
            overlay.join("kustomization.yaml"),
            "resources: [nope.yaml]\n",
        )
        .unwrap();
        let e = render(&source, dir.path(), "shop").unwrap_err();
        match &e {
            RenderError::Failed {
                program, message, ..
            } => {
                assert_eq!(program, "kubectl");
                assert!(!message.is_empty() && !message.contains('\n'), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with("kubectl failed to render kustomize deploy/overlays/qa: "),
            "{e}"
        );
    }
}

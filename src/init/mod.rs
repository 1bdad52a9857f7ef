//! `monoship init`: a commented `[workspace.metadata.monoship]` with the services found in the
//! workspace, written into the root `Cargo.toml` with `toml_edit`, so that the rest of the file
//! keeps its bytes (formatting, comments, order).

pub mod categories;
pub mod inputs;
pub mod propose;

use crate::config::{self, WorkspaceConfig};
use crate::generate::k8s;
use crate::workspace::Workspace;
use std::path::Path;
use toml_edit::{DocumentMut, Item, Table};

/// The table `init` writes.
pub const TABLE: &str = "workspace.metadata.monoship";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The table exists and `--force` was not given (exit code 2).
    #[error("{path} already has [workspace.metadata.monoship]: pass --force to replace it")]
    Exists { path: String },
    /// Not a workspace root manifest, or it does not parse (exit code 2).
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
}

/// What `init` found in the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// Service names, sorted.
    pub services: Vec<String>,
    /// Globs for `services` that select exactly these; `None` when only the built-in fallback
    /// (every package with a binary) can, as for a service in the workspace root.
    pub globs: Option<Vec<String>>,
    /// A suggested namespace: the workspace directory's name as a DNS label.
    pub namespace: String,
    /// The proposed `ignore` globs besides [`crate::config::DEFAULT_IGNORE`]'s ([`propose::propose`]).
    pub ignore: Vec<propose::IgnoreGlob>,
}

/// The `ignore` glob `init` always writes: the manifests of `monoship generate k8s`.
pub fn default_ignore() -> String {
    format!("{}/**", k8s::DEFAULT_DIR)
}

/// Detect the services of `ws`, which must have been loaded without a `services` setting.
pub fn detect(ws: &Workspace) -> Detected {
    let services: Vec<String> = ws.services.iter().map(|s| s.name.clone()).collect();
    let globs = if !ws.services_by_binary || ws.services.is_empty() {
        Some(
            config::DEFAULT_SERVICES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    } else if ws.services.iter().any(|s| s.dir.is_empty()) {
        None
    } else {
        Some(globs_for(ws))
    };
    let dir_name = ws
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Detected {
        services,
        globs,
        namespace: dns_label(&dir_name),
        ignore: Vec::new(),
    }
}

/// `parent/*` for a directory whose member packages are all services, the service's own
/// directory otherwise.
fn globs_for(ws: &Workspace) -> Vec<String> {
    let parent = |dir: &str| dir.rsplit_once('/').map(|(p, _)| p.to_string());
    let is_service = |dir: &str| ws.services.iter().any(|s| s.dir == dir);
    let mut globs: Vec<String> = ws
        .services
        .iter()
        .map(|s| match parent(&s.dir) {
            Some(p)
                if ws
                    .packages
                    .iter()
                    .filter(|pkg| parent(&pkg.dir).as_deref() == Some(p.as_str()))
                    .all(|pkg| is_service(&pkg.dir)) =>
            {
                format!("{p}/*")
            }
            _ => s.dir.clone(),
        })
        .collect();
    globs.sort();
    globs.dedup();
    globs
}

fn dns_label(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "default".into()
    } else {
        out
    }
}

fn toml_string(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

/// The table's text, with a comment for every key.
pub fn table_text(d: &Detected) -> String {
    let mut t = String::new();
    t.push_str("[workspace.metadata.monoship]\n");
    t.push_str(&format!(
        "# Written by `monoship init` {}. Every key is optional; README.md describes them all.\n",
        env!("CARGO_PKG_VERSION")
    ));
    t.push_str("#\n");
    t.push_str(&comment(&format!(
        "The package directories that are services; {} found: {}.",
        d.services.len(),
        d.services.join(", ")
    )));
    match &d.globs {
        Some(globs) => {
            let list: Vec<String> = globs.iter().map(|g| toml_string(g)).collect();
            t.push_str(&format!("services = [{}]\n", list.join(", ")));
        }
        None => t.push_str(
            "# Unset: every workspace package with a binary (a glob cannot name the root).\n\
             # services = [\"apps/*\"]\n",
        ),
    }
    t.push_str(
        "# Globs (from the workspace root) whose change affects every service, or none. The\n\
         # manifests of `monoship generate k8s` belong to no package: without this, a change to\n\
         # one would count for every service.\n\
         # global-inputs = [\"deploy/base/**\"]\n",
    );
    t.push_str(&ignore_text(&d.ignore));
    t.push_str(
        "# Where `monoship publish` and `monoship build --push` push images (HOST[/PREFIX]),\n\
         # and how images are named.\n\
         # registry = \"ghcr.io/your-org\"\n\
         # image = \"{registry}/{prefix}{service}\"\n\
         # tags = [\"latest\"]\n\
         prefix = \"\"\n",
    );
    t.push_str(&format!(
        "# Kubernetes, for `monoship deploy` and `monoship generate k8s`: the namespace (unset:\n\
         # the kubeconfig context's), the Deployments' names ({{service}}, {{prefix}}), the pods\n\
         # per Deployment and each container's resources.\n\
         # namespace = {}\n\
         deployment = {}\n\
         replicas = {}\n\
         resources = {{ requests = {{ {} }}, limits = {{ {} }} }}\n",
        toml_string(&d.namespace),
        toml_string(k8s::DEFAULT_DEPLOYMENT),
        k8s::DEFAULT_REPLICAS,
        quantities(k8s::DEFAULT_REQUESTS),
        quantities(k8s::DEFAULT_LIMITS),
    ));
    t.push_str(&format!(
        "# The port services listen on: the images' PORT, the probes and the Service.\n\
         port = {}\n",
        k8s::DEFAULT_PORT
    ));
    t
}

/// `ignore = [...]`: the k8s manifests' glob, then the proposed ones, each with why.
fn ignore_text(proposed: &[propose::IgnoreGlob]) -> String {
    let first = toml_string(&default_ignore());
    let proposed: Vec<&propose::IgnoreGlob> = proposed
        .iter()
        .filter(|g| g.glob != default_ignore())
        .collect();
    if proposed.is_empty() {
        return format!("ignore = [{first}]\n");
    }
    let mut t = String::from(
        "# Files outside every package that no build reads (found by `monoship check`): a change\n\
         # to one would otherwise count for every service.\n\
         ignore = [\n",
    );
    t.push_str(&format!("    {first},\n"));
    for g in proposed {
        let files = match g.files {
            0 => String::new(),
            1 => ": 1 file".to_string(),
            n => format!(": {n} files"),
        };
        t.push_str(&format!(
            "    {}, # {}{files}\n",
            toml_string(&g.glob),
            g.why
        ));
    }
    t.push_str("]\n");
    t
}

/// `text` as `# ` lines of at most 96 characters (longer words stay whole).
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split(' ') {
        if line.len() > 1 && line.len() + 1 + word.len() > 96 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn quantities(list: &[(&str, &str)]) -> String {
    list.iter()
        .map(|(k, v)| format!("{k} = {}", toml_string(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `manifest` (the text of a root `Cargo.toml`) has the table already.
pub fn has_table(manifest: &str, path: &Path) -> Result<bool, InitError> {
    let doc = parse(manifest.trim_start_matches(BOM), path)?;
    Ok(doc
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("monoship"))
        .is_some())
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, InitError> {
    text.parse::<DocumentMut>()
        .map_err(|e| InitError::Manifest {
            path: path.display().to_string(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
}

const BOM: char = '\u{feff}';

/// `manifest` with `table` (from [`table_text`]) as its `[workspace.metadata.monoship]`:
/// added after the workspace's other tables, or in place of the existing one with `force`.
/// A UTF-8 byte-order mark stays, and so do CRLF line endings (the table gets them too) when
/// every line of the file has them.
pub fn apply(manifest: &str, table: &str, path: &Path, force: bool) -> Result<String, InitError> {
    let (bom, body) = match manifest.strip_prefix(BOM) {
        Some(rest) => (BOM.to_string(), rest),
        None => (String::new(), manifest),
    };
    let crlf = body.contains("\r\n") && !body.replace("\r\n", "").contains('\n');
    if !crlf {
        return Ok(bom + &apply_lf(body, table, path, force)?);
    }
    let out = apply_lf(&body.replace("\r\n", "\n"), table, path, force)?;
    Ok(bom + &out.replace('\n', "\r\n"))
}

fn apply_lf(manifest: &str, table: &str, path: &Path, force: bool) -> Result<String, InitError> {
    let bad = |message: String| InitError::Manifest {
        path: path.display().to_string(),
        message,
    };
    // The new table must be valid configuration before it goes anywhere.
    let parsed: toml::Table = toml::from_str(table).map_err(|e| bad(e.to_string()))?;
    let value = parsed
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("monoship"))
        .cloned()
        .ok_or_else(|| bad("the generated table is empty".into()))?;
    let json = serde_json::to_value(&value).map_err(|e| bad(e.to_string()))?;
    WorkspaceConfig::from_metadata(&serde_json::json!({ "monoship": json }), path)
        .map_err(|e| bad(e.to_string()))?;

    let mut new_doc = parse(table, path)?;
    let Some(Item::Table(mut new_table)) = new_doc
        .get_mut("workspace")
        .and_then(|w| w.get_mut("metadata"))
        .and_then(|m| m.as_table_mut())
        .and_then(|m| m.remove("monoship"))
    else {
        return Err(bad("the generated table is not a table".into()));
    };
    new_table.decor_mut().set_prefix("\n");
    new_table.set_position(None);

    let mut doc = parse(manifest, path)?;
    let Some(workspace) = doc.get_mut("workspace").and_then(|w| w.as_table_mut()) else {
        return Err(bad(
            "no [workspace] table: `monoship init` writes into a workspace's root Cargo.toml"
                .into(),
        ));
    };
    if workspace.get("metadata").is_none() {
        let mut metadata = Table::new();
        metadata.set_implicit(true);
        workspace.insert("metadata", Item::Table(metadata));
    }
    let Some(metadata) = workspace.get_mut("metadata").and_then(|m| m.as_table_mut()) else {
        return Err(bad("`workspace.metadata` is not a table".into()));
    };
    if let Some(old) = metadata.remove("monoship") {
        if !force {
            return Err(InitError::Exists {
                path: path.display().to_string(),
            });
        }
        if let Item::Table(old) = &old {
            new_table.set_position(old.position());
            if let Some(prefix) = old.decor().prefix().and_then(|p| p.as_str()) {
                new_table.decor_mut().set_prefix(prefix.to_string());
            }
        }
    }
    metadata.insert("monoship", Item::Table(new_table));
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected() -> Detected {
        Detected {
            services: vec!["orders".into(), "users".into()],
            globs: Some(vec!["apps/*".into()]),
            namespace: "shop".into(),
            ignore: Vec::new(),
        }
    }

    const MANIFEST: &str = "# top comment\n[workspace]\nmembers = [ \"apps/*\" ]   # odd spacing\n\n\
                            [workspace.dependencies]\nserde = \"1\"\n\n# about profiles\n\
                            [profile.release]\nopt-level = 2\n";

    #[test]
    fn adds_the_table_and_keeps_every_other_byte() {
        let table = table_text(&detected());
        let out = apply(MANIFEST, &table, Path::new("Cargo.toml"), false).unwrap();
        let inserted = format!("\n{table}");
        assert!(out.contains(&inserted), "{out}");
        assert_eq!(out.replacen(&inserted, "", 1), MANIFEST, "{out}");
        assert!(has_table(&out, Path::new("Cargo.toml")).unwrap());
        assert!(out.contains("# namespace = \"shop\"\n"), "{out}");
        assert!(out.contains(
            "resources = { requests = { cpu = \"50m\", memory = \"64Mi\" }, limits = { memory = \"128Mi\" } }\n"
        ));
    }

    #[test]
    fn refuses_without_force_and_replaces_in_place_with_it() {
        let table = table_text(&detected());
        let once = apply(MANIFEST, &table, Path::new("Cargo.toml"), false).unwrap();
        let e = apply(&once, &table, Path::new("Cargo.toml"), false).unwrap_err();
        assert!(matches!(e, InitError::Exists { .. }));
        assert!(e.to_string().contains("--force"), "{e}");
        let twice = apply(&once, &table, Path::new("Cargo.toml"), true).unwrap();
        assert_eq!(twice, once);

        let existing = "[workspace]\nmembers = []\n\n[workspace.metadata.monoship]\nservices = [\"x/*\"]\n\n[profile.dev]\ndebug = 0\n";
        let out = apply(existing, &table, Path::new("Cargo.toml"), true).unwrap();
        assert!(!out.contains("x/*"), "{out}");
        assert!(
            out.starts_with("[workspace]\nmembers = []\n\n[workspace.metadata.monoship]\n"),
            "{out}"
        );
        assert!(
            out.ends_with("port = 9100\n\n[profile.dev]\ndebug = 0\n"),
            "{out}"
        );
        // Inline and dotted forms count as existing too.
        let inline = "[workspace]\nmetadata.monoship = { services = [] }\n";
        assert!(has_table(inline, Path::new("Cargo.toml")).unwrap());
        assert!(apply(inline, &table, Path::new("Cargo.toml"), false).is_err());
    }

    #[test]
    fn keeps_a_byte_order_mark_and_crlf_line_endings() {
        let table = table_text(&detected());
        let crlf = format!("\u{feff}{}", MANIFEST.replace('\n', "\r\n"));
        assert!(!has_table(&crlf, Path::new("Cargo.toml")).unwrap());
        let out = apply(&crlf, &table, Path::new("Cargo.toml"), false).unwrap();
        assert!(out.starts_with("\u{feff}# top comment\r\n"), "{out:?}");
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
        let lf = apply(MANIFEST, &table, Path::new("Cargo.toml"), false).unwrap();
        assert_eq!(out, format!("\u{feff}{}", lf.replace('\n', "\r\n")));
        assert!(has_table(&out, Path::new("Cargo.toml")).unwrap());
    }

    #[test]
    fn a_package_manifest_is_refused() {
        let e = apply(
            "[package]\nname = \"a\"\n",
            &table_text(&detected()),
            Path::new("Cargo.toml"),
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no [workspace] table"), "{e}");
    }

    #[test]
    fn proposed_ignore_globs_are_written_with_why() {
        let mut d = detected();
        let glob = |glob: &str, files, why: &str| propose::IgnoreGlob {
            glob: glob.into(),
            group: String::new(),
            files,
            why: why.into(),
        };
        d.ignore = vec![
            glob(".circleci/**", 3, "CI configuration"),
            glob("!tools/py/schema.json", 0, "a build could read it"),
        ];
        let table = table_text(&d);
        assert!(
            table.contains(
                "ignore = [\n    \"deploy/k8s/**\",\n    \".circleci/**\", # CI configuration: 3 files\n    \"!tools/py/schema.json\", # a build could read it\n]\n"
            ),
            "{table}"
        );
        let out = apply(MANIFEST, &table, Path::new("Cargo.toml"), false).unwrap();
        let doc: toml::Table = toml::from_str(&out).unwrap();
        let ignore = &doc["workspace"]["metadata"]["monoship"]["ignore"];
        assert_eq!(ignore.as_array().unwrap().len(), 3, "{out}");
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert_eq!(dns_label("My_Fleet.v2"), "my-fleet-v2");
        assert_eq!(dns_label("__"), "default");
    }
}

//! The `inputs` the proposal names for a service, added to the `[package.metadata.monoship]`
//! of its manifest with `toml_edit` (every other byte of the file stays as it was).

use super::InitError;
use std::path::Path;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

/// `manifest` (a package's `Cargo.toml`) with `globs` in its `[package.metadata.monoship]`
/// `inputs`, after those there (a glob there already is not added twice).
pub fn add_inputs(manifest: &str, globs: &[String], path: &Path) -> Result<String, InitError> {
    let bad = |message: &str| InitError::Manifest {
        path: path.display().to_string(),
        message: message.to_string(),
    };
    let mut doc: DocumentMut = manifest
        .parse()
        .map_err(|e: toml_edit::TomlError| bad(e.to_string().trim_end()))?;
    let Some(package) = doc.get_mut("package").and_then(Item::as_table_mut) else {
        return Err(bad("no [package] table"));
    };
    let metadata = implicit_table(package, "metadata")
        .ok_or_else(|| bad("`package.metadata` is not a table"))?;
    let monoship = match metadata.get("monoship") {
        None => {
            // Right after [package] (its parent), a blank line before it.
            let mut t = Table::new();
            t.set_position(None);
            t.decor_mut().set_prefix("\n");
            metadata.insert("monoship", Item::Table(t));
            metadata["monoship"].as_table_mut().expect("inserted")
        }
        Some(_) => metadata
            .get_mut("monoship")
            .and_then(Item::as_table_mut)
            .ok_or_else(|| bad("`package.metadata.monoship` is not a table"))?,
    };
    if monoship.get("inputs").is_none() {
        monoship.insert("inputs", Item::Value(Value::Array(Array::new())));
    }
    let Some(list) = monoship.get_mut("inputs").and_then(Item::as_array_mut) else {
        return Err(bad("`package.metadata.monoship.inputs` is not an array"));
    };
    for g in globs {
        if !list.iter().any(|v| v.as_str() == Some(g)) {
            list.push(g.as_str());
        }
    }
    Ok(doc.to_string())
}

/// The table `key` of `parent`, made (implicit, so that no empty header is written) when
/// missing; `None` when it is something else.
fn implicit_table<'t>(parent: &'t mut Table, key: &str) -> Option<&'t mut Table> {
    if parent.get(key).is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        parent.insert(key, Item::Table(t));
    }
    parent.get_mut(key).and_then(Item::as_table_mut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inputs_are_added_to_the_package_table_and_the_rest_is_kept() {
        let path = Path::new("apps/orders/Cargo.toml");
        let plain = "[package]\nname = \"orders\" # the name\n\n[dependencies]\ndb = \"1\"\n";
        let out = add_inputs(plain, &globs(&["docker/orders.Dockerfile", "a.toml"]), path).unwrap();
        assert_eq!(
            out,
            "[package]\nname = \"orders\" # the name\n\n[package.metadata.monoship]\n\
             inputs = [\"docker/orders.Dockerfile\", \"a.toml\"]\n\n[dependencies]\ndb = \"1\"\n"
        );
        let existing = "[package]\nname = \"orders\"\n\n[package.metadata.monoship]\nreplicas = 3\n\
                        inputs = [\"a.toml\"]\n";
        let out = add_inputs(existing, &globs(&["a.toml", "b.toml"]), path).unwrap();
        assert!(
            out.contains("replicas = 3\ninputs = [\"a.toml\", \"b.toml\"]\n"),
            "{out}"
        );
        let e = add_inputs("[workspace]\n", &globs(&["a"]), path).unwrap_err();
        assert!(e.to_string().contains("no [package] table"), "{e}");
        let e = add_inputs("[package]\nmetadata = 1\n", &globs(&["a"]), path).unwrap_err();
        assert!(e.to_string().contains("not a table"), "{e}");
    }
}

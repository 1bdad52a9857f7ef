//! Generates `$OUT_DIR/events.rs` from `../../schemas/events.json`, a file
//! outside this package shared with the non-Rust consumers of the schema.
//!
//! The parser is deliberately crude (std only): it collects the string value of
//! every `"name"` key, which is all the schema's shape needs.

use std::env;
use std::fs;
use std::path::PathBuf;

const SCHEMA: &str = "../../schemas/events.json";

fn main() {
    println!("cargo:rerun-if-changed={SCHEMA}");
    println!("cargo:rerun-if-changed=build.rs");

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let schema_path = manifest_dir.join(SCHEMA);
    let schema = fs::read_to_string(&schema_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", schema_path.display()));

    let names = names(&schema);
    assert!(
        !names.is_empty(),
        "{} declares no events",
        schema_path.display()
    );
    for name in &names {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'),
            "bad event name {name:?} in {}",
            schema_path.display()
        );
    }

    let mut out = String::new();
    out.push_str("/// Event names declared in `schemas/events.json`, in file order.\n");
    out.push_str("pub const EVENT_NAMES: &[&str] = &[\n");
    for name in &names {
        out.push_str(&format!("    {name:?},\n"));
    }
    out.push_str("];\n");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out_dir.join("events.rs"), out).expect("write events.rs");
}

/// The string values of every `"name"` key in `json`.
fn names(json: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = json;
    while let Some(at) = rest.find("\"name\"") {
        rest = rest[at + "\"name\"".len()..].trim_start();
        let Some(after_colon) = rest.strip_prefix(':') else {
            continue;
        };
        let Some(value) = after_colon.trim_start().strip_prefix('"') else {
            continue;
        };
        let end = value
            .find('"')
            .expect("unterminated string in events schema");
        found.push(value[..end].to_owned());
        rest = &value[end + 1..];
    }
    found
}

//! The packages of a parsed `Cargo.lock`.

use toml::{Table, Value};

/// One `[[package]]` entry; a key the entry lacks is empty (a path package has no `source`
/// and no `checksum`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockPackage {
    pub name: String,
    pub version: String,
    pub source: String,
    pub checksum: String,
}

/// Every `[[package]]` entry of `lock`.
pub fn packages(lock: &Table) -> impl Iterator<Item = LockPackage> + '_ {
    lock.get("package")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_table)
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            LockPackage {
                name: s("name"),
                version: s("version"),
                source: s("source"),
                checksum: s("checksum"),
            }
        })
}

//! kustomize's generator convention for the whole set: the ConfigMaps and Secrets its pod
//! templates use are named `NAME-HASH` after their content, so that a change of them is a new
//! name in the pod template, and so a rollout.
//!
//! The hash is kustomize's (`api/hasher`): the JSON of `{kind, name, data}` (a ConfigMap's
//! `binaryData`, a Secret's `type` and `stringData` too) as Go encodes it (keys sorted, `<`, `>`
//! and `&` escaped), its SHA-256 in hex, of which the first 10 characters are taken with
//! `0 1 3 a e` written `g h k m t`. kustomize looks the name up as one field named
//! `metadata/name`, which no object has: the name it encodes is always empty, and the hash is
//! the content's alone.

use super::{Manifest, containers_mut, pod_spec_mut};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A ConfigMap or Secret renamed by [`config_hash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// `ConfigMap` or `Secret`.
    pub kind: &'static str,
    pub from: String,
    pub to: String,
}

/// Which kind of object a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    fn of(object: &Value) -> Option<Kind> {
        if object["apiVersion"] != "v1" {
            return None;
        }
        match object["kind"].as_str()? {
            "ConfigMap" => Some(Kind::ConfigMap),
            "Secret" => Some(Kind::Secret),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

/// Renames the ConfigMaps and Secrets of `objects` that a pod template of `objects` uses to
/// `NAME-HASH` ([`kustomize_hash`]) and rewrites each use; one already named so (what a
/// kustomize generator makes) is left as it is. What was renamed, in the order of `objects`.
pub fn config_hash(objects: &mut [Manifest]) -> Vec<Renamed> {
    let mut used = BTreeMap::<(Kind, String), Option<String>>::new();
    for m in objects.iter_mut() {
        if let Some(spec) = pod_spec_mut(&mut m.object) {
            references(spec, &mut |kind, name| {
                if let Some(n) = name.as_str() {
                    used.insert((kind, n.to_string()), None);
                }
            });
        }
    }
    let mut renamed = Vec::new();
    for m in objects.iter_mut() {
        let Some(kind) = Kind::of(&m.object) else {
            continue;
        };
        let Some(name) = m.object["metadata"]["name"].as_str().map(str::to_string) else {
            continue;
        };
        let Some(to) = used.get_mut(&(kind, name.clone())) else {
            continue;
        };
        if is_hashed(&m.object) {
            continue;
        }
        let Some(hash) = kustomize_hash(&m.object) else {
            continue;
        };
        let new = format!("{name}-{hash}");
        m.object["metadata"]["name"] = json!(new);
        *to = Some(new.clone());
        renamed.push(Renamed {
            kind: kind.name(),
            from: name,
            to: new,
        });
    }
    for m in objects.iter_mut() {
        if let Some(spec) = pod_spec_mut(&mut m.object) {
            references(spec, &mut |kind, name| {
                let new = name
                    .as_str()
                    .and_then(|n| used.get(&(kind, n.to_string())))
                    .and_then(Option::clone);
                if let Some(new) = new {
                    *name = json!(new);
                }
            });
        }
    }
    renamed
}

/// Whether `object` (a ConfigMap or Secret) is named `X-HASH` with HASH its own
/// [`kustomize_hash`], as kustomize's generators name theirs.
pub fn is_hashed(object: &Value) -> bool {
    let Some(name) = object["metadata"]["name"].as_str() else {
        return false;
    };
    let Some((base, suffix)) = name.rsplit_once('-') else {
        return false;
    };
    !base.is_empty() && suffix.len() == 10 && kustomize_hash(object).is_some_and(|h| h == suffix)
}

/// kustomize's hash of a ConfigMap or Secret (`None` for another kind).
pub fn kustomize_hash(object: &Value) -> Option<String> {
    let field = |key: &str| match object.get(key) {
        None | Some(Value::Null) => json!(""),
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(Value::String(s)) => json!(s),
        Some(Value::Array(_)) => Value::Null,
        Some(scalar) => json!(scalar.to_string()),
    };
    let mut encoded = serde_json::Map::new();
    encoded.insert("kind".into(), object["kind"].clone());
    encoded.insert("name".into(), json!(""));
    encoded.insert("data".into(), field("data"));
    let extra = match Kind::of(object)? {
        Kind::ConfigMap => "binaryData",
        Kind::Secret => {
            encoded.insert("type".into(), field("type"));
            "stringData"
        }
    };
    if let Some(Value::Object(o)) = object.get(extra) {
        encoded.insert(extra.into(), Value::Object(o.clone()));
    }
    let mut text = String::new();
    go_json(&Value::Object(encoded), &mut text);
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(5).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    Some(
        hex.chars()
            .map(|c| match c {
                '0' => 'g',
                '1' => 'h',
                '3' => 'k',
                'a' => 'm',
                'e' => 't',
                c => c,
            })
            .collect(),
    )
}

/// `value` as Go's `encoding/json` writes it: compact, object keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped.
fn go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::String(s) => go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(key, out);
                out.push(':');
                go_json(&o[key], out);
            }
            out.push('}');
        }
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Calls `f` with each name a pod spec uses of a ConfigMap or Secret: its containers' and init
/// containers' `env[].valueFrom` and `envFrom[]`, its volumes' `configMap`, `secret` and
/// `projected.sources[]`.
fn references(spec: &mut Value, f: &mut dyn FnMut(Kind, &mut Value)) {
    for c in containers_mut(spec) {
        for env in array(c.get_mut("env")) {
            let from = env.get_mut("valueFrom");
            if let Some(from) = from {
                name_at(from, "configMapKeyRef", "name", Kind::ConfigMap, f);
                name_at(from, "secretKeyRef", "name", Kind::Secret, f);
            }
        }
        for from in array(c.get_mut("envFrom")) {
            name_at(from, "configMapRef", "name", Kind::ConfigMap, f);
            name_at(from, "secretRef", "name", Kind::Secret, f);
        }
    }
    for volume in array(spec.get_mut("volumes")) {
        name_at(volume, "configMap", "name", Kind::ConfigMap, f);
        name_at(volume, "secret", "secretName", Kind::Secret, f);
        let sources = volume
            .get_mut("projected")
            .and_then(|p| p.get_mut("sources"));
        for source in array(sources) {
            name_at(source, "configMap", "name", Kind::ConfigMap, f);
            name_at(source, "secret", "name", Kind::Secret, f);
        }
    }
}

/// The objects of an array (none for anything else).
fn array(value: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    value
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
}

fn name_at(
    parent: &mut Value,
    key: &str,
    field: &str,
    kind: Kind,
    f: &mut dyn FnMut(Kind, &mut Value),
) {
    let Some(name) = parent.get_mut(key).and_then(|o| o.get_mut(field)) else {
        return;
    };
    if name.is_string() {
        f(kind, name);
    }
}

#[cfg(test)]
mod tests;

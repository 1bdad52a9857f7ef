use super::*;
use crate::objects::parse;
use std::path::Path;

/// `kubectl kustomize testdata/generator` (kustomize v5.5.0): generated ConfigMaps (with
/// `<`, `&`, quotes, control characters, U+2028, binary data, none) and Secrets.
const GENERATED: &str = include_str!("../testdata/generator.expected.yaml");

#[test]
fn the_hash_is_kustomizes() {
    let set = parse(GENERATED, Path::new("generator"), false).unwrap();
    let names: Vec<_> = set
        .iter()
        .map(|m| m.object["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "app-k9cc84k46k",
            "blobs-gff88mgb8b",
            "empty-6ct58987ht",
            "creds-d6g2dd42g7",
            "tls-4b255hm948"
        ]
    );
    for m in &set {
        let name = m.object["metadata"]["name"].as_str().unwrap();
        let (_, hash) = name.rsplit_once('-').unwrap();
        assert_eq!(kustomize_hash(&m.object).unwrap(), hash, "{name}");
        assert!(is_hashed(&m.object), "{name}");
    }
}

#[test]
fn go_encodes_strings() {
    let mut out = String::new();
    go_json(
        &json!({"b": "<a>&\"\\\n\t\r\u{8}\u{c}\u{1}\u{2028}é", "a": [1, true, null]}),
        &mut out,
    );
    assert_eq!(
        out,
        r#"{"a":[1,true,null],"b":"\u003ca\u003e\u0026\"\\\n\t\r\b\f\u0001\u2028é"}"#
    );
}

#[test]
fn other_objects_have_no_hash() {
    assert_eq!(
        kustomize_hash(&json!({"apiVersion": "v1", "kind": "Service"})),
        None
    );
    let hashed_name = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x-6ct58987ht"}, "data": {"a": "b"}});
    assert!(
        !is_hashed(&hashed_name),
        "the suffix is another content's hash"
    );
    let bare =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "-6ct58987ht"}});
    assert!(!is_hashed(&bare));
}

const OBJECTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: users}
spec:
  template:
    spec:
      initContainers:
      - name: migrate
        env:
        - name: DB
          valueFrom: {secretKeyRef: {name: db, key: url}}
      containers:
      - name: users
        env:
        - name: LEVEL
          valueFrom: {configMapKeyRef: {name: settings, key: level}}
        - {name: PLAIN, value: x}
        envFrom:
        - configMapRef: {name: settings}
        - secretRef: {name: not-in-the-set}
      volumes:
      - name: a
        configMap: {name: files}
      - name: b
        secret: {secretName: db}
      - name: c
        projected:
          sources:
          - configMap: {name: files}
          - secret: {name: tls}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: report
            envFrom: [{configMapRef: {name: settings}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {level: debug}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: files}
data: {a.conf: x}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unused}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
type: Opaque
data: {url: cG9zdGdyZXM6Ly8=}
---
apiVersion: v1
kind: Secret
metadata: {name: tls}
stringData: {tls.key: KEY}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: db}
data: {same-name: other-kind}
";

#[test]
fn renames_what_pod_templates_use_and_rewrites_the_uses() {
    let mut set = parse(OBJECTS, Path::new("x"), false).unwrap();
    let renamed = config_hash(&mut set);
    let pairs: Vec<_> = renamed
        .iter()
        .map(|r| (r.kind, r.from.as_str(), r.to.split_once('-').unwrap().0))
        .collect();
    assert_eq!(
        pairs,
        [
            ("ConfigMap", "settings", "settings"),
            ("ConfigMap", "files", "files"),
            ("Secret", "db", "db"),
            ("Secret", "tls", "tls"),
        ]
    );
    let to = |from: &str| renamed.iter().find(|r| r.from == from).unwrap().to.clone();
    for r in &renamed {
        let object = set
            .iter()
            .find(|m| m.object["metadata"]["name"] == r.to.as_str())
            .unwrap();
        assert_eq!(
            format!("{}-{}", r.from, kustomize_hash(&object.object).unwrap()),
            r.to
        );
        assert!(is_hashed(&object.object));
    }
    let spec = &set[0].object["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(
        c["env"][0]["valueFrom"]["configMapKeyRef"]["name"],
        to("settings").as_str()
    );
    assert_eq!(c["env"][1], json!({"name": "PLAIN", "value": "x"}));
    assert_eq!(
        c["envFrom"][0]["configMapRef"]["name"],
        to("settings").as_str()
    );
    assert_eq!(c["envFrom"][1]["secretRef"]["name"], "not-in-the-set");
    let init = &spec["initContainers"][0];
    assert_eq!(
        init["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        to("db").as_str()
    );
    assert_eq!(
        spec["volumes"][0]["configMap"]["name"],
        to("files").as_str()
    );
    assert_eq!(
        spec["volumes"][1]["secret"]["secretName"],
        to("db").as_str()
    );
    let sources = &spec["volumes"][2]["projected"]["sources"];
    assert_eq!(sources[0]["configMap"]["name"], to("files").as_str());
    assert_eq!(sources[1]["secret"]["name"], to("tls").as_str());
    let cron = &set[1].object["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(
        cron["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        to("settings").as_str()
    );
    assert_eq!(set[4].object["metadata"]["name"], "unused");
    assert_eq!(
        set[7].object["metadata"]["name"], "db",
        "a ConfigMap is not the Secret db"
    );
    assert!(spec["containers"][0].get("volumeMounts").is_none());
    assert!(init.get("envFrom").is_none(), "nothing is added");
    let again = config_hash(&mut set);
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn generated_objects_are_left_as_they_are() {
    let mut set = parse(GENERATED, Path::new("generator"), false).unwrap();
    set.extend(
        parse(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: users}\nspec:\n  template:\n    spec:\n      containers:\n      - name: users\n        envFrom: [{configMapRef: {name: app-k9cc84k46k}}, {secretRef: {name: creds-d6g2dd42g7}}]\n",
            Path::new("x"),
            false,
        )
        .unwrap(),
    );
    let before: Vec<_> = set.iter().map(|m| m.object.clone()).collect();
    assert!(config_hash(&mut set).is_empty());
    let after: Vec<_> = set.iter().map(|m| m.object.clone()).collect();
    assert_eq!(before, after);
}

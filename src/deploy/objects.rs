//! Objects of one kind as a watch reports them, for `deploy`'s tracking and `status --watch`.
//!
//! kube-runtime's reflector `Store` applies the same events, but tells that the first list is
//! complete only through an async `wait_until_ready`, while both users check it between two
//! events of three watches; and it keeps the objects in a hash map, so their order (which pod a
//! message names first) would change from run to run.

use kube::Resource;
use kube::runtime::watcher;
use std::collections::BTreeMap;

/// The objects a watch has shown, by name (then uid); a relist replaces them as a whole once
/// it is complete.
pub struct Objects<K> {
    items: BTreeMap<(String, String), K>,
    relist: Option<BTreeMap<(String, String), K>>,
    ready: bool,
}

impl<K: Resource + Clone> Objects<K> {
    pub fn new() -> Self {
        Objects {
            items: BTreeMap::new(),
            relist: None,
            ready: false,
        }
    }

    fn key(o: &K) -> (String, String) {
        let m = o.meta();
        (
            m.name.clone().unwrap_or_default(),
            m.uid.clone().unwrap_or_default(),
        )
    }

    /// Take one watcher event in.
    pub fn apply(&mut self, event: watcher::Event<K>) {
        match event {
            watcher::Event::Apply(o) => {
                self.items.insert(Self::key(&o), o);
            }
            watcher::Event::Delete(o) => {
                self.items.remove(&Self::key(&o));
            }
            watcher::Event::Init => self.relist = Some(BTreeMap::new()),
            watcher::Event::InitApply(o) => {
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(Self::key(&o), o);
            }
            watcher::Event::InitDone => {
                self.items = self.relist.take().unwrap_or_default();
                self.ready = true;
            }
        }
    }

    /// The first list is complete.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// The objects, by name.
    pub fn values(&self) -> Vec<K> {
        self.items.values().cloned().collect()
    }

    pub fn first(&self) -> Option<&K> {
        self.items.values().next()
    }
}

impl<K: Resource + Clone> Default for Objects<K> {
    fn default() -> Self {
        Objects::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod(name: &str, uid: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": uid}})).unwrap()
    }

    fn names(o: &Objects<Pod>) -> Vec<String> {
        o.values()
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn events_by_name_and_a_relist_replaces_all_once_complete() {
        let mut o = Objects::new();
        o.apply(watcher::Event::Init);
        o.apply(watcher::Event::InitApply(pod("b", "2")));
        o.apply(watcher::Event::InitApply(pod("a", "1")));
        assert!(!o.ready() && o.values().is_empty());
        o.apply(watcher::Event::InitDone);
        assert!(o.ready());
        assert_eq!(names(&o), ["a", "b"]);
        // The same name, another object: the old one's deletion leaves the new one.
        o.apply(watcher::Event::Apply(pod("a", "3")));
        o.apply(watcher::Event::Delete(pod("a", "1")));
        assert_eq!(names(&o), ["a", "b"]);
        assert_eq!(o.first().unwrap().metadata.uid.as_deref(), Some("3"));
        // A relist: the old objects stay until it is complete.
        o.apply(watcher::Event::Init);
        o.apply(watcher::Event::InitApply(pod("c", "4")));
        assert_eq!(names(&o), ["a", "b"]);
        o.apply(watcher::Event::InitDone);
        assert_eq!(names(&o), ["c"]);
    }
}

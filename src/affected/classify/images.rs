//! The reasons of one service alone: the files its image carries, its Dockerfiles and what
//! they copy, and the Dockerfiles that cannot be read.

use super::super::{Reason, ReasonKind};
use super::Analyzer;
use crate::workspace::{Package, Workspace};

impl<'a> Analyzer<'a> {
    /// Credits `path` to every service whose image carries it (`files`); whether any does.
    pub(super) fn image_file(&mut self, path: &str) -> bool {
        let Some(services) = self.image_files.get(path).cloned() else {
            return false;
        };
        for i in services {
            let text = format!("{path} changed (copied into the image of {})", self.name(i));
            self.service_reason(i, ReasonKind::ImageFile, path, text);
        }
        true
    }

    /// A Dockerfile in the directory of `pkg`: its services', if it is any, and no other's (no
    /// cargo build reads it).
    pub(super) fn dockerfile(&mut self, pkg: &Package, path: &str) {
        for i in 0..self.ws.services.len() {
            if self.ws.services[i].package == pkg.name {
                let text = format!("{path} changed (a Dockerfile of {})", self.name(i));
                self.service_reason(i, ReasonKind::Dockerfile, path, text);
            }
        }
    }

    pub(super) fn name(&self, service: usize) -> &'a str {
        let ws: &'a Workspace = self.ws;
        &ws.services[service].name
    }

    /// A reason of service `i` alone (through its package only).
    pub(super) fn service_reason(&mut self, i: usize, kind: ReasonKind, path: &str, text: String) {
        let via = vec![self.ws.services[i].package.clone()];
        self.service_reasons.entry(i).or_default().push(Reason {
            kind,
            path: Some(path.to_string()),
            via,
            text,
        });
    }

    /// Credits `path` to every service whose Dockerfile copies it into its image; whether any
    /// Dockerfile does.
    pub(super) fn dockerfile_copy(&mut self, path: &str) -> bool {
        let inputs = self.copies.inputs(path);
        for d in &inputs {
            let text = format!(
                "{path} changed (copied into the image of {} by {}:{})",
                self.name(d.service),
                d.dockerfile,
                d.line
            );
            self.service_reason(d.service, ReasonKind::DockerfileCopy, path, text);
        }
        !inputs.is_empty()
    }

    /// A service whose Dockerfile cannot be read fails closed when anything changed: what it
    /// copies is not known.
    pub(super) fn unreadable_dockerfiles(&mut self) {
        let changed = self
            .diff
            .paths
            .iter()
            .any(|c| c.path.starts_with(self.prefix.as_str()));
        if !changed {
            return;
        }
        for (i, why) in self.copies.failures.clone() {
            let text = format!(
                "cannot read a Dockerfile of {}: {why} (so any change may be in its image)",
                self.name(i)
            );
            let via = vec![self.ws.services[i].package.clone()];
            let path = why.split(':').next().map(str::to_string);
            self.service_reasons.entry(i).or_default().push(Reason {
                kind: ReasonKind::FailClosed,
                path,
                via,
                text,
            });
        }
    }
}

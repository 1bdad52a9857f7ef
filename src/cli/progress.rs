//! Progress for long stages: a bar on a terminal, plain timestamped lines elsewhere (CI).

use super::{Cli, Format};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use monoship::builder::{Event, docker};
use std::io::IsTerminal;
use std::time::Instant;

pub struct BuildReporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    verbose: bool,
    started: Instant,
    units: usize,
    fresh: usize,
    /// Images built with `--builder docker|podman`.
    containers: usize,
}

impl BuildReporter {
    pub fn new(cli: &Cli) -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = (tty && !cli.quiet && cli.format == Format::Human).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {wide_msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            bar
        });
        BuildReporter {
            bar,
            quiet: cli.quiet,
            verbose: cli.verbose > 0,
            started: Instant::now(),
            units: 0,
            fresh: 0,
            containers: 0,
        }
    }

    /// A line above the bar, or on stderr with the elapsed time.
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("[{:>6.1}s] {text}", self.started.elapsed().as_secs_f64()),
        }
    }

    pub fn on(&mut self, e: Event) {
        match e {
            Event::Planned { groups } if !self.quiet => {
                let shown: Vec<_> = groups.iter().map(|g| g.join(" ")).collect();
                self.line(&format!(
                    "planned {} cargo invocation(s): {}",
                    groups.len(),
                    shown.join(" | ")
                ));
            }
            Event::GroupStarted {
                index,
                total,
                services,
                units,
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_prefix(format!("compiling {index}/{total}"));
                    bar.set_length(units as u64);
                    bar.set_position(0);
                }
                if !self.quiet {
                    self.line(&format!(
                        "compiling {index}/{total}: {}",
                        services.join(", ")
                    ));
                }
            }
            Event::Unit { name, fresh } => {
                self.units += 1;
                self.fresh += usize::from(fresh);
                if let Some(bar) = &self.bar {
                    if bar.position() + 1 > bar.length().unwrap_or(0) {
                        bar.set_length(bar.position() + 1);
                    }
                    bar.inc(1);
                    bar.set_message(name);
                }
            }
            Event::Diagnostic {
                package,
                level,
                rendered,
            } if level.starts_with("error") || self.verbose => {
                self.line(&format!("{level} in {package}:\n{}", rendered.trim_end()));
            }
            Event::ImageAssembled {
                service,
                digest,
                size,
            } if !self.quiet => {
                self.line(&format!("image {service} {digest} ({size} bytes)"));
            }
            Event::Container(e) => self.on_container(e),
            _ => {}
        }
    }

    /// A build of `--builder docker|podman`; a failed one shows the end of its log.
    fn on_container(&mut self, e: docker::Event) {
        match e {
            docker::Event::Started {
                service,
                index,
                total,
                log,
            } if !self.quiet => self.line(&format!(
                "building {service} ({index}/{total}), log: {}",
                log.display()
            )),
            docker::Event::Finished(o) => {
                self.containers += 1;
                if o.ok {
                    if !self.quiet {
                        self.line(&format!("built {} in {:.1}s", o.tag, o.seconds));
                    }
                    return;
                }
                let mut text = format!(
                    "{} failed after {:.1}s; last lines of {}:",
                    o.service,
                    o.seconds,
                    o.log.display()
                );
                for line in docker::log_tail(&o.log, 20) {
                    text.push_str(&format!("\n{}| {line}", o.service));
                }
                self.line(&text);
            }
            _ => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.containers > 0 {
            if !self.quiet {
                self.line(&format!(
                    "built {} image(s) in {:.1}s",
                    self.containers,
                    self.started.elapsed().as_secs_f64()
                ));
            }
            return;
        }
        if !self.quiet {
            self.line(&format!(
                "compiled {} units ({} fresh) in {:.1}s",
                self.units,
                self.fresh,
                self.started.elapsed().as_secs_f64()
            ));
        }
    }
}

//! Progress for long stages: a bar on a terminal, plain timestamped lines elsewhere (CI). Off a
//! terminal a build also writes where it is (units compiled, images) whenever no line was written
//! for a while, so a long compile is never silent.

use super::{Cli, Format};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use monoship::builder::{Event, docker};
use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest pause between two lines off a terminal, in seconds (default 30).
const INTERVAL_VAR: &str = "MONOSHIP_PROGRESS_INTERVAL";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

pub struct BuildReporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    verbose: bool,
    started: Instant,
    units: usize,
    fresh: usize,
    /// Images built with `--builder docker|podman`.
    containers: usize,
    /// The lines off a terminal, shared with the heartbeat.
    lines: Arc<Mutex<Lines>>,
    heartbeat: Option<Heartbeat>,
}

impl BuildReporter {
    pub fn new(cli: &Cli) -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let human = !cli.quiet && cli.format == Format::Human;
        let bar = (tty && human).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {wide_msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            bar
        });
        let started = Instant::now();
        let lines = Arc::new(Mutex::new(Lines::new(started, stamped(started))));
        let heartbeat = (!tty && human)
            .then(|| Heartbeat::start(lines.clone(), interval(std::env::var(INTERVAL_VAR).ok())))
            .flatten();
        BuildReporter {
            bar,
            quiet: cli.quiet,
            verbose: cli.verbose > 0,
            started,
            units: 0,
            fresh: 0,
            containers: 0,
            lines,
            heartbeat,
        }
    }

    /// A line above the bar, or on stderr with the elapsed time.
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => self.lines().write(text),
        }
    }

    fn lines(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
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
                self.lines().phase = Phase::Compiling {
                    index,
                    total,
                    units,
                    done: 0,
                    fresh: 0,
                };
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
                self.lines().phase.unit(fresh);
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
            Event::Assembling { images } => self.lines().phase = Phase::Assembling { images },
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
            } => {
                self.lines().phase = Phase::Containers {
                    built: self.containers,
                    total,
                };
                if !self.quiet {
                    self.line(&format!(
                        "building {service} ({index}/{total}), log: {}",
                        log.display()
                    ));
                }
            }
            docker::Event::Finished(o) => {
                self.containers += 1;
                if let Phase::Containers { built, .. } = &mut self.lines().phase {
                    *built += 1;
                }
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
        }
    }

    /// The build is over: the heartbeat stops, then the summary line.
    pub fn finish(mut self) {
        self.heartbeat.take();
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

/// Where a build is, for the heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Before the first cargo invocation: build groups, base images.
    Planning,
    /// Cargo invocation `index` of `total`, with an estimate of its units.
    Compiling {
        index: usize,
        total: usize,
        units: usize,
        done: usize,
        fresh: usize,
    },
    Assembling {
        images: usize,
    },
    /// `--builder docker|podman`.
    Containers {
        built: usize,
        total: usize,
    },
}

impl Phase {
    fn unit(&mut self, was_fresh: bool) {
        if let Phase::Compiling { done, fresh, .. } = self {
            *done += 1;
            *fresh += usize::from(was_fresh);
        }
    }

    /// The heartbeat's line: `compiling 1/2: 143/310 units (12 fresh)`.
    fn describe(&self) -> String {
        match *self {
            Phase::Planning => "planning the build".to_string(),
            Phase::Compiling {
                index,
                total,
                units,
                done,
                fresh,
            } => format!(
                // The estimate can fall short (build scripts are units of their own).
                "compiling {index}/{total}: {done}/{} units ({fresh} fresh)",
                units.max(done)
            ),
            Phase::Assembling { images } => format!("assembling {images} image(s)"),
            Phase::Containers { built, total } => {
                format!("building images: {built}/{total} built")
            }
        }
    }
}

/// The lines written off a terminal, through one writer: when the last one was, and where the
/// build is.
struct Lines {
    last: Instant,
    phase: Phase,
    out: Box<dyn FnMut(&str) + Send>,
}

impl Lines {
    fn new(now: Instant, out: impl FnMut(&str) + Send + 'static) -> Lines {
        Lines {
            last: now,
            phase: Phase::Planning,
            out: Box::new(out),
        }
    }

    fn write(&mut self, text: &str) {
        (self.out)(text);
        self.last = Instant::now();
    }
}

/// Lines on stderr, each with the time since `started`.
fn stamped(started: Instant) -> impl FnMut(&str) + Send + 'static {
    move |text| eprintln!("[{:>6.1}s] {text}", started.elapsed().as_secs_f64())
}

/// `MONOSHIP_PROGRESS_INTERVAL`: seconds, more than 0; anything else is the default.
fn interval(value: Option<String>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(DEFAULT_INTERVAL)
}

/// A thread that writes where the build is whenever no line was written for `interval`. It
/// stops when dropped (the build ended, or failed and took the reporter with it).
struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// `None` when no thread can be started: the build goes on without a heartbeat.
    fn start(lines: Arc<Mutex<Lines>>, interval: Duration) -> Option<Heartbeat> {
        let (stop, stopped) = mpsc::channel::<()>();
        let beat = move || {
            loop {
                let wait = {
                    let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
                    let quiet_for = lines.last.elapsed();
                    if quiet_for >= interval {
                        let text = lines.phase.describe();
                        lines.write(&text);
                        interval
                    } else {
                        interval - quiet_for
                    }
                };
                match stopped.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // Stopped, or the reporter is gone.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        };
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(beat)
            .ok()?;
        Some(Heartbeat {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected() -> (Arc<Mutex<Lines>>, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let lines = Lines::new(Instant::now(), move |t: &str| {
            into.lock().unwrap().push(t.to_string())
        });
        (Arc::new(Mutex::new(lines)), seen)
    }

    #[test]
    fn the_interval_comes_from_the_variable_or_is_30_seconds() {
        assert_eq!(interval(None), DEFAULT_INTERVAL);
        assert_eq!(interval(Some("1".into())), Duration::from_secs(1));
        assert_eq!(interval(Some(" 0.5 ".into())), Duration::from_millis(500));
        for bad in ["0", "-1", "soon", "", "inf", "NaN", "1e300"] {
            assert_eq!(interval(Some(bad.into())), DEFAULT_INTERVAL, "{bad}");
        }
    }

    #[test]
    fn each_phase_says_where_the_build_is() {
        let mut phase = Phase::Compiling {
            index: 1,
            total: 2,
            units: 3,
            done: 0,
            fresh: 0,
        };
        for fresh in [true, false, false, false] {
            phase.unit(fresh);
        }
        assert_eq!(phase.describe(), "compiling 1/2: 4/4 units (1 fresh)");
        assert_eq!(Phase::Planning.describe(), "planning the build");
        assert_eq!(
            Phase::Assembling { images: 3 }.describe(),
            "assembling 3 image(s)"
        );
        assert_eq!(
            Phase::Containers { built: 1, total: 4 }.describe(),
            "building images: 1/4 built"
        );
        let mut planning = Phase::Planning;
        planning.unit(true);
        assert_eq!(planning, Phase::Planning);
    }

    #[test]
    fn the_heartbeat_writes_while_nothing_else_does_and_stops_when_dropped() {
        let (lines, seen) = collected();
        lines.lock().unwrap().phase = Phase::Compiling {
            index: 1,
            total: 1,
            units: 10,
            done: 2,
            fresh: 1,
        };
        let beat = Heartbeat::start(lines.clone(), Duration::from_millis(20)).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        drop(beat);
        let after_stop = seen.lock().unwrap().len();
        assert!(after_stop >= 2, "{:?}", seen.lock().unwrap());
        assert!(
            seen.lock()
                .unwrap()
                .iter()
                .all(|l| l == "compiling 1/1: 2/10 units (1 fresh)")
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            seen.lock().unwrap().len(),
            after_stop,
            "a line after the stop"
        );
    }

    #[test]
    fn a_line_written_meanwhile_postpones_the_heartbeat() {
        let (lines, seen) = collected();
        let beat = Heartbeat::start(lines.clone(), Duration::from_secs(3600)).unwrap();
        lines.lock().unwrap().write("compiling 1/1: users");
        drop(beat);
        assert_eq!(*seen.lock().unwrap(), ["compiling 1/1: users"]);
    }
}

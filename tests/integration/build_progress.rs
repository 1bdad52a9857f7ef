//! `monoship build` off a terminal: while a build runs, a line at least every
//! `MONOSHIP_PROGRESS_INTERVAL` seconds (30 by default) says where it is, with units done/total;
//! the lines stop when the build ends, also when it fails.

use crate::support::fleet::Fleet;
use crate::support::tiny::{self, Crate};

/// A service whose one dependency's build script takes a few seconds: a build of it lasts
/// longer than several 1-second intervals, however fast the machine.
fn slow_workspace(service_source: &str) -> Fleet {
    tiny::workspace(
        "",
        &[
            Crate {
                dir: "crates/slow",
                bin: false,
                manifest: "",
                source: "pub fn answer() -> u32 { 42 }\n",
            },
            Crate {
                dir: "apps/hello",
                bin: true,
                manifest: "[dependencies]\nslow = { path = \"../../crates/slow\" }\n",
                source: service_source,
            },
        ],
        &[(
            "crates/slow/build.rs",
            "fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(4));\n}\n",
        )],
    )
}

/// `monoship build --profile dev hello` with a heartbeat every second; stderr is a pipe.
fn build(f: &Fleet) -> crate::support::run::Run {
    f.monoship()
        .env("MONOSHIP_PROGRESS_INTERVAL", "1")
        .args(["build", "--profile", "dev", "hello"])
        .run()
}

/// The heartbeat lines: `[  12.3s] compiling 1/1: 3/4 units (0 fresh)`, as (done, total).
fn heartbeats(stderr: &str) -> Vec<(usize, usize)> {
    stderr
        .lines()
        .filter_map(|line| {
            let text = line.split_once("s] ")?.1;
            let counts = text.strip_prefix("compiling 1/1: ")?;
            let (counts, fresh) = counts.split_once(" units (")?;
            assert!(fresh.ends_with(" fresh)"), "{line}");
            let (done, total) = counts.split_once('/')?;
            Some((done.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

/// Every line of stderr carries the elapsed time: `[   1.0s] `.
fn assert_stamped(stderr: &str) {
    for line in stderr.lines().filter(|l| !l.starts_with("error")) {
        let stamp = line.split_once("s] ").map(|(s, _)| s).unwrap_or(line);
        let seconds = stamp.strip_prefix('[').map(str::trim_start);
        assert!(
            seconds.is_some_and(|s| s.parse::<f64>().is_ok()),
            "not a stamped line: {line}\n{stderr}"
        );
    }
}

#[test]
fn a_long_compile_says_where_it_is_until_it_ends() {
    let f = slow_workspace("fn main() {\n    println!(\"{}\", slow::answer());\n}\n");
    let run = build(&f);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_stamped(&run.stderr);
    let beats = heartbeats(&run.stderr);
    assert!(beats.len() >= 2, "no heartbeat lines:\n{}", run.stderr);
    for (done, total) in &beats {
        assert!(
            done <= total && *total >= 2,
            "{done}/{total}:\n{}",
            run.stderr
        );
    }
    // They count up, and come after the invocation they describe started.
    assert!(beats.windows(2).all(|w| w[0].0 <= w[1].0), "{beats:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let started = lines
        .iter()
        .position(|l| l.ends_with("] compiling 1/1: hello"))
        .expect("the invocation's line");
    let first_beat = lines
        .iter()
        .position(|l| l.contains("] compiling 1/1: ") && l.ends_with(" fresh)"))
        .unwrap();
    assert!(started < first_beat, "{}", run.stderr);
    // The summary is the last line: nothing is written once the build is over.
    let last = lines.last().unwrap();
    assert!(last.contains("] compiled "), "{}", run.stderr);
}

#[test]
fn the_heartbeat_stops_when_the_build_fails() {
    let f = slow_workspace("fn main() {\n    broken(\n}\n");
    let run = build(&f);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!heartbeats(&run.stderr).is_empty(), "{}", run.stderr);
    let last = run.stderr.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: compilation failed (hello)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_quiet_build_writes_no_heartbeat() {
    let f = slow_workspace("fn main() {}\n");
    let quiet = f
        .monoship()
        .env("MONOSHIP_PROGRESS_INTERVAL", "1")
        .args(["-q", "build", "--profile", "dev", "hello"])
        .run();
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(heartbeats(&quiet.stderr).is_empty(), "{}", quiet.stderr);
    assert!(
        !quiet.stderr.contains("planning the build"),
        "{}",
        quiet.stderr
    );
}

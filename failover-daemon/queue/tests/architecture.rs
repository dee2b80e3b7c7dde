//! Fences on the shape of the crate: one name per thing across the queue and the daemon that
//! runs it, and one clock.

use std::path::{Path, PathBuf};

fn sources() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    out.sort();
    assert!(out.len() > 5, "no sources found in {}", src.display());
    out
}

/// The daemon's dispatcher owns the engine and its janitor runs the housekeeping; the queue's
/// own task and housekeeping are the runner and the sweep, and its verdict on a delivered
/// claim is not the core's quota `Verdict`.
#[test]
fn the_queue_reuses_no_name_of_the_daemon_or_the_core() {
    for file in sources() {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            !["dispatcher.rs", "janitor.rs"].contains(&name.as_str()),
            "{name}: the daemon has a file of that name"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("enum Verdict"),
            "{name}: `Verdict` is the core's quota verdict"
        );
    }
}

/// The time the queue records comes from the clock it is given; the system clock is read in
/// one place only, the default clock.
#[test]
fn the_system_clock_is_read_only_by_the_default_clock() {
    let mut reads = Vec::new();
    for file in sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.contains("Timestamp::now()") {
                reads.push(format!(
                    "{}:{}",
                    file.file_name().unwrap().to_string_lossy(),
                    i + 1
                ));
            }
        }
    }
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let default_clock = lib
        .split("impl Clock for SystemClock")
        .nth(1)
        .expect("the default clock in lib.rs");
    let in_default = default_clock.split("\n}\n").next().unwrap();
    assert!(in_default.contains("Timestamp::now()"));
    assert_eq!(reads.len(), 1, "Timestamp::now() read at {reads:?}");
}

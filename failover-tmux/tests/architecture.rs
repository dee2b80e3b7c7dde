//! Mechanical fences: only `transport.rs` builds commands, only `wire.rs` knows tmux
//! formats and the field separator, and across the workspace no other crate's sources speak
//! tmux unless listed in `TMUX_SYNTAX_ALLOWED` with the reason.

use std::fs;
use std::path::{Path, PathBuf};

fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    assert!(out.len() > 5, "found the sources");
    out
}

fn offenders(needles: &[&str], allowed: &str) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(p, _)| p.file_name().unwrap() != allowed)
        .flat_map(|(p, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| needles.iter().any(|n| l.contains(n)))
                .map(|(i, l)| format!("{}:{}: {}", p.display(), i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn only_transport_builds_commands() {
    let found = offenders(
        &["Command::new", "process::Command", "std::process::Stdio"],
        "transport.rs",
    );
    assert!(
        found.is_empty(),
        "commands built outside transport.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_wire_knows_tmux_formats_and_the_separator() {
    let found = offenders(&["#{", "\\t", "'\\u{9}'"], "wire.rs");
    assert!(
        found.is_empty(),
        "tmux syntax outside wire.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_fences_see_what_they_guard() {
    let all = sources();
    let text = |name: &str| &all.iter().find(|(p, _)| p.ends_with(name)).unwrap().1;
    assert!(text("transport.rs").contains("Command::new"));
    assert!(text("wire.rs").contains("#{pane_dead}"));
}

// ---------------------------------------------------------------------------------------------
// Across the workspace: tmux syntax lives in this crate. Any other crate's source that builds
// a tmux command goes through this crate's functions, or is listed here with its reason.

/// Source files outside `failover-tmux` allowed to speak tmux, and why.
const TMUX_SYNTAX_ALLOWED: &[(&str, &str)] = &[
    (
        "failover-daemon/sim/src/tmux.rs",
        "the offline world's private tmux server (`PrivateTmux`): tests, the recorder and the \
         benches set up and inspect panes through it, independently of the code under test, \
         and it kills its server synchronously from `Drop`",
    ),
    (
        "failover-daemon/tools/src/main.rs",
        "the fixture recorder drives the offline world's panes through `PrivateTmux`",
    ),
    (
        "benches/src/bin/failover-e2e-bench.rs",
        "the polling baseline it measures against is an external `tmux capture-pane` loop by \
         design, and it reads its world's server pid through `PrivateTmux`",
    ),
    (
        "failover-cli/src/discover.rs",
        "`init` lists the `ccl-*` sessions of the person's default tmux server once, \
         synchronously, before any async runtime exists",
    ),
    (
        "failover-cli/src/commands/doctor.rs",
        "`doctor` checks that tmux is installed and new enough (`tmux -V`), as a person \
         would, before anything is configured",
    ),
    (
        "failover-cli/src/commands/demo/world.rs",
        "the demo kills its private tmux server from `Drop`, synchronously, where this \
         crate's async transport cannot run",
    ),
];

/// What building a tmux command looks like: the program, a format (tmux's own variables, so
/// that Rust's `"#{n}"` format strings do not count), or a command name.
const TMUX_NEEDLES: &[&str] = &[
    "Command::new(\"tmux\")",
    "which(\"tmux\")",
    "#{pane_",
    "#{session_",
    "#{window_",
    "#{client_",
    "#{socket_",
    "#{server_",
    "#{pid}",
    "#{?",
    "\"attach-session\"",
    "\"capture-pane\"",
    "\"display-message\"",
    "\"has-session\"",
    "\"kill-server\"",
    "\"kill-session\"",
    "\"list-panes\"",
    "\"list-sessions\"",
    "\"load-buffer\"",
    "\"new-session\"",
    "\"paste-buffer\"",
    "\"resize-window\"",
    "\"send-keys\"",
    "\"set-environment\"",
    "\"set-option\"",
    "\"start-server\"",
    "capture-pane -p",
];

/// Every `.rs` file of the workspace's sources outside this crate: each package's `src/`
/// (the binaries and libraries; tests talk to tmux directly, as an independent oracle).
fn workspace_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                let skip = name.starts_with('.')
                    || matches!(
                        name.as_str(),
                        "target" | "tests" | "node_modules" | "fixtures"
                    );
                if !skip && p != Path::new(env!("CARGO_MANIFEST_DIR")) {
                    stack.push(p);
                }
            } else if name.ends_with(".rs") {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The lines of `text` before its unit tests (`#[cfg(test)]`, last in a file by this
/// workspace's convention) that build tmux commands.
fn speaks_tmux(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| TMUX_NEEDLES.iter().any(|n| l.contains(n)))
        .map(|(i, l)| format!("{}: {}", i + 1, l.trim()))
        .collect()
}

#[test]
fn only_this_crate_knows_tmux_syntax_across_the_workspace() {
    let sources = workspace_sources();
    assert!(
        sources
            .iter()
            .any(|(p, _)| p.starts_with("failover-daemon/src/"))
            && sources
                .iter()
                .any(|(p, _)| p.starts_with("failover-cli/src/"))
            && sources
                .iter()
                .any(|(p, _)| p.starts_with("failover-core/src/")),
        "found the workspace's sources"
    );
    let found: Vec<String> = sources
        .iter()
        .filter(|(p, _)| !TMUX_SYNTAX_ALLOWED.iter().any(|(a, _)| a == p))
        .flat_map(|(p, text)| {
            speaks_tmux(text)
                .into_iter()
                .map(move |l| format!("{p}:{l}"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "tmux syntax outside failover-tmux (go through failover-tmux's functions, or list the \
         file in TMUX_SYNTAX_ALLOWED with the reason):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_allowed_exception_still_speaks_tmux() {
    let sources = workspace_sources();
    for (path, why) in TMUX_SYNTAX_ALLOWED {
        assert!(!why.is_empty());
        let text = &sources
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} is listed as an exception but does not exist"))
            .1;
        assert!(
            !speaks_tmux(text).is_empty(),
            "{path} no longer builds tmux commands: remove it from TMUX_SYNTAX_ALLOWED"
        );
    }
}

#[test]
fn every_test_file_is_a_module_of_its_crates_one_test_binary() {
    // With `autotests = false`, a file in tests/ that tests.rs does not name is never built.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    for krate in [
        "failover-core",
        "failover-daemon",
        "failover-daemon/sim",
        "failover-daemon/queue",
        "failover-tmux",
        "failover-cli",
    ] {
        let dir = workspace.join(krate).join("tests");
        let tests_rs = fs::read_to_string(dir.join("tests.rs")).unwrap();
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if p.extension().is_some_and(|x| x == "rs")
                && stem != "tests"
                && !tests_rs.lines().any(|l| l == format!("mod {stem};"))
            {
                missing.push(p.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not a module of tests.rs: {missing:?} (add `mod <name>;`)"
    );
}

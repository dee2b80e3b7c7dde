//! Mechanical fences: only `transport.rs` builds commands, only `wire.rs` knows tmux
//! formats and the field separator.

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

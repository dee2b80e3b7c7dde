//! A mechanical fence: the daemon reaches tmux and Claude Code's files through the core's
//! ports and data types; `failover_tmux` is named only where the production parts are
//! wired, and in the few files listed below, each for its reason.

use std::fs;
use std::path::{Path, PathBuf};

/// Files of `src/` that may name `failover_tmux`, and why.
const ALLOWED: [(&str, &str); 3] = [
    (
        "production.rs",
        "wires tmux, the observers, the checkpoint files and the prompt source",
    ),
    (
        "config/resolve.rs",
        "`claude.share` defaults to, and is checked against, what failover_tmux::homes links",
    ),
    (
        "settings_check.rs",
        "compares the accounts' Claude Code settings read by failover_tmux::person",
    ),
];

fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text = fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
}

#[test]
fn failover_tmux_is_named_only_where_production_parts_are_wired() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&root, &mut all);
    assert!(all.len() > 20, "found the sources");
    let production = all
        .iter()
        .find(|(p, _)| p.ends_with("production.rs"))
        .expect("production.rs");
    assert!(
        production.1.contains("failover_tmux::"),
        "the fence sees what it guards"
    );
    let offenders: Vec<String> = all
        .iter()
        .filter(|(p, _)| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            !ALLOWED.iter().any(|(file, _)| rel == *file)
        })
        .flat_map(|(p, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains("failover_tmux"))
                .map(move |(i, l)| format!("{}:{}: {}", p.display(), i + 1, l.trim()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "failover_tmux named outside the production wiring (use the core's ports and types, \
         or wire it in production.rs):\n{}",
        offenders.join("\n")
    );
}

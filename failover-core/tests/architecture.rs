//! Mechanical fence: the data modules sit below the engine and name nothing of it.
//!
//! The engine (`src/engine/`) decides; the data modules hold the plain types it decides
//! about (ids, time, accounts, sessions, configuration, persisted state, quota detection,
//! the shared ledger, errors). An import the other way round makes a cycle (a data type
//! that only makes sense with the engine's bookkeeping belongs in `engine/`). The ports
//! (`backend`, `checkpoint`, `notify`), the testkit and `lib.rs` are not in the list: they
//! sit beside or above the engine and may name its effects and inputs.

// A test reads the sources it fences; the core's purity fence is for the library.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::path::{Path, PathBuf};

/// The data modules, as paths under `src/`: a file `<name>.rs` or a folder `<name>/`.
const DATA_MODULES: &[&str] = &[
    "ids",
    "time",
    "account",
    "accounts",
    "session",
    "config",
    "state",
    "quota",
    "ledger",
    "error",
    "error_kind",
];

/// What the engine exports at the crate root: naming one of these through `crate::` is
/// naming the engine too.
const ENGINE_ITEMS: &[&str] = &[
    "FailoverEngine",
    "Effect",
    "EffectOutcome",
    "Input",
    "Command",
    "CommandId",
    "CommandReply",
    "CommandRefusal",
    "Subject",
    "StatusSnapshot",
    "SessionStatus",
    "AccountStatus",
    "SwapStatus",
    "Choice",
    "Standstill",
    "Unsupported",
];

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

fn data_sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for module in DATA_MODULES {
        let file = src.join(format!("{module}.rs"));
        let dir = src.join(module);
        let found: Vec<PathBuf> = [file, dir]
            .iter()
            .filter(|p| p.exists())
            .flat_map(|p| rust_files(p))
            .collect();
        assert!(
            !found.is_empty(),
            "data module {module} not found under src/"
        );
        for p in found {
            let text = fs::read_to_string(&p).unwrap();
            out.push((p, text));
        }
    }
    out
}

/// The code lines (comments and docs left out: an intra-doc link to an effect is no
/// import) that name the engine.
fn engine_mentions(text: &str) -> Vec<(usize, String)> {
    let is_engine_item = |word: &str| ENGINE_ITEMS.contains(&word);
    // `crate::Input`, `crate::Effect::Launch`, ...
    let names_engine_item = |code: &str| {
        code.match_indices("crate::").any(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let word = rest
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next();
            word.is_some_and(is_engine_item)
        })
    };
    // The top-level words of a `use crate::{ ... }` group (or of one of its lines).
    let names_in_group = |group: &str| group.split([',', ' ', '{', '}', ';']).any(is_engine_item);
    let mut in_crate_group = false;
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim();
        if code.starts_with("//") {
            continue;
        }
        let mut offends = code.contains("engine::") || names_engine_item(code);
        if in_crate_group {
            offends |= names_in_group(code);
            in_crate_group = !code.contains('}');
        } else if let Some((_, group)) = code.split_once("crate::{") {
            offends |= names_in_group(group);
            in_crate_group = !group.contains('}');
        }
        if offends {
            found.push((i + 1, code.to_owned()));
        }
    }
    found
}

#[test]
fn data_modules_name_nothing_of_the_engine() {
    let found: Vec<String> = data_sources()
        .iter()
        .flat_map(|(path, text)| {
            engine_mentions(text)
                .into_iter()
                .map(move |(line, code)| format!("{}:{line}: {code}", path.display()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "data modules naming the engine (move the type into engine/ instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_fence_sees_what_it_guards() {
    // Every way a data module could name the engine is caught...
    for offence in [
        "    pub(crate) streak: Option<crate::engine::PaneStreak>,",
        "use crate::engine::Effect;",
        "use crate::Effect;",
        "fn f(_: crate::EffectOutcome) {}",
        "use crate::{Input, ids::SessionId};",
        "use crate::{ids::SessionId, Command};",
        "use super::engine::machine::SessionMachine;",
    ] {
        assert_eq!(engine_mentions(offence).len(), 1, "missed: {offence}");
    }
    let grouped = "use crate::{\n    ids::SessionId,\n    Input,\n};\n";
    assert_eq!(engine_mentions(grouped), vec![(3, "Input,".to_owned())]);
    // ...while docs linking to effects, and names that merely start alike, are not.
    for fine in [
        "/// A [`Launch`](crate::Effect::Launch) is outstanding.",
        "use crate::ids::{AccountId, RequestId};",
        "use crate::InputSource;",
    ] {
        assert!(engine_mentions(fine).is_empty(), "flagged: {fine}");
    }
    // And it reads the modules it lists.
    let sources = data_sources();
    assert!(
        sources.iter().any(|(p, _)| p.ends_with("session.rs")),
        "session.rs is fenced"
    );
    assert!(
        sources
            .iter()
            .any(|(p, _)| p.components().any(|c| c.as_os_str() == "quota")),
        "quota/ is fenced"
    );
}

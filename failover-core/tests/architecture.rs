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
    "pool",
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

/// The names a `pub use` statement (one line or a `{ ... }` group over several) exports.
fn exported_names(statement: &str) -> Vec<String> {
    let path = statement
        .trim()
        .trim_start_matches("pub use ")
        .trim_end_matches(';');
    let group = match path.split_once('{') {
        Some((_, rest)) => rest.trim_end_matches('}'),
        None => path.rsplit("::").next().unwrap_or(path),
    };
    group
        .split(',')
        .map(|n| n.trim().rsplit(' ').next().unwrap_or("").to_owned())
        .filter(|n| !n.is_empty() && n != "self")
        .collect()
}

/// The `pub use` statements of a file, each joined onto one line.
fn pub_uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for line in text.lines() {
        let code = line.trim();
        if let Some(mut statement) = open.take() {
            statement.push(' ');
            statement.push_str(code);
            if code.ends_with(';') {
                out.push(statement);
            } else {
                open = Some(statement);
            }
        } else if code.starts_with("pub use ") {
            if code.ends_with(';') {
                out.push(code.to_owned());
            } else {
                open = Some(code.to_owned());
            }
        }
    }
    out
}

#[test]
fn a_stranger_meets_each_public_name_once() {
    // The crate root holds the engine, its data and its ports; `quota` the detectors;
    // `testkit` the test tools. Every other module is private, so no type is reachable
    // under a second path (`failover_core::engine::Input` beside `failover_core::Input`).
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let public_modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert_eq!(
        public_modules,
        ["quota", "testkit"],
        "public modules of lib.rs"
    );
    let quota_modules: Vec<String> = rust_files(&src.join("quota"))
        .iter()
        .flat_map(|p| {
            let text = fs::read_to_string(p).unwrap();
            text.lines()
                .filter(|l| l.trim().starts_with("pub mod "))
                .map(|l| format!("{}: {}", p.display(), l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        quota_modules.is_empty(),
        "public submodules of quota: {quota_modules:?}"
    );

    // What `quota` exports is not exported at the root too, and the other way round.
    let at_root: Vec<String> = pub_uses(&lib)
        .iter()
        .filter(|s| s.starts_with("pub use quota::"))
        .flat_map(|s| exported_names(s))
        .collect();
    let quota = fs::read_to_string(src.join("quota/mod.rs")).unwrap();
    let in_quota: Vec<String> = pub_uses(&quota)
        .iter()
        .flat_map(|s| exported_names(s))
        .collect();
    assert!(at_root.contains(&"Verdict".to_owned()), "{at_root:?}");
    assert!(
        in_quota.contains(&"PaneDetector".to_owned()),
        "{in_quota:?}"
    );
    let twice: Vec<&String> = at_root.iter().filter(|n| in_quota.contains(n)).collect();
    assert!(
        twice.is_empty(),
        "exported both at the root and in quota: {twice:?}"
    );
}

#[test]
fn exported_names_reads_groups_and_single_items() {
    assert_eq!(
        exported_names("pub use quota::PaneDetector;"),
        ["PaneDetector"]
    );
    assert_eq!(
        exported_names("pub use quota::verdict::{ Verdict, Detection, };"),
        ["Verdict", "Detection"]
    );
    let text = "pub use a::{\n    B,\n    C,\n};\nuse d::E;\npub use f::G;\n";
    assert_eq!(pub_uses(text), ["pub use a::{ B, C, };", "pub use f::G;"]);
}

#[test]
fn every_public_type_can_be_named() {
    // A `pub` type in a private module that is not re-exported still leaks through the
    // signatures that return it (`AccountPool::iter` gives `AccountEntry`s), but a user can
    // neither name it nor find its docs. Every one is exported from the root, `quota` or
    // `testkit`, or defined in one of those files.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let facades = [
        "lib.rs",
        "quota/mod.rs",
        "testkit/mod.rs",
        "testkit/strategies.rs",
    ];
    let exported: Vec<String> = facades
        .iter()
        .flat_map(|f| pub_uses(&fs::read_to_string(src.join(f)).unwrap()))
        .flat_map(|s| exported_names(&s))
        .collect();
    let mut unnamed = Vec::new();
    for path in rust_files(&src) {
        if facades.iter().any(|f| path.ends_with(f)) {
            continue;
        }
        for line in fs::read_to_string(&path).unwrap().lines() {
            let Some(rest) = ["pub struct ", "pub enum ", "pub trait ", "pub type "]
                .iter()
                .find_map(|kw| line.strip_prefix(kw))
            else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !exported.contains(&name) {
                unnamed.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(
        unnamed.is_empty(),
        "public types no path reaches: {unnamed:?}"
    );
}

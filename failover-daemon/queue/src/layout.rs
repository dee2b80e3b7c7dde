//! Where everything lives under a project's `.agent-queue/`, and how file names are derived.
//!
//! A task's *name* is its file name (`fix-login.md`); its *stem* is the name without `.md`.
//! Records beside it are `<stem>.claim.json` and `<stem>.result.json`. Names are kept as
//! they are (spaces, unicode); only stems too long for a record's suffix are shortened, with
//! a hash so that two long names never share a record.

use std::path::{Path, PathBuf};

use crate::fsio::exists_nofollow;

/// The queue's directory inside a project.
pub const QUEUE_DIR: &str = ".agent-queue";

/// The longest stem used verbatim in a derived name; longer ones are cut and hashed.
const MAX_STEM_BYTES: usize = 200;

/// The directories of one project's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The project directory.
    pub project: PathBuf,
    /// `<project>/.agent-queue`.
    pub root: PathBuf,
}

impl Layout {
    /// The layout of `project`'s queue (nothing is created).
    pub fn new(project: &Path) -> Self {
        Self {
            project: project.to_path_buf(),
            root: project.join(QUEUE_DIR),
        }
    }

    /// Where operators drop tasks.
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    /// Claimed tasks, one directory per session.
    pub fn claimed(&self) -> PathBuf {
        self.root.join("claimed")
    }
    /// One session's claims.
    pub fn claimed_by(&self, session: &str) -> PathBuf {
        self.claimed().join(session)
    }
    /// Finished tasks and their result records.
    pub fn done(&self) -> PathBuf {
        self.root.join("done")
    }
    /// Tasks that failed for good, or were rejected, with their result records.
    pub fn failed(&self) -> PathBuf {
        self.root.join("failed")
    }
    /// Old `done/` entries moved away by the sweep.
    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }
    /// Temp files for atomic writes (same file system as everything else).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// Attempt counts of tasks sent back to the inbox.
    pub fn attempts(&self) -> PathBuf {
        self.root.join("attempts")
    }
    /// The published session status.
    pub fn status(&self) -> PathBuf {
        self.root.join("status.json")
    }

    /// `.agent-queue/.gitignore`: `*`, so a repository never commits (or ships) its queue.
    pub fn gitignore(&self) -> PathBuf {
        self.root.join(".gitignore")
    }

    /// Creates every directory of the queue, and a `.gitignore` holding `*` in its root when
    /// there is none (an existing one is left as it is).
    pub fn create(&self) -> std::io::Result<()> {
        for dir in [
            self.inbox(),
            self.claimed(),
            self.done(),
            self.failed(),
            self.archive(),
            self.tmp(),
            self.attempts(),
        ] {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.gitignore())
        {
            Ok(mut f) => std::io::Write::write_all(&mut f, b"*\n"),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The name without a trailing `.md`.
pub fn stem(name: &str) -> &str {
    name.strip_suffix(".md").unwrap_or(name)
}

/// A stem short enough to take any suffix we add: long stems are cut at a character boundary
/// and given a hash of the whole stem.
fn fit(stem: &str) -> String {
    if stem.len() <= MAX_STEM_BYTES {
        return stem.to_owned();
    }
    let mut cut = MAX_STEM_BYTES - 20;
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{:016x}", &stem[..cut], fnv1a(stem.as_bytes()))
}

/// FNV-1a, 64 bit: a stable hash (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `<stem>.claim.json`.
pub fn claim_record_name(task: &str) -> String {
    format!("{}.claim.json", fit(stem(task)))
}

/// `<stem>.result.json`.
pub fn result_record_name(task: &str) -> String {
    format!("{}.result.json", fit(stem(task)))
}

/// `<stem>.json` in `attempts/`.
pub fn attempts_record_name(task: &str) -> String {
    format!("{}.attempts.json", fit(stem(task)))
}

/// Whether `name` is one of our records rather than a task.
pub fn is_record_name(name: &str) -> bool {
    name.ends_with(".claim.json") || name.ends_with(".result.json")
}

/// A name for `name` in `dir` that neither names an existing entry nor has an existing result
/// record: `name` itself when free, else `<stem>~2.md`, `<stem>~3.md`, ...
pub fn free_name(dir: &Path, name: &str) -> String {
    let taken = |n: &str| {
        exists_nofollow(&dir.join(n)) || exists_nofollow(&dir.join(result_record_name(n)))
    };
    if !taken(name) {
        return name.to_owned();
    }
    let fitted = {
        let s = fit(stem(name));
        if name.ends_with(".md") {
            format!("{s}.md")
        } else {
            s
        }
    };
    let (base, ext) = match fitted.strip_suffix(".md") {
        Some(s) => (s.to_owned(), ".md"),
        None => (fitted.clone(), ""),
    };
    (2u64..)
        .map(|n| format!("{base}~{n}{ext}"))
        .find(|c| !taken(c))
        .unwrap_or(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names() {
        assert_eq!(claim_record_name("a b.md"), "a b.claim.json");
        assert_eq!(result_record_name("notes.txt"), "notes.txt.result.json");
        let long = "é".repeat(120) + ".md";
        let rec = claim_record_name(&long);
        assert!(rec.len() <= 255, "{}", rec.len());
        assert_ne!(rec, claim_record_name(&("é".repeat(119) + "x.md")));
    }

    #[test]
    fn free_name_skips_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.md"), "x").unwrap();
        std::fs::write(dir.path().join("t~2.result.json"), "x").unwrap();
        assert_eq!(free_name(dir.path(), "t.md"), "t~3.md");
        assert_eq!(free_name(dir.path(), "u.md"), "u.md");
    }

    #[test]
    fn create_ignores_the_queue_in_git_and_keeps_an_existing_ignore_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create().unwrap();
        assert_eq!(std::fs::read_to_string(layout.gitignore()).unwrap(), "*\n");
        std::fs::write(layout.gitignore(), "*\n!keep\n").unwrap();
        layout.create().unwrap();
        assert_eq!(
            std::fs::read_to_string(layout.gitignore()).unwrap(),
            "*\n!keep\n"
        );
    }
}

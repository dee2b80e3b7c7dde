//! Where Claude Code keeps a conversation's transcript.
//!
//! Claude Code stores a conversation run in working directory `cwd` at
//! `$CLAUDE_CONFIG_DIR/projects/<folder>/<session-id>.jsonl`, where `<folder>` is `cwd` with
//! every character other than ASCII letters and digits replaced by `-` (checked against the
//! real CLI: `/tmp/proj.x_y/a b+c` → `-tmp-proj-x-y-a-b-c`). The CLI works on UTF-16, so a
//! character outside the Basic Multilingual Plane becomes two dashes. Folder names longer
//! than 200 characters are cut to 200 and get a hash suffix; this crate finds those by
//! their 200-character prefix instead of re-deriving the hash.

use std::path::{Path, PathBuf};

use failover_core::{ClaudeSessionId, SessionId};

/// Longest folder name Claude Code uses before truncating and adding a hash.
pub const MAX_FOLDER_LEN: usize = 200;

/// The `projects/` folder name Claude Code derives from a working directory (before
/// truncation).
pub fn project_folder_name(cwd: &Path) -> String {
    let s = cwd.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                out.push('-');
            }
        }
    }
    out
}

/// Where the transcript of `session` run in `cwd` lives under `projects_dir`, if it exists.
/// Handles the truncated-with-hash folder names of very long paths by prefix.
pub fn find_transcript(
    projects_dir: &Path,
    cwd: &Path,
    session: &ClaudeSessionId,
) -> Result<PathBuf, PathBuf> {
    let folder = project_folder_name(cwd);
    let file = format!("{session}.jsonl");
    let direct = projects_dir.join(&folder).join(&file);
    if folder.len() <= MAX_FOLDER_LEN {
        return if direct.is_file() {
            Ok(direct)
        } else {
            Err(direct)
        };
    }
    let prefix = format!("{}-", &folder[..MAX_FOLDER_LEN]);
    if let Ok(entries) = std::fs::read_dir(projects_dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with(&prefix) {
                let candidate = e.path().join(&file);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
    }
    Err(direct)
}

/// `session`'s name made safe as a file name in a folder of per-session files (checkpoint
/// records, kept drafts): readable, with any byte outside `[A-Za-z0-9_-]` written as
/// `%XX`, so no name can leave the folder.
pub fn session_file_stem(session: &SessionId) -> String {
    let mut name = String::new();
    for b in session.as_str().bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name
}

/// The session a file stem written by [`session_file_stem`] names; `None` for a stem it
/// cannot have written (a stray file).
pub fn session_of_file_stem(stem: &str) -> Option<SessionId> {
    let mut bytes = Vec::with_capacity(stem.len());
    let mut rest = stem.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            bytes.push(b);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok().map(SessionId::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_stem_gives_its_session_back() {
        for name in ["ccl-0", "ccl/0 x", "é%_", ""] {
            let session = SessionId::new(name);
            assert_eq!(
                session_of_file_stem(&session_file_stem(&session)),
                Some(session)
            );
        }
        assert_eq!(session_of_file_stem(".x.tmp"), None);
        assert_eq!(session_of_file_stem("%4"), None);
        assert_eq!(session_of_file_stem("%ZZ"), None);
    }

    #[test]
    fn every_non_alphanumeric_becomes_a_dash() {
        assert_eq!(
            project_folder_name(Path::new("/tmp/cfx/proj.x_y/a b+c")),
            "-tmp-cfx-proj-x-y-a-b-c"
        );
        assert_eq!(project_folder_name(Path::new("/home/é/😀")), "-home-----");
    }
}

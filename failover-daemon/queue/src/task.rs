//! Reading a task file: the checks that turn a bad file into a reason, and the front matter.
//!
//! ```text
//! ---
//! priority: 5          # integer, higher runs first (default 0)
//! session: ccl-1       # only this session may take it (default: any session of the project)
//! max_attempts: 2      # deliveries before it fails for good (default from the config)
//! allow_commands: true # the prompt may start with `/` or `!` (default false)
//! ---
//! The prompt: everything after the closing `---`.
//! ```
//!
//! The prompt is typed into Claude Code, where a first character `/` makes it a command
//! (`/logout` removes the account's login, `/exit` ends the session) and `!` runs a shell
//! command. Such a task is refused unless its front matter says `allow_commands: true`.
//!
//! Files are opened with `O_NOFOLLOW | O_NONBLOCK` and judged by the opened descriptor, so a
//! file swapped for a FIFO or a symlink after it was looked at is refused rather than followed
//! or waited on.

use std::fs::{self, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Settings read from a task's front matter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskMeta {
    /// Higher runs first.
    pub priority: i64,
    /// The only session allowed to take the task.
    pub session: Option<String>,
    /// Deliveries allowed; `None` means the configured default.
    pub max_attempts: Option<u32>,
    /// The prompt may start with `/` or `!` (a Claude Code command or a shell command).
    pub allow_commands: bool,
}

/// A task file that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFile {
    /// Front matter.
    pub meta: TaskMeta,
    /// The prompt to deliver.
    pub prompt: String,
}

/// Why a file in the inbox cannot be a task. Written beside it in `failed/`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadTask {
    /// The name does not end in `.md`.
    #[error("name does not end in .md")]
    NotMarkdown,
    /// The name is not valid UTF-8.
    #[error("file name is not valid UTF-8")]
    NameNotUtf8,
    /// A symlink whose target is outside the project (or dangling).
    #[error("symlink points outside the project: {target}")]
    SymlinkOutside {
        /// Where it points.
        target: String,
    },
    /// A directory, socket, FIFO...
    #[error("not a regular file")]
    NotAFile,
    /// Bigger than the limit (judged from metadata; never read).
    #[error("{size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Zero bytes, or nothing but front matter and white space.
    #[error("empty task")]
    Empty,
    /// Content is not UTF-8.
    #[error("content is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Front matter that does not parse.
    #[error("front matter line {line}: {message}")]
    FrontMatter {
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading failed.
    #[error("cannot read: {0}")]
    Unreadable(String),
    /// The prompt starts with `/` or `!`: Claude Code would run it as a command.
    #[error(
        "the prompt starts with `{first}`, which Claude Code runs as a {what}; add \
         `allow_commands: true` to the front matter to send it anyway"
    )]
    Command {
        /// `/` or `!`.
        first: char,
        /// What Claude Code makes of it.
        what: &'static str,
    },
}

/// Checks the file named `name` at `path` in `project` and reads it. `meta` is its
/// `symlink_metadata`. Size is judged from metadata before anything is read.
pub fn inspect(
    project: &Path,
    path: &Path,
    name: &std::ffi::OsStr,
    meta: &Metadata,
    max_bytes: u64,
) -> Result<TaskFile, BadTask> {
    let name = name.to_str().ok_or(BadTask::NameNotUtf8)?;
    if !name.ends_with(".md") {
        return Err(BadTask::NotMarkdown);
    }
    let (open_path, expected) = if meta.file_type().is_symlink() {
        let outside = || BadTask::SymlinkOutside {
            target: fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
        };
        let target = fs::canonicalize(path).map_err(|_| outside())?;
        let root = fs::canonicalize(project).map_err(|e| BadTask::Unreadable(e.to_string()))?;
        if !target.starts_with(&root) {
            return Err(outside());
        }
        let meta = fs::symlink_metadata(&target).map_err(|e| BadTask::Unreadable(e.to_string()))?;
        (target, meta)
    } else {
        (path.to_path_buf(), meta.clone())
    };
    if !expected.is_file() {
        return Err(BadTask::NotAFile);
    }
    if expected.len() > max_bytes {
        return Err(BadTask::TooLarge {
            size: expected.len(),
            limit: max_bytes,
        });
    }
    let file = open_checked(&open_path, &expected)?;
    let meta = file
        .metadata()
        .map_err(|e| BadTask::Unreadable(e.to_string()))?;
    if meta.len() > max_bytes {
        return Err(BadTask::TooLarge {
            size: meta.len(),
            limit: max_bytes,
        });
    }
    if meta.len() == 0 {
        return Err(BadTask::Empty);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BadTask::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        // It grew after the metadata was read.
        return Err(BadTask::TooLarge {
            size: bytes.len() as u64,
            limit: max_bytes,
        });
    }
    parse(&bytes)
}

/// Opens `path` without following a symlink in its last component and without waiting on a
/// FIFO or device, and checks that what was opened is the regular file `expected` describes
/// (a file swapped after it was looked at is refused, never read).
fn open_checked(path: &Path, expected: &Metadata) -> Result<fs::File, BadTask> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                BadTask::Unreadable("it became a symlink while being checked".into())
            } else {
                BadTask::Unreadable(e.to_string())
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| BadTask::Unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(BadTask::NotAFile);
    }
    if meta.dev() != expected.dev() || meta.ino() != expected.ino() {
        return Err(BadTask::Unreadable(
            "it was replaced by another file while being checked".into(),
        ));
    }
    Ok(file)
}

/// Parses a task's bytes: UTF-8, front matter, non-empty prompt (one that Claude Code would
/// run as a command only when the front matter allows it).
pub fn parse(bytes: &[u8]) -> Result<TaskFile, BadTask> {
    let text = std::str::from_utf8(bytes).map_err(|e| BadTask::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (meta, body) = split_front_matter(text)?;
    if body.trim().is_empty() {
        return Err(BadTask::Empty);
    }
    if !meta.allow_commands {
        match body.trim_start().chars().next() {
            Some(first @ '/') => {
                return Err(BadTask::Command {
                    first,
                    what: "command (e.g. /logout, /exit)",
                });
            }
            Some(first @ '!') => {
                return Err(BadTask::Command {
                    first,
                    what: "shell command",
                });
            }
            _ => {}
        }
    }
    Ok(TaskFile {
        meta,
        prompt: body.trim_end().to_owned(),
    })
}

fn split_front_matter(text: &str) -> Result<(TaskMeta, &str), BadTask> {
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return Ok((TaskMeta::default(), text));
    };
    if first.trim_end() != "---" {
        return Ok((TaskMeta::default(), text));
    }
    let mut meta = TaskMeta::default();
    let mut offset = first.len();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        offset += line.len();
        let content = line.trim();
        if content == "---" {
            return Ok((meta, &text[offset..]));
        }
        let content = match content.find(" #") {
            Some(at) => content[..at].trim_end(),
            None => content,
        };
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let bad = |message: String| BadTask::FrontMatter {
            line: line_no,
            message,
        };
        let (key, value) = content
            .split_once(':')
            .ok_or_else(|| bad(format!("expected `key: value`, found `{content}`")))?;
        let value = unquote(value.trim());
        match key.trim() {
            "priority" => {
                meta.priority = value
                    .parse()
                    .map_err(|_| bad(format!("priority must be an integer, found `{value}`")))?;
            }
            "session" => {
                if value.is_empty() {
                    return Err(bad("session is empty".into()));
                }
                meta.session = Some(value.to_owned());
            }
            "max_attempts" => {
                let n: u32 = value.parse().map_err(|_| {
                    bad(format!(
                        "max_attempts must be a positive integer, found `{value}`"
                    ))
                })?;
                if n == 0 {
                    return Err(bad("max_attempts must be at least 1".into()));
                }
                meta.max_attempts = Some(n);
            }
            "allow_commands" => {
                meta.allow_commands = match value {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(bad(format!(
                            "allow_commands must be true or false, found `{value}`"
                        )));
                    }
                };
            }
            other => {
                return Err(bad(format!(
                    "unknown key `{other}` (known: priority, session, max_attempts, \
                     allow_commands)"
                )));
            }
        }
    }
    Err(BadTask::FrontMatter {
        line: 1,
        message: "front matter opened with `---` is never closed".into(),
    })
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_read_and_stripped() {
        let t =
            parse(b"---\npriority: -2\nsession: \"ccl-1\" # pin\nmax_attempts: 4\n---\nDo it.\n")
                .unwrap();
        assert_eq!(t.meta.priority, -2);
        assert_eq!(t.meta.session.as_deref(), Some("ccl-1"));
        assert_eq!(t.meta.max_attempts, Some(4));
        assert_eq!(t.prompt, "Do it.");
    }

    #[test]
    fn no_front_matter_is_all_prompt() {
        let t = parse("Fix the bug.\n---\nmore".as_bytes()).unwrap();
        assert_eq!(t.meta, TaskMeta::default());
        assert_eq!(t.prompt, "Fix the bug.\n---\nmore");
    }

    #[test]
    fn bad_front_matter_names_the_line() {
        assert_eq!(
            parse(b"---\n\npriority: high\n---\nx"),
            Err(BadTask::FrontMatter {
                line: 3,
                message: "priority must be an integer, found `high`".into()
            })
        );
        assert!(matches!(
            parse(b"---\npriority: 1\n"),
            Err(BadTask::FrontMatter { line: 1, .. })
        ));
        assert!(matches!(
            parse(b"---\nmax_attempts: 0\n---\nx"),
            Err(BadTask::FrontMatter { line: 2, .. })
        ));
    }

    #[test]
    fn empty_and_invalid_utf8() {
        assert_eq!(parse(b"---\npriority: 1\n---\n  \n"), Err(BadTask::Empty));
        assert_eq!(parse(b"ab\xffcd"), Err(BadTask::NotUtf8 { offset: 2 }));
    }

    #[test]
    fn a_prompt_claude_code_would_run_as_a_command_is_refused() {
        for body in [
            "/logout\n",
            "\n\n  /exit",
            "---\npriority: 1\n---\n\n!rm -rf ~\n",
        ] {
            assert!(
                matches!(parse(body.as_bytes()), Err(BadTask::Command { .. })),
                "{body:?} was accepted"
            );
        }
        let reason = parse(b"/logout").unwrap_err().to_string();
        assert!(reason.contains("allow_commands: true"), "{reason}");
        let t = parse(b"---\nallow_commands: true\n---\n/compact\n").unwrap();
        assert!(t.meta.allow_commands);
        assert_eq!(t.prompt, "/compact");
        // Only the first character counts.
        assert_eq!(
            parse(b"Fix a/b and say hi!").unwrap().prompt,
            "Fix a/b and say hi!"
        );
        assert!(matches!(
            parse(b"---\nallow_commands: yes\n---\n/x"),
            Err(BadTask::FrontMatter { line: 2, .. })
        ));
    }

    /// A file looked at as a regular file, then swapped for a FIFO (nobody writing) or a
    /// symlink before it is read: refused at once, never waited on or followed.
    #[test]
    fn a_file_swapped_after_its_metadata_was_read_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.md");
        let outside = tempfile::NamedTempFile::new().unwrap();
        fs::write(outside.path(), "secret").unwrap();
        for swap in ["fifo", "symlink"] {
            fs::write(&path, "a task").unwrap();
            let meta = fs::symlink_metadata(&path).unwrap();
            fs::remove_file(&path).unwrap();
            if swap == "fifo" {
                let made = std::process::Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .unwrap();
                assert!(made.success());
            } else {
                std::os::unix::fs::symlink(outside.path(), &path).unwrap();
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let (project, p) = (dir.path().to_path_buf(), path.clone());
            std::thread::spawn(move || {
                let _ = tx.send(inspect(&project, &p, "t.md".as_ref(), &meta, 1024));
            });
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("reading a file swapped for a {swap} hung"));
            assert!(
                matches!(got, Err(BadTask::NotAFile | BadTask::Unreadable(_))),
                "{swap}: {got:?}"
            );
            fs::remove_file(&path).unwrap();
        }
    }
}

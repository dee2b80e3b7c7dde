//! Account homes: what belongs to the person, not to the account, is kept once and every
//! account's `CLAUDE_CONFIG_DIR` links to it. Every account's `projects` is a symbolic link
//! to one shared transcript tree, so a conversation written under one account can be resumed
//! under another; the person's memory and customisations (`CLAUDE.md`, `commands/`,
//! `agents/`, `skills/`, `output-styles/`, see [`DEFAULT_SHARE`]) are linked the same way to
//! one shared copy each, so a session moved to another account still behaves as theirs.
//!
//! [`adopt_entry`] brings one such entry of an existing account in ([`adopt`] is the
//! `projects/` case). When the account holds a real folder (or file) there, its content is
//! merged into the shared copy first, never overwriting anything:
//!
//! - a file the shared tree lacks is copied in (to a temporary name, synced, renamed);
//! - the same content already there is left as is;
//! - different content is kept side by side as `<stem>.conflict-<account>[-N].<ext>` and
//!   reported (e.g. `CLAUDE.md` differing between two accounts: both are kept);
//!   transcripts are append-only, so when one version is a prefix of the other the shared
//!   file ends up with the longer content (the missing tail is appended, never rewritten,
//!   so a process appending to it keeps its file) and the shorter one is kept as a
//!   conflict copy as well.
//!
//! Then the original is renamed aside (`<name>.pre-failover[-N]`, kept, never deleted) and
//! the link takes its place. Each step can be interrupted and [`adopt_entry`] re-run:
//! merging is idempotent and an original left aside without a link is merged again.
//!
//! Symbolic links are never followed or recreated while merging: a link inside an account's
//! folder stays only in the copy set aside and is reported as skipped.
//!
//! Credentials are never touched: nothing here opens, copies, moves or re-permissions
//! `.credentials.json` or any file whose name suggests credentials or keys (the check is on
//! file names only: a project folder such as `-home-u-src-tokenizers` is merged like any
//! other); [`refuse_share`] keeps account-owned entries (credentials, `.claude.json`,
//! settings, caches) out of the shared set; [`login_status`] only looks at metadata.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};

use failover_core::AccountId;

use crate::error::FsError;

/// Name of an account's transcript folder inside its `CLAUDE_CONFIG_DIR`.
pub const PROJECTS: &str = "projects";
/// Name Claude Code gives its credentials file.
pub const CREDENTIALS_FILE: &str = ".credentials.json";
/// Prefix of the folder an adopted `projects/` is renamed to.
pub const ASIDE_PREFIX: &str = "projects.pre-failover";
/// The person's entries shared by default: user memory, custom slash commands, subagents,
/// skills and output styles.
pub const DEFAULT_SHARE: [&str; 5] = ["CLAUDE.md", "commands", "agents", "skills", "output-styles"];

/// Whether a file name looks like credential material; such files are skipped, never read.
pub fn is_credential_name(name: &OsStr) -> bool {
    let n = name.to_string_lossy().to_ascii_lowercase();
    ["credential", "keychain", "token", "secret", ".pem", ".key"]
        .iter()
        .any(|w| n.contains(w))
}

/// Why `name` can never be one of the person's shared entries, or `None` when it can.
///
/// Refused: anything that is not a single plain name; credential-like names; the account's
/// global config (`.claude.json` and its backups), `settings.json` (it carries each
/// account's statusline hook: see `sync_settings`), `projects` (shared on its own); and
/// folders holding identity, tokens or per-account state (statsig, caches, todos, shell
/// snapshots, IDE locks, session environments, sessions, config backups).
pub fn refuse_share(name: &str) -> Option<&'static str> {
    let bare = name.strip_suffix('/').unwrap_or(name);
    if bare.is_empty() || bare == "." || bare == ".." || bare.contains('/') || bare.contains('\0') {
        return Some("is not one plain name inside the account's config dir");
    }
    if is_credential_name(OsStr::new(bare)) {
        return Some("looks like credentials");
    }
    let lower = bare.to_ascii_lowercase();
    if lower.starts_with(".claude.json") || lower == ".claude" {
        return Some("is the account's global config (login, identity, trusted folders)");
    }
    if lower.starts_with("settings") {
        return Some("is the account's settings (statusline hook); use sync_settings instead");
    }
    if lower == PROJECTS {
        return Some("is shared through shared_projects already");
    }
    // Words that mark identity, tokens or caches anywhere in a name, and folders that hold
    // per-account state by their exact name.
    const ACCOUNT_WORDS: [&str; 7] = [
        "statsig",
        "cache",
        "oauth",
        "login",
        "account",
        "identity",
        "telemetry",
    ];
    const ACCOUNT_STATE: [&str; 7] = [
        "todos",
        "shell-snapshots",
        "session-env",
        "sessions",
        "ide",
        "backups",
        "statsig",
    ];
    if ACCOUNT_WORDS.iter().any(|w| lower.contains(w)) || ACCOUNT_STATE.contains(&lower.as_str()) {
        return Some("holds the account's identity, tokens, caches or per-account state");
    }
    None
}

/// What a shared entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A folder (`projects`, `commands`, ...): merged file by file.
    Folder,
    /// A single file (`CLAUDE.md`).
    File,
}

impl EntryKind {
    /// The kind a `share` entry names: a trailing `/` or no extension is a folder
    /// (`commands/`, `agents`), a name with an extension is a file (`CLAUDE.md`).
    pub fn of(name: &str) -> Self {
        if name.ends_with('/') || !name.trim_start_matches('.').contains('.') {
            Self::Folder
        } else {
            Self::File
        }
    }
}

/// What an adoption did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdoptReport {
    /// Files copied into the shared tree.
    pub copied: Vec<PathBuf>,
    /// Files already there with the same content.
    pub identical: usize,
    /// Shared files that were a prefix of the account's and got its missing tail.
    pub extended: Vec<PathBuf>,
    /// Conflict copies written (shared-tree paths).
    pub conflicts: Vec<PathBuf>,
    /// Entries left only in the original set aside (credential-like file names, symbolic
    /// links, special files), relative to it.
    pub skipped: Vec<PathBuf>,
    /// Where the account's original folder (or file) was moved, if there was one.
    pub set_aside: Option<PathBuf>,
    /// Whether the link was created now (false: it was already in place).
    pub linked: bool,
}

/// Links `config_dir/projects` to `shared`, merging an existing folder first (see the
/// module docs). Creates `shared` if needed.
pub fn adopt(
    shared: &Path,
    config_dir: &Path,
    account: &AccountId,
) -> Result<AdoptReport, FsError> {
    adopt_entry(shared, config_dir, PROJECTS, EntryKind::Folder, account)
}

/// Links `config_dir/<name>` to `shared` (a folder or a file, as `kind` says), merging the
/// account's own entry into it first and setting that aside (see the module docs).
///
/// A folder `shared` is created if needed; a file `shared` only gets its parent created,
/// and while no account has one the link dangles until the person writes it.
pub fn adopt_entry(
    shared: &Path,
    config_dir: &Path,
    name: &str,
    kind: EntryKind,
    account: &AccountId,
) -> Result<AdoptReport, FsError> {
    let name = name.strip_suffix('/').unwrap_or(name);
    let shared = match kind {
        EntryKind::Folder => {
            fs::create_dir_all(shared).map_err(FsError::io("create", shared))?;
            fs::canonicalize(shared).map_err(FsError::io("resolve", shared))?
        }
        EntryKind::File => {
            let parent = shared.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(parent).map_err(FsError::io("create", parent))?;
            let parent = fs::canonicalize(parent).map_err(FsError::io("resolve", parent))?;
            let file = parent.join(shared.file_name().unwrap_or(OsStr::new(name)));
            match fs::symlink_metadata(&file) {
                Ok(m) if !m.is_file() => {
                    return Err(FsError::Invalid {
                        path: file,
                        reason: "is shared as a file but is not a plain file".to_owned(),
                    });
                }
                _ => file,
            }
        }
    };
    fs::create_dir_all(config_dir).map_err(FsError::io("create", config_dir))?;
    let link = config_dir.join(name);
    let mut report = AdoptReport::default();
    if let Ok(real) = fs::canonicalize(&link) {
        if !fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink())
            && shared.starts_with(&real)
        {
            return Err(FsError::Invalid {
                path: link,
                reason: format!("contains the shared tree {}", shared.display()),
            });
        }
    }

    let aside_prefix = format!("{name}.pre-failover");
    let state = fs::symlink_metadata(&link);
    if !state.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
        // Not linked yet: originals set aside by an earlier, interrupted run are merged
        // again (idempotent). Once linked, they are history and left alone.
        for aside in asides(config_dir, &aside_prefix, kind)? {
            merge_entry(&aside, &shared, kind, account, &mut report)?;
        }
    }
    match state {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(&link).map_err(FsError::io("read link", &link))?;
            let resolved = fs::canonicalize(&link).ok();
            if resolved.as_deref() == Some(shared.as_path()) || target == shared {
                return Ok(report);
            }
            return Err(FsError::ForeignLink {
                path: link,
                target,
                shared,
            });
        }
        Ok(m)
            if (kind == EntryKind::Folder && m.is_dir())
                || (kind == EntryKind::File && m.is_file()) =>
        {
            merge_entry(&link, &shared, kind, account, &mut report)?;
            let aside = free_aside_name(config_dir, &aside_prefix);
            fs::rename(&link, &aside).map_err(FsError::io("set aside", &link))?;
            sync_dir(config_dir)?;
            report.set_aside = Some(aside);
        }
        Ok(_) => {
            return Err(FsError::Invalid {
                path: link,
                reason: match kind {
                    EntryKind::Folder => "is shared as a folder but is not one",
                    EntryKind::File => "is shared as a file but is not one",
                }
                .to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FsError::io("inspect", &link)(e)),
    }
    // Create the link under a temporary name, then rename it into place.
    let tmp = config_dir.join(format!(".{name}.link-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    symlink(&shared, &tmp).map_err(FsError::io("link", &tmp))?;
    fs::rename(&tmp, &link).map_err(FsError::io("link", &link))?;
    sync_dir(config_dir)?;
    report.linked = true;
    Ok(report)
}

fn merge_entry(
    from: &Path,
    to: &Path,
    kind: EntryKind,
    account: &AccountId,
    report: &mut AdoptReport,
) -> Result<(), FsError> {
    match kind {
        EntryKind::Folder => merge_tree(from, to, account, report),
        EntryKind::File => merge_file(from, to, account, report),
    }
}

fn asides(config_dir: &Path, prefix: &str, kind: EntryKind) -> Result<Vec<PathBuf>, FsError> {
    let mut out = Vec::new();
    for e in fs::read_dir(config_dir).map_err(FsError::io("list", config_dir))? {
        let e = e.map_err(FsError::io("list", config_dir))?;
        let is_kind = e.file_type().is_ok_and(|t| match kind {
            EntryKind::Folder => t.is_dir(),
            EntryKind::File => t.is_file(),
        });
        if e.file_name().to_string_lossy().starts_with(prefix) && is_kind {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

fn free_aside_name(config_dir: &Path, prefix: &str) -> PathBuf {
    let first = config_dir.join(prefix);
    if fs::symlink_metadata(&first).is_err() {
        return first;
    }
    (2..)
        .map(|n| config_dir.join(format!("{prefix}-{n}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}

/// Merges every entry of `from` into `to` (see the module docs). Links are neither followed
/// nor recreated, on either side.
fn merge_tree(
    from: &Path,
    to: &Path,
    account: &AccountId,
    report: &mut AdoptReport,
) -> Result<(), FsError> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let src_dir = from.join(&rel);
        let dst_dir = to.join(&rel);
        match fs::symlink_metadata(&dst_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                // A link or a file where the shared tree needs a folder: never written
                // through; the account's folder stays set aside.
                report.skipped.push(rel);
                continue;
            }
            Err(_) => fs::create_dir(&dst_dir).map_err(FsError::io("create", &dst_dir))?,
        }
        let mut entries: Vec<_> = fs::read_dir(&src_dir)
            .map_err(FsError::io("list", &src_dir))?
            .collect::<Result<_, _>>()
            .map_err(FsError::io("list", &src_dir))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name();
            let rel_child = rel.join(&name);
            let ft = e.file_type().map_err(FsError::io("inspect", e.path()))?;
            if ft.is_dir() {
                stack.push(rel_child);
            } else if ft.is_file() && !is_credential_name(&name) {
                let dst = to.join(&rel_child);
                if fs::symlink_metadata(&dst).is_ok_and(|m| !m.is_file()) {
                    report.skipped.push(rel_child);
                } else {
                    merge_file(&e.path(), &dst, account, report)?;
                }
            } else {
                // Credential-like files, symbolic links, sockets, FIFOs: left alone.
                report.skipped.push(rel_child);
            }
        }
    }
    Ok(())
}

/// How two files compare.
#[derive(Debug, PartialEq, Eq)]
enum Relation {
    Same,
    /// The first is a strict prefix of the second.
    PrefixOf,
    /// The second is a strict prefix of the first.
    Extends,
    Diverged,
}

fn relation(a: &Path, b: &Path) -> io::Result<Relation> {
    let mut fa = open_nofollow(a)?;
    let mut fb = open_nofollow(b)?;
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        let n = na.min(nb);
        if ba[..n] != bb[..n] {
            return Ok(Relation::Diverged);
        }
        if na == nb {
            if na < ba.len() {
                return Ok(Relation::Same);
            }
            continue;
        }
        // One side reached its end: it is a prefix of the other.
        return Ok(if na < nb {
            Relation::PrefixOf
        } else {
            Relation::Extends
        });
    }
}

/// Opens a file for reading without following a final symbolic link.
fn open_nofollow(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn merge_file(
    src: &Path,
    dst: &Path,
    account: &AccountId,
    report: &mut AdoptReport,
) -> Result<(), FsError> {
    if fs::symlink_metadata(dst).is_err() {
        copy_into_place(src, dst)?;
        report.copied.push(dst.to_owned());
        return Ok(());
    }
    match relation(dst, src).map_err(FsError::io("compare", src))? {
        Relation::Same => report.identical += 1,
        Relation::PrefixOf => {
            // The shared file is a prefix of the account's: keep a copy of the shorter one,
            // then append the missing tail in place.
            let copy = conflict_copy(dst, dst, account)?;
            report.conflicts.extend(copy);
            append_tail(src, dst)?;
            report.extended.push(dst.to_owned());
        }
        Relation::Extends | Relation::Diverged => {
            let copy = conflict_copy(src, dst, account)?;
            report.conflicts.extend(copy);
        }
    }
    Ok(())
}

/// Copies `content` next to `dst` as a conflict copy, unless an identical one exists.
fn conflict_copy(
    content: &Path,
    dst: &Path,
    account: &AccountId,
) -> Result<Option<PathBuf>, FsError> {
    let parent = dst.parent().unwrap_or(Path::new("."));
    let stem = dst
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let ext = dst
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    for n in 1.. {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let candidate = parent.join(format!("{stem}.conflict-{account}{suffix}{ext}"));
        if fs::symlink_metadata(&candidate).is_err() {
            copy_into_place(content, &candidate)?;
            return Ok(Some(candidate));
        }
        if relation(&candidate, content).map_err(FsError::io("compare", &candidate))?
            == Relation::Same
        {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Copies `src` to a temporary name beside `dst`, syncs it, renames it to `dst`, syncs the
/// folder. `dst` must not exist; the rename never replaces anything that appeared meanwhile.
fn copy_into_place(src: &Path, dst: &Path) -> Result<(), FsError> {
    let parent = dst.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}.failover-tmp-{}",
        dst.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let copied = (|| {
        let mut from = open_nofollow(src)?;
        let mode = from.metadata()?.permissions();
        let _ = fs::remove_file(&tmp);
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        io::copy(&mut from, &mut to)?;
        to.set_permissions(mode)?;
        to.sync_all()
    })();
    if let Err(e) = copied {
        let _ = fs::remove_file(&tmp);
        return Err(FsError::io("copy", src)(e));
    }
    // A hard link fails instead of replacing a file that appeared since the check.
    let linked = fs::hard_link(&tmp, dst);
    let _ = fs::remove_file(&tmp);
    linked.map_err(FsError::io("place", dst))?;
    sync_dir(parent)
}

/// Appends to `dst` the bytes of `src` beyond `dst`'s length (`dst` is a prefix of `src`).
fn append_tail(src: &Path, dst: &Path) -> Result<(), FsError> {
    let have = fs::metadata(dst)
        .map_err(FsError::io("inspect", dst))?
        .len();
    let mut from = open_nofollow(src).map_err(FsError::io("open", src))?;
    io::Seek::seek(&mut from, io::SeekFrom::Start(have)).map_err(FsError::io("seek", src))?;
    let mut to = fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dst)
        .map_err(FsError::io("open", dst))?;
    io::copy(&mut from, &mut to).map_err(FsError::io("append", dst))?;
    to.flush().map_err(FsError::io("append", dst))?;
    to.sync_all().map_err(FsError::io("sync", dst))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), FsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(FsError::io("sync", dir))
}

/// Whether an account looks logged in, judged from file metadata only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginStatus {
    /// `.credentials.json` exists and only its owner can read it.
    Present,
    /// It exists but group or others may read it (worth a warning; never "fixed" here).
    PresentWorldReadable,
    /// It is missing or empty: the account needs `/login`.
    Missing,
}

/// Checks `config_dir/.credentials.json` without opening it: existence, size and mode.
pub fn login_status(config_dir: &Path) -> Result<LoginStatus, FsError> {
    let path = config_dir.join(CREDENTIALS_FILE);
    match fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() > 0 => {
            if m.mode() & 0o077 == 0 {
                Ok(LoginStatus::Present)
            } else {
                Ok(LoginStatus::PresentWorldReadable)
            }
        }
        Ok(_) => Ok(LoginStatus::Missing),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LoginStatus::Missing),
        Err(e) => Err(FsError::io("inspect", path)(e)),
    }
}

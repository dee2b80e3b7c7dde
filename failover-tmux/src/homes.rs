//! Account homes: every account's `CLAUDE_CONFIG_DIR/projects` is a symbolic link to one
//! shared transcript tree, so a conversation written under one account can be resumed
//! under another.
//!
//! [`adopt`] brings an existing account in. When its `projects/` is a real folder, every
//! file is merged into the shared tree first, never overwriting anything:
//!
//! - a file the shared tree lacks is copied in (to a temporary name, synced, renamed);
//! - the same content already there is left as is;
//! - different content is kept side by side as `<stem>.conflict-<account>[-N].<ext>`;
//!   transcripts are append-only, so when one version is a prefix of the other the shared
//!   file ends up with the longer content (the missing tail is appended, never rewritten,
//!   so a process appending to it keeps its file) and the shorter one is kept as a
//!   conflict copy as well.
//!
//! Then the folder is renamed aside (`projects.pre-failover[-N]`, kept, never deleted) and
//! the link takes its place. Each step can be interrupted and [`adopt`] re-run: merging is
//! idempotent and a folder left aside without a link is merged again.
//!
//! Credentials are never touched: nothing here opens, copies, moves or re-permissions
//! `.credentials.json` or any file whose name suggests credentials or keys;
//! [`login_status`] only looks at metadata.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

use failover_core::AccountId;

use crate::error::FsError;

/// Name of an account's transcript folder inside its `CLAUDE_CONFIG_DIR`.
pub const PROJECTS: &str = "projects";
/// Name Claude Code gives its credentials file.
pub const CREDENTIALS_FILE: &str = ".credentials.json";
/// Prefix of the folder an adopted `projects/` is renamed to.
pub const ASIDE_PREFIX: &str = "projects.pre-failover";

/// Whether a file name looks like credential material; such files are skipped, never read.
pub fn is_credential_name(name: &OsStr) -> bool {
    let n = name.to_string_lossy().to_ascii_lowercase();
    ["credential", "keychain", "token", "secret", ".pem", ".key"]
        .iter()
        .any(|w| n.contains(w))
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
    /// Entries left only in the folder set aside (credential-like names, special files,
    /// links that clash), relative to it.
    pub skipped: Vec<PathBuf>,
    /// Where the account's original folder was moved, if it was a folder.
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
    fs::create_dir_all(shared).map_err(FsError::io("create", shared))?;
    let shared = fs::canonicalize(shared).map_err(FsError::io("resolve", shared))?;
    fs::create_dir_all(config_dir).map_err(FsError::io("create", config_dir))?;
    let link = config_dir.join(PROJECTS);
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

    let state = fs::symlink_metadata(&link);
    if !state.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
        // Not linked yet: folders set aside by an earlier, interrupted run are merged again
        // (idempotent). Once linked, they are history and left alone.
        for aside in asides(config_dir)? {
            merge_tree(&aside, &shared, account, &mut report)?;
        }
    }
    match state {
        Ok(m) if m.file_type().is_symlink() => {
            let target = fs::read_link(&link).map_err(FsError::io("read link", &link))?;
            let resolved = fs::canonicalize(&link).ok();
            if resolved.as_deref() == Some(shared.as_path()) {
                return Ok(report);
            }
            return Err(FsError::ForeignLink {
                path: link,
                target,
                shared,
            });
        }
        Ok(m) if m.is_dir() => {
            merge_tree(&link, &shared, account, &mut report)?;
            let aside = free_aside_name(config_dir);
            fs::rename(&link, &aside).map_err(FsError::io("set aside", &link))?;
            sync_dir(config_dir)?;
            report.set_aside = Some(aside);
        }
        Ok(_) => {
            return Err(FsError::Invalid {
                path: link,
                reason: "is neither a folder nor a link".to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FsError::io("inspect", &link)(e)),
    }
    // Create the link under a temporary name, then rename it into place.
    let tmp = config_dir.join(format!(".{PROJECTS}.link-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    symlink(&shared, &tmp).map_err(FsError::io("link", &tmp))?;
    fs::rename(&tmp, &link).map_err(FsError::io("link", &link))?;
    sync_dir(config_dir)?;
    report.linked = true;
    Ok(report)
}

fn asides(config_dir: &Path) -> Result<Vec<PathBuf>, FsError> {
    let mut out = Vec::new();
    for e in fs::read_dir(config_dir).map_err(FsError::io("list", config_dir))? {
        let e = e.map_err(FsError::io("list", config_dir))?;
        if e.file_name().to_string_lossy().starts_with(ASIDE_PREFIX)
            && e.file_type().is_ok_and(|t| t.is_dir())
        {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

fn free_aside_name(config_dir: &Path) -> PathBuf {
    let first = config_dir.join(ASIDE_PREFIX);
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| config_dir.join(format!("{ASIDE_PREFIX}-{n}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}

/// Merges every entry of `from` into `to` (see the module docs).
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
        fs::create_dir_all(&dst_dir).map_err(FsError::io("create", &dst_dir))?;
        let mut entries: Vec<_> = fs::read_dir(&src_dir)
            .map_err(FsError::io("list", &src_dir))?
            .collect::<Result<_, _>>()
            .map_err(FsError::io("list", &src_dir))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name();
            let rel_child = rel.join(&name);
            if is_credential_name(&name) {
                report.skipped.push(rel_child);
                continue;
            }
            let ft = e.file_type().map_err(FsError::io("inspect", e.path()))?;
            if ft.is_dir() {
                stack.push(rel_child);
            } else if ft.is_file() {
                merge_file(&e.path(), &to.join(&rel_child), account, report)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(e.path()).map_err(FsError::io("read link", e.path()))?;
                let dst = to.join(&rel_child);
                match fs::read_link(&dst) {
                    Ok(t) if t == target => report.identical += 1,
                    Err(_) if fs::symlink_metadata(&dst).is_err() => {
                        symlink(&target, &dst).map_err(FsError::io("link", &dst))?;
                        report.copied.push(dst);
                    }
                    _ => report.skipped.push(rel_child),
                }
            } else {
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
    let mut fa = File::open(a)?;
    let mut fb = File::open(b)?;
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
    fs::copy(src, &tmp).map_err(FsError::io("copy", src))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(FsError::io("sync", &tmp))?;
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
    let mut from = File::open(src).map_err(FsError::io("open", src))?;
    io::Seek::seek(&mut from, io::SeekFrom::Start(have)).map_err(FsError::io("seek", src))?;
    let mut to = fs::OpenOptions::new()
        .append(true)
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

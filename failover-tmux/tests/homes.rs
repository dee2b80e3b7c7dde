//! Account homes: adopting accounts into one shared projects tree loses no byte and never
//! touches credentials.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use failover_core::AccountId;
use failover_tmux::FsError;
use failover_tmux::homes::{self, LoginStatus};

/// Every regular file under `root` (following links at the top), relative path → bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let ft = fs::metadata(e.path()).unwrap();
            if ft.is_dir() {
                stack.push(r);
            } else {
                out.insert(r, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A config dir with credentials (mode 0600) and the given transcripts.
fn account(root: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = root.join(name);
    let creds = dir.join(".credentials.json");
    write(
        &creds,
        format!("{{\"claudeAiOauth\":{{\"accessToken\":\"tok-{name}\"}}}}").as_bytes(),
    );
    fs::set_permissions(&creds, fs::Permissions::from_mode(0o600)).unwrap();
    for (rel, bytes) in files {
        write(&dir.join("projects").join(rel), bytes);
    }
    dir
}

fn credential_fingerprint(dir: &Path) -> (Vec<u8>, u32, u64) {
    use std::os::unix::fs::MetadataExt;
    let p = dir.join(".credentials.json");
    let m = fs::metadata(&p).unwrap();
    (fs::read(&p).unwrap(), m.permissions().mode(), m.ino())
}

#[test]
fn adoption_merges_without_losing_a_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared-projects");
    let line1 = b"{\"type\":\"user\",\"n\":1}\n".as_slice();
    let line12 = b"{\"type\":\"user\",\"n\":1}\n{\"type\":\"assistant\",\"n\":2}\n".as_slice();
    let a = account(
        tmp.path(),
        "a",
        &[
            ("-p/same.jsonl", b"identical\n"),
            ("-p/grows.jsonl", line1),
            ("-p/shrinks.jsonl", line12),
            ("-p/diverged.jsonl", b"{\"from\":\"a\"}\n"),
            ("-p/only-a.jsonl", b"a\n"),
            ("-q/memory/notes.md", b"# notes\n"),
        ],
    );
    let b = account(
        tmp.path(),
        "b",
        &[
            ("-p/same.jsonl", b"identical\n"),
            ("-p/grows.jsonl", line12),
            ("-p/shrinks.jsonl", line1),
            ("-p/diverged.jsonl", b"{\"from\":\"b\"}\n"),
            ("-p/only-b.jsonl", b"b\n"),
            ("-p/oauth-token.json", b"must not move"),
        ],
    );
    let before_a = snapshot(&a.join("projects"));
    let before_b = snapshot(&b.join("projects"));
    let creds_a = credential_fingerprint(&a);
    let creds_b = credential_fingerprint(&b);

    let ra = homes::adopt(&shared, &a, &AccountId::new("a")).unwrap();
    assert!(
        ra.linked && ra.conflicts.is_empty() && ra.copied.len() == 6,
        "{ra:?}"
    );
    let rb = homes::adopt(&shared, &b, &AccountId::new("b")).unwrap();
    assert!(rb.linked, "{rb:?}");

    // Both homes now show the shared tree.
    for dir in [&a, &b] {
        let link = dir.join("projects");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            fs::canonicalize(&shared).unwrap()
        );
    }
    let after = snapshot(&shared);
    // The longer version of each prefix pair is in place.
    assert_eq!(after[Path::new("-p/grows.jsonl")], line12);
    assert_eq!(after[Path::new("-p/shrinks.jsonl")], line12);
    assert_eq!(after[Path::new("-p/diverged.jsonl")], b"{\"from\":\"a\"}\n");
    // Every byte of every file of both accounts is somewhere in the shared tree, under its
    // own name or as a conflict copy.
    for (account, before) in [("a", &before_a), ("b", &before_b)] {
        for (rel, bytes) in before {
            if rel.to_string_lossy().contains("token") {
                continue;
            }
            let stem = rel.file_stem().unwrap().to_string_lossy().into_owned();
            let kept = after.iter().any(|(p, b)| {
                b == bytes
                    && p.parent() == rel.parent()
                    && (p == rel
                        || p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with(&format!("{stem}.conflict-")))
            });
            assert!(
                kept,
                "{account}: {} lost; shared = {:?}",
                rel.display(),
                after.keys()
            );
        }
    }
    assert_eq!(
        after[Path::new("-p/diverged.conflict-b.jsonl")],
        b"{\"from\":\"b\"}\n"
    );
    assert_eq!(after[Path::new("-p/shrinks.conflict-b.jsonl")], line1);
    assert_eq!(after[Path::new("-p/grows.conflict-b.jsonl")], line1);
    // The credential-like file stayed only in b's folder set aside, untouched.
    assert!(!after.keys().any(|p| p.to_string_lossy().contains("token")));
    let aside = rb.set_aside.clone().unwrap();
    assert_eq!(
        snapshot(&aside),
        before_b,
        "the original folder is kept as it was"
    );
    assert_eq!(rb.skipped, vec![PathBuf::from("-p/oauth-token.json")]);
    // Credentials: same bytes, same mode, same file.
    assert_eq!(credential_fingerprint(&a), creds_a);
    assert_eq!(credential_fingerprint(&b), creds_b);

    // Re-running changes nothing.
    let again = homes::adopt(&shared, &b, &AccountId::new("b")).unwrap();
    assert!(
        !again.linked && again.copied.is_empty() && again.extended.is_empty(),
        "{again:?}"
    );
    assert_eq!(snapshot(&shared), after);
}

#[test]
fn an_interrupted_adoption_can_be_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let a = account(
        tmp.path(),
        "a",
        &[("-p/x.jsonl", b"x\n"), ("-p/y.jsonl", b"y\n")],
    );
    let before = snapshot(&a.join("projects"));
    // Simulate a crash after the folder was set aside, before the link was made, with only
    // part of the merge done.
    write(&shared.join("-p/x.jsonl"), b"x\n");
    fs::rename(a.join("projects"), a.join(homes::ASIDE_PREFIX)).unwrap();
    let report = homes::adopt(&shared, &a, &AccountId::new("a")).unwrap();
    assert!(report.linked);
    assert_eq!(snapshot(&a.join("projects")), before);

    // A crash in the middle of extending a prefix: re-running completes it.
    let b = account(tmp.path(), "b", &[("-p/x.jsonl", b"x\nmore\nand more\n")]);
    fs::OpenOptions::new()
        .append(true)
        .open(shared.join("-p/x.jsonl"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"mo"))
        .unwrap();
    homes::adopt(&shared, &b, &AccountId::new("b")).unwrap();
    assert_eq!(
        fs::read(shared.join("-p/x.jsonl")).unwrap(),
        b"x\nmore\nand more\n"
    );
}

#[test]
fn fresh_accounts_are_linked_and_foreign_links_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let fresh = tmp.path().join("fresh");
    let r = homes::adopt(&shared, &fresh, &AccountId::new("fresh")).unwrap();
    assert!(r.linked && r.set_aside.is_none());
    assert!(
        fs::symlink_metadata(fresh.join("projects"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    let odd = tmp.path().join("odd");
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::create_dir_all(&odd).unwrap();
    std::os::unix::fs::symlink(&elsewhere, odd.join("projects")).unwrap();
    let err = homes::adopt(&shared, &odd, &AccountId::new("odd")).unwrap_err();
    assert!(matches!(err, FsError::ForeignLink { .. }), "{err}");
    assert_eq!(fs::read_link(odd.join("projects")).unwrap(), elsewhere);
}

#[test]
fn login_status_reads_metadata_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acct");
    fs::create_dir_all(&dir).unwrap();
    assert_eq!(homes::login_status(&dir).unwrap(), LoginStatus::Missing);
    let creds = dir.join(".credentials.json");
    fs::write(&creds, b"{}").unwrap();
    fs::set_permissions(&creds, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        homes::login_status(&dir).unwrap(),
        LoginStatus::PresentWorldReadable
    );
    // Not readable even by its owner: still judged present (it is never opened).
    fs::set_permissions(&creds, fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(homes::login_status(&dir).unwrap(), LoginStatus::Present);
    assert_eq!(
        fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0
    );
}

#[test]
fn a_shared_tree_inside_an_accounts_projects_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = account(tmp.path(), "a", &[("-p/x.jsonl", b"x\n")]);
    let before = snapshot(&a.join("projects"));
    let err = homes::adopt(&a.join("projects/shared"), &a, &AccountId::new("a")).unwrap_err();
    assert!(matches!(err, FsError::Invalid { .. }), "{err}");
    assert!(fs::metadata(a.join("projects")).unwrap().is_dir());
    let mut after = snapshot(&a.join("projects"));
    after.retain(|p, _| !p.starts_with("shared"));
    assert_eq!(after, before);
}

#[test]
fn project_folders_with_credential_like_names_are_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let a = account(
        tmp.path(),
        "a",
        &[
            ("-home-u-src-tokenizers/t.jsonl", b"{\"n\":1}\n"),
            ("-home-u-secrets-app/memory/notes.md", b"notes\n"),
            ("-home-u-src-tokenizers/api-token.txt", b"not moved"),
        ],
    );
    let r = homes::adopt(&shared, &a, &AccountId::new("a")).unwrap();
    let after = snapshot(&shared);
    assert_eq!(
        after
            .get(Path::new("-home-u-src-tokenizers/t.jsonl"))
            .map(Vec::as_slice),
        Some(b"{\"n\":1}\n".as_slice()),
        "{r:?}"
    );
    assert_eq!(
        after
            .get(Path::new("-home-u-secrets-app/memory/notes.md"))
            .map(Vec::as_slice),
        Some(b"notes\n".as_slice())
    );
    // The filter still applies to files.
    assert_eq!(
        r.skipped,
        vec![PathBuf::from("-home-u-src-tokenizers/api-token.txt")]
    );
}

#[test]
fn links_are_neither_followed_nor_recreated_while_merging() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared");
    let outside = tmp.path().join("outside");
    write(&outside.join("private.txt"), b"outside the home\n");
    let a = account(tmp.path(), "a", &[("-p/x.jsonl", b"x\n")]);
    std::os::unix::fs::symlink(&outside, a.join("projects/-p/escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("private.txt"), a.join("projects/-p/file-link"))
        .unwrap();
    // The shared tree already holds a link where the account has a folder: never written
    // through.
    write(&a.join("projects/-q/y.jsonl"), b"y\n");
    fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&outside, shared.join("-q")).unwrap();

    let r = homes::adopt(&shared, &a, &AccountId::new("a")).unwrap();
    let mut skipped = r.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            PathBuf::from("-p/escape"),
            PathBuf::from("-p/file-link"),
            PathBuf::from("-q"),
        ]
    );
    for p in ["-p/escape", "-p/file-link"] {
        assert!(
            fs::symlink_metadata(shared.join(p)).is_err(),
            "{p} recreated"
        );
    }
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing written through the link"
    );
    assert_eq!(fs::read(shared.join("-p/x.jsonl")).unwrap(), b"x\n");
    // What was skipped is kept in the folder set aside.
    let aside = r.set_aside.unwrap();
    assert!(
        fs::symlink_metadata(aside.join("-p/escape"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(aside.join("-q/y.jsonl")).unwrap(), b"y\n");
}

/// Writes the person's entries of one account.
fn persons_files(dir: &Path, files: &[(&str, &[u8])]) {
    for (rel, bytes) in files {
        write(&dir.join(rel), bytes);
    }
}

fn adopt_all(shared: &Path, dir: &Path, name: &str) -> Vec<homes::AdoptReport> {
    homes::DEFAULT_SHARE
        .iter()
        .map(|entry| {
            homes::adopt_entry(
                &shared.join(entry),
                dir,
                entry,
                homes::EntryKind::of(entry),
                &AccountId::new(name),
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn the_persons_entries_are_kept_once_and_conflicts_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("person");
    let a = account(tmp.path(), "a", &[]);
    let b = account(tmp.path(), "b", &[]);
    persons_files(
        &a,
        &[
            ("CLAUDE.md", b"# Memory of a\nUse tabs.\n"),
            ("commands/foo.md", b"Say foo\n"),
            ("agents/reviewer.md", b"review\n"),
            ("skills/deploy/SKILL.md", b"deploy\n"),
        ],
    );
    persons_files(
        &b,
        &[
            ("CLAUDE.md", b"# Memory of b\nUse spaces.\n"),
            ("commands/bar.md", b"Say bar\n"),
            ("commands/foo.md", b"Say foo differently\n"),
            ("output-styles/terse.md", b"terse\n"),
        ],
    );
    let creds = [credential_fingerprint(&a), credential_fingerprint(&b)];
    adopt_all(&shared, &a, "a");
    let rb = adopt_all(&shared, &b, "b");
    // A fresh account (nothing of the person yet) sees everything.
    let fresh = tmp.path().join("fresh");
    adopt_all(&shared, &fresh, "fresh");

    for dir in [&a, &b, &fresh] {
        for entry in homes::DEFAULT_SHARE {
            let link = dir.join(entry);
            assert!(
                fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink(),
                "{}",
                link.display()
            );
        }
        assert_eq!(
            fs::read(dir.join("CLAUDE.md")).unwrap(),
            b"# Memory of a\nUse tabs.\n"
        );
        assert_eq!(fs::read(dir.join("commands/bar.md")).unwrap(), b"Say bar\n");
        assert_eq!(fs::read(dir.join("commands/foo.md")).unwrap(), b"Say foo\n");
        assert_eq!(
            fs::read(dir.join("output-styles/terse.md")).unwrap(),
            b"terse\n"
        );
        assert_eq!(
            fs::read(dir.join("skills/deploy/SKILL.md")).unwrap(),
            b"deploy\n"
        );
    }
    // b's differing memory and command are kept beside the shared ones and reported.
    assert_eq!(
        fs::read(shared.join("CLAUDE.conflict-b.md")).unwrap(),
        b"# Memory of b\nUse spaces.\n"
    );
    assert_eq!(
        fs::read(shared.join("commands/foo.conflict-b.md")).unwrap(),
        b"Say foo differently\n"
    );
    let conflicts: Vec<_> = rb.iter().flat_map(|r| r.conflicts.clone()).collect();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    // The originals are set aside untouched.
    assert_eq!(
        fs::read(b.join("CLAUDE.md.pre-failover")).unwrap(),
        b"# Memory of b\nUse spaces.\n"
    );
    assert_eq!(
        fs::read(b.join("commands.pre-failover/foo.md")).unwrap(),
        b"Say foo differently\n"
    );
    assert_eq!(
        [credential_fingerprint(&a), credential_fingerprint(&b)],
        creds
    );
    // Re-running changes nothing.
    let again = adopt_all(&shared, &b, "b");
    assert!(
        again.iter().all(|r| !r.linked && r.copied.is_empty()),
        "{again:?}"
    );
}

#[test]
fn memory_written_later_on_any_account_is_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("person");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    adopt_all(&shared, &a, "a");
    adopt_all(&shared, &b, "b");
    // Nobody had a CLAUDE.md: the links wait for one.
    assert!(fs::metadata(a.join("CLAUDE.md")).is_err());
    fs::write(a.join("CLAUDE.md"), b"remember me\n").unwrap();
    assert_eq!(fs::read(b.join("CLAUDE.md")).unwrap(), b"remember me\n");
    assert_eq!(
        fs::read(shared.join("CLAUDE.md")).unwrap(),
        b"remember me\n"
    );
}

#[test]
fn account_owned_names_are_refused_for_sharing() {
    for name in [
        ".credentials.json",
        ".claude.json",
        ".claude.json.backup",
        "settings.json",
        "settings.local.json",
        "statsig",
        "cache",
        "projects",
        "todos",
        "shell-snapshots",
        "oauth-token",
        "ide",
        "backups",
        "session-env",
        "../CLAUDE.md",
        "a/b",
        "",
        ".",
    ] {
        assert!(homes::refuse_share(name).is_some(), "{name:?} accepted");
    }
    for name in homes::DEFAULT_SHARE {
        assert_eq!(homes::refuse_share(name), None, "{name}");
    }
    assert_eq!(homes::refuse_share("commands/"), None);
    // Ordinary names that merely contain such letters are fine.
    for name in ["guides", "ideas.md", "authors.md", "AGENTS.md"] {
        assert_eq!(homes::refuse_share(name), None, "{name}");
    }
    assert_eq!(homes::EntryKind::of("CLAUDE.md"), homes::EntryKind::File);
    assert_eq!(homes::EntryKind::of("commands/"), homes::EntryKind::Folder);
    assert_eq!(
        homes::EntryKind::of("output-styles"),
        homes::EntryKind::Folder
    );
}

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

//! `doctor` with `[ledger]` against a real redis-server: it says whether Redis answers, and
//! warns when two hosts log in as different Anthropic accounts under one account name.

use crate::util;
use crate::util::redis as redis_support;

use std::process::Command;

use redis_support::RedisServer;
use util::{Sandbox, run60};

#[test]
fn doctor_checks_the_ledger_and_same_named_accounts_across_hosts() {
    let mut redis = RedisServer::start();
    let sb = Sandbox::new();
    let home = sb.home();
    for (name, uuid) in [("a", "uuid-of-alice"), ("b", "uuid-of-bob")] {
        let dir = home.join(format!(".claude-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".claude.json"),
            format!(
                r#"{{"oauthAccount":{{"accountUuid":"{uuid}","emailAddress":"x@example.com"}}}}"#
            ),
        )
        .unwrap();
    }
    let cfg = sb.path("config/claude-failover/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[[accounts]]\nname = \"a\"\nconfig_dir = \"~/.claude-a\"\n\n[[accounts]]\nname = \"b\"\nconfig_dir = \"~/.claude-b\"\n\n[ledger]\nurl = {:?}\nhost = \"here\"\nkey_prefix = \"doc\"\n",
            redis.url()
        ),
    )
    .unwrap();
    // Another host recorded that its account "a" is someone else, and its "b" the same.
    for (key, uuid) in [
        ("doc:identity:a", "uuid-of-carol"),
        ("doc:identity:b", "uuid-of-bob"),
    ] {
        let ok = Command::new("redis-cli")
            .args([
                "-p",
                &redis.port.to_string(),
                "HSET",
                key,
                "build-box",
                uuid,
            ])
            .output()
            .unwrap();
        assert!(ok.status.success(), "{ok:?}");
    }

    let r = run60(sb.cmd(["doctor"]));
    // Lines wrap at 100 columns: compare with the whitespace folded.
    let out = &r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(out.contains("[ok] ledger: redis://127.0.0.1:"), "{r}");
    assert!(
        out.contains(
            "[warn] ledger account a: hosts log in as different Anthropic accounts under this name: build-box as uuid-of-carol, here as uuid-of-alice"
        ),
        "{r}"
    );
    assert!(!out.contains("ledger account b"), "{r}");

    // Redis down: doctor says the ledger is degraded.
    redis.kill();
    let r = run60(sb.cmd(["doctor"]));
    assert!(
        r.stdout
            .contains("[warn] ledger: degraded: redis://127.0.0.1:"),
        "{r}"
    );
}

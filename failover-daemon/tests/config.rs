//! Configuration: every key documented in `config.example.toml` parses; bad input gets a
//! message naming the file, line, column and key.

use std::path::Path;

use failover_daemon::ConfigFileError;
use failover_daemon::config::{DaemonConfig, TmuxTarget};

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in ["accounts/a", "accounts/b", "work/s0", "work/s1"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    dir
}

fn parse(dir: &Path, text: &str) -> Result<DaemonConfig, ConfigFileError> {
    let home = dir.to_path_buf();
    let env = move |k: &str| match k {
        "HOME" => Some(home.display().to_string()),
        "XDG_RUNTIME_DIR" => Some("/run/user/1000".to_owned()),
        _ => None,
    };
    DaemonConfig::parse(text, Path::new("config.toml"), dir, &env)
}

const MINIMAL: &str = r#"[[accounts]]
name = "a"
config_dir = "~/accounts/a"

[[accounts]]
name = "b"
config_dir = "accounts/b"

[[sessions]]
name = "s0"
dir = "~/work/s0"
"#;

#[test]
fn defaults_fill_in_what_is_not_said() {
    let dir = tree();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(
        cfg.state_dir,
        dir.path().join(".local/state/claude-failover")
    );
    assert_eq!(
        cfg.control.socket,
        Path::new("/run/user/1000/claude-failover.sock")
    );
    assert_eq!(cfg.tmux, TmuxTarget::Socket("claude-failover".into()));
    assert_eq!(cfg.claude.command, vec!["claude".to_owned()]);
    assert_eq!(
        cfg.claude.shared_projects,
        dir.path().join(".local/share/claude-failover/projects")
    );
    // `~` and relative paths both resolve.
    assert_eq!(
        cfg.engine.accounts[0].config_dir,
        dir.path().join("accounts/a")
    );
    assert_eq!(
        cfg.engine.accounts[1].config_dir,
        dir.path().join("accounts/b")
    );
    assert_eq!(cfg.engine.accounts[1].preference, 1);
    assert_eq!(cfg.engine.proactive_percent, 90.0);
    assert!(cfg.control.tcp.is_none());
    assert!(cfg.notify.log);
}

#[test]
fn parallel_moves_defaults_to_the_cores_and_can_be_set() {
    let dir = tree();
    let cores = std::thread::available_parallelism().unwrap().get();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(cfg.engine.parallel_moves, cores);

    let one = format!("{MINIMAL}\n[policy]\nparallel_moves = 1\n");
    assert_eq!(parse(dir.path(), &one).unwrap().engine.parallel_moves, 1);
    let many = format!("{MINIMAL}\n[policy]\nparallel_moves = 37\n");
    assert_eq!(parse(dir.path(), &many).unwrap().engine.parallel_moves, 37);

    let zero = format!("{MINIMAL}\n[policy]\nparallel_moves = 0\n");
    let err = parse(dir.path(), &zero).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("policy.parallel_moves"));
    let line = zero
        .lines()
        .position(|l| l == "parallel_moves = 0")
        .unwrap()
        + 1;
    assert_eq!(err.line, Some(line), "{err}");
    assert!(err.to_string().contains("at least 1"), "{err}");

    let negative = format!("{MINIMAL}\n[policy]\nparallel_moves = -2\n");
    let err = parse(dir.path(), &negative).unwrap_err();
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn the_stop_grace_is_the_engines_and_rides_on_its_stops() {
    let dir = tree();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(cfg.engine.stop_grace, std::time::Duration::from_secs(10));
    let set = format!("{MINIMAL}\n[policy]\nstop_grace_secs = 4\n");
    let cfg = parse(dir.path(), &set).unwrap();
    assert_eq!(cfg.engine.stop_grace, std::time::Duration::from_secs(4));
}

#[test]
fn a_typo_names_file_line_and_key() {
    let dir = tree();
    let text = format!(
        "state_dir = \"/tmp/x\"\n\n{}\n[[acounts]]\nname = \"c\"\n",
        MINIMAL
    );
    let err = parse(dir.path(), &text).unwrap_err();
    let msg = err.to_string();
    let line = text.lines().position(|l| l == "[[acounts]]").unwrap() + 1;
    assert!(msg.starts_with(&format!("config.toml:{line}:")), "{msg}");
    assert!(msg.contains("unknown key 'acounts'"), "{msg}");
    assert!(msg.contains("accounts"), "the valid keys are listed: {msg}");
    assert_eq!(err.line, Some(line));
    assert_eq!(err.key.as_deref(), Some("acounts"));
}

#[test]
fn a_typo_inside_a_table_is_located_too() {
    let dir = tree();
    let text = format!("{MINIMAL}\n[policy]\nproactive_prcent = 90\n");
    let err = parse(dir.path(), &text).unwrap_err();
    let line = text
        .lines()
        .position(|l| l.starts_with("proactive_prcent"))
        .unwrap()
        + 1;
    assert_eq!(err.line, Some(line), "{err}");
    assert!(
        err.to_string().contains("unknown key 'proactive_prcent'"),
        "{err}"
    );
}

#[test]
fn a_missing_account_dir_points_at_the_key() {
    let dir = tree();
    let text = MINIMAL.replace("accounts/b", "accounts/nope");
    let err = parse(dir.path(), &text).unwrap_err();
    let msg = err.to_string();
    let line = text
        .lines()
        .position(|l| l.contains("accounts/nope"))
        .unwrap()
        + 1;
    assert!(
        msg.starts_with(&format!(
            "config.toml:{line}:14: accounts[1].config_dir: directory "
        )),
        "{msg}"
    );
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn duplicate_names_and_bad_values_are_refused_where_they_are() {
    let dir = tree();
    let dup = format!("{MINIMAL}\n[[sessions]]\nname = \"s0\"\ndir = \"work/s1\"\n");
    let err = parse(dir.path(), &dup).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("sessions[1].name"));
    assert!(err.to_string().contains("listed twice"), "{err}");
    let line = dup
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "name = \"s0\"")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_eq!(err.line, Some(line));

    let pct = format!("{MINIMAL}\n[policy]\nproactive_percent = 150\n");
    let err = parse(dir.path(), &pct).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("policy.proactive_percent"));
    assert!(err.line.is_some(), "{err}");

    let none = "state_dir = \"/tmp/x\"\n";
    let err = parse(dir.path(), none).unwrap_err();
    assert!(
        err.to_string().contains("at least one [[accounts]]"),
        "{err}"
    );

    let both = format!("{MINIMAL}\n[tmux]\nsocket = \"x\"\npath = \"/tmp/s\"\n");
    assert!(
        parse(dir.path(), &both)
            .unwrap_err()
            .to_string()
            .contains("not both")
    );

    let wrong_type = format!("{MINIMAL}\n[policy]\nproactive_percent = \"high\"\n");
    let err = parse(dir.path(), &wrong_type).unwrap_err();
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn standby_is_on_at_80_percent_by_default_off_with_false_and_a_bad_percent_is_located() {
    let dir = tree();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(cfg.engine.standby_percent, Some(80.0));

    let set = format!("{MINIMAL}\n[policy]\nstandby_percent = 70\n");
    assert_eq!(
        parse(dir.path(), &set).unwrap().engine.standby_percent,
        Some(70.0)
    );

    let off = format!("{MINIMAL}\n[policy]\nstandby = false\nstandby_percent = 70\n");
    assert_eq!(
        parse(dir.path(), &off).unwrap().engine.standby_percent,
        None
    );

    for bad in ["0", "-5", "100.5"] {
        let text = format!("{MINIMAL}\n[policy]\nstandby_percent = {bad}\n");
        let err = parse(dir.path(), &text).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("policy.standby_percent"), "{bad}");
        let line = text
            .lines()
            .position(|l| l.starts_with("standby_percent"))
            .unwrap()
            + 1;
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.to_string().contains("at most 100"), "{err}");
    }

    let wrong_type = format!("{MINIMAL}\n[policy]\nstandby = \"yes\"\n");
    let err = parse(dir.path(), &wrong_type).unwrap_err();
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn standby_max_is_8_by_default_and_0_is_located() {
    let dir = tree();
    assert_eq!(parse(dir.path(), MINIMAL).unwrap().engine.standby_max, 8);
    let set = format!("{MINIMAL}\n[policy]\nstandby_max = 20\n");
    assert_eq!(parse(dir.path(), &set).unwrap().engine.standby_max, 20);

    let text = format!("{MINIMAL}\n[policy]\nstandby_max = 0\n");
    let err = parse(dir.path(), &text).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("policy.standby_max"), "{err}");
    let line = text
        .lines()
        .position(|l| l.starts_with("standby_max"))
        .unwrap()
        + 1;
    assert_eq!(err.line, Some(line), "{err}");
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn the_standby_waits_default_to_the_backends_and_bad_values_are_located() {
    use failover_tmux::{Socket, TmuxConfig};
    use std::time::Duration;
    let dir = tree();
    let backend = TmuxConfig::new(Socket::Name("x".into()));
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(cfg.standby.timeout, Duration::from_secs(20));
    assert_eq!(cfg.standby.resume_timeout, Duration::from_secs(10));
    assert_eq!(cfg.standby.timeout, backend.standby_timeout);
    assert_eq!(cfg.standby.resume_timeout, backend.standby_resume_timeout);

    let set = format!(
        "{MINIMAL}\n[policy]\nstandby_timeout_secs = 45\nstandby_resume_timeout_secs = 7\n"
    );
    let cfg = parse(dir.path(), &set).unwrap();
    assert_eq!(cfg.standby.timeout, Duration::from_secs(45));
    assert_eq!(cfg.standby.resume_timeout, Duration::from_secs(7));
    // The backend the daemon builds waits that long.
    let tmux = failover_daemon::production::tmux_config(&cfg);
    assert_eq!(tmux.standby_timeout, Duration::from_secs(45));
    assert_eq!(tmux.standby_resume_timeout, Duration::from_secs(7));

    for key in ["standby_timeout_secs", "standby_resume_timeout_secs"] {
        let line_of = |text: &str| {
            text.lines()
                .position(|l| l.starts_with(&format!("{key} ")))
                .unwrap()
                + 1
        };
        for out_of_range in ["0", "61"] {
            let text = format!("{MINIMAL}\n[policy]\n{key} = {out_of_range}\n");
            let err = parse(dir.path(), &text).unwrap_err();
            assert_eq!(err.key.as_deref(), Some(format!("policy.{key}").as_str()));
            assert_eq!(err.line, Some(line_of(&text)), "{err}");
            assert!(
                err.to_string().contains("at least 1 and at most 60"),
                "{err}"
            );
        }
        let most = format!("{MINIMAL}\n[policy]\n{key} = 60\n");
        parse(dir.path(), &most).unwrap();
        for bad in ["-3", "\"ten\"", "2.5"] {
            let text = format!("{MINIMAL}\n[policy]\n{key} = {bad}\n");
            let err = parse(dir.path(), &text).unwrap_err();
            assert_eq!(err.line, Some(line_of(&text)), "{bad}: {err}");
            assert!(err.to_string().starts_with("config.toml:"), "{err}");
        }
    }
}

#[test]
fn tcp_without_a_token_is_refused() {
    let dir = tree();
    let text = format!("{MINIMAL}\n[control]\ntcp = \"127.0.0.1:7411\"\n");
    let err = parse(dir.path(), &text).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("control.tcp"));
    assert!(
        err.to_string()
            .contains("refused without control.token_file"),
        "{err}"
    );
}

#[test]
fn telegram_needs_a_token_and_never_shows_it() {
    let dir = tree();
    let text = format!("{MINIMAL}\n[notify.telegram]\nchat_id = \"42\"\n");
    let err = parse(dir.path(), &text).unwrap_err();
    assert!(
        err.to_string().contains("FAILOVER_TELEGRAM_BOT_TOKEN"),
        "{err}"
    );

    let home = dir.path().to_path_buf();
    let env = move |k: &str| match k {
        "HOME" => Some(home.display().to_string()),
        "FAILOVER_TELEGRAM_BOT_TOKEN" => Some("123456:SECRET-TOKEN".to_owned()),
        _ => None,
    };
    let cfg = DaemonConfig::parse(&text, Path::new("config.toml"), dir.path(), &env).unwrap();
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
    assert!(cfg.notify.telegram.is_some());
}

#[test]
fn the_documented_example_parses_and_sets_every_key() {
    let dir = tree();
    for d in [
        "claude-primary",
        "claude-backup",
        "src/project-a",
        "src/project-b",
    ] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
        .unwrap();
    let home = dir.path().to_path_buf();
    let env = move |k: &str| (k == "HOME").then(|| home.display().to_string());
    let cfg = DaemonConfig::parse(&text, Path::new("config.example.toml"), dir.path(), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.engine.accounts.len(), 2);
    assert_eq!(cfg.engine.sessions.len(), 2);
    assert_eq!(cfg.engine.proactive_percent, 90.0);
    assert_eq!(
        cfg.claude
            .env
            .get("DISABLE_AUTOUPDATER")
            .map(String::as_str),
        Some("1")
    );
    assert!(cfg.notify.webhook.is_some());
    assert!(cfg.notify.telegram.is_some());
    assert!(cfg.control.tcp.is_some());

    // Every key the example sets appears in CONFIG.md.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/CONFIG.md")).unwrap();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some((key, _)) = line.split_once(" = ") {
            let key = key.trim();
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                assert!(
                    doc.contains(&format!("`{key}`")),
                    "CONFIG.md does not document `{key}`"
                );
            }
        }
    }
}

#[test]
fn loading_names_the_file() {
    let dir = tree();
    let path = dir.path().join("my-config.toml");
    std::fs::write(&path, "bogus = 1\n").unwrap();
    let env = |_: &str| None;
    let err = DaemonConfig::load(&path, &env).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1:1: unknown key 'bogus'", path.display())),
        "{err}"
    );
    let missing = DaemonConfig::load(&dir.path().join("nope.toml"), &env).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("cannot read the configuration file"),
        "{missing}"
    );
}

#[test]
fn the_persons_shared_entries_default_and_account_owned_names_are_refused() {
    let dir = tree();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(
        cfg.claude.share,
        ["CLAUDE.md", "commands", "agents", "skills", "output-styles"]
    );
    assert!(!cfg.claude.sync_settings);

    let set = format!(
        "[claude]\nshare = [\"CLAUDE.md\", \"commands/\"]\nsync_settings = true\n{MINIMAL}"
    );
    let cfg = parse(dir.path(), &set).unwrap();
    assert_eq!(cfg.claude.share, ["CLAUDE.md", "commands/"]);
    assert!(cfg.claude.sync_settings);

    for bad in [
        ".credentials.json",
        ".claude.json",
        "settings.json",
        "statsig",
        "../CLAUDE.md",
    ] {
        let text = format!("[claude]\nshare = [\"CLAUDE.md\", {bad:?}]\n{MINIMAL}");
        let err = parse(dir.path(), &text).unwrap_err().to_string();
        assert!(
            err.contains("config.toml:2:") && err.contains("claude.share") && err.contains(bad),
            "{bad}: {err}"
        );
    }
}

#[test]
fn tcp_beyond_loopback_needs_allow_remote() {
    let dir = tree();
    let control = |extra: &str| {
        format!("{MINIMAL}\n[control]\ntcp = \"0.0.0.0:7411\"\ntoken_file = \"token\"\n{extra}\n")
    };
    let err = parse(dir.path(), &control("")).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("control.tcp"));
    assert_eq!(err.line, Some(14), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("allow_remote = true") && msg.contains("in clear"),
        "{msg}"
    );
    let err = parse(
        dir.path(),
        &control("").replace("0.0.0.0:7411", "[::]:7411"),
    )
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("control.tcp"));

    let cfg = parse(dir.path(), &control("allow_remote = true")).unwrap();
    let tcp = cfg.control.tcp.unwrap();
    assert!(tcp.allow_remote);
    assert_eq!(tcp.max_connections, 32);
    assert_eq!(tcp.header_timeout, std::time::Duration::from_secs(10));
    for local in ["127.0.0.1:7411", "[::1]:7411"] {
        let cfg = parse(dir.path(), &control("").replace("0.0.0.0:7411", local)).unwrap();
        assert!(cfg.control.tcp.is_some(), "{local}");
    }

    let err = parse(
        dir.path(),
        &control("allow_remote = true\nmax_connections = 0"),
    )
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("control.max_connections"));
    let err = parse(
        dir.path(),
        &format!("{MINIMAL}\n[control]\nallow_remote = true\n"),
    )
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("control.allow_remote"));
    assert!(
        err.to_string().contains("only used with control.tcp"),
        "{err}"
    );
}

#[test]
fn choosing_the_next_account_and_the_usage_poll_are_configured() {
    let dir = tree();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert_eq!(cfg.engine.strategy, failover_core::Strategy::DrainSoonest);
    assert_eq!(cfg.engine.min_headroom_percent, 10.0);
    assert!(!cfg.engine.allow_extra_usage);
    assert!(!cfg.engine.follow_model);
    assert_eq!(cfg.engine.return_headroom_percent, 50.0);
    assert_eq!(
        cfg.engine.return_cooldown,
        std::time::Duration::from_secs(1800)
    );
    assert!(cfg.quota.poll_usage);
    assert_eq!(
        cfg.quota.usage_url,
        "https://api.anthropic.com/api/oauth/usage"
    );
    assert_eq!(cfg.quota.usage_poll, std::time::Duration::from_secs(600));

    let text = MINIMAL.replacen(
        "config_dir = \"accounts/b\"\n",
        "config_dir = \"accounts/b\"\nproactive_percent = 80\n",
        1,
    );
    let text = format!(
        "[policy]\nstrategy = \"most-headroom\"\nmin_headroom_percent = 20\n\
         allow_extra_usage = true\nfollow_model = true\nreturn_headroom_percent = 70\n\
         return_cooldown = \"1h\"\n\n[quota]\npoll_usage = false\n\
         usage_url = \"http://127.0.0.1:9/api/oauth/usage\"\nusage_poll = 900\n\n{text}"
    );
    let cfg = parse(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.engine.strategy, failover_core::Strategy::MostHeadroom);
    assert_eq!(cfg.engine.min_headroom_percent, 20.0);
    assert!(cfg.engine.allow_extra_usage);
    assert!(cfg.engine.follow_model);
    assert_eq!(cfg.engine.return_headroom_percent, 70.0);
    assert_eq!(
        cfg.engine.return_cooldown,
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(
        cfg.engine
            .proactive_percent_of(&failover_core::AccountId::new("b")),
        80.0
    );
    assert_eq!(
        cfg.engine
            .proactive_percent_of(&failover_core::AccountId::new("a")),
        90.0,
        "the pool's default, below Claude Code's 95 % wrap-up"
    );
    assert!(!cfg.quota.poll_usage);
    assert_eq!(cfg.quota.usage_url, "http://127.0.0.1:9/api/oauth/usage");
    assert_eq!(cfg.quota.usage_poll, std::time::Duration::from_secs(900));

    // A strategy that does not exist names the ones that do, and where it was written.
    let err = parse(
        dir.path(),
        &format!("[policy]\nstrategy = \"cheapest\"\n\n{MINIMAL}"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`drain-soonest`"), "{err}");
    assert_eq!(err.line, Some(2), "{err}");
    // Bad values name their key.
    for (extra, key) in [
        (
            "[policy]\nmin_headroom_percent = 120\n",
            "policy.min_headroom_percent",
        ),
        (
            "[policy]\nreturn_cooldown = \"soon\"\n",
            "policy.return_cooldown",
        ),
        ("[quota]\nusage_poll = 30\n", "quota.usage_poll"),
        (
            "[quota]\nusage_url = \"api.anthropic.com\"\n",
            "quota.usage_url",
        ),
    ] {
        let err = parse(dir.path(), &format!("{extra}\n{MINIMAL}")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert!(err.line.is_some(), "{err}");
    }
    let bad = MINIMAL.replacen(
        "config_dir = \"accounts/b\"\n",
        "config_dir = \"accounts/b\"\nproactive_percent = 0\n",
        1,
    );
    let err = parse(dir.path(), &bad).unwrap_err();
    assert_eq!(
        err.key.as_deref(),
        Some("accounts[1].proactive_percent"),
        "{err}"
    );
}

#[test]
fn ledger_is_off_unless_configured_and_its_keys_are_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tree();
    let cfg = parse(dir.path(), MINIMAL).unwrap();
    assert!(cfg.ledger.is_none());
    assert!(cfg.engine.ledger.is_none());

    let pw = dir.path().join("redis-password");
    std::fs::write(&pw, "hunter2\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "{MINIMAL}\n[ledger]\nurl = \"rediss://cache.example:6380/3\"\npassword_file = \"redis-password\"\nhost = \"build-1\"\n"
    );
    let cfg = parse(dir.path(), &text).unwrap();
    let ledger = cfg.ledger.unwrap();
    assert_eq!(ledger.url, "rediss://cache.example:6380/3");
    assert_eq!(ledger.key_prefix, "claude-failover");
    assert_eq!(ledger.password_file, Some(pw.clone()));
    assert_eq!(ledger.host.as_str(), "build-1");
    assert_eq!(
        cfg.engine.ledger.map(|l| l.host),
        Some(failover_core::HostId::new("build-1"))
    );

    // A password file others can read is refused, naming the key and not the password.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = parse(dir.path(), &text).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("ledger.password_file"));
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    for (bad, key) in [
        ("url = \"http://x:1\"", "ledger.url"),
        ("url = \"redis://user:pw@x:1\"", "ledger.url"),
        (
            "url = \"redis://x:1\"\nkey_prefix = \"\"",
            "ledger.key_prefix",
        ),
        (
            "url = \"redis://x:1\"\nlease_ttl_secs = 0",
            "ledger.lease_ttl_secs",
        ),
    ] {
        let err = parse(dir.path(), &format!("{MINIMAL}\n[ledger]\n{bad}\n")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{bad}: {err}");
    }
}

/// What a client finds in a config file (the socket, the served projects) is what the daemon
/// resolves from it, and the rest of the file is not needed for it.
#[test]
fn clients_find_the_socket_and_projects_by_the_daemons_rules() {
    use failover_daemon::config::{control_socket, served_projects_in};
    let dir = tree();
    std::fs::create_dir_all(dir.path().join("proj")).unwrap();
    let home = dir.path().to_path_buf();
    let env = move |k: &str| match k {
        "HOME" => Some(home.display().to_string()),
        _ => None,
    };
    let file = dir.path().join("config.toml");
    let text = format!(
        "state_dir = \"state\"\n{MINIMAL}\n[[projects]]\ndir = \"~/proj\"\n[[projects]]\ndir = \"proj\"\n"
    );
    std::fs::write(&file, &text).unwrap();
    let full = DaemonConfig::load(&file, &env).unwrap();
    assert_eq!(full.control.socket, dir.path().join("state/control.sock"));
    assert_eq!(control_socket(&file, &env).unwrap(), full.control.socket);
    assert_eq!(
        served_projects_in(&file, &env).unwrap(),
        vec![dir.path().join("proj")]
    );

    // A file too incomplete to run a daemon still says where its socket would be.
    std::fs::write(&file, "[control]\nsocket = \"~/ctl.sock\"\n").unwrap();
    assert_eq!(
        control_socket(&file, &env).unwrap(),
        dir.path().join("ctl.sock")
    );
    // What the daemon refuses, the client is told, with the key.
    std::fs::write(&file, "[control]\nsokcet = \"x\"\n").unwrap();
    let e = control_socket(&file, &env).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("sokcet"), "{e}");
    std::fs::write(&file, "[[projects]]\ndir = \"gone\"\n").unwrap();
    let e = served_projects_in(&file, &env).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("projects[0].dir"), "{e}");
}

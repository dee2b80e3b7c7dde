//! The built `claude-failover` binary, run as a person or a script would run it.

use crate::util;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use util::{Sandbox, fingerprint, is_root, run60};

// ---------------------------------------------------------------------------------------------
// Errors a person can act on, without a daemon.

#[test]
fn no_daemon_exits_3_and_says_how_to_start_it() {
    let sb = Sandbox::new();
    for sub in [
        "status", "accounts", "sessions", "pause", "resume", "events", "swap",
    ] {
        let r = run60(sb.cmd([sub]));
        r.code(3);
        assert!(
            r.stderr
                .contains("the claude-failover daemon is not running"),
            "{sub}: {r}"
        );
        assert!(r.stderr.contains("claude-failoverd --config"), "{sub}: {r}");
        assert!(
            r.stderr.contains("systemctl --user start claude-failoverd"),
            "{sub}: {r}"
        );
        // The socket it looked for is the daemon's default under XDG_RUNTIME_DIR.
        assert!(
            r.stderr
                .contains(&sb.path("run/claude-failover.sock").display().to_string()),
            "{sub}: {r}"
        );
    }
}

#[test]
fn a_socket_nobody_listens_on_counts_as_not_running() {
    let sb = Sandbox::new();
    let sock = sb.path("run/stale.sock");
    // Bind, then drop the listener: the file stays, connections are refused.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let r = run60(sb.cmd(["--socket", sock.to_str().unwrap(), "status", "--json"]));
    r.code(3);
    assert!(r.stdout.is_empty(), "{r}");
    assert!(r.stderr.contains("not running"), "{r}");
}

#[test]
fn the_config_files_control_socket_is_used_when_no_socket_is_given() {
    let sb = Sandbox::new();
    let cfg = sb.path("c.toml");
    let sock = sb.path("elsewhere.sock");
    std::fs::write(
        &cfg,
        format!("[control]\nsocket = {:?}\n", sock.display().to_string()),
    )
    .unwrap();
    let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "status"]));
    r.code(3);
    assert!(r.stderr.contains(&sock.display().to_string()), "{r}");
    assert!(
        r.stderr
            .contains(&format!("claude-failoverd --config {}", cfg.display())),
        "{r}"
    );
}

#[test]
fn a_config_file_the_daemon_refuses_is_named_and_the_default_socket_tried() {
    let sb = Sandbox::new();
    let cfg = sb.path("c.toml");
    std::fs::write(&cfg, "[control]\nsokcet = \"/tmp/elsewhere.sock\"\n").unwrap();
    let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "status"]));
    r.code(3);
    // The daemon's own reason, located in the file, then the socket looked for instead.
    assert!(r.stderr.contains("warning: "), "{r}");
    assert!(r.stderr.contains("unknown key 'sokcet'"), "{r}");
    assert!(
        r.stderr
            .contains(&sb.path("run/claude-failover.sock").display().to_string()),
        "{r}"
    );
}

#[test]
fn permission_denied_on_the_socket_exits_4() {
    let sb = Sandbox::new();
    let dir = sb.path("private");
    std::fs::create_dir(&dir).unwrap();
    let sock = dir.join("d.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Root ignores permission bits, so as root run the binary as `nobody` against a 0700
    // directory owned by root; otherwise take our own access away with chmod 000.
    let mut cmd = if is_root() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            util::BIN,
        ]);
        sb.env(&mut c);
        c
    } else {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
        sb.cmd(std::iter::empty::<&str>())
    };
    cmd.args(["--socket", sock.to_str().unwrap(), "status"]);
    let r = run60(cmd);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    r.code(4);
    assert!(
        r.stderr.contains("permission denied on the control socket"),
        "{r}"
    );
    assert!(
        r.stderr.contains("run as the user the daemon runs as"),
        "{r}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let sb = Sandbox::new();
    run60(sb.cmd(["swap", "--bogus"])).code(2);
    run60(sb.cmd(["no-such-command"])).code(2);
    // A TCP endpoint without a token is refused before anything is sent.
    let r = run60(sb.cmd(["--tcp", "127.0.0.1:9", "status"]));
    r.code(2);
    assert!(r.stderr.contains("--token-file"), "{r}");
}

#[test]
fn help_documents_every_exit_code() {
    let sb = Sandbox::new();
    let r = run60(sb.cmd(["--help"]));
    r.ok();
    for line in [
        "3  the daemon is not running",
        "4  permission denied on the control socket",
        "5  unknown account name",
        "6  the daemon refused the command",
        "7  doctor found problems",
    ] {
        assert!(r.stdout.contains(line), "missing {line:?}:\n{r}");
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for code in 0..=8 {
        assert!(
            readme.contains(&format!("| {code} |")),
            "README documents exit code {code}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Completions and man pages.

#[test]
fn completions_mention_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let r = run60(sb.cmd(["completions", shell]));
        r.ok();
        for sub in ["status", "swap", "doctor", "demo", "tasks"] {
            assert!(r.stdout.contains(sub), "{shell} completion mentions {sub}");
        }
    }
}

#[test]
fn completions_offer_the_account_names_the_daemon_reads() {
    let sb = Sandbox::new();
    let cfg = sb.path("c.toml");
    let accounts = "[[accounts]]\nname = \"alpha-acct\"\nconfig_dir = \"~/a\"\n";
    std::fs::write(&cfg, accounts).unwrap();
    let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "completions", "bash"]));
    r.ok();
    assert!(r.stdout.contains("alpha-acct"), "{r}");
    // A file the daemon refuses offers none, and says why.
    std::fs::write(&cfg, format!("{accounts}acounts = 1\n")).unwrap();
    let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "completions", "bash"]));
    r.ok();
    assert!(!r.stdout.contains("alpha-acct"), "{r}");
    assert!(r.stderr.contains("unknown key 'acounts'"), "{r}");
}

#[test]
fn man_renders_to_stdout_and_to_a_directory() {
    let sb = Sandbox::new();
    let r = run60(sb.cmd(["man"]));
    r.ok();
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH"),
        "{r}"
    );
    assert!(r.stdout.contains("claude\\-failover"), "{r}");
    let out = sb.path("man");
    run60(sb.cmd(["man", "--out-dir", out.to_str().unwrap()])).ok();
    assert!(out.join("claude-failover.1").is_file());
    assert!(out.join("claude-failover-swap.1").is_file());
}

// ---------------------------------------------------------------------------------------------
// init.

/// A home with two logged-in-looking accounts and one without a login.
fn plant_claude_dirs(sb: &Sandbox) -> Vec<std::path::PathBuf> {
    let home = sb.home();
    let mut creds = Vec::new();
    for (dir, login) in [
        (".claude", true),
        (".claude-work", true),
        (".claude-spare", false),
    ] {
        let d = home.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        if login {
            let c = d.join(".credentials.json");
            std::fs::write(
                &c,
                format!("{{\"claudeAiOauth\":{{\"accessToken\":\"secret-{dir}\"}}}}"),
            )
            .unwrap();
            std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o600)).unwrap();
            creds.push(c);
        }
    }
    creds
}

#[test]
fn init_writes_a_starter_config_and_never_touches_credentials() {
    let sb = Sandbox::new();
    let creds = plant_claude_dirs(&sb);
    let env_dir = sb.path("elsewhere/claude-env");
    std::fs::create_dir_all(&env_dir).unwrap();
    let before: Vec<_> = creds.iter().map(|c| fingerprint(c)).collect();

    let mut cmd = sb.cmd(["init"]);
    cmd.env("CLAUDE_CONFIG_DIR", &env_dir);
    let r = run60(cmd);
    r.ok();
    let file = sb.path("config/claude-failover/config.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    for needle in [
        "name = \"default\"",
        "config_dir = \"~/.claude\"",
        "name = \"work\"",
        "name = \"spare\"",
        "name = \"claude-env\"",
        "NOT logged in yet: CLAUDE_CONFIG_DIR=~/.claude-spare claude /login",
    ] {
        assert!(text.contains(needle), "config lacks {needle:?}:\n{text}");
    }
    assert!(
        !text.contains("secret-"),
        "credentials are never read into the config"
    );
    assert!(r.stderr.contains("wrote"), "{r}");
    // The daemon's own loader accepts it, in the same environment.
    let env = sb.env_fn();
    let cfg = failover_daemon::DaemonConfig::load(&file, &env)
        .unwrap_or_else(|e| panic!("the daemon refuses the written config: {e}\n{text}"));
    let names: Vec<&str> = cfg.engine.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(names, ["default", "spare", "work", "claude-env"]);
    assert_eq!(
        cfg.engine.accounts[2].config_dir,
        sb.home().join(".claude-work")
    );
    let after: Vec<_> = creds.iter().map(|c| fingerprint(c)).collect();
    assert_eq!(before, after, "credentials untouched (bytes, mode, mtime)");

    // A second run refuses to clobber the file; --force replaces it.
    let r = run60(sb.cmd(["init"]));
    r.code(2);
    assert!(r.stderr.contains("--force"), "{r}");
    run60(sb.cmd(["init", "--force"])).ok();
    // `-o -` prints it instead.
    let r = run60(sb.cmd(["init", "-o", "-"]));
    r.ok();
    assert!(r.stdout.contains("[[accounts]]"), "{r}");
}

#[test]
fn init_picks_up_ccl_sessions_from_a_running_tmux_server() {
    let sb = Sandbox::new();
    plant_claude_dirs(&sb);
    let project = sb.path("src/project-a");
    std::fs::create_dir_all(&project).unwrap();
    // A tmux server on the sandbox's default socket ($TMUX_TMPDIR), as a user would have.
    let tmux = |args: &[&str]| {
        let mut c = Command::new("tmux");
        sb.env(&mut c);
        c.args(["-f", "/dev/null"]).args(args);
        c.status().expect("tmux runs")
    };
    assert!(
        tmux(&[
            "new-session",
            "-d",
            "-s",
            "ccl-7",
            "-c",
            project.to_str().unwrap()
        ])
        .success()
    );
    assert!(tmux(&["new-session", "-d", "-s", "scratch"]).success());
    struct Kill<'a>(&'a dyn Fn(&[&str]) -> std::process::ExitStatus);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            (self.0)(&["kill-server"]);
        }
    }
    let _kill = Kill(&tmux);

    let r = run60(sb.cmd(["init", "-o", "-"]));
    r.ok();
    assert!(r.stdout.contains("name = \"ccl-7\""), "{r}");
    assert!(
        r.stdout
            .contains(&format!("dir = \"{}\"", project.display())),
        "{r}"
    );
    assert!(!r.stdout.contains("scratch"), "{r}");
    assert!(
        r.stdout.contains("path = "),
        "adopts the default tmux server: {r}"
    );
}

// ---------------------------------------------------------------------------------------------
// doctor.

#[test]
fn doctor_reports_each_problem_with_its_fix() {
    let sb = Sandbox::new();
    let home = sb.home();
    let shared = sb.path("data/claude-failover/projects");
    std::fs::create_dir_all(&shared).unwrap();
    // good: logged in 0600, projects linked to the shared tree.
    let good = home.join(".claude-good");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::write(good.join(".credentials.json"), "{}").unwrap();
    std::fs::set_permissions(
        good.join(".credentials.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink(&shared, good.join("projects")).unwrap();
    // loose: credentials readable by others, projects a plain dir.
    let loose = home.join(".claude-loose");
    std::fs::create_dir_all(loose.join("projects")).unwrap();
    std::fs::write(loose.join(".credentials.json"), "{}").unwrap();
    std::fs::set_permissions(
        loose.join(".credentials.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let loose_before = fingerprint(&loose.join(".credentials.json"));
    // missing: the config names a dir that does not exist.
    let cfg = sb.path("config/claude-failover/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[claude]\nshared_projects = {:?}\n\n[[accounts]]\nname = \"good\"\nconfig_dir = \"~/.claude-good\"\n\n[[accounts]]\nname = \"loose\"\nconfig_dir = \"~/.claude-loose\"\n\n[[accounts]]\nname = \"gone\"\nconfig_dir = \"~/.claude-gone\"\n",
            shared.display().to_string()
        ),
    )
    .unwrap();

    let r = run60(sb.cmd(["doctor"]));
    r.code(7);
    let out = &r.stdout;
    let expect = [
        ("[ok]   account good: login", None),
        ("[ok]   account good: transcripts", None),
        (
            "[FAIL] account loose: login: .credentials.json is readable by others (mode 0644)",
            Some("fix: chmod 600 ~/.claude-loose/.credentials.json"),
        ),
        ("[info] account loose: transcripts", Some("ln -s")),
        (
            "[FAIL] account gone: config dir ~/.claude-gone does not exist",
            Some("fix: log in: CLAUDE_CONFIG_DIR=~/.claude-gone claude /login"),
        ),
        (
            "[FAIL] control socket: no socket at",
            Some("fix: start it with `claude-failoverd --config"),
        ),
    ];
    for (line, fix) in expect {
        assert!(out.contains(line), "missing {line:?}:\n{r}");
        if let Some(fix) = fix {
            assert!(out.contains(fix), "missing fix {fix:?}:\n{r}");
        }
    }
    assert!(r.stderr.contains("check(s) failed"), "{r}");
    assert_eq!(
        fingerprint(&loose.join(".credentials.json")),
        loose_before,
        "doctor never changes credentials"
    );

    // --json: the same checks, as data.
    let r = run60(sb.cmd(["doctor", "--json"]));
    r.code(7);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let checks = v["checks"].as_array().unwrap();
    let fail = checks
        .iter()
        .find(|c| c["check"] == "account loose: login")
        .unwrap();
    assert_eq!(fail["status"], "fail");
    assert!(fail["fix"].as_str().unwrap().contains("chmod 600"));
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "tmux" && c["status"] == "ok")
    );
}

#[test]
fn doctor_names_an_mcp_server_present_on_one_account_only() {
    let Some(real) = std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE") else {
        eprintln!(
            "SKIPPED doctor_names_an_mcp_server_present_on_one_account_only: \
             CLAUDE_FAILOVER_REAL_CLAUDE is not set (scripts/test.sh sets it)"
        );
        return;
    };
    let sb = Sandbox::new();
    let home = sb.home();
    // A home as people have it: the default account (`~/.claude`, global config in
    // `~/.claude.json`) and a second one.
    for dir in [".claude", ".claude-work"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
        std::fs::write(home.join(dir).join("settings.json"), "{\"model\":\"opus\"}").unwrap();
    }
    // The person adds an MCP server on the default account with the real CLI (no
    // CLAUDE_CONFIG_DIR: it lands in ~/.claude.json), with a secret in its environment.
    let mut add = Command::new(&real);
    sb.env(&mut add);
    add.env("DISABLE_AUTOUPDATER", "1").args([
        "mcp",
        "add",
        "--scope",
        "user",
        "docs-search",
        "-e",
        "DOCS_TOKEN=sekrit-value",
        "--",
        "/bin/true",
    ]);
    run60(add).code(0);
    assert!(
        std::fs::read_to_string(home.join(".claude.json"))
            .unwrap()
            .contains("docs-search"),
        "the CLI keeps the default account's MCP servers in ~/.claude.json"
    );
    let cfg = sb.path("config/claude-failover/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        "[[accounts]]\nname = \"main\"\nconfig_dir = \"~/.claude\"\n\n[[accounts]]\nname = \"work\"\nconfig_dir = \"~/.claude-work\"\n",
    )
    .unwrap();

    let r = run60(sb.cmd(["doctor"]));
    // Lines wrap at 100 columns: compare with the whitespace folded.
    let flat = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(
            "[warn] accounts: settings differ: MCP server 'docs-search' only on main (missing on work)"
        ),
        "{r}"
    );
    assert!(
        flat.contains("claude mcp add --scope user docs-search"),
        "{r}"
    );
    assert!(!r.stdout.contains("sekrit-value"), "{r}");
    // Same settings otherwise: nothing else reported as differing.
    assert_eq!(r.stdout.matches("settings differ").count(), 1, "{r}");
}

#[test]
fn doctor_points_at_unshared_entries_and_conflict_copies() {
    let sb = Sandbox::new();
    let home = sb.home();
    let state = sb.path("state/cf");
    let person = state.join("person");
    std::fs::create_dir_all(person.join("commands")).unwrap();
    std::fs::write(person.join("CLAUDE.md"), "main\n").unwrap();
    std::fs::write(person.join("CLAUDE.conflict-work.md"), "work\n").unwrap();
    for dir in [".claude", ".claude-work"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
    }
    // `main` is linked, `work` still has its own CLAUDE.md.
    std::os::unix::fs::symlink(person.join("CLAUDE.md"), home.join(".claude/CLAUDE.md")).unwrap();
    std::os::unix::fs::symlink(person.join("commands"), home.join(".claude/commands")).unwrap();
    std::fs::write(home.join(".claude-work/CLAUDE.md"), "work\n").unwrap();
    std::os::unix::fs::symlink(person.join("commands"), home.join(".claude-work/commands"))
        .unwrap();
    let cfg = sb.path("config/claude-failover/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "state_dir = {:?}\n[claude]\nshare = [\"CLAUDE.md\", \"commands/\"]\n\n[[accounts]]\nname = \"main\"\nconfig_dir = \"~/.claude\"\n\n[[accounts]]\nname = \"work\"\nconfig_dir = \"~/.claude-work\"\n",
            state.display().to_string()
        ),
    )
    .unwrap();
    let r = run60(sb.cmd(["doctor"]));
    assert!(
        r.stdout
            .contains("[warn] account work: shared entries: not linked to the person's shared copy: CLAUDE.md\n"),
        "{r}"
    );
    assert!(!r.stdout.contains("account main: shared entries"), "{r}");
    assert!(
        r.stdout.contains("[warn] person: conflicts")
            && r.stdout.contains("CLAUDE.conflict-work.md"),
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// tasks (file-based: no daemon needed).

#[test]
fn tasks_reads_the_served_projects_by_the_daemons_rules() {
    let sb = Sandbox::new();
    let cfg = sb.path("c.toml");
    // A project dir the daemon would refuse (it does not exist) is named, not listed empty.
    std::fs::write(&cfg, "[[projects]]\ndir = \"gone\"\n").unwrap();
    let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "tasks", "list"]));
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("projects[0].dir"), "{r}");
    assert!(r.stderr.contains("does not exist"), "{r}");
}

#[test]
fn tasks_add_list_retry_round_trip() {
    let sb = Sandbox::new();
    let project = sb.path("src/proj");
    std::fs::create_dir_all(&project).unwrap();
    let p = project.to_str().unwrap();
    let task = sb.path("fix-tests.md");
    std::fs::write(&task, "---\npriority: 5\n---\nMake the tests pass.\n").unwrap();
    // Tasks are only queued into a project the config serves.
    let cfg = sb.path("c.toml");
    std::fs::write(
        &cfg,
        format!("[[sessions]]\nname = \"ccl-0\"\ndir = {p:?}\n[[projects]]\ndir = {p:?}\n"),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();

    let r = run60(sb.cmd([
        "--config",
        c,
        "tasks",
        "add",
        task.to_str().unwrap(),
        "--project",
        p,
    ]));
    r.ok();
    assert!(r.stdout.contains("queued fix-tests.md"), "{r}");
    assert!(project.join(".agent-queue/inbox/fix-tests.md").is_file());

    // A file that is not markdown gets its reason and a failure code.
    let bad = sb.path("notes.txt");
    std::fs::write(&bad, "hello").unwrap();
    let r = run60(sb.cmd([
        "--config",
        c,
        "tasks",
        "add",
        bad.to_str().unwrap(),
        "--project",
        p,
    ]));
    r.code(1);
    assert!(r.stderr.contains("notes.txt"), "{r}");

    // A task that failed earlier (as the dispatcher leaves it) goes back with `retry`.
    let failed = project.join(".agent-queue/failed");
    std::fs::create_dir_all(&failed).unwrap();
    std::fs::write(failed.join("old.md"), "Try again.\n").unwrap();

    // The projects come from the config's session dirs when --project is not given.
    let r = run60(sb.cmd(["--config", c, "tasks", "list"]));
    r.ok();
    assert!(r.stdout.starts_with("PROJECT"), "{r}");
    assert!(r.stdout.contains("fix-tests.md  inbox"), "{r}");
    assert!(r.stdout.contains("old.md        failed"), "{r}");

    let r = run60(sb.cmd(["--config", c, "tasks", "retry", "old"]));
    r.ok();
    assert!(r.stdout.contains("old.md is back in the inbox"), "{r}");
    assert!(project.join(".agent-queue/inbox/old.md").is_file());
    assert!(!failed.join("old.md").exists());

    let r = run60(sb.cmd(["tasks", "list", "--project", p, "--json"]));
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let states: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("fix-tests.md", "inbox"), ("old.md", "inbox")]);
    assert_eq!(v[0]["priority"], 5);

    let r = run60(sb.cmd(["tasks", "retry", "nope", "--project", p]));
    r.code(1);
    assert!(r.stderr.contains("tasks list"), "{r}");
    // No project anywhere: a usage error naming the way out.
    let r = run60(sb.cmd(["tasks", "list"]));
    r.code(2);
    assert!(r.stderr.contains("--project"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// Against a real daemon.

use util::daemon::{Spec, TestDaemon};

fn two_accounts(sb: &Sandbox) -> TestDaemon {
    TestDaemon::start(
        sb,
        Spec {
            accounts: &["alpha", "beta"],
            ..Spec::default()
        },
    )
}

#[test]
fn status_accounts_sessions_tables_and_json() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);

    let r = run60(sb.cmd(d.args(&["status", "--json"])));
    r.ok();
    let st: failover_daemon::http::dto::StatusDto = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(st.api_version, 1);
    let names: Vec<&str> = st.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(st.sessions.is_empty());
    assert_eq!(st.daemon.pid, std::process::id());

    let r = run60(sb.cmd(d.args(&["status"])));
    r.ok();
    for needle in [
        "daemon ",
        "active ",
        "mode ",
        "swap ",
        "ACCOUNT",
        "alpha",
        "beta",
        "no sessions configured",
    ] {
        assert!(r.stdout.contains(needle), "status lacks {needle:?}:\n{r}");
    }

    let r = run60(sb.cmd(d.args(&["accounts", "--json"])));
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["name"], "beta");
    for key in [
        "preference",
        "state",
        "usable",
        "used_percent",
        "window",
        "resets_at",
        "resets_at_ms",
    ] {
        assert!(v[0].get(key).is_some(), "accounts --json has {key}: {v}");
    }
    let r = run60(sb.cmd(d.args(&["accounts"])));
    r.ok();
    let header = r.stdout.lines().next().unwrap();
    assert!(header.starts_with("ACCOUNT  PREF  STATE"), "{r}");
    assert!(header.ends_with("RESETS  CHOICE"), "{r}");
    assert_eq!(r.stdout.lines().count(), 3, "{r}");

    let r = run60(sb.cmd(d.args(&["sessions", "--json"])));
    r.ok();
    assert_eq!(r.stdout.trim(), "[]");
    let r = run60(sb.cmd(d.args(&["sessions"])));
    r.ok();
    assert_eq!(r.stdout, "no sessions configured\n");
}

#[test]
fn swap_pause_resume_and_their_errors() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);

    // Until the daemon has adopted what runs, it refuses swaps as "starting up" (exit 6).
    let mut r = run60(sb.cmd(d.args(&["swap", "--to", "nope"])));
    assert!(
        util::wait_until(std::time::Duration::from_secs(30), || {
            r = run60(sb.cmd(d.args(&["swap", "--to", "nope"])));
            !r.stderr.contains("starting up")
        }),
        "the daemon never finished starting: {r}"
    );
    // Unknown account: the daemon's 404, exit 5, and where to look.
    r.code(5);
    assert!(r.stderr.contains("nope"), "{r}");
    assert!(
        r.stderr.contains(" accounts` lists the account names"),
        "{r}"
    );

    // Paused: swaps are refused (409), exit 6.
    let r = run60(sb.cmd(d.args(&["pause"])));
    r.ok();
    assert!(r.stdout.starts_with("paused"), "{r}");
    // The published status catches up with the accepted command a moment later.
    assert!(util::wait_until(std::time::Duration::from_secs(10), || {
        let r = run60(sb.cmd(d.args(&["status", "--json"])));
        let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        st["paused"] == true
    }));
    let r = run60(sb.cmd(d.args(&["swap", "--to", "beta"])));
    r.code(6);
    assert!(r.stderr.contains("the daemon refused"), "{r}");
    assert!(r.stderr.contains("paused"), "{r}");

    let r = run60(sb.cmd(d.args(&["resume", "--json"])));
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["accepted"], true);
    assert_eq!(v["command"], "resume");

    // A swap that completes: followed until the daemon reports it over.
    let r = run60(sb.cmd(d.args(&["swap", "--to", "beta", "--timeout", "30"])));
    r.ok();
    assert!(r.stdout.contains("swap complete"), "{r}");
    assert!(r.stdout.contains("on beta"), "{r}");
    let r = run60(sb.cmd(d.args(&["swap", "--to", "alpha", "--timeout", "30", "--json"])));
    r.ok();
    let st: failover_daemon::http::dto::StatusDto = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(st.active_account.as_deref(), Some("alpha"));
    let r = run60(sb.cmd(d.args(&["swap", "--to", "beta", "--no-wait", "--json"])));
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["command"], "swap_to");
    assert_eq!(v["to"], "beta");
}

#[test]
fn events_follow_decisions_as_they_happen() {
    use std::io::BufRead;
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    for json in [true, false] {
        let mut args = d.args(&["events"]);
        if json {
            args.push("--json".into());
        }
        let mut cmd = sb.cmd(args);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        // Commands until the follower shows one (it may subscribe a moment after starting).
        let mut seen = Vec::new();
        let found = util::wait_until(std::time::Duration::from_secs(20), || {
            run60(sb.cmd(d.args(&["pause"]))).ok();
            run60(sb.cmd(d.args(&["resume"]))).ok();
            while let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
                seen.push(l);
            }
            seen.iter().any(|l| {
                if json {
                    serde_json::from_str::<failover_daemon::http::dto::EventDto>(l).is_ok_and(|e| {
                        matches!(e.event, failover_daemon::http::dto::EventKindDto::Command { ref command, .. } if command == "pause")
                    })
                } else {
                    l.contains("command     pause")
                }
            })
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(found, "json={json}: no pause event among {seen:#?}");
    }
}

#[test]
fn tcp_with_a_token_works_and_a_wrong_token_exits_4() {
    let sb = Sandbox::new();
    let d = TestDaemon::start(
        &sb,
        Spec {
            accounts: &["alpha", "beta"],
            tcp: true,
        },
    );
    let addr = d.tcp_addr.clone().expect("tcp address");
    let token = d.token_file.clone().unwrap();
    let r = run60(sb.cmd([
        "--tcp",
        &addr,
        "--token-file",
        token.to_str().unwrap(),
        "accounts",
        "--json",
    ]));
    r.ok();
    assert!(r.stdout.contains("\"alpha\""), "{r}");
    let wrong = sb.path("wrong-token");
    std::fs::write(&wrong, "not-the-token-at-all\n").unwrap();
    let r = run60(sb.cmd([
        "--tcp",
        &addr,
        "--token-file",
        wrong.to_str().unwrap(),
        "status",
    ]));
    r.code(4);
    assert!(r.stderr.contains("rejected the token"), "{r}");
}

#[test]
fn doctor_on_a_running_daemon_checks_the_socket() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let r = run60(sb.cmd(["--config", d.config.to_str().unwrap(), "doctor", "--json"]));
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    let check = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {v}"))
            .clone()
    };
    assert_eq!(check("config")["status"], "ok", "{v}");
    assert_eq!(check("control socket permissions")["status"], "ok", "{v}");
    assert_eq!(check("daemon")["status"], "ok", "{v}");
    assert!(
        check("daemon")["detail"]
            .as_str()
            .unwrap()
            .contains("active account"),
        "{v}"
    );
}

#[test]
fn an_exhausted_account_shows_its_reset_and_refuses_swaps() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let resets = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2 * 3600 + 13 * 60 + 40);
    d.exhaust("beta", resets);
    let mut r = run60(sb.cmd(d.args(&["accounts", "--json"])));
    assert!(
        util::wait_until(std::time::Duration::from_secs(20), || {
            r = run60(sb.cmd(d.args(&["accounts", "--json"])));
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            v[1]["state"] == "exhausted"
        }),
        "beta never showed exhausted: {r}"
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[1]["usable"], false);
    assert_eq!(v[1]["window"], "five_hour");
    assert_eq!(v[1]["resets_at_ms"], resets.as_millisecond());

    // For people: local wall time and the distance.
    let r = run60(sb.cmd(d.args(&["accounts"])));
    r.ok();
    let local = resets
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%H:%M")
        .to_string();
    let beta = r.stdout.lines().find(|l| l.starts_with("beta")).unwrap();
    assert!(beta.contains("exhausted"), "{r}");
    assert!(beta.contains("five_hour"), "{r}");
    assert!(beta.contains(&format!("{local} (in 2h 13m)")), "{r}");

    // Swapping onto it is refused (422), exit 6, with the daemon's reason.
    let mut r = run60(sb.cmd(d.args(&["swap", "--to", "beta"])));
    assert!(util::wait_until(std::time::Duration::from_secs(30), || {
        r = run60(sb.cmd(d.args(&["swap", "--to", "beta"])));
        !r.stderr.contains("starting up")
    }));
    r.code(6);
    assert!(r.stderr.contains("beta"), "{r}");
    assert!(r.stderr.contains("exhausted"), "{r}");
}

#[test]
fn doctor_explains_the_default_account() {
    let sb = Sandbox::new();
    let home = sb.home();
    let login = |dir: &str| {
        let d = home.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(".credentials.json"), "{}").unwrap();
        std::fs::set_permissions(
            d.join(".credentials.json"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    };
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    login(".claude-work");
    std::fs::write(home.join(".claude-work/.claude.json"), "{}").unwrap();
    let cfg = sb.path("config/claude-failover/config.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg,
        "[[accounts]]\nname = \"main\"\nconfig_dir = \"~/.claude\"\n\n[[accounts]]\nname = \"work\"\nconfig_dir = \"~/.claude-work\"\n",
    )
    .unwrap();

    // No ~/.claude.json: the default account would start on the first-run screen.
    let r = run60(sb.cmd(["doctor"]));
    let out = &r.stdout;
    assert!(
        out.contains(
            "[FAIL] account main: global config: default account, but ~/.claude.json is missing"
        ),
        "{r}"
    );
    assert!(
        out.contains("[ok]   account work: global config: ~/.claude-work/.claude.json"),
        "{r}"
    );
    // Logging in to the default account must not set CLAUDE_CONFIG_DIR (that would write a
    // stray ~/.claude/.claude.json).
    assert!(out.contains("[FAIL] account main: login"), "{r}");
    assert!(out.contains("fix: log in: claude /login"), "{r}");
    assert!(!out.contains("CLAUDE_CONFIG_DIR=~/.claude claude"), "{r}");
    login(".claude");

    // With it, and a stray ~/.claude/.claude.json left by an explicit CLAUDE_CONFIG_DIR.
    std::fs::write(home.join(".claude.json"), "{}").unwrap();
    std::fs::write(home.join(".claude/.claude.json"), "{}").unwrap();
    let r = run60(sb.cmd(["doctor"]));
    // Lines wrap at 100 columns: compare with the whitespace folded.
    let out = &r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        out.contains("[ok] account main: global config: default account: started without CLAUDE_CONFIG_DIR, so Claude Code keeps using ~/.claude.json"),
        "{r}"
    );
    assert!(
        out.contains("[warn] account main: stray config: ~/.claude/.claude.json exists"),
        "{r}"
    );
    assert!(
        out.contains("mv ~/.claude/.claude.json ~/.claude/.claude.json.bak"),
        "{r}"
    );
    assert!(!out.contains("account work: stray config"), "{r}");
}

//! tmux output parsers on fixture strings (no server needed).

use failover_tmux::wire::{self, ControlLine, Failure, PaneState};

#[test]
fn session_lists() {
    assert_eq!(
        wire::parse_session_names("a\nccl-1\n\n"),
        vec!["a", "ccl-1"]
    );
    assert!(wire::parse_session_names("").is_empty());
}

#[test]
fn every_pane_state_at_once() {
    let out = "ccl-1\t0\t\t\t11\t\nccl-10\t1\t3\t\t12\t\n\
               ccl-1\t1\t9\t\t13\t\nodd\tname\t0\t\t\t14\t\n\nccl-2\t1\t\t\t15\t4\n";
    let all = wire::parse_all_pane_states(out);
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    // The first pane of each session counts; a line that does not parse is skipped.
    assert_eq!(names, ["ccl-1", "ccl-10", "ccl-2"]);
    assert!(!all[0].1.dead);
    assert_eq!(all[1].1.status, Some(3));
    assert_eq!(all[2].1.status, Some(4), "the wrapper's record fills in");
    assert!(wire::parse_all_pane_states("").is_empty());
}

#[test]
fn pane_states() {
    assert_eq!(
        wire::parse_pane_state("0\t\t\t4242\t\n").unwrap(),
        PaneState {
            dead: false,
            status: None,
            signal: None,
            pid: Some(4242)
        }
    );
    assert_eq!(
        wire::parse_pane_state("1\t3\t\t4242\t\n").unwrap(),
        PaneState {
            dead: true,
            status: Some(3),
            signal: None,
            pid: Some(4242)
        }
    );
    // tmux lost the status; the wrapper's record fills in.
    assert_eq!(
        wire::parse_pane_state("1\t\t\t4242\t7").unwrap().status,
        Some(7)
    );
    assert_eq!(
        wire::parse_pane_state("1\t\t9\t4242\t").unwrap().signal,
        Some(9)
    );
    // A live pane never reports a recorded status.
    assert_eq!(wire::parse_pane_state("0\t\t\t1\t5").unwrap().status, None);
    assert!(wire::parse_pane_state("garbage").is_err());
    assert!(wire::parse_pane_state("x\t\t\t1\t").is_err());
    assert!(wire::parse_pane_state("").is_err());
}

#[test]
fn captures_split_screen_and_size() {
    let (text, w, h) = wire::parse_capture("line one   \n❯ \n\n100\t30\n").unwrap();
    assert_eq!((text.as_str(), w, h), ("line one\n❯\n\n", 100, 30));
    let (text, w, h) = wire::parse_capture("80\t24\n").unwrap();
    assert_eq!((text.as_str(), w, h), ("\n", 80, 24));
    assert!(wire::parse_capture("screen\nnot a size\n").is_err());
}

#[test]
fn captures_split_screen_and_pane_state() {
    let (text, state) = wire::parse_capture_state("line one   \n❯ \n\n0\t\t\t4242\t\n").unwrap();
    assert_eq!(text, "line one\n❯\n\n");
    assert!(!state.dead);
    assert_eq!(state.pid, Some(4242));
    let (text, state) = wire::parse_capture_state("bye\n1\t\t\t4242\t3\n").unwrap();
    assert_eq!(text, "bye\n");
    assert!(state.dead);
    assert_eq!(state.status, Some(3), "the wrapper's record");
    assert!(wire::parse_capture_state("screen\nnot a state\n").is_err());
}

#[test]
fn failures_are_classified() {
    for (stderr, want) in [
        ("no server running on /tmp/tmux-0/x", Failure::ServerDown),
        (
            "error connecting to /tmp/tmux-0/x (Connection refused)",
            Failure::ServerDown,
        ),
        ("server exited unexpectedly", Failure::ServerDown),
        ("can't find session: ccl-1", Failure::NoSession),
        ("no current target", Failure::NoSession),
        ("duplicate session: ccl-1", Failure::DuplicateSession),
        ("unknown command: frobnicate", Failure::Other),
    ] {
        assert_eq!(wire::classify_failure(stderr), want, "{stderr}");
    }
}

#[test]
fn control_mode_lines() {
    assert_eq!(
        wire::parse_control_line("%output %3 hello\\015\\012"),
        ControlLine::Output { pane: "%3".into() }
    );
    assert_eq!(
        wire::parse_control_line("%extended-output %3 12 : x"),
        ControlLine::Output { pane: "%3".into() }
    );
    assert_eq!(wire::parse_control_line("%exit"), ControlLine::Exit);
    assert_eq!(
        wire::parse_control_line("%exit server exited"),
        ControlLine::Exit
    );
    assert_eq!(
        wire::parse_control_line("%window-close @4"),
        ControlLine::SessionChanged
    );
    assert_eq!(
        wire::parse_control_line("%window-renamed @0 sh[dead]"),
        ControlLine::WindowChanged
    );
    assert_eq!(wire::parse_control_line("%begin 1 2 0"), ControlLine::Other);
    assert_eq!(wire::parse_control_line(""), ControlLine::Other);
    assert_eq!(
        wire::parse_control_line("%subscription-changed failover-dead $0 @0 0 %0 : 1\t7\t7"),
        ControlLine::Subscription {
            name: "failover-dead".into(),
            pane: Some("%0".into()),
            value: "1\t7\t7".into()
        }
    );
}

#[test]
fn the_exit_notice_is_found_in_pane_output_as_control_mode_escapes_it() {
    // What the wrapper's printf writes is what `%output` shows: ESC and BEL in octal.
    assert_eq!(wire::EXIT_NOTICE, r"\033]7701;failover-exited\007");
    assert!(
        wire::EXIT_WRAPPER.contains(&format!("printf '{}'", wire::EXIT_NOTICE)),
        "{}",
        wire::EXIT_WRAPPER
    );
    let line = format!(r"%output %7 bye\015\012{}", wire::EXIT_NOTICE);
    assert_eq!(
        wire::parse_control_line(&line),
        ControlLine::ExitNotice { pane: "%7".into() }
    );
    // Anything short of the whole notice is ordinary output.
    assert_eq!(
        wire::parse_control_line(r"%output %7 \033]7701;failover-exi"),
        ControlLine::Output { pane: "%7".into() }
    );
    assert_eq!(
        wire::parse_control_line("%output %7 failover-exited"),
        ControlLine::Output { pane: "%7".into() }
    );
}

#[test]
fn dead_subscription_values() {
    assert_eq!(wire::parse_dead_value("0\t\t"), None);
    assert_eq!(wire::parse_dead_value("1\t3\t"), Some(Some(3)));
    assert_eq!(wire::parse_dead_value("1\t\t130"), Some(Some(130)));
    assert_eq!(wire::parse_dead_value("1\t\t"), Some(None));
    assert!(wire::dead_subscription().starts_with("failover-dead:%*:"));
}

#[test]
fn described_sessions() {
    let d = wire::parse_described("primary\tabc\t/cfg\t/work/a\tb\n").unwrap();
    assert_eq!(d.account.as_deref(), Some("primary"));
    assert_eq!(d.conversation.as_deref(), Some("abc"));
    assert_eq!(d.config_dir.as_deref(), Some("/cfg"));
    assert_eq!(d.dir, "/work/a\tb");
    let d = wire::parse_described("\t\t\t/w").unwrap();
    assert_eq!(
        (d.account, d.conversation, d.config_dir),
        (None, None, None)
    );
    assert!(wire::parse_described("only\ttwo").is_err());
}

#[test]
fn observer_session_and_window_notifications() {
    let name = wire::observer_session(42, 3);
    assert_eq!(name, "failover observer 42-3");
    assert!(wire::is_observer_session(&name));
    assert!(
        !wire::is_valid_session_name(&name),
        "never a launched session's name"
    );
    assert!(!wire::is_observer_session("ccl-1"));
    assert_eq!(
        wire::parse_pane_window("%3\t@2\n"),
        Some(("%3".into(), "@2".into()))
    );
    assert_eq!(wire::parse_pane_window("garbage\n"), None);
    assert_eq!(
        wire::parse_window_links("@1\t1\n@4\t2\nbad\n"),
        vec![("@1".into(), 1), ("@4".into(), 2)]
    );
    assert_eq!(
        wire::control_line_window("%window-renamed @4 sh [dead]"),
        Some("@4")
    );
    assert_eq!(wire::control_line_window("%window-close @7"), Some("@7"));
    assert_eq!(wire::control_line_window("%output %3 x"), None);
    assert_eq!(wire::window_in_session(&name, "@4"), format!("={name}:@4"));
}

#[test]
fn standby_sessions_and_swapped_panes_parse() {
    let name = wire::standby_session("ccl-1");
    assert_eq!(name, "failover standby ccl-1");
    assert!(wire::is_standby_session(&name) && wire::is_auxiliary_session(&name));
    assert!(!wire::is_standby_session("ccl-1") && !wire::is_auxiliary_session("ccl-1"));
    assert!(
        !wire::is_valid_session_name(&name),
        "never a pool session's name"
    );
    assert_eq!(
        wire::parse_standby_owners(
            "4242\tfailover standby ccl-1\n\tfailover standby ccl-2\n17\tccl-3\n"
        ),
        vec![
            ("failover standby ccl-1".to_owned(), Some(4242)),
            ("failover standby ccl-2".to_owned(), None),
        ]
    );
    assert_eq!(
        wire::parse_control_line("%window-pane-changed @0 %1"),
        ControlLine::ActivePaneChanged {
            window: "@0".into(),
            pane: "%1".into()
        }
    );
    assert_eq!(
        wire::parse_control_line("%window-pane-changed @0"),
        ControlLine::Other
    );
}

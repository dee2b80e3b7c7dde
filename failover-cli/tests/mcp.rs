//! `claude-failover mcp`, driven as an MCP client drives it: the built binary as a child with
//! piped stdio, newline-delimited JSON-RPC, against a real daemon started in-process.

use crate::util;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use util::daemon::{Spec, TestDaemon};
use util::{Sandbox, run60, wait_until};

/// How long any one answer may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// A running `claude-failover mcp` and the lines it writes on stdout.
struct Mcp {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
}

impl Mcp {
    /// Starts the server with `args` before `mcp` (e.g. `--socket`).
    fn start(sb: &Sandbox, args: &[String]) -> Self {
        let mut cmd = sb.cmd(args);
        cmd.arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn claude-failover mcp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin: Some(stdin),
            lines,
            next_id: 1,
        }
    }

    /// Writes one raw line.
    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line the server writes, as JSON.
    fn recv(&mut self) -> Value {
        match self.lines.recv_timeout(ANSWER_WITHIN) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a non-JSON line {line:?}: {e}")),
            Err(RecvTimeoutError::Timeout) => panic!("no answer within {ANSWER_WITHIN:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed stdout"),
        }
    }

    /// Sends a request and returns its answer (the whole JSON-RPC response).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&msg.to_string());
        let answer = self.recv();
        assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
        assert_eq!(answer["id"], id, "answers come in order here: {answer}");
        answer
    }

    /// `tools/call`, returning its result (a protocol error fails the test).
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let a = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(a.get("error").is_none(), "{tool}: protocol error {a}");
        a["result"].clone()
    }

    /// `initialize` then `notifications/initialized`, as every client opens.
    fn handshake(&mut self) -> Value {
        let a = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "mcp-test", "version": "0"},
            }),
        );
        self.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        a
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of a tool result's first content block.
fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

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
fn handshake_and_tool_list() {
    let sb = Sandbox::new();
    let mut mcp = Mcp::start(&sb, &[]);
    let a = mcp.handshake();
    let r = &a["result"];
    assert_eq!(r["protocolVersion"], "2025-06-18", "{a}");
    assert_eq!(r["capabilities"]["tools"], json!({}), "{a}");
    assert_eq!(r["serverInfo"]["name"], "claude-failover", "{a}");
    assert_eq!(r["serverInfo"]["version"], env!("CARGO_PKG_VERSION"), "{a}");
    // The notification got no answer: the next line is the ping's.
    let a = mcp.request("ping", json!({}));
    assert_eq!(a["result"], json!({}), "{a}");
    // A version it does not speak gets its newest instead.
    let a = mcp.request("initialize", json!({"protocolVersion": "1999-01-01"}));
    let v = a["result"]["protocolVersion"].as_str().unwrap();
    assert!(v.starts_with("20") && v != "1999-01-01", "{a}");

    let a = mcp.request("tools/list", json!({}));
    let tools = a["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "failover_status",
            "failover_swap",
            "failover_pause",
            "failover_resume"
        ]
    );
    for t in tools {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let swap = &tools[1]["inputSchema"];
    assert_eq!(swap["properties"]["to"]["type"], "string", "{swap}");
    assert_eq!(swap["properties"]["wait"]["type"], "boolean", "{swap}");
    assert!(swap.get("required").is_none(), "`to` is optional: {swap}");
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);

    // Unknown methods and tools are protocol errors.
    let a = mcp.request("resources/list", json!({}));
    assert_eq!(a["error"]["code"], -32601, "{a}");
    let a = mcp.request("tools/call", json!({"name": "failover_explode"}));
    assert_eq!(a["error"]["code"], -32602, "{a}");
    let a = mcp.request("tools/call", json!({"arguments": {}}));
    assert_eq!(a["error"]["code"], -32602, "{a}");
}

#[test]
fn malformed_input_gets_an_error_and_the_server_keeps_serving() {
    let sb = Sandbox::new();
    let mut mcp = Mcp::start(&sb, &[]);
    mcp.handshake();

    mcp.send_line(r#"{"jsonrpc":"2.0","id":1,"method":"ping""#);
    let a = mcp.recv();
    assert_eq!(a["error"]["code"], -32700, "{a}");
    assert_eq!(a["id"], Value::Null, "{a}");
    mcp.send_line("\u{1}not json at all");
    assert_eq!(mcp.recv()["error"]["code"], -32700);

    // JSON, but not a request: -32600, under the id when it is readable.
    mcp.send_line(r#"{"jsonrpc":"2.0","id":"x7"}"#);
    let a = mcp.recv();
    assert_eq!(
        (a["error"]["code"].clone(), a["id"].clone()),
        (json!(-32600), json!("x7"))
    );
    mcp.send_line(r#"{"jsonrpc":"1.0","id":8,"method":"ping"}"#);
    assert_eq!(mcp.recv()["error"]["code"], -32600);
    mcp.send_line("[]");
    assert_eq!(mcp.recv()["error"]["code"], -32600);

    // A batch is answered as one array; the notification in it gets nothing.
    mcp.send_line(
        r#"[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"b","method":"nope"}]"#,
    );
    let a = mcp.recv();
    let answers = a.as_array().unwrap_or_else(|| panic!("not an array: {a}"));
    assert_eq!(answers.len(), 2, "{a}");
    assert_eq!(answers[0]["id"], "a");
    assert_eq!(answers[0]["result"], json!({}));
    assert_eq!(answers[1]["error"]["code"], -32601);

    // Still serving.
    let a = mcp.request("ping", json!({}));
    assert_eq!(a["result"], json!({}), "{a}");
    let a = mcp.request("tools/list", json!({}));
    assert!(a["result"]["tools"].is_array(), "{a}");
}

#[test]
fn without_a_daemon_every_tool_says_how_to_start_it() {
    let sb = Sandbox::new();
    let sock = sb.path("run/nobody.sock");
    let mut mcp = Mcp::start(&sb, &["--socket".into(), sock.display().to_string()]);
    mcp.handshake();
    for tool in [
        "failover_status",
        "failover_swap",
        "failover_pause",
        "failover_resume",
    ] {
        let r = mcp.call(tool, json!({}));
        assert_eq!(r["isError"], true, "{tool}: {r}");
        let t = text(&r);
        assert!(
            t.contains("the claude-failover daemon is not running"),
            "{tool}: {t}"
        );
        assert!(t.contains(&sock.display().to_string()), "{tool}: {t}");
        assert!(t.contains("claude-failoverd --config"), "{tool}: {t}");
    }
    // The same words as the CLI's.
    let cli = run60(sb.cmd(["--socket", sock.to_str().unwrap(), "status"]));
    cli.code(3);
    let r = mcp.call("failover_status", json!({}));
    assert_eq!(text(&r), cli.stderr.trim_end(), "{r}");
}

#[test]
fn status_pause_swap_and_their_errors_against_a_real_daemon() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let mut mcp = Mcp::start(&sb, &d.args(&[]));
    mcp.handshake();

    // The daemon picks its active account once its startup adoption is done; compare two
    // status answers only after that, or they may straddle it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = run60(sb.cmd(d.args(&["status", "--json"])));
        let st: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
        if !st["active_account"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no active account: {}",
            out.stdout
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Status: the daemon's own answer, as text and as structured content.
    let r = mcp.call("failover_status", json!({}));
    assert_eq!(r["isError"], false, "{r}");
    let cli = run60(sb.cmd(d.args(&["status", "--json"])));
    cli.ok();
    let st: Value = serde_json::from_str(&cli.stdout).unwrap();
    let sc = &r["structuredContent"];
    assert_eq!(sc["api_version"], 1, "{r}");
    assert_eq!(sc["daemon"]["pid"], std::process::id(), "{r}");
    assert_eq!(sc["accounts"], st["accounts"], "{r}");
    assert_eq!(sc["active_account"], st["active_account"], "{r}");
    assert!(text(&r).contains("ACCOUNT"), "{r}");
    let json_block: Value =
        serde_json::from_str(r["content"][1]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&json_block, sc);

    // Unknown account: the daemon's 404 with the CLI's hint (once it has finished starting).
    let mut r = mcp.call("failover_swap", json!({"to": "nope"}));
    assert!(
        wait_until(Duration::from_secs(30), || {
            r = mcp.call("failover_swap", json!({"to": "nope"}));
            !text(&r).contains("starting up")
        }),
        "the daemon never finished starting: {r}"
    );
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("nope"), "{r}");
    assert!(
        text(&r).contains(" accounts` lists the account names"),
        "{r}"
    );

    // Bad arguments are a tool error the model can correct, not a protocol error.
    let r = mcp.call("failover_swap", json!({"to": 5}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).starts_with("invalid arguments"), "{r}");

    // Pause, and the status shows it.
    let r = mcp.call("failover_pause", json!({}));
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["command"], "pause", "{r}");
    assert!(text(&r).starts_with("paused"), "{r}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let r = mcp.call("failover_status", json!({}));
            r["structuredContent"]["paused"] == true && text(&r).contains("mode    paused")
        }),
        "status never showed paused"
    );
    // Paused: swaps are refused, with the daemon's reason.
    let r = mcp.call("failover_swap", json!({"to": "beta"}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("the daemon refused"), "{r}");
    assert!(text(&r).contains("paused"), "{r}");

    let r = mcp.call("failover_resume", json!({}));
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["command"], "resume", "{r}");

    // A swap that completes, followed to the end.
    let start = Instant::now();
    let r = mcp.call("failover_swap", json!({"to": "beta", "timeout_secs": 30}));
    assert_eq!(r["isError"], false, "{r}");
    assert!(text(&r).starts_with("swap complete"), "{r}");
    assert_eq!(r["structuredContent"]["active_account"], "beta", "{r}");
    assert!(start.elapsed() < Duration::from_secs(31));
    let r = mcp.call("failover_status", json!({}));
    assert_eq!(r["structuredContent"]["active_account"], "beta", "{r}");
    assert!(text(&r).contains("active  beta"), "{r}");
    // Without waiting: the daemon's acceptance.
    let r = mcp.call("failover_swap", json!({"to": "alpha", "wait": false}));
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["command"], "swap_to", "{r}");
    assert_eq!(r["structuredContent"]["to"], "alpha", "{r}");
    assert!(
        wait_until(Duration::from_secs(30), || {
            mcp.call("failover_status", json!({}))["structuredContent"]["active_account"] == "alpha"
        }),
        "the swap to alpha never completed"
    );
}

#[test]
fn a_slow_tool_call_does_not_hold_up_other_requests() {
    let sb = Sandbox::new();
    // A socket that accepts connections but never answers: the status call hangs.
    let sock = sb.path("run/silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut mcp = Mcp::start(&sb, &["--socket".into(), sock.display().to_string()]);
    mcp.handshake();
    mcp.send_line(
        r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"failover_status"}}"#,
    );
    mcp.send_line(r#"{"jsonrpc":"2.0","id":"quick","method":"ping"}"#);
    let a = mcp.recv();
    assert_eq!(a["id"], "quick", "ping waited for the tool call: {a}");
    let a = mcp.request("tools/list", json!({}));
    assert!(a["result"]["tools"].is_array(), "{a}");
    // The client gives up on the slow call; closing stdin then stops the server promptly.
    mcp.send_line(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow"}}"#,
    );
    mcp.stdin = None;
    assert!(
        wait_until(Duration::from_secs(10), || matches!(
            mcp.child.try_wait(),
            Ok(Some(_))
        )),
        "still running after stdin closed"
    );
    // Nothing more was written: no answer to the cancelled call.
    assert!(
        mcp.lines.recv_timeout(Duration::from_secs(5)).is_err(),
        "an answer was written after the cancellation"
    );
}

#[test]
fn the_server_stops_when_stdin_closes() {
    let sb = Sandbox::new();
    let mut mcp = Mcp::start(&sb, &[]);
    mcp.handshake();
    mcp.stdin = None;
    let stopped = wait_until(Duration::from_secs(10), || {
        matches!(mcp.child.try_wait(), Ok(Some(_)))
    });
    assert!(stopped, "still running after stdin closed");
    let status = mcp.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// The real Claude Code CLI registers the server as the README says and, in `claude mcp list`,
/// runs the handshake against it.
#[test]
fn real_claude_code_registers_and_connects() {
    let Ok(claude) = std::env::var("CLAUDE_FAILOVER_REAL_CLAUDE") else {
        eprintln!(
            "SKIPPED real_claude_code_registers_and_connects: CLAUDE_FAILOVER_REAL_CLAUDE is not set"
        );
        return;
    };
    let sb = Sandbox::new();
    let project = sb.path("project");
    std::fs::create_dir_all(&project).unwrap();
    let claude_cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(&claude);
        sb.env(&mut c);
        c.env("CLAUDE_CONFIG_DIR", sb.home().join(".claude"))
            .current_dir(&project)
            .args(args);
        c
    };
    let sock = sb.path("run/nobody.sock");
    let r = run60(claude_cmd(&[
        "mcp",
        "add",
        "claude-failover",
        "--",
        util::BIN,
        "--socket",
        sock.to_str().unwrap(),
        "mcp",
    ]));
    r.ok();
    let r = run60(claude_cmd(&["mcp", "list"]));
    r.ok();
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("claude-failover:"))
        .unwrap_or_else(|| panic!("not listed:\n{r}"));
    assert!(line.contains("Connected"), "{r}");
}

//! Runs the embedding example and checks the story it prints: adoption, a confirmed
//! failover with the prompt replayed, and the return to the preferred account.

use std::process::Command;

#[test]
fn the_example_prints_a_failover_and_the_return() {
    let out = Command::new(env!("CARGO_BIN_EXE_in_memory_failover"))
        .output()
        .expect("run the example");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let expected_in_order = [
        "launch #1 ccl-1 on work new",
        "notify warning [failover:work:personal]",
        // Both sessions move side by side (the engine's default `parallel_moves`).
        "checkpoint #2 ccl-0 on work",
        "checkpoint #3 ccl-1 on work",
        "launch #6 ccl-0 on personal resume=5f1e-aaaa",
        "launch #7 ccl-1 on personal resume=conv-1",
        "prompt #8 ccl-0 \"port the parser to nom 8\"",
        "notify info [returned:personal:work]",
        "launch #14 ccl-0 on work resume=5f1e-aaaa",
        "ccl-0: on work, conversation 5f1e-aaaa",
        "ccl-1: on work, conversation conv-1",
        "persisted active account: work",
    ];
    let mut rest = text.as_str();
    for line in expected_in_order {
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("missing (in order) {line:?} in:\n{text}"));
        rest = &rest[at + line.len()..];
    }
    // ccl-0 was adopted, never launched fresh.
    assert!(!text.contains("ccl-0 on work new"), "{text}");
}

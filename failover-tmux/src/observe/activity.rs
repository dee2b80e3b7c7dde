//! Whether a Claude Code screen shows a turn in progress or a prompt waiting for input.
//!
//! While a turn runs, Claude Code's footer says `esc to interrupt`. When it waits, the input
//! box is a `❯` (older versions `>`) line between two horizontal rules, and the footer has
//! no `esc to interrupt`. Anything else (a dialog, a startup screen) is unknown.

use failover_core::Activity;

/// How many lines at the bottom of the screen count as the footer.
const FOOTER_LINES: usize = 6;

/// Classifies a screen capture; `None` when it shows neither state.
pub fn activity_from_screen(screen: &str) -> Option<Activity> {
    let mut lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let footer_start = lines.len().saturating_sub(FOOTER_LINES);
    if lines[footer_start..]
        .iter()
        .any(|l| l.to_ascii_lowercase().contains("esc to interrupt"))
    {
        return Some(Activity::Working);
    }
    let is_rule = |l: &str| l.trim().chars().count() >= 10 && l.trim().chars().all(|c| c == '─');
    let is_prompt = |l: &str| {
        let t = l.trim_start_matches(['│', ' ']);
        t.starts_with('❯') || t.starts_with("> ") || t == ">"
    };
    let prompt_box = lines.windows(3).any(|w| is_rule(w[0]) && is_prompt(w[1]))
        || lines
            .windows(2)
            .any(|w| w[0].trim_start().starts_with('╭') && is_prompt(w[1]));
    prompt_box.then_some(Activity::Idle)
}

/// Whether the input box holds typed text that was not sent yet (a draft): the `❯` line
/// below a horizontal rule carries text, or lines follow it before the closing rule. `false`
/// when there is no input box on screen.
pub fn has_draft(screen: &str) -> bool {
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let is_rule = |l: &str| l.trim().chars().count() >= 10 && l.trim().chars().all(|c| c == '─');
    let Some(at) = (1..lines.len()).rev().find(|&i| {
        is_rule(lines[i - 1]) && {
            let t = lines[i].trim_start();
            t.starts_with('❯') || t.starts_with('>')
        }
    }) else {
        return false;
    };
    let first = lines[at].trim_start().trim_start_matches(['❯', '>']).trim();
    let more = lines[at + 1..]
        .iter()
        .take_while(|l| !is_rule(l))
        .any(|l| !l.trim().is_empty());
    !first.is_empty() || more
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "────────────────────────────────────────";

    #[test]
    fn idle_prompt() {
        let s =
            format!("banner\n\n{RULE}\n❯ \n{RULE}\n  ⏵⏵ auto mode on (shift+tab to cycle)\n\n\n");
        assert_eq!(activity_from_screen(&s), Some(Activity::Idle));
    }

    #[test]
    fn working_footer() {
        let s = format!(
            "❯ hi\n✻ Thinking…\n{RULE}\n❯ \n{RULE}\n  ⏵⏵ auto mode on · esc to interrupt · ← for agents\n"
        );
        assert_eq!(activity_from_screen(&s), Some(Activity::Working));
    }

    #[test]
    fn history_mention_is_not_working() {
        let mut s = String::from("the user typed esc to interrupt earlier\n");
        for _ in 0..10 {
            s.push_str("filler\n");
        }
        s.push_str(&format!("{RULE}\n❯ \n{RULE}\n  footer\n"));
        assert_eq!(activity_from_screen(&s), Some(Activity::Idle));
    }

    #[test]
    fn drafts_in_the_input_box() {
        let boxed = |input: &str| format!("history\n{RULE}\n{input}\n{RULE}\n  footer\n");
        assert!(!has_draft(&boxed("❯ ")), "empty box");
        assert!(has_draft(&boxed("❯ half a thought")), "one line");
        assert!(has_draft(&boxed("❯ line one\n  line two")), "several lines");
        assert!(!has_draft("no box at all\n"), "no box");
        // The box is the last rule-then-prompt pair: earlier `❯` lines are history.
        let s = format!("{RULE}\n❯ old prompt\n  answer\n{}", boxed("❯ "));
        assert!(!has_draft(&s), "history above an empty box");
    }

    #[test]
    fn unknown_screen() {
        assert_eq!(
            activity_from_screen("Do you trust this folder?\n1. Yes\n"),
            None
        );
        assert_eq!(activity_from_screen(""), None);
    }
}

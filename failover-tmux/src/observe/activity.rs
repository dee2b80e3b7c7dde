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
    fn unknown_screen() {
        assert_eq!(
            activity_from_screen("Do you trust this folder?\n1. Yes\n"),
            None
        );
        assert_eq!(activity_from_screen(""), None);
    }
}

//! Whether a Claude Code screen shows a turn in progress or a prompt waiting for input.
//!
//! While a turn runs, Claude Code's footer says `esc to interrupt`. When it waits, the input
//! box is a `❯` (older versions `>`) line between two horizontal rules, and the footer has
//! no `esc to interrupt`. Anything else (a dialog, a startup screen) is unknown.

use crate::session::Activity;

/// How many lines at the bottom of the screen count as the footer.
const FOOTER_LINES: usize = 6;

/// Whether the screen shows Claude Code's folder-trust dialog ("Accessing workspace: …
/// Is this a project you created or one you trust?", with "Yes, I trust this folder" among
/// its choices; 2.1.328).
pub fn shows_trust_dialog(screen: &str) -> bool {
    screen.contains("Accessing workspace") && screen.contains("I trust this folder")
}

/// Classifies a screen capture; `None` when it shows none of the states.
pub fn activity_from_screen(screen: &str) -> Option<Activity> {
    if shows_trust_dialog(screen) {
        return Some(Activity::WaitingForTrust);
    }
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

/// The text in the input box (the `❯` line below a horizontal rule, and the lines after it
/// up to the closing rule), trimmed and joined with newlines; `None` when there is no input
/// box on screen.
pub fn input_box(screen: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let is_rule = |l: &str| l.trim().chars().count() >= 10 && l.trim().chars().all(|c| c == '─');
    let at = (1..lines.len()).rev().find(|&i| {
        is_rule(lines[i - 1]) && {
            let t = lines[i].trim_start();
            t.starts_with('❯') || t.starts_with('>')
        }
    })?;
    let first = lines[at].trim_start().trim_start_matches(['❯', '>']).trim();
    let text: Vec<&str> = std::iter::once(first)
        .chain(
            lines[at + 1..]
                .iter()
                .take_while(|l| !is_rule(l))
                .map(|l| l.trim()),
        )
        .filter(|l| !l.is_empty())
        .collect();
    Some(text.join("\n"))
}

/// Whether the input box holds typed text that was not sent yet (a draft). `false` when
/// there is no input box on screen.
pub fn has_draft(screen: &str) -> bool {
    input_box(screen).is_some_and(|t| !t.is_empty())
}

/// Whether Claude Code is waiting to continue by itself after a usage limit ("Continuing
/// automatically at 5:29am · Esc to cancel"). Cancelling that wait (any key that cancels)
/// puts the refused prompt back in the input box.
pub fn waits_to_continue(screen: &str) -> bool {
    screen
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(FOOTER_LINES)
        .any(|l| l.trim_start().starts_with("Continuing automatically at "))
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
        assert_eq!(input_box(&boxed("❯ /exit")).as_deref(), Some("/exit"));
        assert_eq!(
            input_box(&boxed("❯ line one\n  line two")).as_deref(),
            Some("line one\nline two")
        );
        assert_eq!(input_box("no box at all\n"), None);
        // The box is the last rule-then-prompt pair: earlier `❯` lines are history.
        let s = format!("{RULE}\n❯ old prompt\n  answer\n{}", boxed("❯ "));
        assert!(!has_draft(&s), "history above an empty box");
    }

    #[test]
    fn waiting_to_continue_after_a_usage_limit() {
        // As Claude Code 2.1.328 draws it (the history line stays after the wait ends).
        let history = "❯ second prompt\n  ⎿  You've hit your 5-hour limit · resets 5:29am (UTC)\n\
             ● Usage limit reached · continuing automatically at 5:29am · esc to cancel\n";
        let waiting = format!(
            "{history}\n{RULE}\n❯ \n{RULE}\n  ⚠ Usage limit reached · limit resets 5:29am\n    \
             Continuing automatically at 5:29am · Esc to cancel · /usage-credits to continue now\n  \
             ⏵⏵ auto mode on (shift+tab to cycle) · ← for agents\n\n\n"
        );
        assert!(waits_to_continue(&waiting));
        let cancelled = format!(
            "{history}● Automatic continue cancelled · /rate-limit-options to re-arm\n\
             {RULE}\n❯ second prompt\n{RULE}\n  ⏵⏵ auto mode on (shift+tab to cycle)\n"
        );
        assert!(!waits_to_continue(&cancelled));
        assert_eq!(activity_from_screen(&waiting), Some(Activity::Idle));
    }

    #[test]
    fn the_trust_dialog_waits_for_a_person() {
        // Recorded from Claude Code 2.1.328 in a folder its account had not trusted.
        let screen = "────────────────────────────────────────\n Accessing workspace:\n /tmp/cfexp4/proj\n Quick safety check: Is this a project you created or one you trust? (Like your own code, a well-known open source\n project, or work from your team). If not, take a moment to review what's in this folder first.\n Claude Code'll be able to read, edit, and execute files here.\n Security guide\n ❯ No, exit\n   Yes, I trust this folder\n Enter to confirm · Esc to cancel\n";
        assert_eq!(
            activity_from_screen(screen),
            Some(Activity::WaitingForTrust)
        );
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

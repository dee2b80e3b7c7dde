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
pub(crate) fn shows_trust_dialog(screen: &str) -> bool {
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
///
/// `screen` is a plain capture or one with colours and attributes as ANSI escapes
/// (`failover_tmux::TmuxBackend::capture_ansi`). Only the latter tells
/// a draft from a placeholder Claude Code shows in an empty box, drawn dim behind the cursor
/// (`Try "fix lint errors"` in a new session with prompt suggestions on, `Press up to edit
/// queued messages`, …): with escapes, a box holding nothing but dim text (and the cursor
/// cell) is empty; a plain capture shows the placeholder as text.
pub fn input_box(screen: &str) -> Option<String> {
    let cells = styled_lines(screen);
    let plain: Vec<String> = cells
        .iter()
        .map(|l| {
            l.iter()
                .map(|c| c.ch)
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect();
    let is_rule = |l: &str| l.trim().chars().count() >= 10 && l.trim().chars().all(|c| c == '─');
    let at = (1..plain.len()).rev().find(|&i| {
        is_rule(&plain[i - 1]) && {
            let t = plain[i].trim_start();
            t.starts_with('❯') || t.starts_with('>')
        }
    })?;
    let end = (at + 1..plain.len())
        .find(|&i| is_rule(&plain[i]))
        .unwrap_or(plain.len());
    if placeholder_only(&cells[at..end]) {
        return Some(String::new());
    }
    let first = plain[at].trim_start().trim_start_matches(['❯', '>']).trim();
    let text: Vec<&str> = std::iter::once(first)
        .chain(plain[at + 1..end].iter().map(|l| l.trim()))
        .filter(|l| !l.is_empty())
        .collect();
    let text = text.join("\n");
    if is_known_placeholder(&text) {
        return Some(String::new());
    }
    Some(text)
}

/// Whether `text` is one of the hints Claude Code (2.1.3xx) draws in an empty input box.
/// They are dim, but a screen drawn without colours (`NO_COLOR`, `CI=true`, a capture
/// without escapes) shows them as plain text: `Resend your message to try again` after an
/// API error, `Press up to edit queued messages`, and prompt suggestions (`Try "…"`).
fn is_known_placeholder(text: &str) -> bool {
    text == "Resend your message to try again"
        || text == "Press up to edit queued messages"
        || (text.starts_with("Try \"") && text.ends_with('"') && !text.contains('\n'))
}

/// One character of a captured screen and the attributes that tell typed text from a
/// placeholder.
#[derive(Clone, Copy, Debug)]
struct Cell {
    ch: char,
    dim: bool,
    inverse: bool,
}

/// The screen's lines as cells, its ANSI escapes (SGR) applied; a plain capture gives plain
/// cells. Attributes carry over from line to line, as `capture-pane -e` writes them.
fn styled_lines(screen: &str) -> Vec<Vec<Cell>> {
    let (mut dim, mut inverse) = (false, false);
    let mut lines = Vec::new();
    for line in screen.lines() {
        let mut cells = Vec::new();
        let mut chars = line.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch != '\u{1b}' {
                cells.push(Cell { ch, dim, inverse });
                continue;
            }
            match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut last = None;
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            last = Some(c);
                            break;
                        }
                        params.push(c);
                    }
                    if last == Some('m') {
                        apply_sgr(&params, &mut dim, &mut inverse);
                    }
                }
                Some(']') => {
                    // An operating system command (a hyperlink): up to BEL or ESC \.
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        lines.push(cells);
    }
    lines
}

/// Applies one SGR sequence's parameters to the two attributes kept.
fn apply_sgr(params: &str, dim: &mut bool, inverse: &mut bool) {
    let mut it = params.split(';');
    while let Some(p) = it.next() {
        match p.split(':').next().unwrap_or("") {
            "" | "0" => (*dim, *inverse) = (false, false),
            "2" => *dim = true,
            "22" => *dim = false,
            "7" => *inverse = true,
            "27" => *inverse = false,
            // Extended colours: skip their arguments.
            "38" | "48" | "58" if !p.contains(':') => match it.next() {
                Some("5") => {
                    it.next();
                }
                Some("2") => {
                    it.nth(2);
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// Whether the input box's cells (its `❯` line first) show only a placeholder: some dim
/// text, and no character that is neither dim nor the cursor (inverse).
fn placeholder_only(lines: &[Vec<Cell>]) -> bool {
    let mut cells = lines.iter().enumerate().flat_map(|(i, l)| {
        // The prompt mark and what precedes it are not part of the text.
        let skip = if i == 0 {
            l.iter()
                .position(|c| c.ch == '❯' || c.ch == '>')
                .map_or(0, |p| p + 1)
        } else {
            0
        };
        l[skip..].iter().filter(|c| !c.ch.is_whitespace())
    });
    let mut any_dim = false;
    cells.all(|c| {
        any_dim |= c.dim;
        c.dim || c.inverse
    }) && any_dim
}

/// Whether the input box holds typed text that was not sent yet (a draft). `false` when
/// there is no input box on screen.
pub fn has_draft(screen: &str) -> bool {
    input_box(screen).is_some_and(|t| !t.is_empty())
}

/// Whether `draft`, the text of an input box ([`input_box`]), is `prompt` pasted and not
/// sent yet (`prompt` as typed: through `failover_tmux::sanitize_input`).
///
/// White space is ignored: the box wraps long lines at the pane's width and indents the
/// rows after the first. A long paste (over 800 characters, or more than two line breaks in
/// 2.1.328) shows as a placeholder, `[Pasted text #3 +12 lines]` (`[Pasted text #3]` for
/// one long line); the box then holds `prompt` when it holds that placeholder alone and the
/// line breaks it counts are the prompt's.
pub fn box_holds(draft: &str, prompt: &str) -> bool {
    let squeezed = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let want = squeezed(prompt);
    if want.is_empty() {
        return false;
    }
    if squeezed(draft) == want {
        return true;
    }
    let Some(inner) = draft
        .trim()
        .strip_prefix("[Pasted text #")
        .and_then(|r| r.strip_suffix(']'))
    else {
        return false;
    };
    let (number, lines) = match inner.split_once(" +") {
        Some((n, rest)) => match rest.strip_suffix(" lines").map(str::parse::<usize>) {
            Some(Ok(lines)) => (n, lines),
            _ => return false,
        },
        None => (inner, 0),
    };
    !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) && lines == line_breaks(prompt)
}

/// Line breaks as Claude Code counts them in a paste: `\r\n`, `\r` and `\n` one each.
fn line_breaks(text: &str) -> usize {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\r')
        .count()
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

    /// Captured with escapes from Claude Code 2.1.328 (`capture-pane -e`).
    const EMPTY_BOX_SUGGESTION: &str = include_str!("fixtures/empty-box-suggestion.ansi");
    const TYPED_DRAFT: &str = include_str!("fixtures/typed-draft.ansi");
    const WRAPPED_DRAFT: &str = include_str!("fixtures/wrapped-draft.ansi");
    const PASTED_DRAFT: &str = include_str!("fixtures/pasted-draft.ansi");

    fn strip(ansi: &str) -> String {
        styled_lines(ansi)
            .iter()
            .map(|l| l.iter().map(|c| c.ch).collect::<String>() + "\n")
            .collect()
    }

    #[test]
    fn a_placeholder_in_an_empty_box_is_not_a_draft() {
        // A new session with prompt suggestions on: `❯ Try "how do I log an error?"`, the
        // first letter under the cursor, the rest dim. As plain text (no colours) it is
        // still known for a suggestion.
        let plain = strip(EMPTY_BOX_SUGGESTION);
        assert_eq!(input_box(&plain).as_deref(), Some(""));
        assert_eq!(input_box(EMPTY_BOX_SUGGESTION).as_deref(), Some(""));
        assert!(!has_draft(EMPTY_BOX_SUGGESTION));
        assert_eq!(
            activity_from_screen(&plain),
            Some(Activity::Idle),
            "still an idle prompt"
        );
    }

    #[test]
    fn hints_drawn_without_colours_are_not_drafts() {
        // After an API error, on a screen drawn without colours (`CI=true`, `NO_COLOR`).
        let screen = format!(
            "● API Error: 500 stand-in says no.\n\n{RULE}\n❯ Resend your message to try again\n{RULE}\n  ⏵⏵ auto mode on (shift+tab to cycle)\n"
        );
        assert_eq!(input_box(&screen).as_deref(), Some(""));
        assert!(!has_draft(&screen));
        let typed = screen.replace("Resend your message to try again", "Resend it please");
        assert_eq!(input_box(&typed).as_deref(), Some("Resend it please"));
        let queued = screen.replace(
            "Resend your message to try again",
            "Press up to edit queued messages",
        );
        assert!(!has_draft(&queued));
    }

    #[test]
    fn drafts_captured_with_escapes() {
        assert_eq!(input_box(TYPED_DRAFT).as_deref(), Some("half a thought"));
        assert_eq!(
            input_box(WRAPPED_DRAFT).as_deref(),
            Some(
                "Please review the authentication module carefully and then write a concise \
                 report about every problem you find in\nit, including the session handling, \
                 token refresh logic, error messages shown to users, and the logging of \
                 sensitive\nvalues; supercalifragilisticexpialidociouslyverylongwordthatmustwrap \
                 somewhere here."
            )
        );
        assert_eq!(
            input_box(PASTED_DRAFT).as_deref(),
            Some("[Pasted text #2 +6 lines]")
        );
        for screen in [TYPED_DRAFT, WRAPPED_DRAFT, PASTED_DRAFT] {
            assert!(has_draft(screen));
            assert_eq!(input_box(screen), input_box(&strip(screen)));
        }
        // One letter under the cursor is typed text, not a placeholder.
        let boxed = format!("{RULE}\n❯ \u{1b}[7mx\u{1b}[0m\n{RULE}\n");
        assert_eq!(input_box(&boxed).as_deref(), Some("x"));
    }

    #[test]
    fn the_box_holds_this_prompt() {
        let wrapped = input_box(WRAPPED_DRAFT).unwrap();
        let prompt = "Please review the authentication module carefully and then write a concise \
            report about every problem you find in it, including the session handling, token \
            refresh logic, error messages shown to users, and the logging of sensitive values; \
            supercalifragilisticexpialidociouslyverylongwordthatmustwrap somewhere here.";
        assert!(box_holds(&wrapped, prompt), "wrapped across rows");
        assert!(!box_holds(
            &wrapped,
            "Please review the authentication module"
        ));
        assert!(!box_holds(&wrapped, &format!("{prompt} And more.")));
        assert!(box_holds("line one\nline two", "line one\nline two"));
        assert!(!box_holds("", "x"));
        assert!(!box_holds("x", ""));
        // The long paste in the fixture: seven lines, six line breaks.
        let pasted = input_box(PASTED_DRAFT).unwrap();
        let seven_lines = "a\nb\nc\nd\ne\nf\ng";
        assert!(box_holds(&pasted, seven_lines));
        assert!(box_holds(&pasted, "a\r\nb\rc\nd\ne\nf\ng"));
        assert!(!box_holds(&pasted, "a\nb\nc"), "another line count");
        assert!(box_holds("[Pasted text #12]", &"x".repeat(900)));
        assert!(!box_holds("[Pasted text #12] and more", &"x".repeat(900)));
        assert!(!box_holds("[Pasted text #] ", &"x".repeat(900)));
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

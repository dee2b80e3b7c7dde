//! The stand-in's screen, laid out like Claude Code's: the conversation scrolls above a
//! live block at the bottom that is erased and redrawn on every change.
//!
//! The live block is, top to bottom: an optional status (`✻ Working…`, a retry line), the
//! input box (a `─` rule across the width, `❯ ` and the typed text, another rule) and the
//! footer (`⏵⏵ auto mode on …`, with `· esc to interrupt` while a turn runs, then notices
//! and the statusline output). While a weekly-limit menu is open it takes the place of the
//! input box. The block hard-wraps its own lines at the width, so it always knows how many
//! rows it covers and where the cursor is, and erasing it is "cursor up, clear to the end of
//! the screen".

use std::io::Write;

/// The footer's last line when idle.
const FOOTER: &str = "  ⏵⏵ auto mode on (shift+tab to cycle)";
/// The footer's last line while a turn runs (short, so that it is one row even in a narrow
/// pane).
const FOOTER_WORKING: &str = "  ⏵⏵ auto mode on · esc to interrupt";

/// The bottom of the screen and what it shows.
#[derive(Debug)]
pub struct Screen {
    width: usize,
    /// Rows from the top of the drawn live block down to the cursor; `None` when no block
    /// is drawn.
    cursor_row: Option<usize>,
    /// The status lines above the input box.
    pub status: Vec<String>,
    /// The text being typed.
    pub input: String,
    /// Whether a turn is in progress (`esc to interrupt` in the footer).
    pub working: bool,
    /// Notices in the footer (quota wait, near limit), kept until the next prompt.
    pub notices: Vec<String>,
    /// The statusline command's output, kept until the next run replaces it.
    pub statusline: Option<String>,
    /// A menu drawn in place of the input box.
    pub menu: Option<Vec<String>>,
}

impl Screen {
    /// A screen `width` columns wide with nothing drawn yet.
    pub fn new(width: usize) -> Self {
        Self {
            width: width.max(20),
            cursor_row: None,
            status: Vec::new(),
            input: String::new(),
            working: false,
            notices: Vec::new(),
            statusline: None,
            menu: None,
        }
    }

    /// Sets the width (after the terminal was resized); takes effect at the next draw.
    pub fn set_width(&mut self, width: usize) {
        self.width = width.max(20);
    }

    /// Adds lines to the conversation above the live block, then redraws the block.
    pub fn history(&mut self, out: &mut dyn Write, lines: &[String]) -> std::io::Result<()> {
        self.erase(out)?;
        for line in lines {
            writeln!(out, "{line}")?;
        }
        self.draw(out)
    }

    /// Redraws the live block with the current state.
    pub fn redraw(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        self.erase(out)?;
        self.draw(out)
    }

    /// Removes the live block (before the program exits, say).
    pub fn erase(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(row) = self.cursor_row.take() {
            if row > 0 {
                write!(out, "\x1b[{row}A")?;
            }
            write!(out, "\r\x1b[J")?;
        }
        Ok(())
    }

    fn draw(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut rows: Vec<String> = Vec::new();
        for line in &self.status {
            rows.extend(wrap(line, self.width));
        }
        // The row the cursor goes to, and its column (1-based).
        let cursor;
        if let Some(menu) = &self.menu {
            for line in menu {
                rows.extend(wrap(line, self.width));
            }
            cursor = (rows.len().saturating_sub(1), 1);
        } else {
            let rule = "─".repeat(self.width);
            rows.push(rule.clone());
            for (i, line) in self.input.split('\n').enumerate() {
                let prefix = if i == 0 { "❯ " } else { "  " };
                rows.extend(wrap(&format!("{prefix}{line}"), self.width));
            }
            let last = rows.last().map_or(0, |r| r.chars().count());
            cursor = (rows.len() - 1, (last + 1).min(self.width));
            rows.push(rule);
        }
        let footer = if self.working { FOOTER_WORKING } else { FOOTER };
        for line in self.notices.iter().chain(&self.statusline) {
            rows.extend(wrap(&format!("  {line}"), self.width));
        }
        rows.extend(wrap(footer, self.width));

        write!(out, "{}", rows.join("\n"))?;
        let up = rows.len() - 1 - cursor.0;
        if up > 0 {
            write!(out, "\x1b[{up}A")?;
        }
        write!(out, "\x1b[{}G", cursor.1)?;
        out.flush()?;
        self.cursor_row = Some(cursor.0);
        Ok(())
    }
}

/// `line` cut into rows of at most `width` characters, at spaces where it can be (as the
/// CLI wraps), continuation rows indented like the first; one empty row for an empty line.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let indent = chars.iter().take_while(|c| **c == ' ').count();
    let indent = if indent < width / 2 { indent } else { 0 };
    let mut rows = Vec::new();
    let mut rest: &[char] = &chars;
    let mut first = true;
    while !rest.is_empty() {
        let lead = if first { 0 } else { indent };
        let room = width - lead;
        let row: &[char];
        if rest.len() <= room {
            row = rest;
            rest = &[];
        } else {
            // The last space in the row ends it, unless that leaves the row short (a
            // long word is cut instead).
            let cut = rest[..=room]
                .iter()
                .rposition(|c| *c == ' ')
                .filter(|p| *p > room / 2);
            match cut {
                Some(p) => {
                    row = &rest[..p];
                    rest = &rest[p + 1..];
                }
                None => {
                    row = &rest[..room];
                    rest = &rest[room..];
                }
            }
        }
        let mut text = " ".repeat(lead);
        text.extend(row.iter());
        rows.push(text);
        first = false;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(s: &mut Screen) -> String {
        let mut out = Vec::new();
        s.redraw(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn idle_box_is_framed_by_rules_and_working_adds_the_interrupt_hint() {
        let mut s = Screen::new(60);
        let idle = drawn(&mut s);
        let rule = "─".repeat(60);
        assert!(
            idle.starts_with(&format!("{rule}\n❯ \n{rule}\n{FOOTER}")),
            "{idle:?}"
        );
        assert!(!idle.contains("esc to interrupt"));
        // Cursor: one row up from the footer, at column 3 (after `❯ `).
        assert!(idle.ends_with("\x1b[2A\x1b[3G"), "{idle:?}");

        s.working = true;
        s.status = vec!["✻ Working…".into()];
        let working = drawn(&mut s);
        // The old block is erased first: up to its top, clear to the end.
        assert!(
            working.starts_with("\x1b[1A\r\x1b[J✻ Working…\n"),
            "{working:?}"
        );
        assert!(working.contains("esc to interrupt"));
    }

    #[test]
    fn long_lines_are_wrapped_so_the_cursor_is_known() {
        let mut s = Screen::new(20);
        s.input = "x".repeat(25);
        let out = drawn(&mut s);
        assert!(out.contains(&format!("❯ {}\n{}\n", "x".repeat(18), "x".repeat(7))));
        assert_eq!(
            wrap("    resets 1:21am · /upgrade to keep", 20),
            vec!["    resets 1:21am ·", "    /upgrade to keep"]
        );
        // Rows: rule, input (2), rule, footer (2): the cursor is on row 2.
        assert_eq!(s.cursor_row, Some(2));
    }
}

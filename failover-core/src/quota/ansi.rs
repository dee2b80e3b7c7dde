//! Removing terminal escape sequences from captured pane text.
//!
//! `tmux capture-pane -e` keeps SGR styling (`ESC [ … m`); other captures may hold cursor
//! movement, OSC hyperlinks (`ESC ] 8 ; ; url ESC \`) or title changes. Detectors read the
//! text a person would see, so every sequence is dropped whole.

use std::borrow::Cow;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Returns `text` without ANSI/VT escape sequences. Borrows when there are none.
///
/// Handles CSI (`ESC [` … final byte), OSC (`ESC ]` … `BEL` or `ESC \`), DCS/SOS/PM/APC
/// strings (`ESC P`/`X`/`^`/`_` … `ESC \`), and two-byte escapes. A truncated sequence at the
/// end is dropped.
pub(crate) fn strip_ansi(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let Some(first) = memchr::memchr(ESC, bytes) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    let mut i = first;
    loop {
        out.push_str(&text[copied_to..i]);
        let end = sequence_end(bytes, i);
        copied_to = end;
        match memchr::memchr(ESC, &bytes[end..]) {
            Some(next) => i = end + next,
            None => break,
        }
    }
    out.push_str(&text[copied_to..]);
    Cow::Owned(out)
}

/// The index just after the escape sequence that starts at `start` (an `ESC` byte). Always
/// lands on a char boundary: sequence bytes are ASCII, and a non-ASCII byte ends the scan.
fn sequence_end(bytes: &[u8], start: usize) -> usize {
    let Some(&kind) = bytes.get(start + 1) else {
        return bytes.len();
    };
    match kind {
        b'[' => {
            // CSI: parameter bytes 0x30–0x3F, intermediates 0x20–0x2F, final 0x40–0x7E.
            let mut j = start + 2;
            while let Some(&b) = bytes.get(j) {
                match b {
                    0x20..=0x3f => j += 1,
                    0x40..=0x7e => return j + 1,
                    _ => return j,
                }
            }
            bytes.len()
        }
        b']' | b'P' | b'X' | b'^' | b'_' => {
            // A string terminated by BEL (OSC only) or ST (`ESC \`).
            let mut j = start + 2;
            while let Some(&b) = bytes.get(j) {
                if b == BEL {
                    return j + 1;
                }
                if b == ESC {
                    return if bytes.get(j + 1) == Some(&b'\\') {
                        j + 2
                    } else {
                        j
                    };
                }
                j += 1;
            }
            bytes.len()
        }
        // Character-set designations take one more byte: `ESC ( B`.
        b'(' | b')' | b'*' | b'+' | b'-' | b'.' | b'/' | b'#' | b'%' => {
            match bytes.get(start + 2) {
                Some(b) if b.is_ascii() => start + 3,
                _ => start + 2,
            }
        }
        b if b.is_ascii() => start + 2,
        // ESC followed by a multi-byte char: drop the ESC alone.
        _ => start + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_common_sequences() {
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("\x1b[1;31mred\x1b[0m text"), "red text");
        assert_eq!(
            strip_ansi("\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(strip_ansi("\x1b]0;title\x07after"), "after");
        assert_eq!(strip_ansi("\x1b(Bx\x1b7y\x1b"), "xy");
        assert_eq!(strip_ansi("a\x1b⎿b"), "a⎿b");
        assert_eq!(strip_ansi("\x1b[38;2;255;0;0m⎿\x1b[39m"), "⎿");
    }
}

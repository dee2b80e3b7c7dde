//! Turning terminal bytes into key events: typing, bracketed pastes, Enter, Esc.

/// Bracketed paste start, as the terminal sends it once the program asked for it with
/// `ESC[?2004h`.
const PASTE_START: &[u8] = b"\x1b[200~";
/// Bracketed paste end.
const PASTE_END: &[u8] = b"\x1b[201~";

/// What one batch of terminal bytes meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The text being typed changed; this is all of it now.
    Edit(String),
    /// Enter: the typed text (trimmed, possibly empty) is submitted.
    Submit(String),
    /// A lone Esc.
    Escape,
    /// Ctrl-D on an empty line.
    Eof,
}

/// Collects bytes typed or pasted into a terminal (in raw mode) and yields key events.
///
/// Inside a bracketed paste (`ESC[200~ … ESC[201~`) newlines are part of the prompt; the
/// Enter after the paste submits it. Carriage returns count as Enter (raw terminals send
/// `\r`, cooked ones `\n`). Backspace deletes, Ctrl-U clears the line, other escape
/// sequences (arrows, focus reports) are skipped; a lone Esc is [`Key::Escape`].
#[derive(Debug, Default)]
pub struct PromptReader {
    buf: Vec<u8>,
    pending: Vec<u8>,
    in_paste: bool,
}

impl PromptReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader whose line already holds `text` (Claude Code's `--prefill`): Enter
    /// submits it, typing adds to it.
    pub fn with_text(text: &str) -> Self {
        Self {
            buf: text.as_bytes().to_vec(),
            ..Self::default()
        }
    }

    /// Feeds bytes; returns the non-empty prompts they completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.feed_keys(bytes)
            .into_iter()
            .filter_map(|k| match k {
                Key::Submit(p) if !p.is_empty() => Some(p),
                _ => None,
            })
            .collect()
    }

    /// Feeds bytes; returns the key events they make, in order (one [`Key::Edit`] per
    /// batch of typing, after it).
    pub fn feed_keys(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut edited = false;
        self.pending.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            if rest[0] == 0x1b {
                match escape_len(rest) {
                    EscLen::Incomplete => {
                        // A sequence split across reads: keep it for the next feed.
                        self.pending = rest.to_vec();
                        break;
                    }
                    EscLen::Lone => {
                        if self.in_paste {
                            self.buf.push(0x1b);
                        } else {
                            flush_edit(&mut keys, &mut edited, &self.buf);
                            keys.push(Key::Escape);
                        }
                        i += 1;
                    }
                    EscLen::Seq(n) => {
                        let seq = &rest[..n];
                        if seq == PASTE_START {
                            self.in_paste = true;
                        } else if seq == PASTE_END {
                            self.in_paste = false;
                        }
                        i += n;
                    }
                }
                continue;
            }
            let b = rest[0];
            match b {
                b'\n' | b'\r' if !self.in_paste => {
                    let text = String::from_utf8_lossy(&self.buf).trim().to_owned();
                    self.buf.clear();
                    edited = false;
                    keys.push(Key::Submit(text));
                }
                b'\r' => {
                    self.buf.push(b'\n');
                    edited = true;
                }
                0x7f | 0x08 if !self.in_paste => {
                    // Drop one whole UTF-8 character.
                    while let Some(last) = self.buf.pop() {
                        if last & 0xc0 != 0x80 {
                            break;
                        }
                    }
                    edited = true;
                }
                0x15 if !self.in_paste => {
                    self.buf.clear();
                    edited = true;
                }
                0x04 if !self.in_paste && self.buf.is_empty() => {
                    keys.push(Key::Eof);
                }
                b'\n' | b'\t' => {
                    self.buf.push(b);
                    edited = true;
                }
                c if c < 0x20 => {}
                _ => {
                    self.buf.push(b);
                    edited = true;
                }
            }
            i += 1;
        }
        flush_edit(&mut keys, &mut edited, &self.buf);
        keys
    }
}

fn flush_edit(keys: &mut Vec<Key>, edited: &mut bool, buf: &[u8]) {
    if std::mem::take(edited) {
        keys.push(Key::Edit(String::from_utf8_lossy(buf).into_owned()));
    }
}

enum EscLen {
    /// Only part of a sequence has arrived.
    Incomplete,
    /// Esc on its own (the key).
    Lone,
    /// A whole sequence of this many bytes.
    Seq(usize),
}

/// How long the escape sequence at the start of `s` (which starts with ESC) is.
fn escape_len(s: &[u8]) -> EscLen {
    match s.get(1) {
        None => EscLen::Lone,
        Some(b'[') => match s[2..].iter().position(|b| (0x40..=0x7e).contains(b)) {
            Some(p) => EscLen::Seq(p + 3),
            None => EscLen::Incomplete,
        },
        Some(b'O') if s.len() >= 3 => EscLen::Seq(3),
        Some(b'O') => EscLen::Incomplete,
        Some(_) => EscLen::Lone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_prompts() {
        let mut r = PromptReader::new();
        assert_eq!(r.feed(b"hel"), Vec::<String>::new());
        assert_eq!(r.feed(b"lo\n\nworld\r"), vec!["hello", "world"]);
    }

    #[test]
    fn paste_keeps_newlines_until_enter() {
        let mut r = PromptReader::new();
        assert!(r.feed(b"\x1b[200~line one\nline two\x1b[2").is_empty());
        assert!(r.feed(b"01~").is_empty());
        assert_eq!(r.feed(b"\r"), vec!["line one\nline two"]);
    }

    #[test]
    fn typing_edits_and_escape_is_a_key_not_text() {
        let mut r = PromptReader::new();
        assert_eq!(r.feed_keys(b"ab\x7fc"), vec![Key::Edit("ac".into())]);
        assert_eq!(r.feed_keys(b"\x1b[A\x1b"), vec![Key::Escape]);
        assert_eq!(r.feed_keys(b"\x15"), vec![Key::Edit(String::new())]);
        // What a stop sends: Esc, then `/exit` and Enter.
        assert_eq!(r.feed(b"\x1b"), Vec::<String>::new());
        assert_eq!(r.feed(b"/exit\r"), vec!["/exit"]);
        assert_eq!(r.feed_keys(b"\x04"), vec![Key::Eof]);
    }
}

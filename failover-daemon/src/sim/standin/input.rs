//! Turning terminal bytes into prompts, bracketed paste included.

/// Bracketed paste start, as the terminal sends it once the program asked for it with
/// `ESC[?2004h`.
const PASTE_START: &[u8] = b"\x1b[200~";
/// Bracketed paste end.
const PASTE_END: &[u8] = b"\x1b[201~";

/// Collects bytes typed or pasted into a terminal and yields one prompt per Enter.
///
/// Inside a bracketed paste (`ESC[200~ … ESC[201~`) newlines are part of the prompt; the
/// Enter after the paste submits it. Carriage returns count as Enter (raw terminals send
/// `\r`, cooked ones `\n`). Leading and trailing whitespace is trimmed; empty prompts are
/// dropped.
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

    /// Feeds bytes; returns the prompts they completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut prompts = Vec::new();
        self.pending.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            let marker = if self.in_paste {
                PASTE_END
            } else {
                PASTE_START
            };
            if rest.starts_with(marker) {
                self.in_paste = !self.in_paste;
                i += marker.len();
                continue;
            }
            if rest[0] == 0x1b && marker.starts_with(rest) {
                // A marker split across reads: keep it for the next feed.
                self.pending = rest.to_vec();
                break;
            }
            let b = rest[0];
            if !self.in_paste && (b == b'\n' || b == b'\r') {
                let text = String::from_utf8_lossy(&self.buf).trim().to_owned();
                self.buf.clear();
                if !text.is_empty() {
                    prompts.push(text);
                }
            } else if self.in_paste && b == b'\r' {
                self.buf.push(b'\n');
            } else {
                self.buf.push(b);
            }
            i += 1;
        }
        prompts
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
}

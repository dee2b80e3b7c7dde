//! The terminal the stand-in runs in: raw input (no echo, key by key) and its width, set
//! and read with `stty` on the inherited stdin.

use std::process::{Command, Stdio};

/// The width assumed when stdin is not a terminal.
pub const DEFAULT_WIDTH: usize = 100;

/// Raw input while alive: the terminal's settings are restored on drop. Signals (Ctrl-C)
/// and output processing stay as they were.
#[derive(Debug)]
pub struct RawInput {
    saved: Option<String>,
}

impl RawInput {
    /// Switches stdin to raw input; does nothing when stdin is not a terminal.
    pub fn enable() -> Self {
        let saved = stty(&["-g"]).filter(|s| !s.trim().is_empty());
        if saved.is_some() && stty(&["-icanon", "-echo", "min", "1", "time", "0"]).is_some() {
            return Self { saved };
        }
        Self { saved: None }
    }

    /// Whether the terminal was switched (so the program echoes what is typed).
    pub fn active(&self) -> bool {
        self.saved.is_some()
    }
}

impl Drop for RawInput {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = stty(&[saved.trim()]);
        }
    }
}

/// The terminal's width in columns, [`DEFAULT_WIDTH`] when unknown.
pub fn width() -> usize {
    stty(&["size"])
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .filter(|w: &usize| *w >= 20)
        .unwrap_or(DEFAULT_WIDTH)
}

/// Runs `stty` on the inherited stdin; its stdout when it succeeded.
fn stty(args: &[&str]) -> Option<String> {
    let out = Command::new("stty")
        .args(args)
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

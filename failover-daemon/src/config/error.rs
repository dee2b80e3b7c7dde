//! [`ConfigFileError`]: a refused configuration, located in its file (line, column, key).

use std::path::PathBuf;

/// A configuration the daemon refuses, located in its file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigFileError {
    /// The file, as it was named to the daemon.
    pub file: PathBuf,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// 1-based column, when the error has a place in the file.
    pub column: Option<usize>,
    /// The key at fault (`accounts[1].config_dir`), when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigFileError {
    fn render(&self) -> String {
        let mut out = self.file.display().to_string();
        if let (Some(line), Some(col)) = (self.line, self.column) {
            out.push_str(&format!(":{line}:{col}"));
        }
        out.push_str(": ");
        match &self.key {
            Some(key) if !self.message.contains(&format!("'{key}'")) => {
                out.push_str(&format!("{key}: {}", self.message));
            }
            _ => out.push_str(&self.message),
        }
        out
    }
}

pub(super) fn describe_toml_error(msg: &str) -> (Option<String>, String) {
    // serde's wording: "unknown field `acounts`, expected one of `a`, `b`".
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let expected = tail
                .trim_start_matches(',')
                .trim()
                .trim_start_matches("expected one of ")
                .trim_start_matches("expected ")
                .replace('`', "");
            let message = if expected.is_empty() {
                format!("unknown key '{name}'")
            } else {
                format!("unknown key '{name}' (expected one of: {expected})")
            };
            return (Some(name.to_owned()), message);
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return (Some(name.to_owned()), format!("missing key '{name}'"));
        }
    }
    (None, msg.trim().to_owned())
}

/// 1-based line and column of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 3), (2, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn unknown_field_message_is_rewritten() {
        let (key, msg) =
            describe_toml_error("unknown field `acounts`, expected one of `state_dir`, `tmux`");
        assert_eq!(key.as_deref(), Some("acounts"));
        assert_eq!(
            msg,
            "unknown key 'acounts' (expected one of: state_dir, tmux)"
        );
    }
}

//! Reading a secret (a bearer token, a bot token) from a file the owner alone can read.
//!
//! A token file that the group or others can read (or write) is refused, not only warned
//! about: whoever reads it controls the daemon or posts as its bot. The mode is checked on the
//! descriptor the secret is read from, so a file swapped between the check and the read
//! cannot slip through.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Reads `path` whole. The error says what is wrong and how to fix it, never the content.
pub fn read_private(path: &Path) -> Result<String, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable or writable by others (mode {mode:03o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text)
}

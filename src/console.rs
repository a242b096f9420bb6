//! Standard output and standard error as side channels. `println!` and `eprintln!` panic
//! when the reader has gone (`gpu-canary run | head`, a closed CI log pipe, `2>/dev/full`);
//! a measurement must not end for that: its record is the artifacts and the exit code.
//! Writes here drop what a closed stream cannot take.

use std::io::Write;

/// `text` as is, flushed at once (a line may be all a watcher sees for minutes).
pub fn text(text: &str) {
    bytes(text.as_bytes());
}

/// `line` and a newline.
pub fn line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// `bytes` where stdout is the artifact (`--json`): the caller learns that it was not
/// delivered (a full disk, a closed pipe).
pub fn try_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// `line` and a newline on stderr: messages, warnings and errors.
pub fn err(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

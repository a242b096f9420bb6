//! Standard output and standard error as side channels. `println!` and `eprintln!` panic
//! when the reader has gone (`gpu-canary run | head`, a closed CI log pipe, `2>/dev/full`);
//! a measurement must not end for that: its record is the artifacts and the exit code.
//! Writes here drop what a closed stream cannot take, and the first failure is kept:
//! the command ends with exit 3 instead of 0 (an unwritable output is exit 3).

use std::io::Write;
use std::sync::OnceLock;

/// The first write to stdout that failed: the command still finishes its work and its
/// files, and then exits 3 (`main`), rather than 0 with output lost.
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Why stdout could not take a write this process made, if one failed.
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILED.get().map(String::as_str)
}

fn note(r: std::io::Result<()>) {
    if let Err(e) = r {
        let _ = STDOUT_FAILED.set(e.to_string());
    }
}

/// The progress bar being drawn on the terminal, if any (`progress`): every write here
/// clears it first and draws it again after, so no line shares its row.
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Registers the bar that is drawn now (`None` when it is gone).
pub fn draw_bar(bar: Option<indicatif::ProgressBar>) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// Runs `f` (a write to stdout or stderr) with the bar cleared from the terminal.
fn suspend<R>(f: impl FnOnce() -> R) -> R {
    // Cloned out, so that the lock is not held while writing.
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// `text` as is, flushed at once (a line may be all a watcher sees for minutes).
pub fn text(text: &str) {
    bytes(crate::text::terminal(text).as_bytes());
}

/// `line` and a newline.
pub fn line(line: &str) {
    let line = crate::text::terminal(line);
    suspend(|| {
        let mut out = std::io::stdout().lock();
        note(writeln!(out, "{line}").and_then(|_| out.flush()));
    });
}

pub fn bytes(bytes: &[u8]) {
    suspend(|| {
        let mut out = std::io::stdout().lock();
        note(out.write_all(bytes).and_then(|_| out.flush()));
    });
}

/// `bytes` where stdout is the artifact (`--json`): the caller learns that it was not
/// delivered (a full disk, a closed pipe).
pub fn try_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let r = out.write_all(bytes).and_then(|_| out.flush());
    if let Err(e) = &r {
        let _ = STDOUT_FAILED.set(e.to_string());
    }
    r
}

/// `line` and a newline on stderr: messages, warnings and errors.
pub fn err(line: &str) {
    let line = crate::text::terminal(line);
    suspend(|| {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{line}");
    });
}

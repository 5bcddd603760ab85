//! The only module that writes to stdout and stderr directly (logs go through tracing).

use std::io::Write;

/// Prints a line on stdout and flushes it, so a parent process reading it sees it at once.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints text as it is (it carries its own line ends).
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Prints an error on stderr.
pub fn error(text: &str) {
    let _ = writeln!(std::io::stderr(), "canopy: error: {text}");
}

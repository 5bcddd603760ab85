//! The only module that writes to stdout and stderr directly (logs go through tracing), and
//! the one that decides whether output is coloured.

use std::io::{IsTerminal, Write};

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

/// Prints a status line on stderr, where progress goes so that stdout keeps only results.
pub fn status(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Redraws the live status line on stderr (a terminal): carriage return, the text, and a
/// clear to the end of the line. [`status`] prints the next full line after it.
pub fn live(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{text}\x1b[K");
    let _ = err.flush();
}

/// Whether stdout may be coloured: it is a terminal and `NO_COLOR` is not set.
pub fn color() -> bool {
    color_for(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Whether stderr (where logs go) may be coloured: it is a terminal and `NO_COLOR` is not set.
pub fn stderr_color() -> bool {
    color_for(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything but the empty
/// string (<https://no-color.org>).
fn color_for(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        let set = std::ffi::OsStr::new("1");
        let empty = std::ffi::OsStr::new("");
        assert!(color_for(true, None));
        assert!(color_for(true, Some(empty)));
        assert!(!color_for(true, Some(set)));
        assert!(!color_for(false, None));
    }
}

//! Running a service's control script, and the small pieces every service shares.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// A loopback port that was free a moment ago. Another process may take it before the server
/// binds it, so every caller retries a start that failed on a taken port.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("a bound listener has no address: {e}"))
        .port()
}

/// Starts `script` under bash with `args`, its stdin and stdout piped to this process. The
/// script writes its diagnostics to stdout; its stderr is not the test's, so a script that
/// outlives the test process for its clean-up holds none of the test runner's pipes.
///
/// The script runs in a process group of its own, so a signal meant for the test's group (a
/// test runner's timeout, Ctrl-C) leaves it alive to clean up when its stdin closes.
pub(crate) fn spawn_script(script: &str, name: &str, args: &[String]) -> Child {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(name)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bash for {name}: {e}"))
}

/// Runs blocking service control off the async runtime's threads, so a server under test keeps
/// serving while, say, its database is stopped. A panic inside goes on in the caller.
pub(crate) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(error) => panic!("service control was cancelled: {error}"),
        },
    }
}

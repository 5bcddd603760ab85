//! Running a service's control script, and the small pieces every service shares.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

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

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn masked(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        _ => url.to_owned(),
    }
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

/// A control script's pipes: commands go to its stdin, one a line, and each answer is one line
/// of its stdout. Dropping it closes stdin, which tells the script to stop its server and remove
/// its directory, and waits for that.
pub(crate) struct Control {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The service's name in messages, such as `PostgreSQL`.
    service: &'static str,
}

impl Control {
    /// Takes over the pipes of a script started by [`spawn_script`].
    pub(crate) fn new(mut child: Child, service: &'static str) -> Self {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            panic!("the {service} control script has no pipes");
        };
        Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            service,
        }
    }

    /// Sends `command` and waits for its answer, `answer ...`, off the async runtime's threads.
    pub(crate) async fn command(
        control: &Arc<Mutex<Self>>,
        command: &'static str,
        answer: &'static str,
    ) {
        let control = Arc::clone(control);
        off_runtime(move || {
            let mut control = control.lock().unwrap_or_else(PoisonError::into_inner);
            control.send(command);
            control.expect_line(answer, command);
        })
        .await;
    }

    pub(crate) fn send(&mut self, command: &str) {
        let sent = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{command}").and_then(|()| stdin.flush()),
            None => Ok(()),
        };
        if let Err(error) = sent {
            panic!(
                "the {} control script is gone ({error}): cannot {command}",
                self.service
            );
        }
    }

    /// Reads the script's answer; anything but `<word> ...` is a failure, reported with what
    /// the script printed after it (its reason, such as the package to install, and the log).
    pub(crate) fn expect_line(&mut self, word: &str, doing: &str) -> String {
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix(word) {
            return rest.trim_start().to_owned();
        }
        let mut details = String::new();
        let _ = self.stdout.read_to_string(&mut details);
        if line.is_empty() {
            panic!(
                "could not {doing}: the {} control script ended\n{details}",
                self.service
            );
        }
        panic!("could not {doing}: {line}\n{details}");
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // Closing stdin tells the script to stop the server and remove the directory; waiting
        // means both are done when the server's owner moves on.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

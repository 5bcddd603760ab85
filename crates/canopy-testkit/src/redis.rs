//! Redis for tests: a private `redis-server` from Debian on a free loopback port.
//!
//! The server lives in a temporary directory without persistence; it is stopped, and the
//! directory removed, when the [`RedisServer`] is dropped or the test process ends. The lifecycle
//! lives in `redis.sh` beside this file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin};
use std::time::{Duration, Instant};

use crate::process::{free_port, off_runtime, spawn_script};

const SCRIPT: &str = include_str!("redis.sh");
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `redis-server`, private to its owner.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl RedisServer {
    /// Starts a server and returns once it answers `PING`.
    pub async fn start() -> Self {
        off_runtime(Self::start_blocking).await
    }

    /// [`RedisServer::start`] for callers outside an async context.
    pub fn start_blocking() -> Self {
        let mut failures = Vec::new();
        // Another process may take the chosen port before the server binds it: try another.
        for _ in 0..5 {
            match Self::try_start(free_port()) {
                Ok(server) => return server,
                Err(output) if output.contains("Address already in use") => failures.push(output),
                Err(output) => panic!("could not start redis-server: {output}"),
            }
        }
        panic!(
            "could not start redis-server on a free port:\n{}",
            failures.join("\n")
        );
    }

    fn try_start(port: u16) -> Result<Self, String> {
        let mut child = spawn_script(SCRIPT, "canopy-redis", &[port.to_string()]);
        let stdin = child.stdin.take();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(port).is_ok() {
                return Ok(Self { port, child, stdin });
            }
            if let Ok(Some(_)) = child.try_wait() {
                let mut output = String::new();
                if let Some(mut stdout) = child.stdout.take() {
                    let _ = stdout.read_to_string(&mut output);
                }
                return Err(output);
            }
            if Instant::now() > deadline {
                drop(stdin);
                let _ = child.wait();
                panic!("redis-server on port {port} did not answer PING within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Closing stdin tells the script to stop the server and remove its directory.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Sends `PING` in the inline protocol and expects `+PONG`.
fn ping(port: u16) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"PING\r\n")?;
    let mut answer = [0_u8; 7];
    stream.read_exact(&mut answer)?;
    if &answer == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "answered {:?}",
            String::from_utf8_lossy(&answer)
        )))
    }
}

#[cfg(test)]
mod tests;

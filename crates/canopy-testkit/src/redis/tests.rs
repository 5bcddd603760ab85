use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{RedisServer, ping};

/// Sends one inline command and reads one reply line.
fn command(port: u16, line: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0_u8; 1];
    while !reply.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
    }
    String::from_utf8(reply).unwrap().trim_end().to_owned()
}

#[tokio::test]
async fn a_server_answers_and_keeps_what_it_is_told() {
    let server = RedisServer::start().await;
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(command(server.port(), "PING"), "+PONG");
    assert_eq!(command(server.port(), "SET canopy:key 42"), "+OK");
    assert_eq!(command(server.port(), "INCR canopy:key"), ":43");
    // Nothing is persisted: a test server never writes snapshots.
    assert_eq!(command(server.port(), "CONFIG GET save"), "*2");
}

#[tokio::test]
async fn servers_are_private_and_stop_when_dropped() {
    let first = RedisServer::start().await;
    let second = RedisServer::start().await;
    assert_ne!(first.port(), second.port());
    assert_eq!(command(first.port(), "SET only-here 1"), "+OK");
    assert_eq!(command(second.port(), "EXISTS only-here"), ":0");

    let port = first.port();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ping(port).is_ok() {
        assert!(Instant::now() < deadline, "port {port} still answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(command(second.port(), "PING"), "+PONG");
}

//! A minimal HTTP/1.1 client over `std::net::TcpStream`, for the few requests the test kit sends
//! to its own servers (creating and dropping ClickHouse databases). One request a connection,
//! `Connection: close`; answers with `Content-Length`, chunked or read to the end.
//!
//! It is not a general client: no TLS, no redirects, no keep-alive. Tests of Canopy itself use a
//! real client (reqwest) against these servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a request may take, from connecting to the last byte of the answer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Header names in lower case, in the order received.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as text, for messages and assertions.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `host:port` and reads the whole answer. `target` is the path with its
/// query string; `headers` are sent as given, after `Host`, `Content-Length` and `Connection`.
pub(crate) fn send(
    host: &str,
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    read_response(BufReader::new(stream))
}

fn read_response(mut reader: impl BufRead) -> std::io::Result<Response> {
    let status_line = read_line(&mut reader)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("not an HTTP status line: {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("not an HTTP header: {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    let length = response
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if chunked {
        response.body = read_chunked(&mut reader)?;
    } else if let Some(length) = length {
        reader.take(length).read_to_end(&mut response.body)?;
    } else {
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("not a chunk size: {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line that ends the message.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        reader.by_ref().take(size).read_to_end(&mut body)?;
        read_line(reader)?;
    }
}

/// One line without its line break; the end of the stream is an error.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection closed in the middle of an HTTP answer",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::read_response;

    #[test]
    fn reads_an_answer_with_a_length_chunked_or_to_the_end() {
        let sized =
            read_response(&b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcdef"[..])
                .unwrap();
        assert_eq!(
            (sized.status, sized.body.as_slice(), sized.header("x-a")),
            (200, &b"abc"[..], Some("b"))
        );
        let chunked = read_response(
            &b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!((chunked.status, chunked.text()), (500, "abcde".to_owned()));
        let to_the_end = read_response(&b"HTTP/1.0 404 Not Found\r\n\r\nrest"[..]).unwrap();
        assert_eq!(
            (to_the_end.status, to_the_end.text()),
            (404, "rest".to_owned())
        );
        assert!(read_response(&b"HTTP/1.1 200 OK\r\nContent-Le"[..]).is_err());
    }
}

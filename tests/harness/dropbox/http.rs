//! A minimal HTTP/1.1 server side: one request per connection, `Content-Length` bodies,
//! `Connection: close` answers. Enough to serve reqwest, and fully under our control (a
//! connection can be dropped in the middle of a request body).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// A request whose head has been read; the body is still on the socket.
pub struct Request {
    /// `POST`, `GET`, …
    pub method: String,
    /// The path, query string removed.
    pub path: String,
    /// Header names lower-cased, values as sent (raw bytes, to check ASCII-ness).
    pub headers: Vec<(String, Vec<u8>)>,
    /// `Content-Length`, 0 when absent.
    pub content_length: u64,
    /// Whether the body is chunked (not supported: answered 411).
    pub chunked: bool,
    reader: BufReader<TcpStream>,
    consumed: u64,
}

impl Request {
    /// Reads a request head; `Ok(None)` if the peer closed before sending one.
    pub fn read(stream: TcpStream) -> io::Result<Option<Request>> {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let mut parts = text.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let path = target.split('?').next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "head cut short",
                ));
            }
            let trimmed = line
                .strip_suffix(b"\r\n")
                .or_else(|| line.strip_suffix(b"\n"))
                .unwrap_or(&line);
            if trimmed.is_empty() {
                break;
            }
            if let Some(colon) = trimmed.iter().position(|&b| b == b':') {
                let name = String::from_utf8_lossy(&trimmed[..colon])
                    .trim()
                    .to_ascii_lowercase();
                let value = trim_bytes(&trimmed[colon + 1..]).to_vec();
                headers.push((name, value));
            }
        }
        let mut request = Request {
            method,
            path,
            headers,
            content_length: 0,
            chunked: false,
            reader,
            consumed: 0,
        };
        request.content_length = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        request.chunked = request
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        Ok(Some(request))
    }

    /// A header as text (lossy), by lower-case name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_bytes(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// A header's raw bytes, by lower-case name.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Reads up to `limit` bytes of the body into memory.
    pub fn body_bytes(&mut self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body().take(limit).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The rest of the body, as a reader.
    pub fn body(&mut self) -> BodyReader<'_> {
        BodyReader { request: self }
    }

    /// Reads and discards the rest of the body, so that the answer is read by the client
    /// (closing a socket with unread data resets it).
    pub fn drain(&mut self) {
        let _ = io::copy(&mut self.body(), &mut io::sink());
    }

    /// Answers and closes the connection.
    pub fn respond(mut self, status: u16, headers: &[(&str, String)], body: &[u8]) {
        self.drain();
        let _ = self
            .write_head(status, headers, body.len() as u64)
            .and_then(|mut s| {
                s.write_all(body)?;
                s.flush()
            });
    }

    /// Answers with a body streamed from `source` of `len` bytes.
    pub fn respond_stream(
        mut self,
        status: u16,
        headers: &[(&str, String)],
        len: u64,
        source: &mut dyn Read,
    ) {
        self.drain();
        let _ = self.write_head(status, headers, len).and_then(|mut s| {
            io::copy(&mut source.take(len), &mut s)?;
            s.flush()
        });
    }

    /// Reads `bytes` of the body, then closes the connection without answering.
    pub fn drop_connection(mut self, bytes: u64) {
        let _ = io::copy(&mut self.body().take(bytes), &mut io::sink());
        let _ = self.reader.get_ref().shutdown(std::net::Shutdown::Both);
    }

    fn write_head(
        &mut self,
        status: u16,
        headers: &[(&str, String)],
        len: u64,
    ) -> io::Result<TcpStream> {
        let mut stream = self.reader.get_ref().try_clone()?;
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {len}\r\nConnection: close\r\n\r\n"
        ));
        stream.write_all(head.as_bytes())?;
        Ok(stream)
    }
}

/// The request body, limited to its `Content-Length`.
pub struct BodyReader<'a> {
    request: &'a mut Request,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.request.content_length - self.request.consumed;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left.min(usize::MAX as u64) as usize);
        let n = self.request.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body cut short",
            ));
        }
        self.request.consumed += n as u64;
        Ok(n)
    }
}

fn trim_bytes(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest
        } else {
            break;
        }
    }
    b
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

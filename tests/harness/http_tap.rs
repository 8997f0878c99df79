//! A loopback HTTP/1.1 tap between a client and a real server: it forwards each request
//! unchanged (one request per connection), records what it saw, and can flip one byte of
//! the bodies of the requests it is told to, the way a faulty network or disk would.
//! Used to show what a server does with a corrupted upload, and what checksums the client
//! sent: the server behind it stays the real one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the tap saw of one request.
#[derive(Debug, Clone)]
pub struct TappedRequest {
    /// `PUT`, `POST`, …
    pub method: String,
    /// The request target, with its query.
    pub target: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body as the client sent it (before any corruption).
    pub body: Vec<u8>,
    /// Whether the tap flipped a byte of this body before forwarding it.
    pub corrupted: bool,
}

impl TappedRequest {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Corrupt = dyn Fn(&TappedRequest) -> bool + Send + Sync;

/// The tap: listens on a loopback port until dropped.
pub struct HttpTap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<TappedRequest>>>,
}

impl HttpTap {
    /// Starts a tap forwarding to `upstream` (`127.0.0.1:port`); `corrupt` says which
    /// requests get the middle byte of their body flipped.
    pub fn start(
        upstream: SocketAddr,
        corrupt: impl Fn(&TappedRequest) -> bool + Send + Sync + 'static,
    ) -> HttpTap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tap");
        let addr = listener.local_addr().expect("tap address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let corrupt: Arc<Corrupt> = Arc::new(corrupt);
        let log = seen.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (log, corrupt) = (log.clone(), corrupt.clone());
                thread::spawn(move || {
                    if let Err(e) = relay(client, upstream, &log, corrupt.as_ref()) {
                        eprintln!("http tap: {e}");
                    }
                });
            }
        });
        HttpTap { addr, seen }
    }

    /// `http://127.0.0.1:<port>`, to give the client instead of the server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<TappedRequest> {
        self.seen.lock().unwrap().clone()
    }
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    log: &Mutex<Vec<TappedRequest>>,
    corrupt: &Corrupt,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    assert!(
        !headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
        "http tap: chunked request bodies are not supported ({method} {target})"
    );
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut request = TappedRequest {
        method,
        target,
        headers,
        body,
        corrupted: false,
    };
    let mut forwarded = request.body.clone();
    if !forwarded.is_empty() && corrupt(&request) {
        forwarded[length / 2] ^= 0x01;
        request.corrupted = true;
    }

    let mut server = TcpStream::connect(upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        if name != "connection" {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("connection: close\r\n\r\n");
    log.lock().unwrap().push(request);
    server.write_all(head.as_bytes())?;
    server.write_all(&forwarded)?;
    let mut client = client;
    std::io::copy(&mut server, &mut client)?;
    client.shutdown(std::net::Shutdown::Both)
}

//! Bulk file writes over a dedicated SFTP channel, with write requests as large as the
//! server accepts.
//!
//! libssh2's SFTP writer cuts data into 30 000-byte requests (a compile-time limit), so the
//! server handles a request, a `write(2)` and a reply for every 30 kB. OpenSSH's server
//! accepts requests of up to 255 KiB and says so through its `limits@openssh.com`
//! extension, which OpenSSH's own client uses: nine times fewer requests, and a server that
//! spends about a fifth less CPU on an upload (`bench/sftp-upload.sh`, where both ends share
//! two cores, so that is upload speed). This module speaks the few SFTP version 3 messages
//! an upload needs (draft-ietf-secsh-filexfer-02: INIT, OPEN, WRITE, CLOSE) on a second
//! `sftp` subsystem channel of the same SSH session; everything else stays with libssh2.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::Path;

use sauvegarde_plugin_api::{PluginError, Progress};
use ssh2::{Channel, ErrorCode, ExtendedData, Session};

use crate::errors;
use crate::upload::read_full;

const FXP_INIT: u8 = 1;
const FXP_VERSION: u8 = 2;
const FXP_OPEN: u8 = 3;
const FXP_CLOSE: u8 = 4;
const FXP_WRITE: u8 = 6;
const FXP_STATUS: u8 = 101;
const FXP_HANDLE: u8 = 102;
const FXP_EXTENDED: u8 = 200;
const FXP_EXTENDED_REPLY: u8 = 201;

const FXF_WRITE: u32 = 0x02;
const FXF_CREAT: u32 = 0x08;
const FXF_TRUNC: u32 = 0x10;
const ATTR_PERMISSIONS: u32 = 0x04;
const FX_OK: u32 = 0;

const LIMITS_EXTENSION: &str = "limits@openssh.com";

/// Data bytes per write request when the server does not state its limit: servers should
/// take packets of at least 34 000 bytes (draft-ietf-secsh-filexfer-02, section 3).
const DEFAULT_WRITE: usize = 32 << 10;

/// The most data bytes per write request, whatever the server allows.
const MAX_WRITE: usize = 255 << 10;

/// The largest reply accepted from the server (the replies this module asks for are small).
const MAX_REPLY: usize = 256 << 10;

/// Written but unacknowledged bytes: twice the 2 MiB SSH window OpenSSH grants, so the
/// window, not this, limits the flow.
const IN_FLIGHT: usize = 4 << 20;

/// Fixed part of a WRITE request before the handle: length, type, id, handle length.
const WRITE_HEAD: usize = 4 + 1 + 4 + 4;

/// An SFTP channel used for one upload at a time.
pub struct BulkChannel {
    channel: Channel,
    next_id: u32,
    max_write: usize,
}

impl BulkChannel {
    /// Opens the `sftp` subsystem on a new channel of `session` and negotiates version 3;
    /// asks for the server's write limit when it offers `limits@openssh.com`.
    pub fn open(session: &Session) -> Result<BulkChannel, PluginError> {
        let what = "opening a second SFTP channel";
        let mut channel = session
            .channel_session()
            .map_err(|e| errors::sftp(e, what))?;
        // Like libssh2's own SFTP channel: the server's stderr is dropped, not buffered.
        channel
            .handle_extended_data(ExtendedData::Ignore)
            .map_err(|e| errors::sftp(e, what))?;
        channel
            .subsystem("sftp")
            .map_err(|e| errors::sftp(e, what))?;
        let mut bulk = BulkChannel {
            channel,
            next_id: 0,
            max_write: DEFAULT_WRITE,
        };
        let mut init = Packet::new(FXP_INIT);
        init.u32(3);
        bulk.send(init.finish(), what)?;
        let (kind, body) = bulk.receive(what)?;
        if kind != FXP_VERSION {
            return Err(protocol(what, kind));
        }
        let mut reply = Reader::new(&body);
        let version = reply.u32(what)?;
        if version < 3 {
            return Err(PluginError::other(format!(
                "{what}: the server speaks SFTP version {version}, 3 is needed"
            )));
        }
        let mut limits = false;
        while !reply.is_empty() {
            let name = reply.string(what)?;
            reply.string(what)?;
            limits |= name == LIMITS_EXTENSION.as_bytes();
        }
        if limits {
            bulk.max_write = bulk.write_limit()?;
        }
        tracing::debug!("bulk SFTP channel: {} bytes per write", bulk.max_write);
        Ok(bulk)
    }

    /// Asks the server for its largest write (`limits@openssh.com`).
    fn write_limit(&mut self) -> Result<usize, PluginError> {
        let what = "asking the server for its SFTP limits";
        let id = self.id();
        let mut request = Packet::new(FXP_EXTENDED);
        request.u32(id);
        request.string(LIMITS_EXTENSION.as_bytes());
        self.send(request.finish(), what)?;
        let (kind, body) = self.receive(what)?;
        let mut reply = Reader::new(&body);
        if kind != FXP_EXTENDED_REPLY || reply.u32(what)? != id {
            return Err(protocol(what, kind));
        }
        let max_packet = reply.u64(what)?;
        let _max_read = reply.u64(what)?;
        let max_write = reply.u64(what)?;
        Ok(write_size(max_packet, max_write))
    }

    /// Creates (or truncates) `path` with `mode`, writes all of `source` into it with
    /// pipelined requests, then closes it. Returns the bytes the server acknowledged.
    pub fn write_file(
        &mut self,
        path: &Path,
        mode: u32,
        source: &mut impl Read,
        total: u64,
        progress: &mut Progress<'_>,
        read_error: impl Fn(std::io::Error) -> PluginError,
    ) -> Result<u64, PluginError> {
        let handle = self.open_file(path, mode)?;
        let what = format!("writing {}", path.display());
        let head = WRITE_HEAD + handle.len() + 8 + 4;
        let mut buffer = vec![0u8; head + self.max_write];
        // Requests sent and not yet acknowledged: id and data length.
        let mut pending: VecDeque<(u32, usize)> = VecDeque::new();
        let mut in_flight = 0;
        let (mut sent, mut done, mut reported) = (0u64, 0u64, 0u64);
        loop {
            let n = read_full(source, &mut buffer[head..]).map_err(&read_error)?;
            if n > 0 {
                let id = self.id();
                write_head(&mut buffer[..head], id, &handle, sent, n);
                self.send(&buffer[..head + n], &what)?;
                pending.push_back((id, n));
                in_flight += n;
                sent += n as u64;
            }
            // Keep IN_FLIGHT bytes outstanding; at the end of the file, wait for them all.
            while !pending.is_empty() && (n == 0 || in_flight > IN_FLIGHT) {
                let len = self.acknowledged(&mut pending, &what)?;
                in_flight -= len;
                done += len as u64;
                if done - reported >= IN_FLIGHT as u64 || pending.is_empty() {
                    progress.report(done, total)?;
                    reported = done;
                }
            }
            if n == 0 {
                return self.close_file(&handle, path).map(|()| done);
            }
        }
    }

    /// Closes the remote file `handle` and checks the server's answer.
    fn close_file(&mut self, handle: &[u8], path: &Path) -> Result<(), PluginError> {
        let what = format!("closing {}", path.display());
        let id = self.id();
        let mut close = Packet::new(FXP_CLOSE);
        close.u32(id);
        close.string(handle);
        self.send(close.finish(), &what)?;
        let (kind, body) = self.receive(&what)?;
        let mut reply = Reader::new(&body);
        if kind != FXP_STATUS || reply.u32(&what)? != id {
            return Err(protocol(&what, kind));
        }
        status(reply.u32(&what)?, &what)
    }

    /// OPEN with write, create and truncate; returns the handle.
    fn open_file(&mut self, path: &Path, mode: u32) -> Result<Vec<u8>, PluginError> {
        let what = format!("creating {}", path.display());
        // Remote paths are built from `remote_dir` and the file name, both UTF-8.
        let name = path.to_str().ok_or_else(|| {
            PluginError::config(format!("remote path {} is not UTF-8", path.display()))
        })?;
        let id = self.id();
        let mut open = Packet::new(FXP_OPEN);
        open.u32(id);
        open.string(name.as_bytes());
        open.u32(FXF_WRITE | FXF_CREAT | FXF_TRUNC);
        open.u32(ATTR_PERMISSIONS);
        open.u32(mode);
        self.send(open.finish(), &what)?;
        let (kind, body) = self.receive(&what)?;
        let mut reply = Reader::new(&body);
        if reply.u32(&what)? != id {
            return Err(protocol(&what, kind));
        }
        match kind {
            // Handles are at most 256 bytes (draft-ietf-secsh-filexfer-02, section 6.2).
            FXP_HANDLE => match reply.string(&what)? {
                handle if handle.len() <= 256 => Ok(handle.to_vec()),
                _ => Err(protocol(&what, kind)),
            },
            FXP_STATUS => {
                status(reply.u32(&what)?, &what)?;
                Err(protocol(&what, kind))
            }
            _ => Err(protocol(&what, kind)),
        }
    }

    /// Waits for the STATUS reply to one of the `pending` writes (servers may answer out
    /// of order), removes it and returns its data length; fails unless the status is OK.
    fn acknowledged(
        &mut self,
        pending: &mut VecDeque<(u32, usize)>,
        what: &str,
    ) -> Result<usize, PluginError> {
        let (kind, body) = self.receive(what)?;
        let mut reply = Reader::new(&body);
        let id = reply.u32(what)?;
        let index = pending.iter().position(|&(pending_id, _)| pending_id == id);
        let (Some(index), FXP_STATUS) = (index, kind) else {
            return Err(protocol(what, kind));
        };
        status(reply.u32(what)?, what)?;
        Ok(pending.remove(index).map_or(0, |(_, len)| len))
    }

    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn send(&mut self, packet: &[u8], what: &str) -> Result<(), PluginError> {
        self.channel
            .write_all(packet)
            .map_err(|e| errors::transfer(e, what))
    }

    /// Reads one reply: its type and the bytes after it.
    fn receive(&mut self, what: &str) -> Result<(u8, Vec<u8>), PluginError> {
        let mut length = [0u8; 4];
        self.channel
            .read_exact(&mut length)
            .map_err(|e| errors::transfer(e, what))?;
        let length = u32::from_be_bytes(length) as usize;
        if length == 0 || length > MAX_REPLY {
            return Err(PluginError::other(format!(
                "{what}: the server sent a malformed SFTP reply ({length} bytes)"
            )));
        }
        let mut body = vec![0u8; length];
        self.channel
            .read_exact(&mut body)
            .map_err(|e| errors::transfer(e, what))?;
        let kind = body[0];
        body.remove(0);
        Ok((kind, body))
    }
}

/// Data bytes per write request for a server's `limits@openssh.com` answer (0 means "no
/// limit stated"), leaving room in a packet for the request's own fields as OpenSSH's
/// client does.
fn write_size(max_packet: u64, max_write: u64) -> usize {
    let mut limit = MAX_WRITE as u64;
    if max_write > 0 {
        limit = limit.min(max_write);
    }
    if max_packet > 0 {
        limit = limit.min(max_packet.saturating_sub(1024));
    }
    usize::try_from(limit).unwrap_or(MAX_WRITE).max(1)
}

/// Fills `head` (exactly `WRITE_HEAD + handle + 12` bytes) with the fields of a WRITE
/// request for `len` data bytes at `offset`; the data follows it in the same buffer.
fn write_head(head: &mut [u8], id: u32, handle: &[u8], offset: u64, len: usize) {
    let length = head.len() + len - 4;
    let mut request = Packet::over(head);
    request.u32(length as u32);
    request.u8(FXP_WRITE);
    request.u32(id);
    request.string(handle);
    request.u64(offset);
    request.u32(len as u32);
}

/// Ok for an OK status; otherwise the error libssh2 would have reported for that code.
fn status(code: u32, what: &str) -> Result<(), PluginError> {
    if code == FX_OK {
        return Ok(());
    }
    let code = i32::try_from(code).unwrap_or(i32::MAX);
    Err(errors::sftp(
        ssh2::Error::from_errno(ErrorCode::SFTP(code)),
        what,
    ))
}

fn protocol(what: &str, kind: u8) -> PluginError {
    PluginError::other(format!(
        "{what}: unexpected SFTP reply (type {kind}) from the server"
    ))
}

/// Builds an outgoing SFTP packet; its length is filled in by `finish`.
struct Packet<B> {
    buffer: B,
    at: usize,
}

impl Packet<Vec<u8>> {
    fn new(kind: u8) -> Self {
        let mut packet = Packet {
            buffer: Vec::with_capacity(64),
            at: 0,
        };
        packet.u32(0);
        packet.u8(kind);
        packet
    }

    fn finish(&mut self) -> &[u8] {
        let length = (self.buffer.len() - 4) as u32;
        self.buffer[..4].copy_from_slice(&length.to_be_bytes());
        &self.buffer
    }
}

impl<'a> Packet<&'a mut [u8]> {
    /// Writes fields into the start of `buffer`, which must be large enough.
    fn over(buffer: &'a mut [u8]) -> Self {
        Packet { buffer, at: 0 }
    }
}

trait Sink {
    fn put(&mut self, at: usize, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, _at: usize, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for &mut [u8] {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        self[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

impl<B: Sink> Packet<B> {
    fn put(&mut self, bytes: &[u8]) {
        self.buffer.put(self.at, bytes);
        self.at += bytes.len();
    }
    fn u8(&mut self, value: u8) {
        self.put(&[value]);
    }
    fn u32(&mut self, value: u32) {
        self.put(&value.to_be_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.put(&value.to_be_bytes());
    }
    fn string(&mut self, bytes: &[u8]) {
        self.u32(bytes.len() as u32);
        self.put(bytes);
    }
}

/// Reads fields of an incoming reply.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PluginError> {
        if self.rest.len() < n {
            return Err(PluginError::other(format!(
                "{what}: the server sent a truncated SFTP reply"
            )));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, PluginError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, PluginError> {
        Ok((u64::from(self.u32(what)?) << 32) | u64::from(self.u32(what)?))
    }

    fn string(&mut self, what: &str) -> Result<&'a [u8], PluginError> {
        let length = self.u32(what)? as usize;
        self.take(length, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_request_follows_the_sftp_layout() {
        let handle = b"h1";
        let mut buffer = vec![0xaa; WRITE_HEAD + handle.len() + 12 + 3];
        buffer[WRITE_HEAD + handle.len() + 12..].copy_from_slice(b"xyz");
        let head = buffer.len() - 3;
        write_head(&mut buffer[..head], 7, handle, 0x1_0000_0002, 3);
        let expected: &[u8] = &[
            0, 0, 0, 26, // length of what follows
            FXP_WRITE, 0, 0, 0, 7, // type, id
            0, 0, 0, 2, b'h', b'1', // handle
            0, 0, 0, 1, 0, 0, 0, 2, // offset
            0, 0, 0, 3, b'x', b'y', b'z', // data
        ];
        assert_eq!(buffer, expected);
        assert_eq!(buffer.len() - 4, 26);
    }

    #[test]
    fn fixed_packets_carry_their_length() {
        let mut close = Packet::new(FXP_CLOSE);
        close.u32(9);
        close.string(b"hd");
        assert_eq!(
            close.finish(),
            &[0, 0, 0, 11, FXP_CLOSE, 0, 0, 0, 9, 0, 0, 0, 2, b'h', b'd']
        );
    }

    #[test]
    fn replies_are_parsed_and_truncation_is_an_error() {
        let body = [
            0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, b'o', b'k', 0, 0, 0,
        ];
        let mut reply = Reader::new(&body);
        assert_eq!(reply.u32("t").ok(), Some(5));
        assert_eq!(reply.u64("t").ok(), Some(0x1_0000_0002));
        assert_eq!(reply.string("t").ok(), Some(&b"ok"[..]));
        assert!(!reply.is_empty());
        let err = reply.u32("reading a reply").expect_err("3 bytes left");
        assert!(err.to_string().contains("truncated"), "{err}");
        let mut long = Reader::new(&[0, 0, 1, 0, b'x']);
        assert!(long.string("t").is_err(), "a string longer than the reply");
    }

    #[test]
    fn write_size_follows_the_server_limits() {
        // OpenSSH 9: 256 KiB packets, 255 KiB writes.
        assert_eq!(write_size(262_144, 261_120), 261_120);
        assert_eq!(write_size(0, 0), MAX_WRITE);
        assert_eq!(write_size(0, 1 << 30), MAX_WRITE);
        assert_eq!(write_size(0, 65_536), 65_536);
        assert_eq!(write_size(34_000, 0), 34_000 - 1024);
        assert_eq!(write_size(100, 0), 1);
    }

    #[test]
    fn status_codes_become_the_errors_libssh2_reports() {
        assert!(status(FX_OK, "writing x").is_ok());
        let err = status(3, "writing x").expect_err("permission denied");
        assert_eq!(err.kind(), sauvegarde_plugin_api::ErrorKind::Permission);
        assert!(err.to_string().contains("writing x"), "{err}");
    }
}

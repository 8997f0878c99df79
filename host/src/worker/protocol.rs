//! What host and worker say to each other: one JSON object per line. The host writes
//! [`Request`]s to the worker's standard input; the worker answers on its standard output
//! with any number of [`Frame::Log`], [`Frame::Progress`] and [`Frame::Files`] frames,
//! then one [`Frame::Done`]. Secrets (the destination's settings) travel only here, never
//! in argv or the environment.
//!
//! A line is at most [`MAX_LINE`] bytes: [`read_line`] never holds more, whatever the
//! other side writes (a plugin is native code: it can write anything to the worker's
//! descriptors). So the worker cuts the texts it relays ([`bounded_text`]) and sends a
//! listing in chunks ([`FILES_CHUNK_BYTES`]), and a longer line is the worker's fault.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use sauvegarde_plugin_api::{ErrorKind, PluginError, RemoteFile};
use serde::{Deserialize, Serialize};

/// A request from the host. Not `Debug`: `Open` carries the destination's secrets.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Load `plugin` and report what it is; nothing else runs.
    Probe {
        /// The plugin file.
        plugin: PathBuf,
    },
    /// Load `plugin` and create the destination of `config_json` (secrets included).
    Open {
        /// The plugin file.
        plugin: PathBuf,
        /// The destination's settings, a JSON object.
        config_json: String,
        /// The most verbose plugin log level the host records (1 error … 5 trace).
        max_level: u8,
    },
    /// `Exporter::test_connection`.
    TestConnection,
    /// `Exporter::upload`.
    Upload {
        /// Local file.
        local_path: PathBuf,
        /// Remote name.
        remote_name: String,
    },
    /// `Exporter::upload_new` (the plugin must have the capability).
    UploadNew {
        /// Local file.
        local_path: PathBuf,
        /// Remote name.
        remote_name: String,
        /// The temporary remote name the host recorded.
        temp_name: String,
    },
    /// `Exporter::list`.
    List,
    /// `Exporter::delete`.
    Delete {
        /// Remote name.
        name: String,
    },
    /// `Exporter::download`.
    Download {
        /// Remote name.
        name: String,
        /// Local file to create.
        local_path: PathBuf,
    },
}

impl Request {
    /// The operation's name in messages ("during upload").
    pub fn op(&self) -> &'static str {
        match self {
            Request::Probe { .. } => "loading",
            Request::Open { .. } => "opening the destination",
            Request::TestConnection => "test_connection",
            Request::Upload { .. } | Request::UploadNew { .. } => "upload",
            Request::List => "list",
            Request::Delete { .. } => "delete",
            Request::Download { .. } => "download",
        }
    }

    /// Whether the call moves an archive (the stall limit applies instead of a deadline).
    pub fn is_transfer(&self) -> bool {
        matches!(
            self,
            Request::Upload { .. } | Request::UploadNew { .. } | Request::Download { .. }
        )
    }
}

/// What a plugin file is, as the worker read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginMeta {
    /// The destination type it serves.
    pub kind: String,
    /// Its version.
    pub version: String,
    /// Its one-line description.
    pub description: String,
    /// The keys of its settings it declares secret (empty until plugin-api declares them).
    #[serde(default)]
    pub secret_keys: Vec<String>,
    /// The operations beyond API 1.0 it implements (`upload_new`; empty before API 1.2).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// A file on a destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireFile {
    /// Bare name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Seconds since the epoch.
    pub modified: Option<i64>,
}

/// A typed plugin error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireError {
    /// `ErrorKind::as_str`.
    pub kind: String,
    /// The plugin's message.
    pub message: String,
}

impl From<&PluginError> for WireError {
    /// The error as the worker sends it: its message cut to [`MAX_TEXT`].
    fn from(e: &PluginError) -> Self {
        WireError {
            kind: e.kind().as_str().to_string(),
            message: bounded_text(e.message()),
        }
    }
}

impl From<WireError> for PluginError {
    fn from(e: WireError) -> Self {
        let kind = [
            ErrorKind::Config,
            ErrorKind::Auth,
            ErrorKind::Connect,
            ErrorKind::NotFound,
            ErrorKind::Permission,
            ErrorKind::Quota,
            ErrorKind::Transient,
            ErrorKind::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == e.kind)
        .unwrap_or(ErrorKind::Other);
        PluginError::new(kind, e.message)
    }
}

/// How a request ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Probe: the plugin's metadata.
    Probed(PluginMeta),
    /// The file could not be loaded as a plugin (`LoadError`'s text, and abi_stable's
    /// long report when there is one).
    LoadFailed {
        /// What to tell the user.
        message: String,
        /// For debug logs.
        detail: Option<String>,
    },
    /// Open: the destination exists; the plugin's capabilities (`upload_new`, …).
    Opened {
        /// What the plugin implements beyond API 1.0.
        capabilities: Vec<String>,
    },
    /// test_connection's message.
    Message {
        /// The text.
        text: String,
    },
    /// list's files.
    Files {
        /// The files.
        files: Vec<WireFile>,
    },
    /// upload, delete, download succeeded.
    Unit,
    /// upload_new ended: stored, or the name was taken (the existing file untouched).
    NewUpload {
        /// Whether the name was taken.
        name_taken: bool,
    },
    /// The plugin returned an error.
    Error(WireError),
}

/// A line from the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "snake_case")]
pub enum Frame {
    /// A plugin log event.
    Log {
        /// 1 error … 5 trace.
        level: u8,
        /// The plugin module that logged.
        target: String,
        /// The text with its fields.
        message: String,
    },
    /// Bytes transferred so far.
    Progress {
        /// Done.
        done: u64,
        /// Total.
        total: u64,
    },
    /// Part of a listing: the host adds these to the files of the final
    /// [`Outcome::Files`], so that no line of a long listing passes [`MAX_LINE`].
    Files {
        /// The files.
        files: Vec<WireFile>,
    },
    /// The request's result.
    Done {
        /// How it ended.
        outcome: Outcome,
    },
}

/// Writes `value` as one line and flushes.
pub fn write_line<T: Serialize>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

/// The longest line either side reads, newline excluded: 1 MiB.
pub const MAX_LINE: usize = 1 << 20;

/// The longest text (a log message, an error, `test_connection`'s answer) the worker
/// relays; longer ones are cut (see [`bounded_text`]).
pub const MAX_TEXT: usize = 64 * 1024;

/// The most JSON a [`Frame::Files`] chunk holds, counting each file at its worst (one
/// file of a [`MAX_TEXT`] name may pass it alone): far below [`MAX_LINE`].
pub const FILES_CHUNK_BYTES: usize = 256 * 1024;

/// Why [`read_line`] got no value.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The input ended in the middle of a line (the writer died while writing it).
    #[error("the output ended in the middle of a line")]
    Cut,
    /// A line passed [`MAX_LINE`]; what was read of it is dropped.
    #[error("it wrote a line longer than {} MiB", MAX_LINE >> 20)]
    TooLong,
    /// A line that is not the expected JSON (or not UTF-8).
    #[error("it wrote a line that is not a frame of the protocol ({0})")]
    Garbage(String),
    /// Reading failed.
    #[error("reading its output failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one line as a `T`; `None` at end of input. Holds at most [`MAX_LINE`] bytes
/// of it, however long the line the other side writes.
pub fn read_line<T: for<'de> Deserialize<'de>>(
    input: &mut impl BufRead,
) -> Result<Option<T>, LineError> {
    let mut line = Vec::new();
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if available.is_empty() {
            return match line.is_empty() {
                true => Ok(None),
                false => Err(LineError::Cut),
            };
        }
        let (take, complete) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (end, true),
            None => (available.len(), false),
        };
        if line.len() + take > MAX_LINE {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(&available[..take]);
        input.consume(take + usize::from(complete));
        if complete {
            return serde_json::from_slice(&line)
                .map(Some)
                .map_err(|e| LineError::Garbage(e.to_string()));
        }
    }
}

/// `text`, or its first [`MAX_TEXT`] bytes (at a character boundary) and how much was cut.
pub fn bounded_text(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes cut by sauvegarde)",
        &text[..end],
        text.len() - end
    )
}

/// Converts wire files to the API's.
pub fn remote_files(files: Vec<WireFile>) -> Vec<RemoteFile> {
    files
        .into_iter()
        .map(|f| RemoteFile::new(f.name, f.size, f.modified))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_survives_the_pipe() {
        for kind in [
            ErrorKind::Config,
            ErrorKind::Auth,
            ErrorKind::Connect,
            ErrorKind::NotFound,
            ErrorKind::Permission,
            ErrorKind::Quota,
            ErrorKind::Transient,
            ErrorKind::Cancelled,
            ErrorKind::Other,
        ] {
            let e = PluginError::new(kind, "m");
            let back: PluginError = WireError::from(&e).into();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn frames_are_single_lines() {
        let mut buf = Vec::new();
        let frame = Frame::Log {
            level: 3,
            target: "t".into(),
            message: "two\nlines".into(),
        };
        write_line(&mut buf, &frame).unwrap();
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 1);
        let back: Frame = read_line(&mut buf.as_slice()).unwrap().unwrap();
        assert!(matches!(back, Frame::Log { message, .. } if message == "two\nlines"));
    }

    #[test]
    fn an_endless_line_is_refused_after_one_mib_without_holding_more() {
        // `repeat` never ends: a reader that kept the line would never return.
        let mut endless = std::io::BufReader::new(std::io::repeat(b'x'));
        let read = read_line::<Frame>(&mut endless);
        assert!(matches!(read, Err(LineError::TooLong)), "{read:?}");
        let mut just_over = vec![b' '; MAX_LINE + 1];
        just_over.push(b'\n');
        assert!(matches!(
            read_line::<Frame>(&mut just_over.as_slice()),
            Err(LineError::TooLong)
        ));
    }

    #[test]
    fn a_line_of_max_length_is_read_and_garbage_or_a_cut_line_is_an_error() {
        let mut line = serde_json::to_vec(&Frame::Progress { done: 1, total: 2 }).unwrap();
        line.resize(MAX_LINE, b' ');
        line.push(b'\n');
        let mut input = std::io::BufReader::with_capacity(4096, line.as_slice());
        assert!(matches!(
            read_line::<Frame>(&mut input),
            Ok(Some(Frame::Progress { done: 1, total: 2 }))
        ));
        assert!(matches!(read_line::<Frame>(&mut input), Ok(None)));
        for garbage in [&b"not json\n"[..], b"{\"frame\":\"nope\"}\n", b"\xff\xfe\n"] {
            let read = read_line::<Frame>(&mut &garbage[..]);
            assert!(matches!(read, Err(LineError::Garbage(_))), "{read:?}");
        }
        let read = read_line::<Frame>(&mut &b"{\"frame\":"[..]);
        assert!(matches!(read, Err(LineError::Cut)), "{read:?}");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(bounded_text("short"), "short");
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded_text(&long);
        assert!(cut.len() < MAX_TEXT + 100, "{}", cut.len());
        assert!(cut.ends_with(&format!(
            "({} more bytes cut by sauvegarde)",
            long.len() - MAX_TEXT
        )));
    }
}

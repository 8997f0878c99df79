//! What host and worker say to each other: one JSON object per line. The host writes
//! [`Request`]s to the worker's standard input; the worker answers on its standard output
//! with any number of [`Frame::Log`] and [`Frame::Progress`] frames, then one
//! [`Frame::Done`]. Secrets (the destination's settings) travel only here, never in argv
//! or the environment.

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

    /// Whether the call moves an archive (the long timeout applies).
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
    fn from(e: &PluginError) -> Self {
        WireError {
            kind: e.kind().as_str().to_string(),
            message: e.message().to_string(),
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

/// Reads one line as a `T`; `None` at end of input.
pub fn read_line<T: for<'de> Deserialize<'de>>(
    input: &mut impl BufRead,
) -> std::io::Result<Option<T>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
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
}

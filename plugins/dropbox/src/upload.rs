//! Uploads: one `files/upload` for files up to one chunk, an upload session
//! (start/append_v2/finish) streaming from disk for anything larger. The file appears only
//! when the last request commits it, so uploads are atomic; its `content_hash` is checked.
//! The commit replaces a file of that name (`mode: overwrite`, for `upload`) or is refused
//! when the name is taken (`mode: add`, no `autorename`, `strict_conflict`, for
//! `upload_new`): Dropbox decides that at the commit itself, so the no-replace upload is
//! atomic there, and nothing of a refused upload is visible (the session's data expires
//! with the session).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use sauvegarde_plugin_api::{NewUpload, PluginError, Progress};
use serde_json::{json, Value};

use crate::api::Api;
use crate::errors::{route_error, ApiError};
use crate::hash::ContentHasher;

/// How many times a session may be told to resume from another offset before giving up.
const MAX_OFFSET_CORRECTIONS: u32 = 10;

/// Reads chunks of the local file at given offsets and hashes each byte exactly once,
/// in order, whatever offsets the server makes us resend from.
struct ChunkReader<'a> {
    file: File,
    path: &'a Path,
    size: u64,
    hasher: ContentHasher,
    hashed: u64,
}

impl<'a> ChunkReader<'a> {
    fn open(path: &'a Path) -> Result<Self, PluginError> {
        let file = File::open(path).map_err(|e| local_error(path, &e))?;
        let size = file.metadata().map_err(|e| local_error(path, &e))?.len();
        Ok(ChunkReader {
            file,
            path,
            size,
            hasher: ContentHasher::new(),
            hashed: 0,
        })
    }

    /// The bytes `[offset, offset + len)`; memory is this one chunk.
    fn read_at(&mut self, offset: u64, len: u64) -> Result<Bytes, PluginError> {
        if offset > self.hashed {
            // The server holds bytes we have not hashed yet: hash the gap first.
            let mut at = self.hashed;
            while at < offset {
                let piece = (offset - at).min(crate::hash::BLOCK_SIZE as u64);
                self.read_at(at, piece)?;
                at += piece;
            }
        }
        let mut buffer = vec![0u8; len as usize];
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut buffer))
            .map_err(|e| {
                PluginError::other(format!(
                    "cannot read {} at offset {offset} (did it change during the upload?): {e}",
                    self.path.display()
                ))
            })?;
        let end = offset + len;
        if end > self.hashed {
            let skip = (self.hashed - offset) as usize;
            self.hasher.update(&buffer[skip..]);
            self.hashed = end;
        }
        Ok(Bytes::from(buffer))
    }

    /// The content hash of the bytes read so far.
    fn hash_so_far(&self) -> String {
        self.hasher.clone().finish()
    }

    /// The local content hash; the whole file must have been read.
    fn finish(mut self) -> Result<String, PluginError> {
        if self.hashed < self.size {
            self.read_at(self.hashed, self.size - self.hashed)?;
        }
        Ok(self.hasher.finish())
    }
}

fn local_error(path: &Path, e: &std::io::Error) -> PluginError {
    let message = format!("cannot read the local file {}: {e}", path.display());
    if e.kind() == std::io::ErrorKind::NotFound {
        PluginError::not_found(message)
    } else {
        PluginError::other(message)
    }
}

/// The `commit` info, never renaming: `overwrite` replaces a file of that name; `add`
/// without `autorename` and with `strict_conflict` is refused with a `path/conflict` error
/// when anything has that name, even a file of identical content (the no-replace upload).
fn commit_info(path: &str, replace: bool) -> Value {
    if replace {
        json!({"path": path, "mode": "overwrite", "autorename": false, "mute": true, "strict_conflict": false})
    } else {
        json!({"path": path, "mode": "add", "autorename": false, "mute": true, "strict_conflict": true})
    }
}

/// Whether a commit was refused because the path is taken.
fn name_taken(err: &ApiError) -> bool {
    err.has("conflict")
}

/// Uploads `local` to the Dropbox path `remote`: with `replace`, over a file there;
/// without, never (a taken path is [`NewUpload::NameTaken`]; Dropbox decides it at the
/// commit, atomically).
pub fn upload(
    api: &Api,
    local: &Path,
    remote: &str,
    replace: bool,
    progress: &mut Progress<'_>,
) -> Result<NewUpload, PluginError> {
    let mut reader = ChunkReader::open(local)?;
    let size = reader.size;
    let chunk = api.config.chunk_size;
    let what = format!("upload of {remote}");
    progress.report(0, size)?;
    let commit = commit_info(remote, replace);
    let metadata = if size <= chunk {
        let body = reader.read_at(0, size)?;
        let metadata = match api.upload(&what, "files/upload", &commit, body)? {
            Ok(metadata) => metadata,
            Err(e) if !replace && name_taken(&e) => return Ok(NewUpload::NameTaken),
            Err(e) => return Err(route_error(&what, &e)),
        };
        progress.report(size, size)?;
        metadata
    } else {
        match session(api, &mut reader, &commit, &what, progress)? {
            Some(metadata) => metadata,
            None => return Ok(NewUpload::NameTaken),
        }
    };
    let local_hash = reader.finish()?;
    verify(api, remote, &what, &metadata, size, &local_hash)?;
    tracing::info!(path = remote, bytes = size, "uploaded to Dropbox");
    Ok(NewUpload::Stored)
}

/// The upload session: start with the first chunk, append the middle ones, finish with the
/// last one (committing as `commit` says). Memory holds one chunk at a time. `None` when
/// the commit was refused because the path is taken (`mode: add`).
fn session(
    api: &Api,
    reader: &mut ChunkReader<'_>,
    commit: &Value,
    what: &str,
    progress: &mut Progress<'_>,
) -> Result<Option<Value>, PluginError> {
    let remote = commit
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let replace = commit.get("mode").and_then(Value::as_str) == Some("overwrite");
    let size = reader.size;
    let chunk = api.config.chunk_size;
    let first = reader.read_at(0, chunk)?;
    let started = api
        .upload(
            what,
            "files/upload_session/start",
            &json!({"close": false}),
            first,
        )?
        .map_err(|e| route_error(what, &e))?;
    let session_id = started
        .get("session_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            PluginError::other(format!("Dropbox started the {what} without a session id"))
        })?
        .to_string();
    tracing::debug!(path = remote, bytes = size, "upload session started");
    let mut offset = chunk;
    progress.report(offset, size)?;
    let mut corrections = 0;
    loop {
        let len = (size - offset).min(chunk);
        let last = offset + len == size;
        let body = reader.read_at(offset, len)?;
        let cursor = json!({"session_id": session_id, "offset": offset});
        let answer = if last {
            let arg = json!({"cursor": cursor, "commit": commit});
            api.upload(what, "files/upload_session/finish", &arg, body)?
        } else {
            let arg = json!({"cursor": cursor, "close": false});
            api.upload(what, "files/upload_session/append_v2", &arg, body)?
        };
        match answer {
            Ok(metadata) if last => {
                progress.report(size, size)?;
                return Ok(Some(metadata));
            }
            Ok(_) => {
                offset += len;
                progress.report(offset, size)?;
            }
            Err(err) if err.has("incorrect_offset") => {
                offset = resume_offset(&err, what, size, &mut corrections)?;
            }
            Err(err) if last && err.has("not_found") => {
                // A retried finish whose first attempt committed but lost its answer finds
                // the session gone: accept the file if it is ours.
                let local_hash = reader.hash_so_far();
                return committed_earlier(api, remote, what, &local_hash)?
                    .map(Some)
                    .ok_or_else(|| route_error(what, &err));
            }
            Err(err) if last && !replace && name_taken(&err) => return Ok(None),
            Err(err) => return Err(route_error(what, &err)),
        }
    }
}

/// The metadata of the file at `remote` if it holds exactly the local content.
fn committed_earlier(
    api: &Api,
    remote: &str,
    what: &str,
    local_hash: &str,
) -> Result<Option<Value>, PluginError> {
    let found = api.rpc(what, "files/get_metadata", &json!({"path": remote}))?;
    Ok(found
        .ok()
        .filter(|m| m.get("content_hash").and_then(Value::as_str) == Some(local_hash)))
}

/// The offset the server asks us to resume from, checked.
fn resume_offset(
    err: &ApiError,
    what: &str,
    size: u64,
    corrections: &mut u32,
) -> Result<u64, PluginError> {
    *corrections += 1;
    let correct = err.correct_offset().ok_or_else(|| {
        PluginError::other(format!(
            "Dropbox reported a wrong offset in the {what} without the right one"
        ))
    })?;
    if correct > size || *corrections > MAX_OFFSET_CORRECTIONS {
        return Err(PluginError::transient(format!(
            "the {what} lost track of its offset (server at {correct} of {size} bytes); start it again"
        )));
    }
    tracing::info!(
        correct_offset = correct,
        "Dropbox asked to resume the upload session from another offset"
    );
    Ok(correct)
}

/// Checks the committed file against the local one; removes it if it differs.
fn verify(
    api: &Api,
    remote: &str,
    what: &str,
    metadata: &Value,
    size: u64,
    local_hash: &str,
) -> Result<(), PluginError> {
    let remote_hash = metadata.get("content_hash").and_then(Value::as_str);
    let remote_size = metadata.get("size").and_then(Value::as_u64);
    if remote_hash == Some(local_hash) && remote_size == Some(size) {
        return Ok(());
    }
    let removed = api
        .rpc(
            "removal of the corrupt upload",
            "files/delete_v2",
            &json!({"path": remote}),
        )
        .map(|r| r.is_ok())
        .unwrap_or(false);
    Err(PluginError::transient(format!(
        "the {what} arrived corrupted: Dropbox holds {} bytes with content_hash {}, the local \
         file has {size} bytes with content_hash {local_hash}; {}",
        remote_size.map_or("?".into(), |s| s.to_string()),
        remote_hash.unwrap_or("(none)"),
        if removed {
            "the remote copy was removed; retry the upload"
        } else {
            "the remote copy could not be removed: delete it by hand"
        }
    )))
}

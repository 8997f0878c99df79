//! Transfers with bounded memory, progress and cancellation.
//!
//! Upload ([`upload_parts`]): optionally never over an existing object (`If-None-Match: *`
//! on the request that creates it). The local file is read one part at a time and handed to an
//! OpenDAL writer that sends up to `concurrent` parts at once (S3: a multipart upload; the
//! object exists only once the upload is completed). Memory: at most `concurrent + 2` parts.
//! On any failure or cancellation the parts still in flight are stopped first, then the
//! upload is aborted (S3: `AbortMultipartUpload`, retried for a while if the server does
//! not answer), so no parts are left behind. A cancellation that arrives while the upload
//! is being completed (the last parts in flight, S3's `CompleteMultipartUpload`, or the one
//! request of a file smaller than a part) is seen once it is done: the object it made is
//! deleted again, unless one of that name was there before (it may be an earlier good copy).
//!
//! Download ([`download`]): streamed into a hidden temporary file beside the target,
//! renamed into place when complete, removed otherwise.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use opendal::raw::BoxedStaticFuture;
use opendal::{Buffer, Execute, Executor, Operator};
use sauvegarde_plugin_api::{PluginError, Progress};

use crate::errors;
use crate::remote::MapError;

/// How long [`upload_parts`] keeps trying to abort an upload the server did not confirm.
pub const ABORT_PATIENCE: Duration = Duration::from_secs(30);

/// How a file is cut for an upload.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// Bytes per part (S3: at least 5 MiB, except the last).
    pub size: usize,
    /// Parts sent at the same time.
    pub concurrent: usize,
}

/// Spawns OpenDAL's part uploads on tokio and remembers them, so that a failed or
/// cancelled upload can stop them before aborting (tokio tasks outlive their handles).
#[derive(Clone, Default)]
struct TrackedExecutor {
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Execute for TrackedExecutor {
    fn execute(&self, f: BoxedStaticFuture<()>) {
        let handle = tokio::spawn(f);
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(handle);
        }
    }
}

impl TrackedExecutor {
    /// Stops every part upload still running and waits until they are gone.
    async fn stop_all(&self) {
        let tasks: Vec<_> = match self.tasks.lock() {
            Ok(mut tasks) => tasks.drain(..).collect(),
            Err(_) => return,
        };
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the file.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Uploads `local` to `path` in parts; returns the number of bytes sent. The size the
/// server reports afterwards is checked against the local size.
///
/// With `if_not_exists`, never over an existing object: one that exists already ends the
/// upload before anything is sent, and the request that creates the object (S3's
/// `PutObject`, or `CompleteMultipartUpload`) carries `If-None-Match: *`, so that the
/// server refuses it (412) when another client created the object meanwhile; the parts are
/// then aborted. `Ok(None)` says the name is taken.
pub async fn upload_parts(
    op: &Operator,
    path: &str,
    local: &Path,
    parts: Parts,
    if_not_exists: bool,
    progress: &mut Progress<'_>,
    map: MapError<'_>,
) -> Result<Option<u64>, PluginError> {
    let mut file =
        File::open(local).map_err(|e| errors::local(e, &format!("opening {}", local.display())))?;
    let total = file
        .metadata()
        .map_err(|e| errors::local(e, &format!("reading the size of {}", local.display())))?
        .len();
    // Whether an object of this name is there already: a cancelled upload removes only
    // what it made itself.
    let existed = op
        .exists(path)
        .await
        .map_err(|e| map(&e, &format!("checking whether {path} exists")))?;
    if existed && if_not_exists {
        return Ok(None);
    }
    let executor = TrackedExecutor::default();
    let op = op
        .clone()
        .with_context(op.context().with_executor(Executor::with(executor.clone())));
    let mut writer = op
        .writer_with(path)
        .chunk(parts.size)
        .concurrent(parts.concurrent)
        .if_not_exists(if_not_exists)
        .await
        .map_err(|e| map(&e, &format!("starting the upload of {path}")))?;
    progress.report(0, total)?;
    let mut done = 0u64;
    let mut taken = false;
    let sent: Result<(), PluginError> = async {
        loop {
            let mut buf = vec![0u8; parts.size];
            let n = read_full(&mut file, &mut buf)
                .map_err(|e| errors::local(e, &format!("reading {}", local.display())))?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            writer
                .write(Buffer::from(buf))
                .await
                .map_err(|e| map(&e, &format!("sending {path} after {done} of {total} bytes")))?;
            done += n as u64;
            progress.report(done, total)?;
        }
        writer.close().await.map(|_| ()).map_err(|e| {
            taken = e.kind() == opendal::ErrorKind::ConditionNotMatch;
            map(&e, &format!("completing the upload of {path}"))
        })
    }
    .await;
    if let Err(err) = sent {
        executor.stop_all().await;
        abort(&mut writer, path).await;
        if taken {
            tracing::info!("{path} was created by another client during the upload: left as it is");
            return Ok(None);
        }
        return Err(err);
    }
    let stored = op
        .stat(path)
        .await
        .map_err(|e| map(&e, &format!("checking the size of {path} after the upload")))?
        .content_length();
    if stored != total {
        if let Err(e) = op.delete(path).await {
            tracing::warn!(
                "removing {path} of the wrong size: {}",
                errors::describe(&e)
            );
        }
        return Err(PluginError::transient(format!(
            "upload of {path} incomplete: the server holds {stored} of {total} bytes; removed"
        )));
    }
    // The host may have said stop while the upload was being completed.
    if let Err(cancelled) = progress.report(total, total) {
        if existed {
            tracing::warn!(
                "cancelled after {path} was stored; an object of that name was there before, so it is left"
            );
        } else if let Err(e) = op.delete(path).await {
            tracing::warn!(
                "removing {path}, stored as the upload was cancelled: {}",
                errors::describe(&e)
            );
        }
        return Err(cancelled);
    }
    Ok(Some(total))
}

/// Aborts an unfinished upload, retrying with back-off for [`ABORT_PATIENCE`] while the
/// server does not answer (a server restarting keeps the upload's parts otherwise).
async fn abort(writer: &mut opendal::Writer, path: &str) {
    let deadline = Instant::now() + ABORT_PATIENCE;
    let mut pause = Duration::from_millis(200);
    loop {
        match writer.abort().await {
            Ok(()) => {
                tracing::debug!("aborted the unfinished upload of {path}");
                return;
            }
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return,
            Err(e) if Instant::now() + pause < deadline => {
                tracing::debug!(
                    "aborting the upload of {path} failed, retrying: {}",
                    errors::describe(&e)
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::warn!(
                    "could not abort the unfinished upload of {path}; its parts stay on the \
                     server until a lifecycle rule removes them: {}",
                    errors::describe(&e)
                );
                return;
            }
        }
    }
}

/// The temporary local file used while downloading to `target`.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    target.with_file_name(format!(".{name}.partial"))
}

/// Downloads `name` into `target` (through a temporary file), with progress.
pub async fn download(
    op: &Operator,
    name: &str,
    target: &Path,
    progress: &mut Progress<'_>,
    map: MapError<'_>,
) -> Result<(), PluginError> {
    let total = op
        .stat(name)
        .await
        .map_err(|e| map(&e, &format!("looking up {name}")))?
        .content_length();
    let temp = temp_path(target);
    let result = receive(op, name, &temp, total, progress, map)
        .await
        .and_then(|()| {
            fs::rename(&temp, target)
                .map_err(|e| errors::local(e, &format!("renaming into {}", target.display())))
        });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

async fn receive(
    op: &Operator,
    name: &str,
    temp: &Path,
    total: u64,
    progress: &mut Progress<'_>,
    map: MapError<'_>,
) -> Result<(), PluginError> {
    let mut out = File::create(temp)
        .map_err(|e| errors::local(e, &format!("creating {}", temp.display())))?;
    let reader = op
        .reader(name)
        .await
        .map_err(|e| map(&e, &format!("opening {name}")))?;
    let mut stream = reader
        .into_bytes_stream(..)
        .await
        .map_err(|e| map(&e, &format!("reading {name}")))?;
    let mut done = 0u64;
    progress.report(0, total)?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            PluginError::transient(format!(
                "receiving {name}: connection lost after {done} of {total} bytes ({e})"
            ))
        })?;
        out.write_all(&chunk)
            .map_err(|e| errors::local(e, &format!("writing {}", temp.display())))?;
        done += chunk.len() as u64;
        progress.report(done, total)?;
    }
    out.sync_all()
        .map_err(|e| errors::local(e, &format!("flushing {}", temp.display())))?;
    if done != total {
        return Err(PluginError::transient(format!(
            "download of {name} incomplete: got {done} of {total} bytes"
        )));
    }
    Ok(())
}

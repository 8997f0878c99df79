//! The worker's side: `sauvegarde __worker` reads requests on standard input, runs them
//! against one plugin through the `abi_stable` loader, and answers on its original
//! standard output. Whatever the plugin prints goes to standard error instead, so it
//! cannot corrupt the protocol. Texts are cut and listings chunked so that no line passes
//! the host's bound ([`super::protocol::MAX_LINE`]). SIGTERM asks a transfer to stop (its progress callback
//! returns `false`); the end of standard input (the host is gone) ends the process.

use std::fs::File;
use std::io::BufReader;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use sauvegarde_plugin_api::ffi::{HostLogger, LogLevel, RStr};
use sauvegarde_plugin_api::host::{HostDestination, LoadError, LoadedPlugin};
use sauvegarde_plugin_api::{NewUpload, PluginError};

use super::protocol::{
    bounded_text, read_line, write_line, Frame, Outcome, PluginMeta, Request, WireFile,
    FILES_CHUNK_BYTES,
};

static OUT: OnceLock<Mutex<File>> = OnceLock::new();
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

fn send(frame: &Frame) {
    if let Some(out) = OUT.get() {
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        if write_line(&mut *out, frame).is_err() {
            // The host is gone: nobody wants the result.
            // SAFETY: _exit only ends the process.
            unsafe { libc::_exit(0) };
        }
    }
}

extern "C" fn forward_log(
    _plugin: RStr<'static>,
    level: LogLevel,
    target: RStr<'_>,
    message: RStr<'_>,
) {
    send(&Frame::Log {
        level: level as u8,
        target: bounded_text(target.as_str()),
        message: bounded_text(message.as_str()),
    });
}

fn log_level(n: u8) -> LogLevel {
    match n {
        0 | 1 => LogLevel::Error,
        2 => LogLevel::Warn,
        3 => LogLevel::Info,
        4 => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

/// Moves the protocol to a private descriptor and points standard output at standard
/// error.
fn take_stdout() -> std::io::Result<File> {
    // SAFETY: plain descriptor calls on descriptors this process owns.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(File::from_raw_fd(fd))
    }
}

/// Why the worker stopped early: given to the caller's `report`, which tells the user
/// (the worker has no logging: its standard output is the protocol).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The protocol descriptor could not be set up.
    #[error("cannot set up its pipe: {0}")]
    Pipe(std::io::Error),
    /// A line on standard input was not a request.
    #[error("bad request: {0}")]
    BadRequest(super::protocol::LineError),
    /// The input thread could not be started.
    #[error("cannot start: {0}")]
    Start(std::io::Error),
}

/// Runs the worker until its input ends; returns the process exit code. `report` is
/// called with what stopped it early (a bad request ends the process right after).
pub fn serve(report: fn(&WorkerError)) -> i32 {
    let out = match take_stdout() {
        Ok(f) => f,
        Err(e) => {
            report(&WorkerError::Pipe(e));
            return 1;
        }
    };
    let _ = OUT.set(Mutex::new(out));
    // SAFETY: installs a handler that only stores to a static atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t);
        // A terminal's ^C goes to the host, which decides.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    // Requests are read on their own thread, so that the end of input (the host died)
    // ends the worker even while a plugin call hangs.
    let (tx, rx) = mpsc::channel::<Request>();
    let reader = std::thread::Builder::new()
        .name("worker-input".into())
        .spawn(move || {
            let mut input = BufReader::new(std::io::stdin());
            loop {
                match read_line::<Request>(&mut input) {
                    Ok(Some(request)) => {
                        if tx.send(request).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        report(&WorkerError::BadRequest(e));
                        break;
                    }
                }
            }
            // SAFETY: _exit only ends the process; plugin threads die with it.
            unsafe { libc::_exit(0) };
        });
    if let Err(e) = reader {
        report(&WorkerError::Start(e));
        return 1;
    }
    let mut state = State::default();
    while let Ok(request) = rx.recv() {
        let outcome = state.handle(request);
        send(&Frame::Done { outcome });
    }
    0
}

#[derive(Default)]
struct State {
    plugin: Option<LoadedPlugin>,
    destination: Option<HostDestination>,
}

fn load(plugin: &std::path::Path) -> Result<LoadedPlugin, Outcome> {
    LoadedPlugin::load(plugin).map_err(|e| {
        let detail = match &e {
            LoadError::IncompatibleLayout { detail, .. } => Some(detail.clone()),
            _ => None,
        };
        Outcome::LoadFailed {
            message: bounded_text(&e.to_string()),
            detail: detail.as_deref().map(bounded_text),
        }
    })
}

/// Reports progress at most every 50 ms (and at the end); says whether to go on.
fn progress(done: u64, total: u64) -> bool {
    static START: OnceLock<Instant> = OnceLock::new();
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    let now = START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1;
    let last = LAST_MS.load(Ordering::Relaxed);
    if done >= total || last == 0 || now.saturating_sub(last) >= 50 {
        LAST_MS.store(now, Ordering::Relaxed);
        send(&Frame::Progress { done, total });
    }
    !STOP.load(Ordering::SeqCst)
}

/// Sends `files` in [`Frame::Files`] chunks of at most [`FILES_CHUNK_BYTES`] of JSON
/// (each file counted at its worst: every byte of its name escaped, 6 for 1); the last
/// chunk is the outcome. A name longer than [`super::protocol::MAX_TEXT`] (no
/// file system or object store has one) fails the listing rather than break the protocol.
fn send_listing(files: impl Iterator<Item = WireFile>, send: &mut dyn FnMut(&Frame)) -> Outcome {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for file in files {
        if file.name.len() > super::protocol::MAX_TEXT {
            return Outcome::Error(
                (&PluginError::other(format!(
                    "the listing holds a name of {} bytes, longer than sauvegarde accepts",
                    file.name.len()
                )))
                    .into(),
            );
        }
        let worst = 6 * file.name.len() + 80;
        if bytes + worst > FILES_CHUNK_BYTES && !chunk.is_empty() {
            send(&Frame::Files {
                files: std::mem::take(&mut chunk),
            });
            bytes = 0;
        }
        bytes += worst;
        chunk.push(file);
    }
    Outcome::Files { files: chunk }
}

fn unit(result: Result<(), PluginError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Unit,
        Err(e) => Outcome::Error((&e).into()),
    }
}

impl State {
    fn handle(&mut self, request: Request) -> Outcome {
        match request {
            Request::Probe { plugin } => match load(&plugin) {
                Ok(p) => Outcome::Probed(PluginMeta {
                    kind: p.kind().to_string(),
                    version: p.version().to_string(),
                    description: p.description().to_string(),
                    secret_keys: p.secrets().into_iter().map(String::from).collect(),
                    capabilities: p.capabilities().into_iter().map(String::from).collect(),
                }),
                Err(o) => o,
            },
            Request::Open {
                plugin,
                config_json,
                max_level,
            } => {
                let p = match load(&plugin) {
                    Ok(p) => p,
                    Err(o) => return o,
                };
                let tag: &'static str = Box::leak(p.kind().to_string().into_boxed_str());
                p.set_logger(HostLogger {
                    plugin: RStr::from(tag),
                    max_level: log_level(max_level),
                    log: forward_log,
                });
                let result = p.new_destination(&config_json);
                let capabilities = p.capabilities().into_iter().map(String::from).collect();
                self.plugin = Some(p);
                match result {
                    Ok(d) => {
                        self.destination = Some(d);
                        Outcome::Opened { capabilities }
                    }
                    Err(e) => Outcome::Error((&e).into()),
                }
            }
            other => {
                let Some(d) = &self.destination else {
                    return Outcome::Error(
                        (&PluginError::other("worker: no destination is open")).into(),
                    );
                };
                match other {
                    Request::TestConnection => match d.test_connection() {
                        Ok(text) => Outcome::Message {
                            text: bounded_text(&text),
                        },
                        Err(e) => Outcome::Error((&e).into()),
                    },
                    Request::Upload {
                        local_path,
                        remote_name,
                    } => unit(d.upload(&local_path, &remote_name, &mut progress)),
                    Request::UploadNew {
                        local_path,
                        remote_name,
                        temp_name,
                    } => match d.upload_new(&local_path, &remote_name, &temp_name, &mut progress) {
                        Ok(done) => Outcome::NewUpload {
                            name_taken: done == NewUpload::NameTaken,
                        },
                        Err(e) => Outcome::Error((&e).into()),
                    },
                    Request::List => match d.list() {
                        Ok(files) => send_listing(
                            files.iter().map(|f| WireFile {
                                name: f.name().to_string(),
                                size: f.size(),
                                modified: f.modified(),
                            }),
                            &mut send,
                        ),
                        Err(e) => Outcome::Error((&e).into()),
                    },
                    Request::Delete { name } => unit(d.delete(&name)),
                    Request::Download { name, local_path } => {
                        unit(d.download(&name, &local_path, &mut progress))
                    }
                    Request::Probe { .. } | Request::Open { .. } => Outcome::Error(
                        (&PluginError::other("worker: a destination is already open")).into(),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{MAX_LINE, MAX_TEXT};
    use super::*;

    fn file(name: String) -> WireFile {
        WireFile {
            name,
            size: u64::MAX,
            modified: Some(i64::MIN),
        }
    }

    #[test]
    fn a_long_listing_goes_in_chunks_each_within_the_line_bound_in_order() {
        // 100 000 names, among them the longest allowed, made of characters JSON escapes
        // six to one.
        let names: Vec<String> = (0..100_000)
            .map(|i| match i {
                5000 => "\u{1}".repeat(MAX_TEXT),
                _ => format!("prod_{i:06}.zip"),
            })
            .collect();
        let mut frames = Vec::new();
        let last = send_listing(names.iter().cloned().map(file), &mut |f: &Frame| {
            frames.push(serde_json::to_vec(f).unwrap())
        });
        assert!(frames.len() > 10, "{} chunks", frames.len());
        let mut got = Vec::new();
        for line in &frames {
            assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
            let Frame::Files { files } = serde_json::from_slice(line).unwrap() else {
                panic!("not a Files frame")
            };
            got.extend(files.into_iter().map(|f| f.name));
        }
        let Outcome::Files { files } = last else {
            panic!("{last:?}")
        };
        got.extend(files.into_iter().map(|f| f.name));
        assert_eq!(got, names);
    }

    #[test]
    fn a_name_past_the_text_bound_fails_the_listing() {
        let out = send_listing(
            std::iter::once(file("x".repeat(MAX_TEXT + 1))),
            &mut |_: &Frame| {},
        );
        assert!(matches!(out, Outcome::Error(_)), "{out:?}");
    }
}

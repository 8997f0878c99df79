//! One connection of a parallel restore: a `psql -X -q -A -t -v ON_ERROR_STOP=1 -f -`
//! (the libpq settings of every other client program, `\restrict` with a fresh key when
//! psql has it), fed by a thread of its own: the item's session settings, statements and
//! COPY data (read from the archive by its own [`EntryReader`]), then a marker query
//! `SELECT 'sauvegarde-KEY-N';` whose answer on psql's stdout says the item is done.
//! psql stops at the first error (`ON_ERROR_STOP`): the item in flight is the one at
//! fault.
//!
//! Nothing reaches a connection that the guard has not passed: statements are the texts
//! the guard read (held in memory since), and each COPY data section read again from the
//! archive must have the CRC-32 of the bytes the guard read (a section that differs — the
//! archive changed under the restore — stops the load before psql gets its end). With a
//! psql that knows `\restrict`, psql itself refuses every backslash command besides; a
//! psql without it gets a second [`Guard`] over everything it reads (about twice the
//! client CPU).

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use super::entry::{Entry, EntryReader};
use super::plan::{Plan, Section};
use super::schedule::Session;
use crate::cancel::CancelFlag;
use crate::dump::client::command;
use crate::dump::ClientProcess;
use crate::restore::server::Server;
use crate::restore::RestoreError;
use crate::verify::psql::{Guard, Refused};

/// What the threads of a connection report.
#[derive(Debug)]
pub enum Event {
    /// The item sent as number `seq` is done.
    Done { conn: usize, seq: u64 },
    /// psql's output ended: it exited.
    Exited { conn: usize },
    /// The feeding thread stopped.
    Failed { conn: usize, why: Failure },
}

/// Why a feeding thread stopped.
#[derive(Debug)]
pub enum Failure {
    /// A data section read again is not the one the guard read.
    Changed {
        /// Where it starts in `dump.sql`.
        start: u64,
    },
    /// The guard flagged what was to be sent.
    Refused(Vec<Refused>),
    /// Reading the archive failed.
    Read(std::io::Error),
    /// psql stopped reading (it exited: its stderr says why).
    Write(std::io::Error),
}

/// An item to send.
pub struct Job {
    pub item: usize,
    pub seq: u64,
}

/// A running psql and the thread feeding it.
pub struct Conn {
    pub process: ClientProcess,
    pub jobs: Option<Sender<Job>>,
    feeder: Option<std::thread::JoinHandle<()>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What a connection's feeding thread shares with the others.
pub struct Shared {
    pub plan: Arc<Plan>,
    pub entry: Arc<Entry>,
    pub cancel: CancelFlag,
}

impl Conn {
    /// Starts psql connected to `database` as connection number `id`.
    pub fn open(
        id: usize,
        server: &Server,
        database: &str,
        restricts: bool,
        shared: Arc<Shared>,
        events: Sender<Event>,
    ) -> Result<Conn, RestoreError> {
        let mut psql = command(&server.psql);
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "--no-password",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        let mut process = crate::restore::load::spawn(&mut psql, server, database, &server.psql)?;
        let key_err = |source| RestoreError::Spawn {
            program: "/dev/urandom".into(),
            source,
        };
        let key = crate::restore::load::random_key().map_err(key_err)?;
        let restrict = if restricts {
            Some(crate::restore::load::random_key().map_err(key_err)?)
        } else {
            None
        };
        let stdin = process.take_stdin().ok_or_else(|| RestoreError::Spawn {
            program: server.psql.clone(),
            source: std::io::ErrorKind::BrokenPipe.into(),
        })?;
        let stdout = process.take_stdout().ok_or_else(|| RestoreError::Spawn {
            program: server.psql.clone(),
            source: std::io::ErrorKind::BrokenPipe.into(),
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        let marker = format!("sauvegarde-{key}-");
        let out_events = events.clone();
        let reader = std::thread::spawn(move || read_marks(id, stdout, &marker, &out_events));
        let feeder = std::thread::spawn(move || {
            let mut feeder = Feeder {
                stdin,
                guard: (!restricts).then(Guard::new),
                out: Vec::new(),
                session: Session::default(),
                entry: None,
                key,
                shared,
            };
            if let Err(why) = feeder.run(restrict.as_deref(), &rx) {
                let _ = events.send(Event::Failed { conn: id, why });
            }
        });
        Ok(Conn {
            process,
            jobs: Some(tx),
            feeder: Some(feeder),
            reader: Some(reader),
        })
    }

    /// No more items: psql reads the end of its input and exits.
    pub fn close(&mut self) {
        self.jobs = None;
    }

    /// Waits for the threads (after psql exited or was killed).
    pub fn join(&mut self) {
        self.jobs = None;
        for handle in [self.feeder.take(), self.reader.take()]
            .into_iter()
            .flatten()
        {
            let _ = handle.join();
        }
    }
}

/// Reports each marker line psql prints; any other output (a dump's own queries) is
/// dropped. Lines are read in bounded pieces.
fn read_marks(id: usize, stdout: ChildStdout, marker: &str, events: &Sender<Event>) {
    let mut out = BufReader::new(stdout);
    let mut line: Vec<u8> = Vec::with_capacity(128);
    loop {
        let (done, used) = match out.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(buf) => match memchr::memchr(b'\n', buf) {
                Some(n) => {
                    if line.len() < 128 {
                        line.extend_from_slice(&buf[..n.min(128)]);
                    }
                    (true, n + 1)
                }
                None => {
                    if line.len() < 128 {
                        line.extend_from_slice(&buf[..buf.len().min(128)]);
                    }
                    (false, buf.len())
                }
            },
        };
        out.consume(used);
        if done {
            let seq = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| l.strip_prefix(marker))
                .and_then(|n| n.parse().ok());
            if let Some(seq) = seq {
                if events.send(Event::Done { conn: id, seq }).is_err() {
                    break;
                }
            }
            line.clear();
        }
    }
    let _ = events.send(Event::Exited { conn: id });
}

struct Feeder {
    stdin: ChildStdin,
    /// A second reading, for a psql without `\restrict`.
    guard: Option<Guard>,
    out: Vec<u8>,
    session: Session,
    entry: Option<EntryReader>,
    key: String,
    shared: Arc<Shared>,
}

impl Feeder {
    fn run(&mut self, restrict: Option<&str>, jobs: &Receiver<Job>) -> Result<(), Failure> {
        if let Some(key) = restrict {
            // Written as is: the guard would drop it as pg_dump's own line.
            self.stdin
                .write_all(format!("\\restrict {key}\n").as_bytes())
                .map_err(Failure::Write)?;
        }
        while let Ok(job) = jobs.recv() {
            self.item(job)?;
        }
        if let Some(guard) = self.guard.take() {
            let (refused, _) = guard.finish();
            if !refused.is_empty() {
                return Err(Failure::Refused(refused));
            }
        }
        Ok(())
    }

    /// Sends `bytes` (through the second guard when there is one).
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let Some(guard) = &mut self.guard else {
            return self.stdin.write_all(bytes).map_err(Failure::Write);
        };
        self.out.clear();
        guard.feed(bytes, Some(&mut self.out));
        if guard.refusals() > 0 {
            return Err(Failure::Refused(guard.refused().to_vec()));
        }
        self.stdin.write_all(&self.out).map_err(Failure::Write)
    }

    fn item(&mut self, job: Job) -> Result<(), Failure> {
        let shared = Arc::clone(&self.shared);
        let item = &shared.plan.items[job.item];
        for setting in self.session.catch_up(&shared.plan.settings, item.session) {
            self.send(&setting)?;
        }
        for (n, statement) in item.statements.iter().enumerate() {
            self.send(statement)?;
            self.send(b"\n")?;
            if let (0, Some(section)) = (n, item.data) {
                self.data(section)?;
            }
        }
        let marker = format!("SELECT 'sauvegarde-{}-{}';\n", self.key, job.seq);
        self.send(marker.as_bytes())?;
        self.stdin.flush().map_err(Failure::Write)
    }

    /// Streams a data section from this connection's reader of the entry. Its last
    /// chunk (with the `\.` line) is sent only once the CRC-32 of the whole section is
    /// the one the guard read.
    fn data(&mut self, section: Section) -> Result<(), Failure> {
        let mut reader = match self.entry.take() {
            Some(r) if r.position() <= section.start => r,
            _ => self.shared.entry.reader(),
        };
        reader.skip_to(section.start).map_err(Failure::Read)?;
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; crate::archive::CHUNK];
        let mut held = Vec::with_capacity(crate::archive::CHUNK);
        loop {
            if self.shared.cancel.is_cancelled() {
                return Err(Failure::Write(std::io::ErrorKind::Interrupted.into()));
            }
            let n = reader
                .read_until(section.end, &mut buf)
                .map_err(Failure::Read)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            if !held.is_empty() {
                self.send(&held)?;
            }
            held.clear();
            held.extend_from_slice(&buf[..n]);
        }
        if crc.finalize() != section.crc {
            return Err(Failure::Changed {
                start: section.start,
            });
        }
        self.send(&held)?;
        self.entry = Some(reader);
        Ok(())
    }
}

//! Parallel restore of a ZIP's plain `dump.sql`: pg_dump's sections loaded over N
//! connections, all or nothing.
//!
//! The dump is cut where psql cuts it ([`crate::verify::psql::split`], the guard's own
//! lexer) during the read that verifies it (or the pre-scan), before any connection
//! opens; [`plan`] turns the pieces into items with dependencies and table locks, and
//! [`schedule`] hands them to free connections: pre-data in order on one connection, then
//! each table's COPY on any connection (large tables first), each table's index builds
//! and constraints as soon as its data is in, foreign keys once both tables and the
//! referenced table's keys are, and whatever is not one of these shapes alone, in order,
//! on the first connection (which keeps a dump's transactions and session state on one
//! session). Sequences, comments, ownership and ACLs are statements like any other: they
//! run once, in an order the dump allows, as `psql -f` runs them.
//!
//! Each connection is a psql ([`conn`]) — the same libpq settings, authentication and
//! TLS as every other client program, `ON_ERROR_STOP`, `\restrict` — fed only bytes the
//! guard read; COPY data streams from the archive to psql through a reader of the
//! deflated entry per connection ([`entry`]), never held whole. The first error on any
//! connection (psql's stderr names it) kills the others; the caller drops the database.

pub mod classify;
mod conn;
pub mod entry;
pub mod plan;
pub mod schedule;

use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use conn::{Conn, Event, Failure, Job, Shared};
use entry::Entry;
use plan::{Item, Kind, Plan};
use schedule::Scheduler;

use super::server::Server;
use super::RestoreError;
use crate::cancel::CancelFlag;
use crate::verify::psql::split::Unit;
use crate::verify::zip::{describe_read_error, DUMP_ENTRY};

/// The most statement bytes a parallel restore keeps in memory (COPY data is never
/// kept); a dump with more is loaded through one psql.
pub const STATEMENTS_LIMIT: u64 = 256 << 20;

/// The most connections `--jobs` may ask for.
pub const JOBS_MAX: usize = 64;

/// The default number of connections: the number of cores, at most 8.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// What a parallel load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Connections used.
    pub connections: usize,
    /// Items run.
    pub items: usize,
    /// Bytes of `dump.sql`.
    pub sql_bytes: u64,
}

/// Loads `dump.sql` of the archive at `path` (cut into `units` when it was read) into
/// `database` over at most `jobs` connections. `Ok(None)`: the entry cannot be read
/// again in pieces (neither stored nor deflated); load it serially.
pub fn load(
    server: &Server,
    database: &str,
    path: &Path,
    units: Vec<Unit>,
    jobs: usize,
    cancel: &CancelFlag,
) -> Result<Option<Loaded>, RestoreError> {
    let Some(entry) = Entry::open(path)? else {
        return Ok(None);
    };
    let plan = Arc::new(plan::plan(units));
    let parallel = plan.items.iter().any(|i| i.kind != Kind::Serial);
    let jobs = if parallel { jobs.clamp(1, JOBS_MAX) } else { 1 };
    let restricts = server.psql_restricts();
    if !restricts {
        tracing::warn!(psql = %server.psql.display(), "this psql has no \\restrict (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 and later have it): meta-commands are kept out by sauvegarde's own reading of the dump only; update the PostgreSQL client");
    }
    tracing::info!(
        database,
        connections = jobs,
        items = plan.items.len(),
        "loading dump.sql ({}, {} of COPY data) in parallel",
        sauvegarde_plugin_api::human_bytes(entry.size),
        sauvegarde_plugin_api::human_bytes(plan.data_bytes())
    );
    let sql_bytes = entry.size;
    let shared = Arc::new(Shared {
        plan: Arc::clone(&plan),
        entry: Arc::new(entry),
        cancel: cancel.clone(),
    });
    let (events_tx, events) = std::sync::mpsc::channel();
    let mut conns = Vec::with_capacity(jobs);
    for id in 0..jobs {
        let conn = Conn::open(
            id,
            server,
            database,
            restricts,
            Arc::clone(&shared),
            events_tx.clone(),
        );
        match conn {
            Ok(c) => conns.push(c),
            Err(e) => {
                stop(&mut conns);
                return Err(e);
            }
        }
    }
    drop(events_tx);
    let mut run = Run {
        plan: &plan,
        scheduler: Scheduler::new(&plan, jobs),
        busy: vec![None; jobs],
        seq: 0,
    };
    let outcome = run.drive(&mut conns, &events, cancel);
    match outcome {
        Ok(()) => {
            finish(conns, &events, database, path)?;
            Ok(Some(Loaded {
                connections: jobs,
                items: plan.items.len(),
                sql_bytes,
            }))
        }
        Err(stopped) => {
            stop(&mut conns);
            Err(run.error(stopped, conns, server, database, path))
        }
    }
}

/// Why the load stopped early.
enum Stopped {
    Cancelled,
    /// Connection `conn` failed (`why`, or psql exited).
    Failed {
        conn: usize,
        why: Option<Failure>,
    },
    /// Nothing could run (a bug: the plan has a cycle).
    Stuck,
}

struct Run<'p> {
    plan: &'p Plan,
    scheduler: Scheduler,
    /// The item and sequence number each connection is running.
    busy: Vec<Option<(usize, u64)>>,
    seq: u64,
}

impl Run<'_> {
    fn drive(
        &mut self,
        conns: &mut [Conn],
        events: &std::sync::mpsc::Receiver<Event>,
        cancel: &CancelFlag,
    ) -> Result<(), Stopped> {
        loop {
            for (c, conn) in conns.iter().enumerate() {
                if self.busy[c].is_some() {
                    continue;
                }
                // Serial items on the first connection only: a dump's transactions and
                // session state stay on one session.
                let Some(item) = self.scheduler.next(self.plan, c == 0) else {
                    continue;
                };
                self.seq += 1;
                self.busy[c] = Some((item, self.seq));
                tracing::debug!(conn = c, item, "{}", describe(&self.plan.items[item]));
                if let Some(jobs) = &conn.jobs {
                    // A send fails only when the feeder stopped: its event follows.
                    let _ = jobs.send(Job {
                        item,
                        seq: self.seq,
                    });
                }
            }
            if self.scheduler.finished() {
                return Ok(());
            }
            if self.busy.iter().all(Option::is_none) {
                return Err(Stopped::Stuck);
            }
            if cancel.is_cancelled() {
                return Err(Stopped::Cancelled);
            }
            match events.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Done { conn, seq }) => {
                    if let Some((item, s)) = self.busy[conn] {
                        if s == seq {
                            self.busy[conn] = None;
                            self.scheduler.finish(self.plan, item);
                        }
                    }
                }
                // A connection stopped by the cancellation is no failure of its own.
                Ok(Event::Exited { .. } | Event::Failed { .. }) if cancel.is_cancelled() => {
                    return Err(Stopped::Cancelled)
                }
                Ok(Event::Exited { conn }) => return Err(Stopped::Failed { conn, why: None }),
                Ok(Event::Failed { conn, why }) => {
                    return Err(Stopped::Failed {
                        conn,
                        why: Some(why),
                    })
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(Stopped::Stuck),
            }
        }
    }

    /// The error of a stopped load, after every psql was killed.
    fn error(
        &self,
        stopped: Stopped,
        conns: Vec<Conn>,
        server: &Server,
        database: &str,
        path: &Path,
    ) -> RestoreError {
        let (conn, why): (usize, Option<Failure>) = match stopped {
            Stopped::Cancelled => return RestoreError::Cancelled,
            Stopped::Stuck => {
                return RestoreError::Load {
                    program: server.psql.clone(),
                    database: database.into(),
                    detail: "the parallel restore found nothing it could run (please report this); nothing is left of the new database".into(),
                }
            }
            Stopped::Failed { conn, why } => (conn, why),
        };
        let at =
            self.busy[conn].map(|(item, _)| format!("at {}: ", describe(&self.plan.items[item])));
        let psql_error = |conns: Vec<Conn>| {
            let stderr = conns
                .into_iter()
                .nth(conn)
                .and_then(|c| c.process.finish().ok())
                .map(|exit| exit.stderr_or_status())
                .unwrap_or_else(|| "psql ended".into());
            RestoreError::Load {
                program: server.psql.clone(),
                database: database.into(),
                detail: format!(
                    "{}{}",
                    at.as_deref().unwrap_or_default(),
                    without_positions(&stderr)
                ),
            }
        };
        match why {
            Some(Failure::Refused(lines)) => RestoreError::MetaCommands {
                path: path.to_path_buf(),
                lines: super::load::join_refused(&lines),
            },
            Some(Failure::Changed { start }) => RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: DUMP_ENTRY.into(),
                message: format!(
                    "the COPY data at byte {start} is not what the verification read: the archive changed while it was being restored"
                ),
            },
            Some(Failure::Read(e)) => RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: DUMP_ENTRY.into(),
                message: describe_read_error(&e),
            },
            Some(Failure::Write(e)) => {
                tracing::debug!(conn, "psql stopped reading: {e}");
                psql_error(conns)
            }
            None => psql_error(conns),
        }
    }
}

/// Kills every psql and waits for the threads feeding them.
fn stop(conns: &mut [Conn]) {
    for conn in conns.iter_mut() {
        conn.process.kill();
    }
    for conn in conns.iter_mut() {
        conn.join();
    }
}

/// Every item is done: each psql reads the end of its input and must exit cleanly.
fn finish(
    mut conns: Vec<Conn>,
    events: &std::sync::mpsc::Receiver<Event>,
    database: &str,
    path: &Path,
) -> Result<(), RestoreError> {
    for conn in &mut conns {
        conn.close();
    }
    for conn in &mut conns {
        conn.join();
    }
    while let Ok(event) = events.try_recv() {
        if let Event::Failed {
            why: Failure::Refused(lines),
            ..
        } = event
        {
            stop(&mut conns);
            return Err(RestoreError::MetaCommands {
                path: path.to_path_buf(),
                lines: super::load::join_refused(&lines),
            });
        }
    }
    let mut failure = None;
    for conn in conns {
        match super::load::finish(conn.process, database) {
            Ok(exit) => super::load::log_warnings(&exit, database),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    failure.map_or(Ok(()), Err)
}

/// `TABLE DATA res_partner on table public.res_partner (line 123 of dump.sql): COPY …`.
pub fn describe(item: &Item) -> String {
    let what = match &item.header {
        Some(h) => format!("{} {}", h.kind, h.name),
        None => "a statement".to_string(),
    };
    let table = item
        .table
        .as_ref()
        .map(|t| format!(" on table {t}"))
        .unwrap_or_default();
    let text = item
        .statements
        .first()
        .map(|s| String::from_utf8_lossy(classify::statement(s)).into_owned())
        .unwrap_or_default();
    let mut shown: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if shown.chars().count() > 200 {
        shown = shown.chars().take(200).collect::<String>() + "…";
    }
    format!(
        "{what}{table} (line {} of {DUMP_ENTRY}): `{shown}`",
        item.line
    )
}

/// psql's `psql:<stdin>:N: ` prefixes (line numbers of its own input, not the dump's)
/// removed.
fn without_positions(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| match line.strip_prefix("psql:<stdin>:") {
            Some(rest) => rest
                .split_once(": ")
                .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
                .map_or(line, |(_, msg)| msg),
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_item_its_table_and_its_statement() {
        let p = plan::tests::plan_of(plan::tests::DUMP);
        assert_eq!(
            describe(&p.items[11]),
            "FK CONSTRAINT Odd \"T\" Odd \"T\"_user_id_fkey on table public.Odd \"T\" (line 129 of dump.sql): `ALTER TABLE ONLY public.\"Odd \"\"T\"\"\" ADD CONSTRAINT \"Odd \"\"T\"\"_user_id_fkey\" FOREIGN KEY (user_id) REFERENCES public.res_users(id);`"
        );
        assert_eq!(
            without_positions("psql:<stdin>:45: ERROR:  boom\nDETAIL:  x"),
            "ERROR:  boom\nDETAIL:  x"
        );
    }
}

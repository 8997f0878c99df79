//! The order of a parallel restore, decided from the dump's units before any connection
//! opens (a pure function: units in, items with their dependencies and locks out).
//!
//! pg_dump writes pre-data, data, post-data. Every item that is not one of the shapes a
//! parallel restore knows is *serial*: it waits for everything before it, and everything
//! after it waits for it — pre-data is then one chain, in order. Between serial items:
//! - a COPY (`TABLE DATA`) or a sequence value (`SEQUENCE SET`) of the data section runs
//!   on any connection;
//! - after the last of them (post-data), an index build or a constraint of table T waits
//!   for T's data; a foreign key from T to R waits for both tables' data and for every
//!   index and constraint of R before it (the unique index it needs).
//!
//! An index or constraint found before the end of the data section is serial (pg_dump
//! never writes one there; its place is kept). Locks keep what PostgreSQL would make
//! wait off the same tables at once: a COPY, a constraint and a foreign key take their
//! tables exclusively, index builds share theirs. A `COMMENT` right after the index or
//! constraint it names runs with it; session settings (`SET …`, `set_config`) are not
//! items: every connection replays the ones in force at an item's place before it.

use std::collections::HashMap;

use super::classify::{header, shape, Header, Shape};
use crate::verify::psql::split::Unit;

/// What an item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs alone, after everything before it.
    Serial,
    /// A table's COPY and its data section.
    TableData,
    /// `setval` of a sequence.
    SequenceSet,
    /// An index build.
    Index,
    /// A primary key, unique, exclusion or check constraint.
    Constraint,
    /// A foreign key.
    ForeignKey,
}

/// How an item holds a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Others may share it (index builds).
    Shared,
    /// Nothing else on the table at the same time.
    Exclusive,
}

/// One piece of work, run on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What it does.
    pub kind: Kind,
    /// pg_dump's header (`Name`, `Type`), for messages.
    pub header: Option<Header>,
    /// Statements, in order (comments attached to the item after its own).
    pub statements: Vec<Vec<u8>>,
    /// The COPY data section of the dump, for [`Kind::TableData`].
    pub data: Option<Section>,
    /// The table it acts on (`schema.table`), if known.
    pub table: Option<String>,
    /// Tables it locks.
    pub locks: Vec<(String, Mode)>,
    /// Items that must be done before it starts.
    pub deps: Vec<usize>,
    /// How many session settings come before it in the dump.
    pub session: usize,
    /// Its line in the dump (where its first statement ends).
    pub line: u64,
    /// Priority: the bytes of table data it works through (the largest first).
    pub weight: u64,
}

/// A COPY data section: bytes `[start, end)` of `dump.sql` and their CRC-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// First byte.
    pub start: u64,
    /// After the last one.
    pub end: u64,
    /// CRC-32 of the bytes, as the guard read them.
    pub crc: u32,
}

impl Section {
    /// Its size.
    pub fn bytes(&self) -> u64 {
        self.end - self.start
    }
}

/// A session setting, replayed on every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// What it sets (`search_path`, `default_tablespace`, `session authorization`…).
    pub key: String,
    /// The statement.
    pub text: Vec<u8>,
}

/// A restore's items and settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Items, in dump order.
    pub items: Vec<Item>,
    /// Session settings, in dump order.
    pub settings: Vec<Setting>,
}

impl Plan {
    /// Bytes of COPY data.
    pub fn data_bytes(&self) -> u64 {
        self.items
            .iter()
            .filter_map(|i| i.data.map(|d| d.bytes()))
            .sum()
    }
}

/// Plans the units of a dump.
pub fn plan(units: Vec<Unit>) -> Plan {
    let mut plan = Plan::default();
    let mut units = units.into_iter().peekable();
    while let Some(unit) = units.next() {
        let Unit::Statement { text, copy, line } = unit else {
            continue;
        };
        let data = if copy {
            match units.peek() {
                Some(&Unit::Data { start, end, crc }) => {
                    units.next();
                    Some(Section { start, end, crc })
                }
                _ => None,
            }
        } else {
            None
        };
        let head = header(&text);
        let shape = shape(&text, copy && data.is_some());
        if let Shape::Session { key } = &shape {
            if head.is_none() {
                plan.settings.push(Setting {
                    key: key.clone(),
                    text,
                });
                continue;
            }
        }
        if shape == Shape::Comment && attaches(plan.items.last(), head.as_ref()) {
            if let Some(last) = plan.items.last_mut() {
                last.statements.push(text);
            }
            continue;
        }
        let header_kind = head.as_ref().map(|h| h.kind.as_str());
        let (kind, table, locks) = match (shape, header_kind) {
            (Shape::Copy { table }, Some("TABLE DATA")) => (
                Kind::TableData,
                Some(table.clone()),
                vec![(table, Mode::Exclusive)],
            ),
            (Shape::SetVal, Some("SEQUENCE SET")) => (Kind::SequenceSet, None, vec![]),
            (Shape::Index { table }, Some("INDEX")) => (
                Kind::Index,
                Some(table.clone()),
                vec![(table, Mode::Shared)],
            ),
            (Shape::Constraint { table }, Some("CONSTRAINT" | "CHECK CONSTRAINT")) => (
                Kind::Constraint,
                Some(table.clone()),
                vec![(table, Mode::Exclusive)],
            ),
            (Shape::ForeignKey { table, refs }, Some("FK CONSTRAINT")) => {
                let mut locks = vec![(table.clone(), Mode::Exclusive)];
                if refs != table {
                    locks.push((refs, Mode::Exclusive));
                }
                (Kind::ForeignKey, Some(table), locks)
            }
            _ => (Kind::Serial, None, vec![]),
        };
        plan.items.push(Item {
            kind,
            header: head,
            statements: vec![text],
            data,
            table,
            locks,
            deps: Vec::new(),
            session: plan.settings.len(),
            line,
            weight: data.map_or(0, |d| d.bytes()),
        });
    }
    link(&mut plan.items);
    plan
}

/// Whether a comment (header `head`) is the one pg_dump writes right after `last`: on
/// the same index (`INDEX name`) or constraint (`CONSTRAINT c ON t` after `t c`).
fn attaches(last: Option<&Item>, head: Option<&Header>) -> bool {
    let (Some(last), Some(head)) = (last, head) else {
        return false;
    };
    let Some(own) = &last.header else {
        return false;
    };
    if !matches!(head.kind.as_str(), "COMMENT" | "SECURITY LABEL") {
        return false;
    }
    match last.kind {
        Kind::Index => head.name == format!("INDEX {}", own.name),
        Kind::Constraint | Kind::ForeignKey => own.name.match_indices(' ').any(|(at, _)| {
            head.name == format!("CONSTRAINT {} ON {}", &own.name[at + 1..], &own.name[..at])
        }),
        _ => false,
    }
}

/// Sets each item's dependencies (and the post-data items' weights).
fn link(items: &mut [Item]) {
    let last_data = items
        .iter()
        .rposition(|i| matches!(i.kind, Kind::TableData | Kind::SequenceSet));
    for (i, item) in items.iter_mut().enumerate() {
        let post = matches!(item.kind, Kind::Index | Kind::Constraint | Kind::ForeignKey);
        if post && last_data.is_some_and(|d| i < d) {
            item.kind = Kind::Serial;
            item.locks.clear();
        }
    }
    let mut barrier: Option<usize> = None;
    let mut since: Vec<usize> = Vec::new();
    let mut data_of: HashMap<String, (usize, u64)> = HashMap::new();
    let mut builds_on: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter_mut().enumerate() {
        let mut deps: Vec<usize> = barrier.into_iter().collect();
        let table = item.table.clone();
        let data = |t: &Option<String>| t.as_ref().and_then(|t| data_of.get(t)).copied();
        match item.kind {
            Kind::Serial => {
                deps = if since.is_empty() {
                    deps
                } else {
                    std::mem::take(&mut since)
                };
                barrier = Some(i);
            }
            Kind::TableData => {
                if let Some(t) = &table {
                    data_of.insert(t.clone(), (i, item.weight));
                }
                since.push(i);
            }
            Kind::SequenceSet => since.push(i),
            Kind::Index | Kind::Constraint => {
                if let Some((d, bytes)) = data(&table) {
                    deps.push(d);
                    item.weight = bytes;
                }
                if let Some(t) = &table {
                    builds_on.entry(t.clone()).or_default().push(i);
                }
                since.push(i);
            }
            Kind::ForeignKey => {
                let refs = item
                    .locks
                    .iter()
                    .map(|(t, _)| t.clone())
                    .find(|t| Some(t) != table.as_ref());
                for t in [&table, &refs] {
                    if let Some((d, bytes)) = data(t) {
                        deps.push(d);
                        item.weight += bytes;
                    }
                }
                if let Some(r) = refs.as_ref().or(table.as_ref()) {
                    deps.extend(builds_on.get(r).into_iter().flatten().copied());
                }
                since.push(i);
            }
        }
        deps.sort_unstable();
        deps.dedup();
        item.deps = deps;
    }
}

#[cfg(test)]
pub(super) mod tests;

//! Parallel restore of a plain dump (placeholder doc, completed below).

pub mod classify;
pub mod plan;
pub mod schedule;

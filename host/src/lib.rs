//! sauvegarde: backups of Odoo and PostgreSQL databases into Odoo-compatible archives,
//! with retention, history, notifications and exporter plugins.
//!
//! The binary (`main.rs`) is a thin layer over [`cli`] and [`commands`].

pub mod cli;
pub mod commands;
pub mod config;
pub mod logging;
pub mod plugins;
pub mod redact;

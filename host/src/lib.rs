//! sauvegarde: backups of Odoo and PostgreSQL databases into Odoo-compatible archives,
//! with retention, history, notifications and exporter plugins.
//!
//! The binary (`main.rs`) is a thin layer over [`cli`] and [`commands`].

pub mod archive;
pub mod cancel;
pub mod child_env;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conformance;
pub mod crypt;
pub mod daemon;
pub mod disk;
pub mod drill;
pub mod dump;
pub mod export;
pub mod filestore;
pub mod history;
pub mod job;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod naming;
pub mod notify;
pub mod odoo_conf;
pub mod ownership;
pub mod pause;
pub mod plugins;
pub mod redact;
pub mod restore;
pub mod retention;
pub mod run_log;
pub mod schedule;
pub mod table;
pub mod verify;
pub mod worker;

//! Test harness for sauvegarde's end-to-end tests: builds the workspace once, locates the
//! host binary and plugin libraries, and starts real servers on loopback ports.
//!
//! Every server helper owns a temporary directory and stops its process on drop.

pub mod build;
pub mod cli;
pub mod files;
pub mod net;
pub mod odoo_world;
pub mod process;

pub mod dropbox;
pub mod ftp;
pub mod postgres;
pub mod smtp;
pub mod sshd;
pub mod webhook;

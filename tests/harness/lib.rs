//! Test harness for sauvegarde's end-to-end tests: builds the workspace once, locates the
//! host binary and plugin libraries, and starts real servers on loopback ports.
//!
//! Every server helper owns a temporary directory and stops its process on drop.

pub mod age;
pub mod apache;
pub mod build;
pub mod cli;
pub mod conformance;
pub mod files;
pub mod hostile;
pub mod http_tap;
pub mod net;
pub mod odoo_rpc;
pub mod odoo_world;
pub mod process;
pub mod psql_fuzz;
pub mod tmpfs;

pub mod dropbox;
pub mod ftp;
pub mod postgres;
pub mod s3;
pub mod smtp;
pub mod sshd;
pub mod webdav;
pub mod webhook;

/// Merges the keys of `extra` over `base` (both JSON objects); a null removes a key.
pub fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

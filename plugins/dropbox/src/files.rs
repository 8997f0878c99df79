//! Listing, deleting and downloading files of the configured folder, and the account check.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::{human_bytes, PluginError, Progress, RemoteFile};
use serde_json::{json, Value};

use crate::api::{Api, Style};
use crate::errors::route_error;
use crate::hash::ContentHasher;
use crate::time::parse_rfc3339;

/// `users/get_current_account` and `users/get_space_usage`, summarised in one line.
pub fn describe_account(api: &Api) -> Result<String, PluginError> {
    let account = api.rpc_ok("account check", "users/get_current_account", &Value::Null)?;
    let usage = api.rpc_ok("space usage check", "users/get_space_usage", &Value::Null)?;
    let email = account
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("(no email)");
    let used = usage.get("used").and_then(Value::as_u64).unwrap_or(0);
    let allocated = usage
        .get("allocation")
        .and_then(|a| a.get("allocated"))
        .and_then(Value::as_u64);
    let allocated = allocated.map_or("?".to_string(), human_bytes);
    let folder = if api.config.folder.is_empty() {
        "/"
    } else {
        &api.config.folder
    };
    Ok(format!(
        "account {email}, {}/{allocated} used, folder {folder}",
        human_bytes(used)
    ))
}

/// The files (not folders) directly in the configured folder; a missing folder is empty.
pub fn list(api: &Api) -> Result<Vec<RemoteFile>, PluginError> {
    let folder = &api.config.folder;
    let what = format!(
        "listing of {}",
        if folder.is_empty() { "/" } else { folder }
    );
    let first = api.rpc(
        &what,
        "files/list_folder",
        &json!({"path": folder, "recursive": false}),
    )?;
    let mut page = match first {
        Ok(page) => page,
        Err(err) if err.has("not_found") => return Ok(Vec::new()),
        Err(err) => return Err(route_error(&what, &err)),
    };
    let mut files = Vec::new();
    loop {
        let entries = page
            .get("entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for entry in entries {
            if entry.get(".tag").and_then(Value::as_str) != Some("file") {
                continue;
            }
            let Some(name) = entry.get("name").and_then(Value::as_str) else {
                continue;
            };
            let size = entry.get("size").and_then(Value::as_u64).unwrap_or(0);
            let modified = entry
                .get("server_modified")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339);
            files.push(RemoteFile::new(name, size, modified));
        }
        if page.get("has_more").and_then(Value::as_bool) != Some(true) {
            return Ok(files);
        }
        let cursor = page
            .get("cursor")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                PluginError::other(format!("Dropbox's {what} has more pages but no cursor"))
            })?
            .to_string();
        page = api.rpc_ok(
            &what,
            "files/list_folder/continue",
            &json!({"cursor": cursor}),
        )?;
    }
}

/// Deletes one file.
pub fn delete(api: &Api, name: &str) -> Result<(), PluginError> {
    let path = api.config.remote_path(name)?;
    api.rpc_ok(
        &format!("deletion of {path}"),
        "files/delete_v2",
        &json!({"path": path}),
    )?;
    tracing::info!(path, "deleted from Dropbox");
    Ok(())
}

/// Downloads one file into a temporary name beside `local`, checks its content hash, then
/// renames it to `local`. Leaves nothing behind on failure.
pub fn download(
    api: &Api,
    name: &str,
    local: &Path,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let path = api.config.remote_path(name)?;
    let what = format!("download of {path}");
    let response = api
        .call(
            &what,
            "files/download",
            Style::Download,
            &json!({"path": path}),
            None,
        )?
        .map_err(|e| route_error(&what, &e))?;
    let metadata: Value = response
        .headers()
        .get("Dropbox-API-Result")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or_else(|| {
            PluginError::other(format!(
                "Dropbox answered the {what} without a readable Dropbox-API-Result header"
            ))
        })?;
    let size = metadata.get("size").and_then(Value::as_u64).unwrap_or(0);
    let temp = temp_path(local);
    let result = receive(response, &temp, size, &what, progress).and_then(|hash| {
        let expected = metadata.get("content_hash").and_then(Value::as_str);
        if expected.is_some_and(|e| e != hash) {
            return Err(PluginError::transient(format!(
                "the {what} arrived corrupted (content_hash {hash}, Dropbox says {})",
                expected.unwrap_or_default()
            )));
        }
        fs::rename(&temp, local).map_err(|e| {
            PluginError::other(format!(
                "cannot rename {} to {}: {e}",
                temp.display(),
                local.display()
            ))
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `dir/.name.part` for `dir/name`.
fn temp_path(local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    local.with_file_name(format!(".{name}.part"))
}

/// Streams the body to `temp`, reporting progress; returns the content hash of what came.
fn receive(
    mut response: reqwest::blocking::Response,
    temp: &Path,
    size: u64,
    what: &str,
    progress: &mut Progress<'_>,
) -> Result<String, PluginError> {
    let mut file = File::create(temp)
        .map_err(|e| PluginError::other(format!("cannot create {}: {e}", temp.display())))?;
    let mut hasher = ContentHasher::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    progress.report(0, size)?;
    loop {
        let n = response
            .read(&mut buffer)
            .map_err(|e| PluginError::transient(format!("the {what} was interrupted: {e}")))?;
        if n == 0 {
            break;
        }
        file.write_all(&buffer[..n])
            .map_err(|e| PluginError::other(format!("cannot write {}: {e}", temp.display())))?;
        hasher.update(&buffer[..n]);
        done += n as u64;
        progress.report(done, size)?;
    }
    if done != size {
        return Err(PluginError::transient(format!(
            "the {what} ended after {done} of {size} bytes"
        )));
    }
    file.sync_all()
        .map_err(|e| PluginError::other(format!("cannot write {}: {e}", temp.display())))?;
    Ok(hasher.finish())
}

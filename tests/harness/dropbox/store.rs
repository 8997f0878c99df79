//! Stored files and upload sessions, kept in the server's temporary directory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::State;

/// Files by lower-cased path (Dropbox paths are case-insensitive).
pub type Files = BTreeMap<String, StoredFile>;

/// One stored file.
pub struct StoredFile {
    pub path_display: String,
    pub disk: PathBuf,
    pub id: String,
    pub rev: String,
    pub size: u64,
    pub content_hash: String,
    pub server_modified: String,
}

/// An upload session.
pub struct Session {
    pub disk: PathBuf,
    pub offset: u64,
    pub closed: bool,
}

/// Dropbox's content hash of a file on disk.
pub fn content_hash_of(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut overall = Sha256::new();
    let mut block = vec![0u8; 4 << 20];
    loop {
        let mut filled = 0;
        while filled < block.len() {
            let n = file.read(&mut block[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        overall.update(Sha256::digest(&block[..filled]));
        if filled < block.len() {
            break;
        }
    }
    Ok(overall
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The file metadata JSON Dropbox returns.
pub fn file_metadata(file: &StoredFile) -> Value {
    json!({
        ".tag": "file",
        "name": file.path_display.rsplit('/').next().unwrap_or(""),
        "id": file.id,
        "client_modified": file.server_modified,
        "server_modified": file.server_modified,
        "rev": file.rev,
        "size": file.size,
        "path_lower": file.path_display.to_lowercase(),
        "path_display": file.path_display,
        "is_downloadable": true,
        "content_hash": file.content_hash,
    })
}

/// Folder metadata for `path_display`.
pub fn folder_metadata(state: &mut State, path_display: &str) -> Value {
    json!({
        ".tag": "folder",
        "name": path_display.rsplit('/').next().unwrap_or(""),
        "id": state.id("id:folder"),
        "path_lower": path_display.to_lowercase(),
        "path_display": path_display,
    })
}

/// A new empty file in the store's directory, for an upload or a session.
pub fn new_temp(state: &mut State) -> PathBuf {
    let name = state.id("tmp-");
    state.dir.join(name)
}

/// Why a commit failed.
pub enum CommitError {
    /// `mode: add` and the path exists.
    Conflict,
    /// The account would go over its allocation.
    InsufficientSpace,
    /// Writing failed.
    Io(io::Error),
}

/// How a commit treats a file already at its path, as Dropbox's `WriteMode`,
/// `autorename` and `strict_conflict` say.
#[derive(Debug, Clone, Copy)]
pub struct WriteMode {
    /// `mode: add`: a file at the path is a conflict (`overwrite`/`update` replace it).
    pub add: bool,
    /// On a conflict, store as `name (1).ext`, `name (2).ext`, … instead.
    pub autorename: bool,
    /// A file of identical content is a conflict too (without it, Dropbox answers with
    /// the existing file and changes nothing).
    pub strict_conflict: bool,
}

/// `path` with ` (n)` before its extension, as Dropbox's autorename names it.
fn renamed(path: &str, n: u32) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    format!("{dir}/{stem} ({n}){ext}")
}

/// Makes the received bytes at `temp` the file at `path`, or answers a conflict, as
/// `mode` says (checked by the caller). `corrupt` flips a byte of what is stored.
pub fn commit(
    state: &mut State,
    temp: &Path,
    path: &str,
    mode: WriteMode,
    corrupt: bool,
) -> Result<Value, CommitError> {
    let mut path = path.to_string();
    if mode.add {
        if let Some(existing) = state.files.get(&path.to_lowercase()) {
            let same = content_hash_of(temp).ok().as_deref() == Some(&existing.content_hash);
            if same && !mode.strict_conflict {
                let metadata = file_metadata(existing);
                let _ = fs::remove_file(temp);
                return Ok(metadata);
            }
            if !mode.autorename {
                let _ = fs::remove_file(temp);
                return Err(CommitError::Conflict);
            }
            let free = (1..)
                .map(|n| renamed(&path, n))
                .find(|p| !state.files.contains_key(&p.to_lowercase()));
            path = free.unwrap_or(path);
        }
    }
    let path = path.as_str();
    let key = path.to_lowercase();
    let size = fs::metadata(temp).map_err(CommitError::Io)?.len();
    let used: u64 = state.files.values().map(|f| f.size).sum();
    let replaced = state.files.get(&key).map_or(0, |f| f.size);
    if used - replaced + size > state.allocated {
        let _ = fs::remove_file(temp);
        return Err(CommitError::InsufficientSpace);
    }
    if corrupt && size > 0 {
        flip_byte(temp, size / 2).map_err(CommitError::Io)?;
    }
    let content_hash = content_hash_of(temp).map_err(CommitError::Io)?;
    let name = state.id("file-");
    let disk = state.dir.join(name);
    fs::rename(temp, &disk).map_err(CommitError::Io)?;
    if let Some(old) = state.files.get(&key) {
        let _ = fs::remove_file(&old.disk);
    }
    let file = StoredFile {
        path_display: path.to_string(),
        disk,
        id: state.id("id:"),
        rev: format!("{:015x}", state.next_id),
        size,
        content_hash,
        server_modified: now_rfc3339(),
    };
    let metadata = file_metadata(&file);
    state.files.insert(key, file);
    Ok(metadata)
}

fn flip_byte(path: &Path, at: u64) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut byte)?;
    byte[0] ^= 0xff;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(&byte)
}

/// Stores `content` at `path` directly.
pub fn put(state: &mut State, path: &str, content: &[u8]) -> io::Result<()> {
    let temp = new_temp(state);
    fs::write(&temp, content)?;
    let overwrite = WriteMode {
        add: false,
        autorename: false,
        strict_conflict: false,
    };
    commit(state, &temp, path, overwrite, false)
        .map(|_| ())
        .map_err(|e| match e {
            CommitError::Io(e) => e,
            _ => io::Error::other("commit refused"),
        })
}

//! Listing `remote_dir`: MLSD, falling back to LIST parsing (Unix or DOS style) for servers
//! that do not implement MLSD.

use std::time::UNIX_EPOCH;

use sauvegarde_plugin_api::{ErrorKind, PluginError, RemoteFile};
use suppaftp::list::{File, ListParser};

use crate::errors;
use crate::session::Session;

/// The plain files in the session's current directory.
pub fn list(session: &mut Session) -> Result<Vec<RemoteFile>, PluginError> {
    let entries = match session.ftp.mlsd(None) {
        Ok(lines) => lines
            .iter()
            .filter_map(|l| ListParser::parse_mlsd(l).ok())
            .collect::<Vec<_>>(),
        Err(e) if errors::code_of(&e).is_some_and(|c| c == 500 || c == 502 || c == 504) => {
            tracing::debug!("server has no MLSD; parsing LIST output");
            session
                .ftp
                .list(None)
                .map_err(|e| errors::ftp(e, "LIST of `remote_dir`", ErrorKind::NotFound))?
                .iter()
                .filter_map(|l| parse_list_line(l))
                .collect()
        }
        Err(e) => return Err(errors::ftp(e, "MLSD of `remote_dir`", ErrorKind::NotFound)),
    };
    Ok(entries
        .into_iter()
        .filter(|f| f.is_file() && f.name() != "." && f.name() != "..")
        .map(|f| {
            let modified = f
                .modified()
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs() as i64)
                .filter(|s| *s > 0);
            RemoteFile::new(f.name(), f.size() as u64, modified)
        })
        .collect())
}

/// Parses one LIST line, Unix style first, then DOS style.
fn parse_list_line(line: &str) -> Option<File> {
    ListParser::parse_posix(line)
        .or_else(|_| ListParser::parse_dos(line))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_of_both_styles_parse() {
        let f = parse_list_line("-rw-r--r--    1 1000     1000         1234 Jan 02  2024 a.zip")
            .unwrap();
        assert_eq!((f.name(), f.size(), f.is_file()), ("a.zip", 1234, true));
        let d = parse_list_line("01-02-24  10:00AM       <DIR>          sub").unwrap();
        assert!(d.is_directory());
        assert!(parse_list_line("total 12").is_none());
    }
}

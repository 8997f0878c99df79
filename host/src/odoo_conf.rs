//! Reads the settings sauvegarde needs from Odoo's configuration file (`odoo.conf`, an INI
//! file with an `[options]` section): database connection and `data_dir`.

use std::path::{Path, PathBuf};

/// The `[options]` values of an odoo.conf that matter for a backup. Odoo writes `False`
/// for unset values; those are `None` here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OdooConf {
    /// `db_host`.
    pub db_host: Option<String>,
    /// `db_port`.
    pub db_port: Option<u16>,
    /// `db_user`.
    pub db_user: Option<String>,
    /// `db_password` (a secret: registered with the redactor when read).
    pub db_password: Option<String>,
    /// `data_dir`: the filestore is `<data_dir>/filestore/<database>`.
    pub data_dir: Option<PathBuf>,
}

/// Why an odoo.conf could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OdooConfError {
    /// The file could not be read.
    #[error("cannot read Odoo configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value has the wrong form.
    #[error("Odoo configuration {path}: `{key}` = {value:?} is not a valid port")]
    BadPort {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The value found.
        value: String,
    },
}

impl OdooConf {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, OdooConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| OdooConfError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of an odoo.conf (`path` is only used in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, OdooConfError> {
        let mut conf = OdooConf::default();
        let mut in_options = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                in_options = line == "[options]";
                continue;
            }
            if !in_options {
                continue;
            }
            let Some((key, value)) = line.split_once(['=', ':']) else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let value = (!value.is_empty() && value != "False" && value != "None")
                .then(|| value.to_string());
            match key {
                "db_host" => conf.db_host = value,
                "db_port" => {
                    conf.db_port = match value {
                        None => None,
                        Some(v) => Some(v.parse().map_err(|_| OdooConfError::BadPort {
                            path: path.to_path_buf(),
                            key: key.into(),
                            value: v.clone(),
                        })?),
                    }
                }
                "db_user" => conf.db_user = value,
                "db_password" => {
                    if let Some(p) = &value {
                        crate::redact::register(p);
                    }
                    conf.db_password = value;
                }
                "data_dir" => conf.data_dir = value.map(PathBuf::from),
                _ => {}
            }
        }
        Ok(conf)
    }
}

/// `odoo` with the job's own `data_dir` (which wins over odoo.conf's), if it has one.
pub fn with_data_dir(odoo: Option<OdooConf>, data_dir: Option<&Path>) -> Option<OdooConf> {
    match data_dir {
        Some(d) => Some(OdooConf {
            data_dir: Some(d.to_path_buf()),
            ..odoo.unwrap_or_default()
        }),
        None => odoo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_and_false() {
        let text = "[options]\nadmin_passwd = x\ndb_host = False\ndb_port = 5433\ndb_user = odoo\n\
                    db_password = s3cret-pw\ndata_dir = /srv/odoo/data\n[other]\ndb_user = no\n";
        let conf = OdooConf::parse(text, Path::new("odoo.conf")).unwrap();
        assert_eq!(conf.db_host, None);
        assert_eq!(conf.db_port, Some(5433));
        assert_eq!(conf.db_user.as_deref(), Some("odoo"));
        assert_eq!(conf.db_password.as_deref(), Some("s3cret-pw"));
        assert_eq!(conf.data_dir, Some(PathBuf::from("/srv/odoo/data")));
        assert_eq!(crate::redact::scrub("pw s3cret-pw"), "pw ***");
    }

    #[test]
    fn bad_port_names_the_key() {
        let err =
            OdooConf::parse("[options]\ndb_port = abc\n", Path::new("/etc/odoo.conf")).unwrap_err();
        assert!(err.to_string().contains("db_port"), "{err}");
        assert!(err.to_string().contains("/etc/odoo.conf"), "{err}");
    }
}

//! The environment every child process starts from.
//!
//! The daemon's own environment may carry every secret of the configuration
//! (`SAUVEGARDE_JOBS__PROD__DB_PASSWORD`, …) and systemd's `CREDENTIALS_DIRECTORY`. No
//! child needs them: PostgreSQL programs get what they need from the job's connection
//! (see [`crate::dump::Connection`]), the notification command gets the event's
//! `SAUVEGARDE_EVENT_*` variables set explicitly afterwards, exporter workers get their
//! settings over a pipe. So every child is made with [`command`] (or a `Command` passed
//! through [`clean`]), which removes those variables and keeps the rest (`PATH`, `LANG`,
//! `TZ`, libpq's own `PG*` settings, …).

use std::ffi::{OsStr, OsString};
use std::process::Command;

/// Prefix of the variables no child inherits (the configuration's and the event's).
pub const PRIVATE_PREFIX: &str = "SAUVEGARDE_";

/// systemd's directory of credentials (`LoadCredential=`): the host's alone.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Whether a child must not inherit the variable `name`.
pub fn is_private(name: &OsStr) -> bool {
    name == CREDENTIALS_DIRECTORY
        || name
            .as_encoded_bytes()
            .starts_with(PRIVATE_PREFIX.as_bytes())
}

/// The names of this process's variables that no child inherits.
pub fn private_names() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| is_private(name))
        .collect()
}

/// A command for `program` whose environment is this process's without the private
/// variables. Set a child's own variables after this.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    clean(&mut command);
    command
}

/// Removes the private variables from what `command` inherits. Variables set on
/// `command` before this call are removed too when private: call it first.
pub fn clean(command: &mut Command) -> &mut Command {
    for name in private_names() {
        command.env_remove(name);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_names_are_the_configuration_and_credentials() {
        for name in [
            "SAUVEGARDE_JOBS__PROD__DB_PASSWORD",
            "SAUVEGARDE_",
            "CREDENTIALS_DIRECTORY",
        ] {
            assert!(is_private(OsStr::new(name)), "{name}");
        }
        for name in ["PATH", "PGHOST", "HOME", "XSAUVEGARDE_X", "sauvegarde_x"] {
            assert!(!is_private(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn a_child_sees_no_private_variable_but_its_own() {
        // Variables of this test process: set before any child of the test is spawned.
        std::env::set_var("SAUVEGARDE_CHILD_ENV_UNIT__PASSWORD", "child-env-secret");
        std::env::set_var("CREDENTIALS_DIRECTORY", "/run/credentials/unit");
        let out = command("/usr/bin/env")
            .env("SAUVEGARDE_EVENT_JOB", "prod")
            .output()
            .expect("run env");
        let env = String::from_utf8_lossy(&out.stdout);
        assert!(!env.contains("child-env-secret"), "{env}");
        assert!(!env.contains("CREDENTIALS_DIRECTORY"), "{env}");
        assert!(env.contains("SAUVEGARDE_EVENT_JOB=prod"), "{env}");
        assert!(env.contains("PATH="), "{env}");
    }
}

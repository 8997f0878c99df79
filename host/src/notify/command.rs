//! Command channel: runs a program with the event in `SAUVEGARDE_EVENT_*` variables, in
//! the environment of every child ([`crate::child_env`]): no configuration secret.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Event, NotifyError};
use crate::config::CommandConfig;

const CHANNEL: &str = "command";

/// How long the program may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the configured program and waits for it (at most [`TIMEOUT`]); a non-zero exit
/// is an error. Blocking.
pub fn run(config: &CommandConfig, event: &Event) -> Result<(), NotifyError> {
    let Some((program, args)) = config.argv.split_first() else {
        return Err(NotifyError::new(
            CHANNEL,
            "`notify.command.argv` is empty: give the program and its arguments",
        ));
    };
    let mut child = crate::child_env::command(program)
        .args(args)
        .envs(event.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| {
            NotifyError::new(
                CHANNEL,
                format!("cannot start {program}: {e}; check `notify.command.argv`"),
            )
        })?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                tracing::info!(job = event.job, program, "notification command ran");
                return Ok(());
            }
            Ok(Some(status)) => {
                return Err(NotifyError::new(
                    CHANNEL,
                    format!("{program} exited with {status}"),
                ))
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotifyError::new(
                    CHANNEL,
                    format!("{program} still ran after {} s: killed", TIMEOUT.as_secs()),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                return Err(NotifyError::new(
                    CHANNEL,
                    format!("waiting for {program}: {e}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::tests::event;

    #[test]
    fn the_event_reaches_the_program_in_env_vars() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let script = format!("printf '%s|%s|%s' \"$SAUVEGARDE_EVENT_JOB\" \"$SAUVEGARDE_EVENT_STATE\" \"$SAUVEGARDE_EVENT_MESSAGE\" > {}", out.display());
        let cfg = CommandConfig {
            argv: vec!["/bin/sh".into(), "-c".into(), script],
        };
        run(&cfg, &event("boom")).expect("command ran");
        assert_eq!(
            std::fs::read_to_string(&out).expect("output"),
            "prod|failure|boom"
        );
    }

    #[test]
    fn failures_are_errors_naming_the_program() {
        let cfg = CommandConfig {
            argv: vec!["/bin/false".into()],
        };
        let e = run(&cfg, &event("boom")).unwrap_err();
        assert!(e.to_string().contains("/bin/false"), "{e}");
        let cfg = CommandConfig {
            argv: vec!["/nonexistent/notifier".into()],
        };
        let e = run(&cfg, &event("boom")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/notifier"), "{e}");
        let e = run(&CommandConfig { argv: vec![] }, &event("boom")).unwrap_err();
        assert!(e.to_string().contains("argv"), "{e}");
    }
}

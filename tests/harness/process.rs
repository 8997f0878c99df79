//! Child processes that are killed when the test ends.

use std::process::{Child, Command};

/// A child process killed (SIGKILL) and reaped on drop.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Spawns `command`, panicking with the program name if it cannot start.
    pub fn spawn(command: &mut Command) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
        KillOnDrop(child)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills the process now (as a crash would), and waits for it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

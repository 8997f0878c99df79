//! A small file system of its own for a test: a tmpfs mounted (the tests run as root) on
//! a fresh directory, filled on request, unmounted on drop. How the free-space tests make
//! a full disk.

use std::path::PathBuf;
use std::process::Command;

/// A tmpfs of `mib` MiB mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts it (the tests run as root).
    pub fn mount(dir: PathBuf, mib: u32) -> Self {
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount tmpfs (the tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    /// Bytes free on it.
    pub fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df avail")
    }

    /// Fills the file system until `left` bytes remain free.
    pub fn fill_until(&self, left: u64) {
        let take = self.free().saturating_sub(left);
        let filler = self.dir.join("filler.bin");
        std::fs::write(&filler, vec![0u8; take as usize]).expect("write filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

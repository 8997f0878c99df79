//! A throwaway OpenSSH server on a loopback port, for the SFTP exporter's tests.
//!
//! Each [`Sshd`] owns a temporary directory with its config, ed25519 host key,
//! `authorized_keys` and a world-writable data directory; it runs `/usr/sbin/sshd -D` with
//! `Subsystem sftp internal-sftp`, and kills the server and every session process it forked
//! when dropped. Two system accounts are created once per machine (needs root): a password
//! user ([`PASSWORD_USER`]) and a key-only user ([`KEY_USER`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tempfile::TempDir;

use crate::net::{free_port, wait_for_port};
use crate::process::KillOnDrop;

/// The account that logs in with [`PASSWORD`].
pub const PASSWORD_USER: &str = "sgtest-sftp-pw";
/// Its password.
pub const PASSWORD: &str = "Sauvegarde-test-pw-7Hq";
/// An account with no usable password: public-key login only.
pub const KEY_USER: &str = "sgtest-sftp-key";

/// How long to wait for sshd to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A client key pair authorised for both test accounts.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// The private key file (OpenSSH format).
    pub private_key_file: PathBuf,
    /// The passphrase it is encrypted with, if any.
    pub passphrase: Option<String>,
}

impl ClientKey {
    /// The private key's text.
    pub fn private_key(&self) -> String {
        fs::read_to_string(&self.private_key_file).expect("read client private key")
    }
}

/// A running OpenSSH server on 127.0.0.1.
pub struct Sshd {
    dir: TempDir,
    port: u16,
    process: Mutex<Option<KillOnDrop>>,
    /// Extra `sshd_config` lines.
    extra: String,
}

impl Sshd {
    /// Creates the accounts if needed, generates a host key and starts sshd on a free port.
    pub fn start() -> Sshd {
        Self::start_with("")
    }

    /// [`start`](Self::start) with extra `sshd_config` lines (e.g. `MaxSessions 1`).
    pub fn start_with(extra_config: &str) -> Sshd {
        ensure_users();
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("sauvegarde-sshd-")
            .tempdir()
            .expect("temp dir");
        // The accounts must traverse it to reach authorized_keys and the data directory.
        set_mode(dir.path(), 0o755);
        let data = dir.path().join("data");
        fs::create_dir(&data).expect("create data dir");
        set_mode(&data, 0o777);
        fs::write(dir.path().join("authorized_keys"), "").expect("write authorized_keys");
        set_mode(&dir.path().join("authorized_keys"), 0o644);
        let sshd = Sshd {
            port: free_port(),
            dir,
            process: Mutex::new(None),
            extra: extra_config.to_string(),
        };
        sshd.generate_host_key();
        sshd.write_config();
        sshd.spawn();
        sshd
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A directory writable by both accounts (mode 0777), for `remote_dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's host key fingerprint as `ssh-keygen -lf` prints it (`SHA256:…`).
    pub fn host_key_fingerprint(&self) -> String {
        let out = run(Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.host_key().with_extension("pub")));
        out.split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected ssh-keygen -lf output: {out}"))
            .to_string()
    }

    /// A known_hosts line for this server (`[127.0.0.1]:PORT ssh-ed25519 AAAA…`).
    pub fn known_hosts_line(&self) -> String {
        let public =
            fs::read_to_string(self.host_key().with_extension("pub")).expect("read host key");
        let mut fields = public.split_whitespace();
        let (kind, blob) = (
            fields.next().expect("key type"),
            fields.next().expect("key blob"),
        );
        format!("[127.0.0.1]:{} {kind} {blob}\n", self.port)
    }

    /// Generates an ed25519 client key (encrypted with `passphrase` if given) and authorises
    /// it for both accounts.
    pub fn client_key(&self, name: &str, passphrase: Option<&str>) -> ClientKey {
        let path = self.dir.path().join(format!("client_{name}"));
        run(Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-C",
                name,
                "-N",
                passphrase.unwrap_or(""),
            ])
            .arg("-f")
            .arg(&path));
        let public =
            fs::read_to_string(path.with_extension("pub")).expect("read client public key");
        let authorized = self.dir.path().join("authorized_keys");
        let mut keys = fs::read_to_string(&authorized).expect("read authorized_keys");
        keys.push_str(&public);
        fs::write(&authorized, keys).expect("write authorized_keys");
        ClientKey {
            private_key_file: path,
            passphrase: passphrase.map(str::to_string),
        }
    }

    /// Kills sshd and every session process it forked (as a crash or power loss would).
    /// Callable while a client is mid-transfer.
    pub fn kill(&self) {
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = process.take() {
            // Collect the tree first: once the listener dies its children are re-parented.
            let descendants = descendants(child.pid());
            if !descendants.is_empty() {
                let mut kill = Command::new("kill");
                kill.arg("-KILL")
                    .args(descendants.iter().map(u32::to_string));
                let _ = kill.stderr(Stdio::null()).status();
            }
            child.kill();
        }
    }

    /// Stops the server and starts it again on the same port, with the same host key or a
    /// newly generated one (a reinstalled server, or a man in the middle).
    pub fn restart(&mut self, new_host_key: bool) {
        self.kill();
        if new_host_key {
            let key = self.host_key();
            let _ = fs::remove_file(&key);
            let _ = fs::remove_file(key.with_extension("pub"));
            self.generate_host_key();
        }
        self.spawn();
    }

    /// What sshd wrote to its log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn host_key(&self) -> PathBuf {
        self.dir.path().join("host_ed25519")
    }

    fn generate_host_key(&self) {
        run(Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "sauvegarde-test-host",
            ])
            .arg("-f")
            .arg(self.host_key()));
    }

    fn write_config(&self) {
        let dir = self.dir.path().display();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {dir}/host_ed25519\n\
             PidFile {dir}/sshd.pid\n\
             UsePAM no\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\n\
             AllowUsers {PASSWORD_USER} {KEY_USER}\n\
             MaxStartups 100\n\
             LogLevel VERBOSE\n\
             Subsystem sftp internal-sftp\n{extra}\n",
            port = self.port,
            extra = self.extra
        );
        fs::write(self.dir.path().join("sshd_config"), config).expect("write sshd_config");
    }

    fn spawn(&self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("sshd.log"))
            .expect("open sshd log");
        let child = KillOnDrop::spawn(
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(self.dir.path().join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        );
        *self.process.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        wait_for_port(self.port, START_TIMEOUT);
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates the two test accounts once per machine, under a lock so that parallel tests do
/// not race on /etc/passwd or see an account whose password is not set yet.
fn ensure_users() {
    let script = format!(
        "set -e
         if ! id -u {PASSWORD_USER} >/dev/null 2>&1; then
           useradd -m -s /bin/sh {PASSWORD_USER}
           echo '{PASSWORD_USER}:{PASSWORD}' | chpasswd
         fi
         if ! id -u {KEY_USER} >/dev/null 2>&1; then
           useradd -m -s /bin/sh {KEY_USER}
           usermod -p '*' {KEY_USER}
         fi"
    );
    run(Command::new("flock")
        .args(["/tmp/sauvegarde-test-users.lock", "sh", "-c"])
        .arg(script));
}

/// Process ids of every descendant of `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": comm may hold spaces, so parse after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((child, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Runs a setup command, panicking with its stderr if it fails; returns its stdout.
fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", command.get_program()));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

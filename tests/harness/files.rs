//! Small file helpers shared by the tests.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// SHA-256 of a file, hex; panics when it cannot be read (a test failure).
pub fn sha256(path: &Path) -> String {
    let mut file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A local file of `size` bytes that no compression or text-mode transfer leaves alone:
/// a pseudo-random 1 MiB block with line feeds in it, stamped with its index so that no
/// two blocks are equal.
pub fn patterned_file(dir: &Path, name: &str, size: u64) -> std::path::PathBuf {
    use std::io::Write;
    const BLOCK: usize = 1 << 20;
    let mut block = vec![0u8; BLOCK];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    block[100] = b'\n';
    block[BLOCK / 2] = b'\n';
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display())),
    );
    let mut left = size;
    let mut index = 0u64;
    while left > 0 {
        block[..8].copy_from_slice(&index.to_le_bytes());
        let n = left.min(BLOCK as u64) as usize;
        file.write_all(&block[..n]).expect("write test file");
        left -= n as u64;
        index += 1;
    }
    file.flush().expect("flush test file");
    path
}

/// A progress callback that never cancels.
pub fn no_progress() -> impl FnMut(u64, u64) -> bool {
    |_, _| true
}

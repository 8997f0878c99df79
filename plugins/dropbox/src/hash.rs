//! Dropbox's `content_hash`: SHA-256 over the SHA-256 digests of 4 MiB blocks.

use sha2::{Digest, Sha256};

/// Dropbox hashes files in blocks of this size.
pub const BLOCK_SIZE: usize = 4 << 20;

/// Computes a content hash incrementally from data given in any slicing.
#[derive(Default, Clone)]
pub struct ContentHasher {
    overall: Sha256,
    block: Sha256,
    in_block: usize,
}

impl ContentHasher {
    /// A hasher with nothing fed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.in_block).min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK_SIZE {
                self.finish_block();
            }
        }
    }

    fn finish_block(&mut self) {
        let digest = std::mem::take(&mut self.block).finalize();
        self.overall.update(digest);
        self.in_block = 0;
    }

    /// The hash as lower-case hex.
    pub fn finish(mut self) -> String {
        if self.in_block > 0 {
            self.finish_block();
        }
        self.overall
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_hash_is_sha256_of_nothing() {
        assert_eq!(
            ContentHasher::new().finish(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn slicing_does_not_matter_and_blocks_are_4_mib() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 10))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut one = ContentHasher::new();
        one.update(&data);
        let mut many = ContentHasher::new();
        for piece in data.chunks(1_000_003) {
            many.update(piece);
        }
        let expected = {
            let mut overall = Sha256::new();
            for block in data.chunks(BLOCK_SIZE) {
                overall.update(Sha256::digest(block));
            }
            overall
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(one.finish(), expected);
        assert_eq!(many.finish(), expected);
    }
}

//! Store or deflate: files that do not compress (JPEG, PNG, PDF streams, archives) are
//! stored, decided from the byte entropy of their first bytes.

/// How many leading bytes are sampled.
pub const SAMPLE: usize = 64 * 1024;

/// Samples shorter than this are always deflated (the cost is negligible).
const MIN_SAMPLE: usize = 512;

/// Above this entropy (bits per byte) deflate gains almost nothing.
const STORE_ABOVE_BITS: f64 = 7.5;

/// Whether data starting with `sample` is worth deflating.
pub fn worth_deflating(sample: &[u8]) -> bool {
    if sample.len() < MIN_SAMPLE {
        return true;
    }
    entropy_bits_per_byte(sample) <= STORE_ABOVE_BITS
}

/// Shannon entropy of `data` in bits per byte (0 to 8).
pub fn entropy_bits_per_byte(data: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_deflates_random_is_stored() {
        let text = "INSERT INTO res_partner VALUES (1, 'Société Générale');\n".repeat(2000);
        assert!(worth_deflating(text.as_bytes()));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let random: Vec<u8> = (0..SAMPLE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(!worth_deflating(&random));
        assert!(worth_deflating(&random[..100]));
    }
}

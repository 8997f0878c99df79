//! Block-parallel deflate, pigz style: an entry's data is cut into [`BLOCK`]-sized blocks,
//! each compressed on a worker thread as raw deflate primed with the previous block's last
//! 32 KiB (so the ratio is that of one long stream) and ended with a sync flush (byte
//! aligned, not final); the entry's last block ends the stream. The concatenation of the
//! blocks, in order, is one valid deflate stream. The output depends only on the data, the
//! level and [`BLOCK`], never on the number of threads or their timing.
//!
//! Stored blocks go through the workers too, for their CRC-32.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Uncompressed bytes per block.
pub const BLOCK: usize = 1024 * 1024;

/// Deflate's window: the dictionary handed to the next block.
pub const WINDOW: usize = 32 * 1024;

/// One block of work.
pub struct Job {
    /// The uncompressed bytes.
    pub data: Vec<u8>,
    /// `None`: store; `Some(level)`: deflate.
    pub level: Option<u32>,
    /// The previous block's last [`WINDOW`] bytes of the same entry, if any.
    pub dictionary: Option<Vec<u8>>,
    /// The entry's last block: end the deflate stream.
    pub last: bool,
}

/// A finished block.
pub struct Done {
    /// The bytes to write to the archive.
    pub bytes: Vec<u8>,
    /// CRC-32 (and length) of the uncompressed data.
    pub crc: Crc,
}

/// Where a block's result will arrive.
pub type Pending = Receiver<Result<Done, String>>;

/// Where a worker sends a block's result.
type Reply = SyncSender<Result<Done, String>>;

/// The queue the workers take jobs from.
type Queue = Arc<Mutex<Receiver<(Job, Reply)>>>;

/// A pool of compression threads.
pub struct Pool {
    jobs: Option<SyncSender<(Job, Reply)>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` workers (at least one).
    pub fn new(threads: usize) -> Pool {
        let (tx, rx) = mpsc::sync_channel(threads);
        let queue: Queue = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("deflate-{i}"))
                    .spawn(move || work(&queue))
            })
            .filter_map(|spawned| match spawned {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!("cannot start a compression thread: {e}");
                    None
                }
            })
            .collect();
        Pool {
            jobs: Some(tx),
            threads,
        }
    }

    /// Queues `job` (blocks while all workers are busy and the queue is full); its
    /// result arrives on the returned receiver. Without any worker thread the job runs
    /// here.
    pub fn submit(&self, job: Job) -> Pending {
        let (tx, rx) = mpsc::sync_channel(1);
        match &self.jobs {
            Some(jobs) if !self.threads.is_empty() => {
                if let Err(mpsc::SendError((job, tx))) = jobs.send((job, tx)) {
                    let _ = tx.send(run(job, &mut None));
                }
            }
            _ => {
                let _ = tx.send(run(job, &mut None));
            }
        }
        rx
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn work(queue: &Queue) {
    let mut compressor = None;
    loop {
        let next = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((job, reply)) = next else { return };
        // The submitter may have given up (error elsewhere): nobody to tell.
        let _ = reply.send(run(job, &mut compressor));
    }
}

/// Does one job; `compressor` is the worker's reusable deflate state.
pub fn run(job: Job, compressor: &mut Option<(u32, Compress)>) -> Result<Done, String> {
    let mut crc = Crc::new();
    crc.update(&job.data);
    let Some(level) = job.level else {
        return Ok(Done {
            bytes: job.data,
            crc,
        });
    };
    let c = match compressor {
        Some((l, c)) if *l == level => {
            c.reset();
            c
        }
        _ => {
            &mut compressor
                .insert((level, Compress::new(Compression::new(level), false)))
                .1
        }
    };
    if let Some(dictionary) = &job.dictionary {
        c.set_dictionary(dictionary)
            .map_err(|e| format!("deflate dictionary: {e}"))?;
    }
    let bytes = deflate(c, &job.data, job.last)?;
    Ok(Done { bytes, crc })
}

fn deflate(c: &mut Compress, data: &[u8], last: bool) -> Result<Vec<u8>, String> {
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Incompressible input grows by ~5 bytes per 16 KiB stored block.
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 1024);
    let start = c.total_in();
    loop {
        let consumed = (c.total_in() - start) as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(|e| format!("deflate: {e}"))?;
        let consumed = (c.total_in() - start) as usize;
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and zlib left room unused.
            Status::Ok | Status::BufError
                if !last && consumed == data.len() && out.len() < out.capacity() =>
            {
                return Ok(out)
            }
            Status::Ok | Status::BufError => out.reserve(64 * 1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn text(len: usize) -> Vec<u8> {
        let words = [
            "facture",
            "client",
            "SELECT",
            "écriture",
            "compte",
            "0.00",
            "\n",
        ];
        let mut x: u64 = 7;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.extend_from_slice(words[(x >> 33) as usize % words.len()].as_bytes());
            out.push(b' ');
        }
        out.truncate(len);
        out
    }

    fn compress_blocks(pool: &Pool, data: &[u8], level: u32) -> (Vec<u8>, u32) {
        let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
        let mut pending = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let dictionary =
                (i > 0).then(|| blocks[i - 1][blocks[i - 1].len() - WINDOW..].to_vec());
            pending.push(pool.submit(Job {
                data: block.to_vec(),
                level: Some(level),
                dictionary,
                last: i + 1 == blocks.len(),
            }));
        }
        let mut out = Vec::new();
        let mut crc = Crc::new();
        for p in pending {
            let done = p.recv().unwrap().unwrap();
            out.extend_from_slice(&done.bytes);
            crc.combine(&done.crc);
        }
        (out, crc.sum())
    }

    #[test]
    fn blocks_form_one_stream_deterministically_and_compress_like_one() {
        let data = text(3 * BLOCK + 12345);
        let (one, crc) = compress_blocks(&Pool::new(1), &data, 6);
        let (two, crc2) = compress_blocks(&Pool::new(3), &data, 6);
        assert_eq!(one, two, "output independent of the thread count");
        assert_eq!(crc, crc2);
        let mut whole = Crc::new();
        whole.update(&data);
        assert_eq!(crc, whole.sum());

        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&one[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "round trip");

        let mut serial = flate2::write::DeflateEncoder::new(Vec::new(), Compression::new(6));
        std::io::Write::write_all(&mut serial, &data).unwrap();
        let serial = serial.finish().unwrap();
        let ratio = one.len() as f64 / serial.len() as f64;
        assert!(
            ratio < 1.005,
            "parallel {} vs serial {}",
            one.len(),
            serial.len()
        );
    }

    #[test]
    fn stored_and_empty_blocks() {
        let pool = Pool::new(2);
        let done = pool
            .submit(Job {
                data: b"abc".to_vec(),
                level: None,
                dictionary: None,
                last: true,
            })
            .recv()
            .unwrap()
            .unwrap();
        assert_eq!(done.bytes, b"abc");
        assert_eq!(done.crc.amount(), 3);
        let empty = pool
            .submit(Job {
                data: Vec::new(),
                level: Some(6),
                dictionary: None,
                last: true,
            })
            .recv()
            .unwrap()
            .unwrap();
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&empty.bytes[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
    }
}

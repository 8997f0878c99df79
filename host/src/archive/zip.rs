//! The streaming ZIP writer: `dump.sql` from a reader (pg_dump's stdout), then the
//! filestore files, then `manifest.json`. Data is cut into blocks compressed on all cores
//! ([`super::parallel`]) and written in order; at most `2 × threads + 2` blocks are held,
//! so memory does not depend on the archive size. Into a plain file, each local header is
//! written with zero sizes and rewritten in place when its entry is complete (no data
//! descriptors). Into a one-pass stream (the age encryptor, [`ZipArchiveWriter::new_stream`])
//! nothing can be rewritten: each entry is followed by a data descriptor (flag bit 3) with
//! its CRC and sizes, which the central directory repeats (Python's zipfile, hence Odoo,
//! reads the central directory).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ::zip::DateTime;
use flate2::Crc;

use super::compress::{worth_deflating, SAMPLE};
use super::parallel::{Job, Pending, Pool, BLOCK, WINDOW};
use super::records::{end_records, Member, DEFLATED, STORED};
use super::{ArchiveError, Counting, WriteContext};
use crate::filestore::{self, Links, OpenFile};

/// Deflate level. Odoo uses zlib's default, 6. zlib-rs level 4 costs ~30 % less CPU than
/// its level 6, for an archive ~0.7 % larger; on the bench workload the archive stays within
/// 1 % of Odoo's own (goal: 2 %). Measured in bench/README.md.
const LEVEL: u32 = 4;

/// Files larger than this get ZIP64 local headers up front.
const LARGE: u64 = 2 << 30;

/// Compression threads, at most: four keep up with pg_dump (~400 MB/s at [`LEVEL`]),
/// leave the rest of a big server to Odoo and PostgreSQL, and bound memory (each block in
/// flight holds up to 2 MiB).
const MAX_THREADS: usize = 4;

/// Blocks queued or being compressed, at most: enough to keep every worker busy while
/// the writer waits on the oldest.
fn in_flight(threads: usize) -> usize {
    2 * threads + 2
}

/// What is left to write, in archive order.
enum Step {
    /// Write the local header of a new entry.
    Begin(Member),
    /// Write a block of the current entry.
    Data(Pending),
    /// Complete the current entry: rewrite its local header with sizes and CRC.
    End,
}

/// The entry whose data is being written.
struct Open {
    member: Member,
    crc: Crc,
}

/// Where the archive's bytes go.
enum Target {
    /// A file: local headers are rewritten in place.
    File(File),
    /// A one-pass stream (encrypting): data descriptors.
    Stream(crate::crypt::EncryptingFile),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Target::File(f) => f.write(buf),
            Target::Stream(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Target::File(f) => f.flush(),
            Target::Stream(s) => s.flush(),
        }
    }
}

impl Seek for Target {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match self {
            Target::File(f) => f.seek(to),
            Target::Stream(_) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a streamed archive cannot seek",
            )),
        }
    }
}

/// A ZIP archive being written to a file.
pub struct ZipArchiveWriter {
    out: Counting<BufWriter<Target>>,
    pos: u64,
    written: Arc<AtomicU64>,
    dos_time: u16,
    dos_date: u16,
    pool: Pool,
    /// Deflate level of every deflated entry.
    level: u32,
    max_in_flight: usize,
    steps: VecDeque<Step>,
    blocks_queued: usize,
    open: Option<Open>,
    /// Central directory records of the completed entries (~100 bytes each), and how many.
    central: Vec<u8>,
    entries: u64,
    /// Start of the range not yet handed to writeback.
    writeback_from: u64,
}

impl ZipArchiveWriter {
    /// Starts an archive in `file`; entries get the modification time `time`.
    pub fn new(file: File, time: DateTime) -> Self {
        Self::with_target(Target::File(file), time)
    }

    /// Starts an archive written in one pass into the encrypting `stream` (data
    /// descriptors, nothing rewritten).
    pub fn new_stream(stream: crate::crypt::EncryptingFile, time: DateTime) -> Self {
        Self::with_target(Target::Stream(stream), time)
    }

    fn streaming(&self) -> bool {
        matches!(self.out.get_ref().get_ref(), Target::Stream(_))
    }

    fn with_target(target: Target, time: DateTime) -> Self {
        let out = Counting::new(BufWriter::with_capacity(super::CHUNK, target));
        let written = out.counter();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS);
        ZipArchiveWriter {
            out,
            pos: 0,
            written,
            dos_time: time.timepart(),
            dos_date: time.datepart(),
            pool: Pool::new(threads),
            level: LEVEL,
            max_in_flight: in_flight(threads),
            steps: VecDeque::new(),
            blocks_queued: 0,
            open: None,
            central: Vec::new(),
            entries: 0,
            writeback_from: 0,
        }
    }

    /// Adds `name`, deflated, from `reader` of unknown length (ZIP64 sizes). Returns the
    /// bytes read.
    pub fn add_stream(
        &mut self,
        name: &str,
        reader: &mut dyn Read,
        ctx: &WriteContext<'_>,
    ) -> Result<u64, ArchiveError> {
        let first = read_block(reader, name, BLOCK as u64)?;
        self.steps
            .push_back(Step::Begin(self.member(name, DEFLATED, true)));
        let total = self.feed(reader, name, Some(self.level), first, ctx)?;
        self.steps.push_back(Step::End);
        Ok(total)
    }

    /// Adds each file of the filestore at `root` as `filestore/<relative>`, stored or
    /// deflated from a sample of its start, in the order [`filestore::read`] opens them:
    /// as the filestore's owner, relative to directory handles, links as `links` says.
    /// Returns the number of files added.
    pub fn add_filestore(
        &mut self,
        root: &Path,
        links: Links,
        ctx: &WriteContext<'_>,
    ) -> Result<usize, ArchiveError> {
        filestore::read(root, links, |file| {
            if ctx.cancel.is_cancelled() {
                return Err(ArchiveError::Cancelled);
            }
            self.add_file(file, ctx)
        })
    }

    /// Adds one opened filestore file.
    fn add_file(&mut self, open: OpenFile, ctx: &WriteContext<'_>) -> Result<(), ArchiveError> {
        let OpenFile {
            relative,
            mut file,
            size,
            path,
        } = open;
        let what = path.display().to_string();
        let first = read_block(&mut file, &what, size)?;
        let deflate = worth_deflating(&first[..first.len().min(SAMPLE)]);
        let (method, level) = if deflate {
            (DEFLATED, Some(self.level))
        } else {
            (STORED, None)
        };
        let name = format!("filestore/{relative}");
        self.steps
            .push_back(Step::Begin(self.member(&name, method, size > LARGE)));
        self.feed(&mut file, &what, level, first, ctx)?;
        self.steps.push_back(Step::End);
        Ok(())
    }

    /// Adds a small in-memory entry (the manifest), deflated.
    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.steps
            .push_back(Step::Begin(self.member(name, DEFLATED, false)));
        let pending = self.pool.submit(Job {
            data: data.to_vec(),
            level: Some(self.level),
            dictionary: None,
            last: true,
        });
        self.steps.push_back(Step::Data(pending));
        self.steps.push_back(Step::End);
        self.blocks_queued += 1;
        Ok(())
    }

    /// Writes what is still queued, the central directory and the end records, flushes,
    /// and returns the file (not yet fsynced).
    pub fn finish(mut self) -> Result<File, ArchiveError> {
        self.drain(0, None)?;
        let cd_offset = self.pos;
        let central = std::mem::take(&mut self.central);
        self.write(&central)?;
        let end = end_records(self.entries, cd_offset, central.len() as u64, self.pos);
        self.write(&end)?;
        let target = self
            .out
            .into_inner()
            .into_inner()
            .map_err(|e| ArchiveError::Write(e.into_error()))?;
        match target {
            Target::File(file) => Ok(file),
            Target::Stream(stream) => stream.finish().map_err(ArchiveError::Write),
        }
    }

    fn member(&self, name: &str, method: u16, zip64: bool) -> Member {
        Member {
            descriptor: self.streaming(),
            name: name.to_string(),
            method,
            dos_time: self.dos_time,
            dos_date: self.dos_date,
            crc: 0,
            compressed: 0,
            uncompressed: 0,
            offset: 0,
            zip64,
        }
    }

    /// Queues the blocks of one entry: `first` (already read), then the rest of `reader`.
    /// Returns the bytes read.
    fn feed(
        &mut self,
        reader: &mut dyn Read,
        what: &str,
        level: Option<u32>,
        first: Vec<u8>,
        ctx: &WriteContext<'_>,
    ) -> Result<u64, ArchiveError> {
        let mut total = 0u64;
        let mut current = first;
        let mut dictionary: Option<Vec<u8>> = None;
        loop {
            if ctx.cancel.is_cancelled() {
                return Err(ArchiveError::Cancelled);
            }
            // A short block can only be the last: read_block fills blocks up to EOF.
            let next = if current.len() == BLOCK {
                read_block(reader, what, BLOCK as u64)?
            } else {
                Vec::new()
            };
            let last = next.is_empty();
            total += current.len() as u64;
            let next_dictionary = match level {
                Some(_) if !last => Some(current[current.len() - WINDOW..].to_vec()),
                _ => None,
            };
            let pending = self.pool.submit(Job {
                data: current,
                level,
                dictionary: dictionary.take(),
                last,
            });
            self.steps.push_back(Step::Data(pending));
            self.blocks_queued += 1;
            self.drain(self.max_in_flight, ctx.progress)?;
            if last {
                return Ok(total);
            }
            current = next;
            dictionary = next_dictionary;
        }
    }

    /// Writes queued steps in order until at most `keep` blocks are still queued.
    fn drain(
        &mut self,
        keep: usize,
        progress: Option<&super::ProgressFn>,
    ) -> Result<(), ArchiveError> {
        while let Some(step) = self.steps.front() {
            if matches!(step, Step::Data(_)) && self.blocks_queued <= keep {
                break;
            }
            let Some(step) = self.steps.pop_front() else {
                break;
            };
            match step {
                Step::Begin(mut member) => {
                    member.offset = self.pos;
                    self.write(&member.local_header())?;
                    self.open = Some(Open {
                        member,
                        crc: Crc::new(),
                    });
                }
                Step::Data(pending) => {
                    self.blocks_queued -= 1;
                    let done = pending
                        .recv()
                        .map_err(|_| ArchiveError::Zip("a compression thread died".into()))?
                        .map_err(ArchiveError::Zip)?;
                    self.write(&done.bytes)?;
                    let open = self.open.as_mut().ok_or_else(no_entry)?;
                    open.member.compressed += done.bytes.len() as u64;
                    // Per block, Crc's u32 length is exact; the entry's total is kept here.
                    open.member.uncompressed += u64::from(done.crc.amount());
                    open.crc.combine(&done.crc);
                    if let Some(p) = progress {
                        p(self.written.load(Ordering::Relaxed));
                    }
                }
                Step::End => {
                    let Open { mut member, crc } = self.open.take().ok_or_else(no_entry)?;
                    member.crc = crc.sum();
                    if !member.fits() {
                        return Err(ArchiveError::Zip(format!(
                            "{} grew past 4 GiB while being archived",
                            member.name
                        )));
                    }
                    if member.descriptor {
                        self.write(&member.data_descriptor())?;
                    } else {
                        self.out
                            .seek(SeekFrom::Start(member.offset))
                            .and_then(|_| self.out.write_all(&member.local_header()))
                            .and_then(|_| self.out.seek(SeekFrom::Start(self.pos)))
                            .map_err(ArchiveError::Write)?;
                    }
                    self.central.extend_from_slice(&member.central_header());
                    self.entries += 1;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.out.write_all(bytes).map_err(ArchiveError::Write)?;
        self.pos += bytes.len() as u64;
        // Everything before the BufWriter's buffer is in the page cache already.
        let end = self.pos.saturating_sub(super::CHUNK as u64);
        if end >= self.writeback_from + WRITEBACK {
            // A stream's file offsets are not the archive's: the OS writes it back alone.
            if let Target::File(file) = self.out.get_ref().get_ref() {
                start_writeback(file, self.writeback_from, end);
            }
            self.writeback_from = end;
        }
        Ok(())
    }
}

/// Bytes written between two writeback requests.
const WRITEBACK: u64 = 16 << 20;

/// Asks the kernel to start writing `from..to` of `file` to disk now, without waiting:
/// the disk works while we compress, the final fsync has only the tail left, and the
/// archive does not fill the page cache with dirty pages. Advisory: errors are ignored
/// (the fsync before the rename reports real ones).
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, from: u64, to: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is open
    // for as long as `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _from: u64, _to: u64) {}

fn no_entry() -> ArchiveError {
    ArchiveError::Zip("block written outside an entry".into())
}

/// Reads up to [`BLOCK`] bytes: a short block means the end of `reader`. `expected` sizes
/// the buffer (a small file gets a small one; nothing is zeroed needlessly).
fn read_block(reader: &mut dyn Read, what: &str, expected: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut buf = Vec::with_capacity(expected.min(BLOCK as u64) as usize);
    reader
        .take(BLOCK as u64)
        .read_to_end(&mut buf)
        .map_err(|source| ArchiveError::Read {
            what: what.into(),
            source,
        })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::CancelFlag;

    fn prose(len: usize) -> Vec<u8> {
        let mut x: u64 = 1;
        let words = [
            "INSERT",
            "INTO",
            "account_move_line",
            "VALUES",
            "42.00",
            "Société",
        ];
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            out.extend_from_slice(words[(x >> 33) as usize % words.len()].as_bytes());
            out.push(b' ');
        }
        out.truncate(len);
        out
    }

    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn entries_read_back_with_their_methods_sizes_and_crcs() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("ab/text", prose(3 * BLOCK + 777)),
            ("cd/empty", Vec::new()),
            ("cd/noise", noise(BLOCK + 5)),
            ("ef/été.txt", prose(100)),
        ];
        for (relative, data) in &files {
            let path = dir.path().join("fs").join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
        }
        // A link to a file outside: not followed.
        std::fs::write(dir.path().join("outside"), b"not for the archive").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), dir.path().join("fs/link")).unwrap();
        let dump = prose(2 * BLOCK);
        let archive = dir.path().join("a.zip");
        let cancel = CancelFlag::new();
        let ctx = WriteContext {
            cancel: &cancel,
            progress: None,
        };
        let time = DateTime::from_date_and_time(2024, 5, 6, 7, 8, 10).unwrap();
        let mut zip = ZipArchiveWriter::new(File::create(&archive).unwrap(), time);
        assert_eq!(
            zip.add_stream("dump.sql", &mut &dump[..], &ctx).unwrap(),
            dump.len() as u64
        );
        assert_eq!(
            zip.add_filestore(&dir.path().join("fs"), Links::Skip, &ctx)
                .unwrap(),
            4
        );
        zip.add_bytes("manifest.json", b"{}").unwrap();
        zip.finish().unwrap();

        let mut read = ::zip::ZipArchive::new(File::open(&archive).unwrap()).unwrap();
        let names: Vec<String> = (0..read.len())
            .map(|i| read.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "dump.sql",
                "filestore/ab/text",
                "filestore/cd/empty",
                "filestore/cd/noise",
                "filestore/ef/été.txt",
                "manifest.json"
            ]
        );
        let mut expect = vec![("dump.sql", dump.clone())];
        for (relative, data) in &files {
            expect.push((relative, data.clone()));
        }
        expect.push(("manifest.json", b"{}".to_vec()));
        for (i, (_, data)) in expect.iter().enumerate() {
            let mut entry = read.by_index(i).unwrap();
            let name = entry.name().unwrap().into_owned();
            let mut back = Vec::new();
            // The reader checks the CRC-32 at the end.
            entry.read_to_end(&mut back).unwrap();
            assert!(back == *data, "{name} differs");
            assert_eq!(entry.size(), data.len() as u64);
            assert_eq!(entry.unix_mode(), Some(0o100644));
            assert_eq!(entry.last_modified(), Some(time));
            let expected = if name == "filestore/cd/noise" {
                ::zip::CompressionMethod::Stored
            } else {
                ::zip::CompressionMethod::Deflated
            };
            assert_eq!(entry.compression(), expected, "{name}");
        }
    }

    /// A stream entry past 4 GiB (ZIP64 sizes), read back by Python's zipfile (Odoo's
    /// restore path). ~10 s: 4 GiB of zeros through deflate, CRC and Python's inflate.
    #[test]
    fn stream_past_4_gib_reads_back_in_python() {
        struct Zeros(u64);
        impl Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(0);
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let size = (4 << 30) + 12345;
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("big.zip");
        let cancel = CancelFlag::new();
        let ctx = WriteContext {
            cancel: &cancel,
            progress: None,
        };
        let time = DateTime::from_date_and_time(2024, 1, 1, 0, 0, 0).unwrap();
        let mut zip = ZipArchiveWriter::new(File::create(&archive).unwrap(), time);
        assert_eq!(
            zip.add_stream("dump.sql", &mut Zeros(size), &ctx).unwrap(),
            size
        );
        zip.add_bytes("manifest.json", b"{}").unwrap();
        zip.finish().unwrap();
        let script = "import sys, zipfile, zlib\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      n, crc = 0, 0\n\
                      with z.open('dump.sql') as f:\n\
                      \x20   while b := f.read(1 << 24):\n\
                      \x20       n += len(b); crc = zlib.crc32(b, crc)\n\
                      i = z.getinfo('dump.sql')\n\
                      print(n, i.file_size, crc == i.CRC, z.read('manifest.json'))";
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(&archive)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("{size} {size} True b'{{}}'")
        );
    }

    /// Written through the age encryptor (one pass, data descriptors): once decrypted, the
    /// zip crate and Python's zipfile (Odoo's restore) read every entry back, and the file
    /// on disk never held the ZIP signature.
    #[test]
    fn a_streamed_encrypted_archive_decrypts_to_a_zip_python_reads() {
        use age::secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let identity = age::x25519::Identity::generate();
        let key = dir.path().join("key.txt");
        std::fs::write(&key, identity.to_string().expose_secret()).unwrap();
        let config = crate::config::EncryptConfig {
            recipients: vec![identity.to_public().to_string()],
            recipients_file: None,
        };
        let recipients = crate::crypt::Recipients::from_config(&config).unwrap();
        let files = [("ab/text", prose(BLOCK + 99)), ("cd/noise", noise(5000))];
        for (relative, data) in &files {
            let path = dir.path().join("fs").join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
        }
        let dump = prose(2 * BLOCK + 5);
        let archive = dir.path().join("a.zip.age");
        let cancel = CancelFlag::new();
        let ctx = WriteContext {
            cancel: &cancel,
            progress: None,
        };
        let time = DateTime::from_date_and_time(2024, 5, 6, 7, 8, 10).unwrap();
        let stream =
            crate::crypt::EncryptingFile::new(File::create(&archive).unwrap(), &recipients)
                .unwrap();
        let mut zip = ZipArchiveWriter::new_stream(stream, time);
        zip.add_stream("dump.sql", &mut &dump[..], &ctx).unwrap();
        zip.add_filestore(&dir.path().join("fs"), Links::Skip, &ctx)
            .unwrap();
        zip.add_bytes("manifest.json", b"{}").unwrap();
        zip.finish().unwrap();

        let on_disk = std::fs::read(&archive).unwrap();
        assert!(on_disk.starts_with(crate::crypt::AGE_MAGIC));
        assert!(!on_disk.windows(4).any(|w| w == b"PK\x03\x04"));
        let ids = crate::crypt::load_identities(&key).unwrap();
        let plain =
            crate::crypt::decrypt_to_temp(&archive, &ids, &dir.path().join("state"), &cancel)
                .unwrap();
        assert!(plain.path().starts_with(dir.path().join("state/decrypt")));
        let mut read = ::zip::ZipArchive::new(File::open(plain.path()).unwrap()).unwrap();
        let mut expect = vec![("dump.sql".to_string(), dump.clone())];
        for (relative, data) in &files {
            expect.push((format!("filestore/{relative}"), data.clone()));
        }
        expect.push(("manifest.json".into(), b"{}".to_vec()));
        for (name, data) in &expect {
            let mut entry = read.by_name(name).unwrap();
            let mut back = Vec::new();
            entry.read_to_end(&mut back).unwrap();
            assert!(back == *data, "{name} differs");
        }
        let script = "import sys, zipfile, zlib\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      assert z.testzip() is None\n\
                      print(len(z.read('dump.sql')), sorted(z.namelist()))";
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(plain.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!(
                "{} ['dump.sql', 'filestore/ab/text', 'filestore/cd/noise', 'manifest.json']",
                dump.len()
            )
        );
        let temp = plain.dir().to_path_buf();
        drop(plain);
        assert!(!temp.exists(), "the decrypted copy is removed on drop");
    }

    #[test]
    fn cancelled_before_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancelFlag::new();
        cancel.cancel();
        let ctx = WriteContext {
            cancel: &cancel,
            progress: None,
        };
        let time = DateTime::from_date_and_time(2024, 1, 1, 0, 0, 0).unwrap();
        let mut zip = ZipArchiveWriter::new(File::create(dir.path().join("a.zip")).unwrap(), time);
        std::fs::create_dir(dir.path().join("fs")).unwrap();
        std::fs::write(dir.path().join("fs/f"), b"x").unwrap();
        assert!(matches!(
            zip.add_filestore(&dir.path().join("fs"), Links::Skip, &ctx),
            Err(ArchiveError::Cancelled)
        ));
    }
}

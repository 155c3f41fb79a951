//! The archive sink: the one place where archive bytes are written, canonically.
//!
//! It sits with the data formats (beside [`crate::wheel`]), below slim and emit: slim writes its
//! cached per-wheel fragments through it, emit writes every artifact through it.
//!
//! [`ArchiveSink`] is the seam every emitter writes through (function zip now; layer zips and
//! image tar layers use the same shape). The sink alone decides header bytes, so callers cannot
//! leak host metadata: one timestamp for every entry ([`Epoch`], from `SOURCE_DATE_EPOCH` or
//! 1980-01-01), mode 0644 for files, 0755 for directories and executables, Unix "made by", no
//! extra fields, no comments, UTF-8 names. It also insists on strictly increasing paths, so an
//! emitter that forgets to sort (or adds a path twice) fails loudly instead of producing
//! different bytes on another machine.
//!
//! [`ZipSink`] is a small streaming zip writer. We do not use the `zip` crate's writer here: it
//! cannot raw-copy an entry under a new name with a new time and mode without also copying the
//! source's extra fields and "made by" system, which would carry the wheel builder's metadata
//! into the artifact. Reading wheels still uses the `zip` crate. Entries are written with sizes
//! known up front (no data descriptors); ZIP64 records are added only when offsets or the entry
//! count need them. The sha256 of the output is computed while writing.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::wheel::{ArchivePath, Method};

/// The single timestamp of every entry, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Epoch(pub u64);

/// 1980-01-01T00:00:00Z, the earliest time a zip can hold.
pub const ZIP_EPOCH: u64 = 315_532_800;

impl Epoch {
    /// `SOURCE_DATE_EPOCH` when set and valid, else 1980-01-01. Times before 1980 are clamped.
    pub fn from_env() -> Epoch {
        let v = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(ZIP_EPOCH);
        Epoch(v.max(ZIP_EPOCH))
    }

    /// MS-DOS (time, date) fields, UTC, 2-second resolution, clamped to 1980..=2107.
    pub fn dos(self) -> (u16, u16) {
        let secs = self.0.max(ZIP_EPOCH);
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(1980, 2107);
        let time = ((rem / 3600) << 11) | (((rem % 3600) / 60) << 5) | ((rem % 60) / 2);
        let date = (((y - 1980) as u64) << 9) | ((m as u64) << 5) | d as u64;
        (time as u16, date as u16)
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing the archive: {0}")]
    Io(#[from] io::Error),
    #[error("internal error: archive paths out of order (`{prev}` then `{next}`)")]
    Order { prev: String, next: String },
    #[error("`{0}` is 4 GiB or larger, which a Lambda zip cannot hold")]
    TooLarge(String),
}

/// File content ready for an archive: compressed (or stored) bytes plus their checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub method: Method,
    pub crc32: u32,
    pub size: u64,
    pub data: Vec<u8>,
}

impl Prepared {
    /// Compress `data` with deflate; keep it stored when deflate does not help.
    pub fn compress(data: &[u8]) -> io::Result<Prepared> {
        let crc32 = crc32fast::hash(data);
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(data.len() / 2),
            flate2::Compression::new(6),
        );
        enc.write_all(data)?;
        let compressed = enc.finish()?;
        Ok(if compressed.len() < data.len() {
            Prepared {
                method: Method::Deflated,
                crc32,
                size: data.len() as u64,
                data: compressed,
            }
        } else {
            Prepared {
                method: Method::Stored,
                crc32,
                size: data.len() as u64,
                data: data.to_vec(),
            }
        })
    }
}

/// Already-encoded content streamed from elsewhere (a wheel entry's raw bytes).
pub struct RawContent<'a> {
    pub method: Method,
    pub crc32: u32,
    pub size: u64,
    pub compressed_size: u64,
    pub reader: &'a mut dyn Read,
}

/// What an archive looked like once finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSummary {
    pub sha256: String,
    pub bytes: u64,
    pub entries: usize,
}

/// Where archive entries go. Paths must arrive in strictly increasing order, parents first.
pub trait ArchiveSink {
    fn add_dir(&mut self, path: &ArchivePath) -> Result<(), SinkError>;
    /// Add a file from raw encoded bytes; returns the bytes the entry's data occupies.
    fn add_raw(
        &mut self,
        path: &ArchivePath,
        executable: bool,
        content: RawContent<'_>,
    ) -> Result<u64, SinkError>;
    /// Add a file from prepared bytes; returns the bytes the entry's data occupies.
    fn add_prepared(
        &mut self,
        path: &ArchivePath,
        executable: bool,
        prepared: &Prepared,
    ) -> Result<u64, SinkError> {
        let mut reader: &[u8] = &prepared.data;
        self.add_raw(
            path,
            executable,
            RawContent {
                method: prepared.method,
                crc32: prepared.crc32,
                size: prepared.size,
                compressed_size: prepared.data.len() as u64,
                reader: &mut reader,
            },
        )
    }
}

pub(crate) struct HashingWriter<W: Write> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
    pub(crate) written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes handed to the hashing thread at a time.
const HASH_CHUNK: usize = 1 << 20;

/// How a [`BackgroundHashingWriter`] hashes: on its own thread, or inline when no thread could
/// be started.
enum HashMode {
    Thread {
        to_hasher: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
        /// Chunks the hasher is done with, to be filled again.
        spare: std::sync::mpsc::Receiver<Vec<u8>>,
        hasher: Option<std::thread::JoinHandle<Sha256>>,
        pending: Vec<u8>,
    },
    Inline(Sha256),
}

/// A writer that computes the sha256 of what passes through on another thread, so hashing a
/// large archive overlaps reading and writing it (a warm build is mostly that). The bytes are
/// written at once; the hasher receives them in order, in chunks of [`HASH_CHUNK`].
pub(crate) struct BackgroundHashingWriter<W: Write> {
    inner: W,
    written: u64,
    mode: HashMode,
}

impl<W: Write> BackgroundHashingWriter<W> {
    fn new(inner: W) -> BackgroundHashingWriter<W> {
        use std::sync::mpsc::sync_channel;
        let (to_hasher, chunks) = sync_channel::<Vec<u8>>(4);
        let (give_back, spare) = sync_channel::<Vec<u8>>(8);
        let hasher = std::thread::Builder::new()
            .name("lpack-sha256".to_string())
            .spawn(move || {
                let mut h = Sha256::new();
                for mut chunk in chunks {
                    h.update(&chunk);
                    chunk.clear();
                    let _ = give_back.try_send(chunk);
                }
                h
            });
        let mode = match hasher {
            Ok(hasher) => HashMode::Thread {
                to_hasher: Some(to_hasher),
                spare,
                hasher: Some(hasher),
                pending: Vec::with_capacity(HASH_CHUNK),
            },
            Err(_) => HashMode::Inline(Sha256::new()),
        };
        BackgroundHashingWriter {
            inner,
            written: 0,
            mode,
        }
    }

    fn hash(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.mode {
            HashMode::Inline(h) => h.update(data),
            HashMode::Thread {
                to_hasher,
                spare,
                pending,
                ..
            } => {
                pending.extend_from_slice(data);
                if pending.len() >= HASH_CHUNK {
                    let next = spare
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
                    let full = std::mem::replace(pending, next);
                    let sent = to_hasher.as_ref().map(|t| t.send(full));
                    if !matches!(sent, Some(Ok(()))) {
                        return Err(io::Error::other("the sha256 thread stopped"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The sha256 of everything written.
    fn digest(&mut self) -> io::Result<Vec<u8>> {
        match &mut self.mode {
            HashMode::Inline(h) => Ok(h.finalize_reset().to_vec()),
            HashMode::Thread {
                to_hasher,
                hasher,
                pending,
                ..
            } => {
                let last = std::mem::take(pending);
                let tx = to_hasher
                    .take()
                    .ok_or_else(|| io::Error::other("sha256 already taken"))?;
                if !last.is_empty() {
                    tx.send(last)
                        .map_err(|_| io::Error::other("the sha256 thread stopped"))?;
                }
                drop(tx);
                let h = hasher
                    .take()
                    .ok_or_else(|| io::Error::other("sha256 already taken"))?
                    .join()
                    .map_err(|_| io::Error::other("the sha256 thread panicked"))?;
                Ok(h.finalize().to_vec())
            }
        }
    }
}

impl<W: Write> Write for BackgroundHashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash(&buf[..n])?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CentralEntry {
    name: Vec<u8>,
    method: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    external: u32,
}

/// A streaming, canonical zip writer.
pub struct ZipSink<W: Write> {
    out: BackgroundHashingWriter<W>,
    time: u16,
    date: u16,
    central: Vec<CentralEntry>,
    last: Option<String>,
    /// The buffer raw copies go through (allocated on first use).
    copy_buf: Vec<u8>,
}

/// Bytes a raw copy reads at a time.
const COPY_BUF: usize = 256 * 1024;

const FILE_MODE: u32 = 0o100644;
const EXEC_MODE: u32 = 0o100755;
const DIR_MODE: u32 = 0o040755;
const MADE_BY_UNIX: u16 = (3 << 8) | 20;

impl<W: Write> ZipSink<W> {
    pub fn new(inner: W, epoch: Epoch) -> ZipSink<W> {
        let (time, date) = epoch.dos();
        ZipSink {
            out: BackgroundHashingWriter::new(inner),
            time,
            date,
            central: Vec::new(),
            last: None,
            copy_buf: Vec::new(),
        }
    }

    fn check_order(&mut self, path: &ArchivePath) -> Result<(), SinkError> {
        if let Some(prev) = &self.last
            && prev.as_str() >= path.as_str()
        {
            return Err(SinkError::Order {
                prev: prev.clone(),
                next: path.to_string(),
            });
        }
        self.last = Some(path.to_string());
        Ok(())
    }

    fn flags(name: &[u8]) -> u16 {
        if name.is_ascii() { 0 } else { 1 << 11 }
    }

    fn local_header(
        &mut self,
        name: &[u8],
        method: u16,
        crc32: u32,
        csize: u64,
        size: u64,
    ) -> io::Result<()> {
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&Self::flags(name).to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&self.time.to_le_bytes());
        h.extend_from_slice(&self.date.to_le_bytes());
        h.extend_from_slice(&crc32.to_le_bytes());
        h.extend_from_slice(&(csize as u32).to_le_bytes());
        h.extend_from_slice(&(size as u32).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name);
        self.out.write_all(&h)
    }

    /// Write the central directory and end records; returns the digest and size.
    pub fn finish(mut self) -> Result<(SinkSummary, W), SinkError> {
        let cd_start = self.out.written;
        let entries = std::mem::take(&mut self.central);
        for e in &entries {
            let need64 = e.offset >= 0xFFFF_FFFF;
            let mut extra = Vec::new();
            if need64 {
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&8u16.to_le_bytes());
                extra.extend_from_slice(&e.offset.to_le_bytes());
            }
            let mut h = Vec::with_capacity(46 + e.name.len() + extra.len());
            h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            h.extend_from_slice(&MADE_BY_UNIX.to_le_bytes());
            h.extend_from_slice(&(if need64 { 45u16 } else { 20u16 }).to_le_bytes());
            h.extend_from_slice(&Self::flags(&e.name).to_le_bytes());
            h.extend_from_slice(&e.method.to_le_bytes());
            h.extend_from_slice(&self.time.to_le_bytes());
            h.extend_from_slice(&self.date.to_le_bytes());
            h.extend_from_slice(&e.crc32.to_le_bytes());
            h.extend_from_slice(&(e.compressed as u32).to_le_bytes());
            h.extend_from_slice(&(e.size as u32).to_le_bytes());
            h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // comment length
            h.extend_from_slice(&0u16.to_le_bytes()); // disk number
            h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            h.extend_from_slice(&e.external.to_le_bytes());
            let off32 = if need64 { 0xFFFF_FFFF } else { e.offset as u32 };
            h.extend_from_slice(&off32.to_le_bytes());
            h.extend_from_slice(&e.name);
            h.extend_from_slice(&extra);
            self.out.write_all(&h)?;
        }
        let cd_end = self.out.written;
        let cd_size = cd_end - cd_start;
        let count = entries.len() as u64;
        let need64 = count >= 0xFFFF || cd_start >= 0xFFFF_FFFF || cd_size >= 0xFFFF_FFFF;
        if need64 {
            let mut z = Vec::with_capacity(56 + 20);
            z.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            z.extend_from_slice(&44u64.to_le_bytes());
            z.extend_from_slice(&MADE_BY_UNIX.to_le_bytes());
            z.extend_from_slice(&45u16.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&count.to_le_bytes());
            z.extend_from_slice(&count.to_le_bytes());
            z.extend_from_slice(&cd_size.to_le_bytes());
            z.extend_from_slice(&cd_start.to_le_bytes());
            // locator
            z.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&cd_end.to_le_bytes());
            z.extend_from_slice(&1u32.to_le_bytes());
            self.out.write_all(&z)?;
        }
        let mut e = Vec::with_capacity(22);
        e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        let c16 = if need64 { 0xFFFF } else { count as u16 };
        e.extend_from_slice(&c16.to_le_bytes());
        e.extend_from_slice(&c16.to_le_bytes());
        let s32 = if need64 { 0xFFFF_FFFF } else { cd_size as u32 };
        let o32 = if need64 { 0xFFFF_FFFF } else { cd_start as u32 };
        e.extend_from_slice(&s32.to_le_bytes());
        e.extend_from_slice(&o32.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&e)?;
        self.out.flush()?;
        let summary = SinkSummary {
            sha256: hex(&self.out.digest()?),
            bytes: self.out.written,
            entries: entries.len(),
        };
        Ok((summary, self.out.inner))
    }
}

impl<W: Write> ArchiveSink for ZipSink<W> {
    fn add_dir(&mut self, path: &ArchivePath) -> Result<(), SinkError> {
        self.check_order(path)?;
        let name = format!("{path}/").into_bytes();
        let offset = self.out.written;
        self.local_header(&name, 0, 0, 0, 0)?;
        self.central.push(CentralEntry {
            name,
            method: 0,
            crc32: 0,
            compressed: 0,
            size: 0,
            offset,
            // Unix mode in the high half, MS-DOS directory bit in the low half.
            external: (DIR_MODE << 16) | 0x10,
        });
        Ok(())
    }

    fn add_raw(
        &mut self,
        path: &ArchivePath,
        executable: bool,
        content: RawContent<'_>,
    ) -> Result<u64, SinkError> {
        self.check_order(path)?;
        if content.size >= 0xFFFF_FFFF || content.compressed_size >= 0xFFFF_FFFF {
            return Err(SinkError::TooLarge(path.to_string()));
        }
        let name = path.as_str().as_bytes().to_vec();
        let offset = self.out.written;
        let method = content.method.zip_code();
        self.local_header(
            &name,
            method,
            content.crc32,
            content.compressed_size,
            content.size,
        )?;
        // Large reads: a raw copy is mostly moving already-compressed bytes (8 KiB at a time,
        // as io::copy does, costs a system call per 8 KiB of a 95 MB artifact).
        let mut copied = 0u64;
        let mut reader = content.reader.take(content.compressed_size);
        if self.copy_buf.is_empty() {
            self.copy_buf = vec![0u8; COPY_BUF];
        }
        loop {
            let n = match reader.read(&mut self.copy_buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.out.write_all(&self.copy_buf[..n])?;
            copied += n as u64;
        }
        if copied != content.compressed_size {
            return Err(SinkError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "`{path}`: expected {} bytes of data, got {copied}",
                    content.compressed_size
                ),
            )));
        }
        let mode = if executable { EXEC_MODE } else { FILE_MODE };
        self.central.push(CentralEntry {
            name,
            method,
            crc32: content.crc32,
            compressed: content.compressed_size,
            size: content.size,
            offset,
            external: mode << 16,
        });
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ArchivePath {
        ArchivePath::new(s).expect("valid path")
    }

    #[test]
    fn dos_time_of_epochs() {
        assert_eq!(Epoch(ZIP_EPOCH).dos(), (0, (1 << 5) | 1));
        // 2024-02-29T12:34:56Z
        let (t, d) = Epoch(1_709_210_096).dos();
        assert_eq!(d >> 9, 44);
        assert_eq!((d >> 5) & 0xF, 2);
        assert_eq!(d & 0x1F, 29);
        assert_eq!(t >> 11, 12);
        assert_eq!((t >> 5) & 0x3F, 34);
        assert_eq!((t & 0x1F) * 2, 56);
        assert_eq!(Epoch(0).dos(), Epoch(ZIP_EPOCH).dos());
    }

    #[test]
    fn writes_a_zip_the_zip_crate_reads_back() {
        let mut sink = ZipSink::new(Vec::new(), Epoch(ZIP_EPOCH));
        sink.add_dir(&p("pkg")).expect("dir");
        let body = b"print('hello')\n".repeat(50);
        let prepared = Prepared::compress(&body).expect("compress");
        assert_eq!(prepared.method, Method::Deflated);
        sink.add_prepared(&p("pkg/__init__.py"), false, &prepared)
            .expect("file");
        let tiny = Prepared::compress(b"x").expect("compress");
        assert_eq!(tiny.method, Method::Stored);
        sink.add_prepared(&p("pkg/run.sh"), true, &tiny)
            .expect("file");
        let (summary, bytes) = sink.finish().expect("finish");
        assert_eq!(summary.entries, 3);
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(summary.sha256, crate::digest::sha256_hex(&bytes));

        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("read");
        let mut f = archive.by_name("pkg/__init__.py").expect("entry");
        let mut s = Vec::new();
        f.read_to_end(&mut s).expect("read entry");
        assert_eq!(s, body);
        assert_eq!(f.unix_mode(), Some(0o100644));
        drop(f);
        assert_eq!(
            archive.by_name("pkg/run.sh").expect("entry").unix_mode(),
            Some(0o100755)
        );
        assert!(archive.by_name("pkg/").expect("dir").is_dir());
    }

    /// The digest computed on the hashing thread is the sha256 of the bytes, across chunks.
    #[test]
    fn digest_of_large_archives() {
        let mut sink = ZipSink::new(Vec::new(), Epoch(ZIP_EPOCH));
        let mut x: u32 = 1;
        for i in 0..5 {
            let body: Vec<u8> = (0..700_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let p = Prepared::compress(&body).expect("compress");
            sink.add_prepared(
                &ArchivePath::new(&format!("f{i}")).expect("path"),
                false,
                &p,
            )
            .expect("file");
        }
        let (summary, bytes) = sink.finish().expect("finish");
        assert!(bytes.len() > 3 * HASH_CHUNK);
        assert_eq!(summary.sha256, crate::digest::sha256_hex(&bytes));
        assert_eq!(summary.bytes, bytes.len() as u64);
    }

    #[test]
    fn refuses_unsorted_paths() {
        let mut sink = ZipSink::new(Vec::new(), Epoch(ZIP_EPOCH));
        let pr = Prepared::compress(b"a").expect("compress");
        sink.add_prepared(&p("b"), false, &pr).expect("file");
        assert!(matches!(
            sink.add_prepared(&p("a"), false, &pr),
            Err(SinkError::Order { .. })
        ));
        assert!(matches!(
            sink.add_prepared(&p("b"), false, &pr),
            Err(SinkError::Order { .. })
        ));
    }
}

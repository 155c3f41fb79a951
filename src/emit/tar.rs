//! Canonical, gzip-compressed tar layers for OCI images.
//!
//! The same reproducibility rules as the zip sink: entries in strictly increasing path order
//! with every parent directory present, one mtime (the build's epoch), uid/gid 0 with empty
//! user and group names, modes 0644 / 0755 (directories and executables), GNU long-name records
//! for long paths. gzip with a fixed header (no name, mtime 0, OS "unknown"). While writing, the
//! sha256 of the uncompressed tar (the layer's `diff_id`) and of the gzip stream (its blob
//! digest) are computed, so nothing is re-read.

use std::io::{self, Write};

use flate2::{Compression, GzBuilder};
use sha2::Digest;

use crate::digest::hex;
use crate::sink::{Epoch, HashingWriter, SinkError};

/// What a finished layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarSummary {
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// `sha256:<hex>` of the gzip blob.
    pub digest: String,
    /// Bytes of the gzip blob.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
}

type Inner<W> = HashingWriter<flate2::write::GzEncoder<HashingWriter<W>>>;

pub struct TarSink<W: Write> {
    builder: tar::Builder<Inner<W>>,
    mtime: u64,
    last: Option<String>,
}

impl<W: Write> TarSink<W> {
    pub fn new(inner: W, epoch: Epoch, level: u32) -> TarSink<W> {
        let gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(HashingWriter::new(inner), Compression::new(level));
        let mut builder = tar::Builder::new(HashingWriter::new(gz));
        builder.mode(tar::HeaderMode::Deterministic);
        TarSink {
            builder,
            mtime: epoch.0,
            last: None,
        }
    }

    fn check_order(&mut self, path: &str) -> Result<(), SinkError> {
        if let Some(prev) = &self.last
            && prev.as_str() >= path
        {
            return Err(SinkError::Order {
                prev: prev.clone(),
                next: path.to_string(),
            });
        }
        self.last = Some(path.to_string());
        Ok(())
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> io::Result<tar::Header> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h.set_username("")?;
        h.set_groupname("")?;
        Ok(h)
    }

    /// A directory entry (`path` without trailing slash).
    pub fn add_dir(&mut self, path: &str) -> Result<(), SinkError> {
        self.check_order(path)?;
        let mut h = self.header(tar::EntryType::Directory, 0o755, 0)?;
        self.builder
            .append_data(&mut h, format!("{path}/"), io::empty())?;
        Ok(())
    }

    /// A regular file.
    pub fn add_file(&mut self, path: &str, executable: bool, data: &[u8]) -> Result<(), SinkError> {
        self.check_order(path)?;
        let mode = if executable { 0o755 } else { 0o644 };
        let mut h = self.header(tar::EntryType::Regular, mode, data.len() as u64)?;
        self.builder.append_data(&mut h, path, data)?;
        Ok(())
    }

    pub fn finish(self) -> Result<(TarSummary, W), SinkError> {
        let tar_hashing = self.builder.into_inner()?;
        let tar_size = tar_hashing.written;
        let diff_id = format!("sha256:{}", hex(&tar_hashing.hasher.finalize()));
        let gz_hashing = tar_hashing.inner.finish()?;
        let size = gz_hashing.written;
        let digest = format!("sha256:{}", hex(&gz_hashing.hasher.finalize()));
        Ok((
            TarSummary {
                diff_id,
                digest,
                size,
                tar_size,
            },
            gz_hashing.inner,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn layer() -> (TarSummary, Vec<u8>) {
        let mut t = TarSink::new(Vec::new(), Epoch(crate::sink::ZIP_EPOCH), 6);
        t.add_dir("var").expect("dir");
        t.add_dir("var/task").expect("dir");
        t.add_file("var/task/app.py", false, b"x = 1\n")
            .expect("file");
        let long = format!("var/task/{}.py", "n".repeat(120));
        t.add_file(&long, true, b"y = 2\n").expect("long file");
        t.finish().expect("finish")
    }

    #[test]
    fn canonical_and_reproducible() {
        let (a, bytes) = layer();
        let (b, again) = layer();
        assert_eq!(a, b);
        assert_eq!(bytes, again);
        assert_eq!(
            a.digest,
            format!("sha256:{}", crate::digest::sha256_hex(&bytes))
        );
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut tar_bytes)
            .expect("gunzip");
        assert_eq!(
            a.diff_id,
            format!("sha256:{}", crate::digest::sha256_hex(&tar_bytes))
        );
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let entries: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    e.path().expect("path").to_string_lossy().into_owned(),
                    h.mode().expect("mode"),
                    h.uid().expect("uid"),
                    h.mtime().expect("mtime"),
                )
            })
            .collect();
        assert_eq!(entries[0].0, "var/");
        assert_eq!(
            entries[2],
            ("var/task/app.py".to_string(), 0o644, 0, 315_532_800)
        );
        assert_eq!(entries[3].1, 0o755);
        assert!(entries[3].0.len() > 100, "long names survive");
    }

    #[test]
    fn refuses_unsorted() {
        let mut t = TarSink::new(Vec::new(), Epoch(0), 6);
        t.add_file("b", false, b"").expect("file");
        assert!(t.add_file("a", false, b"").is_err());
    }
}

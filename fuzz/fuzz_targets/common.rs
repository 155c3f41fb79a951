//! Shared by the fuzz targets: a per-process scratch directory for parsers that read files.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// Write `data` to `name` in this process's scratch directory and return the path.
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("scratch dir"));
    let p = dir.path().join(name);
    std::fs::write(&p, data).expect("write scratch file");
    p
}

pub fn target() -> lpack::target::Target {
    lpack::target::Target::new(
        lpack::target::Runtime::Python312,
        lpack::target::Arch::X86_64,
    )
}

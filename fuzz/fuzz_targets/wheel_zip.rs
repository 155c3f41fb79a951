//! Wheel/zip reading: central directory, entries (bounded by their declared sizes) and the full
//! integrity check.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let name = "pkg-1.0-py3-none-any.whl";
    let path = common::file(name, data);
    if let Ok(entries) = lpack::wheel::list_entries(&path, name) {
        for e in entries.iter().take(64) {
            if let Ok(bytes) = lpack::wheel::read_entry_at(&path, name, e.index) {
                assert_eq!(bytes.len() as u64, e.size, "reads stop at the declared size");
            }
        }
    }
    let limit = lpack::wheel::integrity::SizeLimit {
        bytes: 1 << 24,
        what: "fuzz".into(),
    };
    let _ = lpack::wheel::integrity::inspect(&path, name, &limit);
});

//! requirements.txt (pip's format, as lpack reads it).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = common::file("requirements.txt", data);
    let _ = lpack::requirements::read_requirements(&path, &common::target());
});

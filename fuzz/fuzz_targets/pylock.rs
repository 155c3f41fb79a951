//! pylock.toml (PEP 751).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = common::file("pylock.toml", data);
    let _ = lpack::resolve::pylock::read(&path, &common::target());
});

//! Recipe TOML (built-in and user recipes).
#![no_main]
use lpack::slim::recipe::{Tier, parse_file};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let _ = parse_file("fuzz.toml", src, Tier::UserFile);
});

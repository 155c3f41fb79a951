//! METADATA, WHEEL and RECORD text.
#![no_main]
use lpack::wheel::integrity::{parse_headers, parse_record, wheel_version_major};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for (k, v) in parse_headers(&text) {
        if k.eq_ignore_ascii_case("Wheel-Version") {
            let _ = wheel_version_major(&v);
        }
    }
    let _ = parse_record(&text);
    let _ = lpack::resolve::solver::Provider::parse_metadata(&text);
});

//! Index pages: PEP 503 HTML and PEP 691 JSON (first byte picks the parser).
#![no_main]
use lpack::resolve::index::{parse_html, parse_json};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let base = "https://pypi.example/simple/pkg/";
    let _ = parse_html(&body, base, "fuzz");
    let _ = parse_json(&body, base, "fuzz");
});

//! uv.lock and pyproject.toml.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let t = common::target();
    let path = common::file("uv.lock", data);
    let _ = lpack::resolve::inputs::read_uv_lock(&path, &t, &["x".to_string()]);
    let path = common::file("pyproject.toml", data);
    let _ = lpack::resolve::inputs::read_pyproject(&path, &t, &[], &[]);
});

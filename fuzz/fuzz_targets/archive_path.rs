//! ArchivePath: every accepted path is relative, has no `.`/`..`/empty component, no NUL or `\`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = lpack::wheel::ArchivePath::new(s) {
        let p = p.as_str();
        assert!(!p.starts_with('/') && !p.contains('\0') && !p.contains('\\'));
        assert!(p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
        let _ = lpack::wheel::WheelFilename::parse(s);
    }
});

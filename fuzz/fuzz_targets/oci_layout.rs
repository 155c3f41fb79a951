//! OCI image layouts as a base image: index.json, manifest and config (the input holds the three
//! documents separated by `\n--\n`; the harness stores the manifest and config under the digests
//! the index and manifest name).
#![no_main]
#[path = "common.rs"]
mod common;

fn blob(dir: &std::path::Path, digest: Option<&str>, data: &[u8]) {
    let Some(hex) = digest.and_then(|d| d.strip_prefix("sha256:")) else {
        return;
    };
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let _ = std::fs::write(dir.join("blobs/sha256").join(hex), data);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, "\n--\n");
    let (index, manifest, config) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let root = common::file("marker", b"");
    let Some(parent) = root.parent() else { return };
    let dir = parent.join("layout");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(dir.join("blobs/sha256")).is_err() {
        return;
    }
    let _ = std::fs::write(dir.join("index.json"), index);
    let v: serde_json::Value = serde_json::from_str(index).unwrap_or_default();
    blob(&dir, v["manifests"][0]["digest"].as_str(), manifest.as_bytes());
    let m: serde_json::Value = serde_json::from_str(manifest).unwrap_or_default();
    blob(&dir, m["config"]["digest"].as_str(), config.as_bytes());
    for arch in [lpack::target::Arch::X86_64, lpack::target::Arch::Arm64] {
        let _ = lpack::emit::image::read_oci_layout(&dir, None, arch);
        let _ = lpack::emit::image::read_oci_layout(&dir, Some("latest"), arch);
    }
});

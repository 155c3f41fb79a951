//! Files lpack writes for the user, written so that nothing is ever half-written: a temp file
//! beside the destination, `flock`ed while in flight, renamed over it when complete; temp files
//! of killed builds are swept.

use std::fs;
use std::io::Write;
use std::path::Path;

use tempfile::NamedTempFile;

/// Prefix and suffix of in-flight output files beside an artifact.
pub const OUTPUT_TEMP_PREFIX: &str = ".lpack-";
pub const OUTPUT_TEMP_SUFFIX: &str = ".tmp";
/// A temp file younger than this is never swept: its writer may not have locked it yet.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// A temp file in `dir`, exclusively `flock`ed by this process until the file is closed.
pub fn locked_temp_in(dir: &Path, prefix: &str, suffix: &str) -> std::io::Result<NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .tempfile_in(dir)?;
    tmp.as_file().try_lock().map_err(std::io::Error::other)?;
    Ok(tmp)
}

/// An in-flight output file beside an artifact in `dir` (after sweeping what killed builds left).
/// A folder is swept once per process: litter is left by killed builds, not by this one, and a
/// run over many functions writes a hundred outputs into one `dist/`.
pub fn output_temp(dir: &Path) -> std::io::Result<NamedTempFile> {
    static SWEPT: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    let first = SWEPT.lock().map_or(true, |mut swept| {
        let first = !swept.iter().any(|d| d == dir);
        if first {
            swept.push(dir.to_path_buf());
        }
        first
    });
    if first {
        sweep_stale_temps(dir, OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX);
    }
    locked_temp_in(dir, OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX)
}

/// Delete temp files (or staging directories) in `dir`, named `prefix…suffix`, that no live
/// process holds locked: litter of builds that were killed. Best effort; returns how many were
/// removed.
pub fn sweep_stale_temps(dir: &Path, prefix: &str, suffix: &str) -> usize {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(prefix) || !name.ends_with(suffix) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if !old {
            continue;
        }
        // Directories (an image layout being staged) are locked the same way, on the directory.
        let Ok(f) = fs::File::open(entry.path()) else {
            continue;
        };
        if f.try_lock().is_err() {
            continue;
        }
        let gone = if meta.is_dir() {
            fs::remove_dir_all(entry.path())
        } else {
            fs::remove_file(entry.path())
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Write a user-facing output file atomically: its directory is created, the bytes go to a
/// temp file beside it, which is made 0644 and renamed over `dest`.
pub fn write_output(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    publish(dest, |tmp| tmp.write_all(data))
}

/// Copy the file `src` to `dest` as [`write_output`] writes bytes (temp file beside it, 0644,
/// renamed over it); the kernel copies (`copy_file_range`) where it can.
pub fn copy_output(dest: &Path, src: &Path) -> std::io::Result<()> {
    // Through the temp file's own handle: reopening it with O_TRUNC (as `fs::copy` does) makes
    // ext4 flush the whole file when it is closed (its replace-via-truncate heuristic). On Linux
    // `io::copy` between files is `copy_file_range`.
    publish(dest, |tmp| {
        std::io::copy(&mut fs::File::open(src)?, tmp).map(|_| ())
    })
}

/// Create `dest`'s directory, fill a temp file beside it, make it 0644, rename it over `dest`.
fn publish(
    dest: &Path,
    fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = output_temp(dir)?;
    fill(tmp.as_file_mut())?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_temp_files_nobody_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        // Held by a live writer (this process), even though old.
        let held = locked_temp_in(dir.path(), OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX).expect("tmp");
        held.as_file().set_modified(old).expect("mtime");
        // Left by a killed writer: nobody holds its lock.
        let orphan = dir.path().join(".lpack-orphan.tmp");
        let f = fs::File::create(&orphan).expect("create");
        f.set_modified(old).expect("mtime");
        drop(f);
        // Too young to judge, and not a temp file at all.
        let young = dir.path().join(".lpack-young.tmp");
        fs::write(&young, b"").expect("write");
        let other = dir.path().join("fn.zip");
        fs::File::create(&other)
            .and_then(|f| f.set_modified(old))
            .expect("other");
        // A staging directory of a killed build.
        let orphan_dir = dir.path().join(".lpack-stage.tmp");
        fs::create_dir_all(orphan_dir.join("blobs")).expect("mkdir");
        fs::File::open(&orphan_dir)
            .and_then(|f| f.set_modified(old))
            .expect("dir mtime");
        assert_eq!(
            sweep_stale_temps(dir.path(), OUTPUT_TEMP_PREFIX, OUTPUT_TEMP_SUFFIX),
            2
        );
        assert!(!orphan.exists() && !orphan_dir.exists());
        assert!(held.path().exists() && young.exists() && other.exists());
    }
}

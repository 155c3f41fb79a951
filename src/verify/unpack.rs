//! Laying an artifact out for an import check: where the scratch folder goes, unpacking zips
//! into it on every core, and making the tree read-only (and writable again to remove it).
//!
//! Unpacking is most of a cold check's time on a disk file system: a data-science function is
//! 4,000–5,000 files, and creating each costs a journal transaction. So the scratch folder goes
//! to a memory-backed file system (`/dev/shm`) when it is one and has room for the tree with
//! room to spare, unless `TMPDIR` names another place; otherwise the system's temporary folder.
//! The check reads the same bytes either way.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::VerifyError;
use crate::wheel::{ArchivePath, open_archive};

/// The prefix of scratch folders under `/dev/shm`, followed by the owning process's id.
const SHM_PREFIX: &str = "lpack-verify-";

/// A scratch folder for a tree of about `need` bytes: in `/dev/shm` when it is a tmpfs with
/// room for twice that and `TMPDIR` is not set, else in the system's temporary folder.
pub(crate) fn scratch(need: u64) -> Result<tempfile::TempDir, VerifyError> {
    let io = |e: std::io::Error| VerifyError::Io(format!("creating a scratch folder: {e}"));
    if std::env::var_os("TMPDIR").is_none() {
        let shm = Path::new("/dev/shm");
        if tmpfs_free(shm).is_some_and(|free| free / 2 > need.saturating_add(64 << 20)) {
            sweep_orphans(shm);
            let made = tempfile::Builder::new()
                .prefix(&format!("{SHM_PREFIX}{}-", std::process::id()))
                .tempdir_in(shm);
            if let Ok(dir) = made {
                return Ok(dir);
            }
        }
    }
    tempfile::tempdir().map_err(io)
}

/// Free bytes of `dir` when it is a tmpfs (memory-backed).
fn tmpfs_free(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized, writable struct.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    let (kind, avail, size) = (st.f_type as i64, st.f_bavail as u64, st.f_bsize as u64);
    (kind == TMPFS_MAGIC).then(|| avail.saturating_mul(size))
}

/// Remove scratch folders an earlier lpack left in `shm` when it was killed (its process is
/// gone): memory-backed folders are not cleared until the machine restarts. Only folders named
/// as [`scratch`] names them are touched.
fn sweep_orphans(shm: &Path) {
    let Ok(entries) = std::fs::read_dir(shm) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(SHM_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if is_dir && gone {
            set_dirs_writable(&e.path());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Bytes the files of the zip at `zip` take unpacked, as its central directory declares them
/// (0 when it cannot be read: the unpacking itself reports that).
pub(crate) fn unpacked_size(zip: &Path) -> u64 {
    let Ok(mut archive) = open_archive(zip, &zip.display().to_string()) else {
        return 0;
    };
    (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|f| f.size()))
        .sum()
}

/// Unpack the zip at `zip` into `dest`, the files on every core. Files are created read-only
/// (0444); a file already there (an earlier layer's) is replaced, as Lambda's later layers
/// replace earlier ones. When the zip names a path twice, its last entry wins.
pub(crate) fn extract_zip(zip: &Path, dest: &Path) -> Result<(), VerifyError> {
    let name = zip.display().to_string();
    let io = |e: String| VerifyError::Io(format!("unpacking {name}: {e}"));
    let mut archive = open_archive(zip, &name).map_err(|e| io(e.to_string()))?;
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut files: BTreeMap<PathBuf, (usize, u64)> = BTreeMap::new();
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).map_err(|e| io(e.to_string()))?;
        let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
        let path = ArchivePath::new(&raw).map_err(|why| io(format!("`{raw}` {why}")))?;
        let target = dest.join(path.as_str());
        if f.is_dir() {
            dirs.insert(target);
            continue;
        }
        if let Some(d) = target.parent() {
            dirs.insert(d.to_path_buf());
        }
        files.insert(target, (i, f.size()));
    }
    dirs.insert(dest.to_path_buf());
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| io(format!("{}: {e}", d.display())))?;
    }
    // Largest first, so the big libraries do not end up last on one core.
    let mut order: Vec<(&PathBuf, usize, u64)> =
        files.iter().map(|(p, &(i, n))| (p, i, n)).collect();
    order.sort_by_key(|&(_, i, n)| (std::cmp::Reverse(n), i));
    order.par_iter().try_for_each_init(
        || open_archive(zip, &name).map_err(|e| e.to_string()),
        |archive, &(target, i, size)| {
            let archive = archive.as_mut().map_err(|e| io(e.clone()))?;
            let mut f = archive.by_index(i).map_err(|e| io(e.to_string()))?;
            // The declared size comes from the zip (an external layer is anyone's): a hint only.
            let mut buf = Vec::with_capacity(size.min(64 << 20) as usize);
            f.read_to_end(&mut buf).map_err(|e| io(e.to_string()))?;
            write_read_only(target, &buf).map_err(|e| io(format!("{}: {e}", target.display())))
        },
    )
}

/// Create `target` read-only with `bytes`, replacing a file already there.
fn write_read_only(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(target)
    };
    let mut out = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(target)?;
            create()?
        }
        r => r?,
    };
    out.write_all(bytes)
}

/// Make every file under `dir` read-only (0444) and every folder 0555, or (`readonly` false)
/// 0644 and 0755.
pub(crate) fn set_readonly(dir: &Path, readonly: bool) {
    let mut entries: Vec<_> = walkdir::WalkDir::new(dir).into_iter().flatten().collect();
    if !readonly {
        entries.reverse();
    }
    for e in entries.iter().rev() {
        let mode = match (e.file_type().is_dir(), readonly) {
            (true, true) => 0o555,
            (true, false) => 0o755,
            (false, true) => 0o444,
            (false, false) => 0o644,
        };
        let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode));
    }
}

/// Make the folders under `dir` read-only (0555): for trees [`extract_zip`] unpacked, whose
/// files are read-only already.
pub(crate) fn set_dirs_readonly(dir: &Path) {
    set_dir_modes(dir, 0o555);
}

/// Make the folders under `dir` writable again (0755), enough to remove the tree.
pub(crate) fn set_dirs_writable(dir: &Path) {
    set_dir_modes(dir, 0o755);
}

/// Set every folder under `dir` (and `dir`) to `mode`; files keep theirs.
fn set_dir_modes(dir: &Path, mode: u32) {
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_dir() {
            let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(path: &Path, files: &[(&str, &[u8])]) {
        let f = std::fs::File::create(path).expect("create");
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default();
        for (name, bytes) in files {
            z.start_file(*name, opts).expect("start");
            z.write_all(bytes).expect("write");
        }
        z.finish().expect("finish");
    }

    #[test]
    fn unpacks_read_only_and_later_layers_replace_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
        zip_of(
            &a,
            &[("p/x.py", b"one"), ("p/q/y.py", b"y"), ("top.py", b"t")],
        );
        zip_of(&b, &[("p/x.py", b"two")]);
        let dest = dir.path().join("out");
        extract_zip(&a, &dest).expect("a");
        extract_zip(&b, &dest).expect("b");
        assert_eq!(std::fs::read(dest.join("p/x.py")).expect("x"), b"two");
        assert_eq!(std::fs::read(dest.join("p/q/y.py")).expect("y"), b"y");
        let mode = std::fs::metadata(dest.join("top.py"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444);
        assert_eq!(unpacked_size(&a), 5);
        set_dirs_readonly(&dest);
        let dmode = std::fs::metadata(dest.join("p/q"))
            .expect("meta")
            .permissions();
        assert_eq!(dmode.mode() & 0o777, 0o555);
        set_dirs_writable(&dest);
        std::fs::remove_dir_all(&dest).expect("removable");
    }

    #[test]
    fn a_path_outside_the_tree_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let z = dir.path().join("bad.zip");
        zip_of(&z, &[("../escape.py", b"x")]);
        let err = extract_zip(&z, &dir.path().join("out")).expect_err("refused");
        assert!(err.to_string().contains("../escape.py"), "{err}");
        assert!(!dir.path().join("escape.py").exists());
    }

    #[test]
    fn orphans_of_gone_processes_are_swept_and_nothing_else() {
        let shm = tempfile::tempdir().expect("tempdir");
        // A pid far above any live one on a test machine (pid_max is at most 2^22).
        let orphan = shm.path().join(format!("{SHM_PREFIX}{}-abc", 1 << 23));
        let live = shm
            .path()
            .join(format!("{SHM_PREFIX}{}-abc", std::process::id()));
        let other = shm.path().join("someone-elses");
        for d in [&orphan, &live, &other] {
            std::fs::create_dir_all(d.join("sub")).expect("mkdir");
        }
        std::fs::write(other.join("notes.txt"), b"mine").expect("write");
        // A user's file that happens to carry the prefix (not a folder lpack made).
        let file = shm.path().join(format!("{SHM_PREFIX}{}-x", 1 << 23));
        std::fs::write(&file, b"mine").expect("write");
        set_dirs_readonly(&orphan);
        sweep_orphans(shm.path());
        assert!(!orphan.exists());
        assert!(live.exists() && other.join("notes.txt").exists() && file.exists());
    }
}

//! CPU and memory shaping in a delegated cgroup v2 subtree (`--cgroup DIR` / `LPACK_CGROUP`).
//!
//! Lambda gives an environment about two unthrottled vCPUs during init and memory/1,769 vCPU
//! during invokes, and kills it at its memory size. Where the user hands lpack a writable,
//! delegated cgroup v2 directory (e.g. from `systemd-run --user --scope -p Delegate=yes`, with no
//! processes of its own), each environment gets a child group there: `memory.max` = memory
//! size (swap off), `cpu.max` = 2 CPUs until the first `GET /next`, then memory/1,769 CPUs; peak
//! memory comes from `memory.peak` and an OOM kill from `memory.events`. lpack never writes to a
//! cgroup outside that directory, and refuses a directory outside `/sys/fs/cgroup`.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// A delegated subtree lpack may create groups in.
#[derive(Debug, Clone)]
pub struct Subtree {
    root: PathBuf,
}

/// CPU period (µs) used in `cpu.max`.
const PERIOD: u64 = 100_000;

/// `cpu.max` quota for invokes at `memory_mb`: memory / 1,769 MB per vCPU (at least 1 %).
pub fn invoke_quota(memory_mb: u32) -> u64 {
    ((f64::from(memory_mb) / 1769.0 * PERIOD as f64).round() as u64).max(PERIOD / 100)
}

impl Subtree {
    /// Check `dir`: under /sys/fs/cgroup, cgroup v2 with the cpu and memory controllers, and
    /// able to delegate them to children.
    pub fn open(dir: &Path) -> Result<Subtree, String> {
        let root = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if !root.starts_with("/sys/fs/cgroup") {
            return Err(format!(
                "{} is not under /sys/fs/cgroup; lpack writes only to a delegated cgroup v2 directory",
                root.display()
            ));
        }
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers"))
            .map_err(|e| format!("{} is not a cgroup v2 directory: {e}", root.display()))?;
        for c in ["cpu", "memory"] {
            if !controllers.split_whitespace().any(|x| x == c) {
                return Err(format!(
                    "{} does not offer the {c} controller (it offers: {})",
                    root.display(),
                    controllers.trim()
                ));
            }
        }
        std::fs::write(root.join("cgroup.subtree_control"), "+cpu +memory").map_err(|e| {
            format!(
                "cannot enable cpu and memory for children of {} ({e}); it must be delegated to you and hold no processes itself",
                root.display()
            )
        })?;
        Ok(Subtree { root })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A fresh group for one environment, limited for init.
    pub fn group(&self, name: &str, memory_mb: u32) -> Result<Group, String> {
        let dir = self.root.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let g = Group { dir };
        g.write("memory.max", &(u64::from(memory_mb) << 20).to_string())?;
        let _ = g.write("memory.swap.max", "0");
        g.write("cpu.max", &format!("{} {PERIOD}", 2 * PERIOD))?;
        Ok(g)
    }
}

/// One environment's cgroup; removed on drop (after its processes are gone).
#[derive(Debug)]
pub struct Group {
    dir: PathBuf,
}

impl Group {
    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        std::fs::write(self.dir.join(file), value)
            .map_err(|e| format!("writing {value} to {}: {e}", self.dir.join(file).display()))
    }

    /// Path of `cgroup.procs`, for the child to move itself in before exec.
    pub fn procs(&self) -> Option<CString> {
        use std::os::unix::ffi::OsStrExt;
        CString::new(self.dir.join("cgroup.procs").as_os_str().as_bytes()).ok()
    }

    /// Init is over: CPU in proportion to memory.
    pub fn invoke_phase(&self, memory_mb: u32) -> Result<(), String> {
        self.write("cpu.max", &format!("{} {PERIOD}", invoke_quota(memory_mb)))
    }

    /// `memory.peak` in MiB (rounded up), where the kernel has it (5.19+).
    pub fn peak_mb(&self) -> Option<u64> {
        let b: u64 = std::fs::read_to_string(self.dir.join("memory.peak"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(b.div_ceil(1 << 20))
    }

    /// Whether the kernel killed something in this group for memory.
    pub fn oom_killed(&self) -> bool {
        std::fs::read_to_string(self.dir.join("memory.events"))
            .ok()
            .is_some_and(|s| {
                s.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// In the child before exec: move the calling process into the group (`procs` from
/// [`Group::procs`]). Only async-signal-safe calls.
pub fn join(procs: &CString) -> std::io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path prepared before fork.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
        libc::close(fd);
        if !ok {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_follows_memory() {
        assert_eq!(invoke_quota(1769), 100_000);
        assert_eq!(invoke_quota(128), 7_236);
        assert_eq!(invoke_quota(10240), 578_858);
    }

    #[test]
    fn refuses_directories_outside_sys_fs_cgroup() {
        let e = Subtree::open(Path::new("/tmp")).expect_err("not a cgroup");
        assert!(e.contains("not under /sys/fs/cgroup"), "{e}");
    }
}

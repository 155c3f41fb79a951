//! The runtime process: started in its own process group, made to die with lpack, kept away
//! from writing the code (a read-only bind mount in a private mount namespace when running as
//! root, where file modes do not stop writes), moved into its cgroup when one is given, its
//! peak memory sampled from `/proc` (its `VmHWM`, and the summed RSS of processes it started),
//! and killed (whole group) and reaped with `wait4` — which also gives `ru_maxrss` — on drop.

use std::ffi::CString;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::error::BenchError;

/// How code directories are kept read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadOnly {
    /// File modes (0444/0555): enough for a non-root user.
    Permissions,
    /// Modes plus a read-only bind mount in a private mount namespace (running as root).
    MountNamespace,
    /// Running as root without mount namespaces: modes only, which root ignores.
    RootPermissionsOnly,
    /// On AWS Lambda itself (`/var/task` and `/opt` are read-only there).
    Lambda,
}

/// A `kB` field of `/proc/PID/status`.
fn status_kb(pid: i32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Peak resident set of a live process in kB (`VmHWM`).
fn vm_hwm_kb(pid: i32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

/// Every live descendant of `pid` (from each thread's `children` list; at most 256).
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(list) = std::fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            for c in list
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                if out.len() < 256 && !out.contains(&c) {
                    out.push(c);
                    queue.push(c);
                }
            }
        }
    }
    out
}

/// A started runtime process; killed (whole process group) and reaped on drop.
pub(super) struct Proc {
    pub(super) pid: i32,
    pub(super) exit: Option<String>,
    pub(super) peak_kb: u64,
}

impl Proc {
    pub(super) fn poll_memory(&mut self) {
        if self.exit.is_some() {
            return;
        }
        if let Some(kb) = vm_hwm_kb(self.pid) {
            self.peak_kb = self.peak_kb.max(kb);
        }
        // Processes the runtime started count too (sampled: their RSS summed with ours).
        let kids = descendants(self.pid);
        if !kids.is_empty() {
            let tree: u64 = std::iter::once(self.pid)
                .chain(kids)
                .filter_map(|p| status_kb(p, "VmRSS:"))
                .sum();
            self.peak_kb = self.peak_kb.max(tree);
        }
    }

    /// Reap if it exited (non-blocking); the exit description once it has.
    pub(super) fn try_exit(&mut self, block: bool) -> Option<String> {
        if self.exit.is_some() {
            return self.exit.clone();
        }
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 writes it and status for our own child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if block { 0 } else { libc::WNOHANG };
        let r = unsafe { libc::wait4(self.pid, &mut status, flags, &mut ru) };
        if r == self.pid {
            self.peak_kb = self.peak_kb.max(ru.ru_maxrss.max(0) as u64);
            let text = if libc::WIFEXITED(status) {
                format!("exit status {}", libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                let sig = libc::WTERMSIG(status);
                if sig == libc::SIGKILL {
                    "signal: killed".to_string()
                } else {
                    format!("signal: {sig}")
                }
            } else {
                "exited".to_string()
            };
            self.exit = Some(text);
        } else if r < 0 {
            self.exit = Some("lost".to_string());
        }
        self.exit.clone()
    }

    pub(super) fn kill(&mut self) {
        if self.exit.is_none() {
            // SAFETY: signalling our own child's process group (pgid = pid).
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
            }
            self.try_exit(true);
        }
    }

    pub(super) fn peak_mb(&self) -> u64 {
        self.peak_kb.div_ceil(1024)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        // Any stray member of the group that outlived the leader.
        // SAFETY: as above.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
        }
    }
}

pub(super) fn cstr(p: &Path) -> Result<CString, BenchError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| BenchError::Layout(format!("{} contains a NUL byte", p.display())))
}

/// In the child, before exec: die with lpack; with `ro`, make those directories read-only in
/// a private mount namespace.
pub(super) fn child_setup(ro: &[CString], cgroup: Option<&CString>) -> std::io::Result<()> {
    if let Some(procs) = cgroup {
        super::cgroup::join(procs)?;
    }
    // SAFETY: only async-signal-safe calls (prctl, unshare, mount) between fork and exec.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if ro.is_empty() {
            return Ok(());
        }
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let none = c"none".as_ptr();
        if libc::mount(
            none,
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        for d in ro {
            if libc::mount(
                d.as_ptr(),
                d.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) != 0
                || libc::mount(
                    none,
                    d.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    std::ptr::null(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Decide how code stays read-only on this machine: as root, try a mount namespace once.
pub fn probe_readonly(python: &Path, scratch: &Path) -> ReadOnly {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return ReadOnly::Permissions;
    }
    let dir = scratch.join("ro-probe");
    if std::fs::create_dir_all(&dir).is_err() {
        return ReadOnly::RootPermissionsOnly;
    }
    let Ok(c) = cstr(&dir) else {
        return ReadOnly::RootPermissionsOnly;
    };
    let probe = dir.join("x");
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-S", "-c", "import sys; open(sys.argv[1], 'w')"])
        .arg(&probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let ro = vec![c];
    // SAFETY: child_setup only makes async-signal-safe calls.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || child_setup(&ro, None));
    }
    let ok = cmd.status().is_ok_and(|s| !s.success()) && !probe.exists();
    let _ = std::fs::remove_dir_all(&dir);
    if ok {
        ReadOnly::MountNamespace
    } else {
        ReadOnly::RootPermissionsOnly
    }
}

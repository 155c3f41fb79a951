//! Lambda targets: which Python, which glibc, which CPU, and therefore which wheel tags.
//!
//! A [`Target`] is a Lambda runtime (`python3.9` … `python3.14`) plus an architecture (`x86_64` or
//! `arm64`). Everything lpack decides about compatibility flows from here: the CPython tag
//! (`cp312`), the glibc the runtime ships (2.26 on Amazon Linux 2 for python3.9–3.11, 2.34 on
//! Amazon Linux 2023 for python3.12+), and the *ordered* list of wheel tags the runtime accepts,
//! most preferred first. The order is the one `packaging.tags.sys_tags()` yields on a real
//! runtime (checked by an integration test against Python's `packaging`), with one deliberate
//! difference: the host-specific `linux_<arch>` platform is left out, because such wheels are
//! built for one machine's libraries and are not portable to Lambda.
//!
//! Nothing here looks at the host: the host's Python, glibc and CPU never leak into a target.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

// Lambda's limits, defined here once (the platform facts lpack checks against).
/// A function and all its layers, unzipped ("Unzipped size must be smaller than 262144000 bytes").
pub const UNZIPPED_LIMIT: u64 = 262_144_000;
/// A zip sent in the request (CreateFunction, PublishLayerVersion); larger ones go through S3.
pub const DIRECT_UPLOAD_LIMIT: u64 = 52_428_800;
/// A container image, uncompressed.
pub const IMAGE_LIMIT: u64 = 10_737_418_240;
/// Layers a function may use.
pub const MAX_LAYERS: usize = 5;

/// A Lambda Python runtime identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Runtime {
    #[serde(rename = "python3.9")]
    Python39,
    #[serde(rename = "python3.10")]
    Python310,
    #[serde(rename = "python3.11")]
    Python311,
    #[serde(rename = "python3.12")]
    Python312,
    #[serde(rename = "python3.13")]
    Python313,
    #[serde(rename = "python3.14")]
    Python314,
}

/// The operating system image under a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Os {
    #[serde(rename = "al2")]
    AmazonLinux2,
    #[serde(rename = "al2023")]
    AmazonLinux2023,
}

impl Runtime {
    pub const ALL: [Runtime; 6] = [
        Runtime::Python39,
        Runtime::Python310,
        Runtime::Python311,
        Runtime::Python312,
        Runtime::Python313,
        Runtime::Python314,
    ];

    /// Python minor version (the `Y` in `3.Y`).
    pub fn minor(self) -> u32 {
        match self {
            Runtime::Python39 => 9,
            Runtime::Python310 => 10,
            Runtime::Python311 => 11,
            Runtime::Python312 => 12,
            Runtime::Python313 => 13,
            Runtime::Python314 => 14,
        }
    }

    pub fn name(self) -> String {
        format!("python3.{}", self.minor())
    }

    pub fn os(self) -> Os {
        if self.minor() <= 11 {
            Os::AmazonLinux2
        } else {
            Os::AmazonLinux2023
        }
    }

    /// The glibc (major, minor) of the runtime's OS image.
    pub fn glibc(self) -> (u32, u32) {
        match self.os() {
            Os::AmazonLinux2 => (2, 26),
            Os::AmazonLinux2023 => (2, 34),
        }
    }

    /// A representative full Python version, used only for `python_full_version` markers.
    /// AWS patches runtimes continuously; these are the patch levels current in late 2026.
    pub fn full_version(self) -> &'static str {
        match self {
            Runtime::Python39 => "3.9.23",
            Runtime::Python310 => "3.10.18",
            Runtime::Python311 => "3.11.13",
            Runtime::Python312 => "3.12.11",
            Runtime::Python313 => "3.13.5",
            Runtime::Python314 => "3.14.0",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "python3.{}", self.minor())
    }
}

impl FromStr for Runtime {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let minor = t
            .strip_prefix("python3.")
            .or_else(|| t.strip_prefix("3."))
            .and_then(|m| m.parse::<u32>().ok());
        if let Some((_, date)) = DEPRECATED_RUNTIMES.iter().find(|(m, _)| Some(*m) == minor) {
            return Err(TargetError::DeprecatedRuntime {
                name: s.trim().to_string(),
                date,
            });
        }
        Runtime::ALL
            .into_iter()
            .find(|r| Some(r.minor()) == minor)
            .ok_or_else(|| TargetError::UnknownRuntime(s.to_string()))
    }
}

/// Python runtimes AWS has deprecated (minor version, date of deprecation), as AWS's Lambda
/// runtime deprecation table publishes them: functions can no longer be created with them.
pub const DEPRECATED_RUNTIMES: &[(u32, &str)] =
    &[(6, "2022-07-18"), (7, "2023-12-04"), (8, "2024-10-14")];

/// A Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The name Lambda uses (`x86_64`, `arm64`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The name wheel platform tags and `platform_machine` use (`x86_64`, `aarch64`).
    pub fn machine(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lambda_name())
    }
}

impl FromStr for Arch {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x86_64" | "amd64" | "x86-64" => Ok(Arch::X86_64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            _ => Err(TargetError::UnknownArch(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "unknown Lambda runtime `{0}`\n  hint: use one of python3.9, python3.10, python3.11, python3.12, python3.13, python3.14"
    )]
    UnknownRuntime(String),
    #[error(
        "Lambda runtime `{name}` was deprecated by AWS on {date}: new functions cannot use it\n  hint: use a supported one, python3.9 … python3.14 (python3.12+ run on Amazon Linux 2023)"
    )]
    DeprecatedRuntime { name: String, date: &'static str },
    #[error("unknown architecture `{0}`\n  hint: Lambda offers x86_64 and arm64")]
    UnknownArch(String),
}

/// A wheel tag triple: `interpreter-abi-platform`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

impl Tag {
    pub fn new(python: &str, abi: &str, platform: &str) -> Tag {
        Tag {
            python: python.to_string(),
            abi: abi.to_string(),
            platform: platform.to_string(),
        }
    }
}

/// A runtime and an architecture: what an artifact is built for.
///
/// Cheap to clone: the tag table is shared (every build request carries a target).
#[derive(Clone)]
pub struct Target {
    pub runtime: Runtime,
    pub arch: Arch,
    tags: std::sync::Arc<[Tag]>,
    priority: std::sync::Arc<HashMap<Tag, usize>>,
}

/// The runtime and architecture; the tag table follows from them.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("runtime", &self.runtime)
            .field("arch", &self.arch)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.runtime == other.runtime && self.arch == other.arch
    }
}

impl Target {
    pub fn new(runtime: Runtime, arch: Arch) -> Target {
        // The tables of the targets made so far, shared (a run over many functions makes one
        // target per function).
        static MADE: std::sync::Mutex<Vec<Target>> = std::sync::Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = made.iter().find(|t| t.runtime == runtime && t.arch == arch) {
            return t.clone();
        }
        let tags = compatible_tags(runtime, arch);
        let priority = tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        let target = Target {
            runtime,
            arch,
            tags: tags.into(),
            priority: std::sync::Arc::new(priority),
        };
        made.push(target.clone());
        target
    }

    /// `cp312`.
    pub fn python_tag(&self) -> String {
        format!("cp3{}", self.runtime.minor())
    }

    /// `3.12`.
    pub fn python_version(&self) -> String {
        format!("3.{}", self.runtime.minor())
    }

    pub fn glibc(&self) -> (u32, u32) {
        self.runtime.glibc()
    }

    /// The compatible tags, most preferred first.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// Rank of a tag (0 = best); `None` when the runtime cannot use it.
    pub fn tag_priority(&self, tag: &Tag) -> Option<usize> {
        self.priority.get(tag).copied()
    }

    /// The `__pycache__` suffix of bytecode this runtime loads: `cpython-312`.
    pub fn bytecode_tag(&self) -> String {
        format!("cpython-3{}", self.runtime.minor())
    }

    /// The extension-module suffix this runtime's CPython imports first:
    /// `.cpython-312-x86_64-linux-gnu.so` (beside it, `.abi3.so` and a bare `.so`).
    pub fn extension_suffix(&self) -> String {
        format!(
            ".cpython-3{}-{}-linux-gnu.so",
            self.runtime.minor(),
            self.arch.machine()
        )
    }

    /// Whether this runtime's CPython can import a file named `path` (a path or a bare name) as
    /// an extension module: `false` only for files tagged for another interpreter, version or
    /// platform (`x.cpython-311-x86_64-linux-gnu.so` on python3.12, `x.cpython-312-darwin.so`,
    /// `x.pypy310-pp73-x86_64-linux-gnu.so`). Untagged `.so` files (libraries, bare `x.so`
    /// modules), `.abi3.so` and anything else: `true`.
    pub fn imports_extension(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        let Some(stem) = name.strip_suffix(".so") else {
            return true;
        };
        let Some((module, tag)) = stem.rsplit_once('.') else {
            return true;
        };
        if module.is_empty() || !(tag.starts_with("cpython-") || tag.starts_with("pypy")) {
            return true;
        }
        name.ends_with(&self.extension_suffix())
    }

    /// Site-packages path inside a layer: `python/lib/python3.12/site-packages`.
    pub fn layer_site_packages(&self) -> String {
        format!("python/lib/python3.{}/site-packages", self.runtime.minor())
    }

    /// Human summary of what the target accepts, for error messages.
    pub fn describe_accepted(&self) -> String {
        let (gmaj, gmin) = self.glibc();
        let m = self.runtime.minor();
        format!(
            "cp3{m}-cp3{m}, cp3{m}..cp32-abi3, py3{m}/py3..py30-none; platforms manylinux_{gmaj}_{gmin}..manylinux_2_{low} {machine} (plus manylinux2014/2010/1 aliases) and any",
            low = if self.arch == Arch::X86_64 { 5 } else { 17 },
            machine = self.arch.machine()
        )
    }

    /// A short name such as `python3.12-x86_64`, used in file names and messages.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.runtime, self.arch)
    }

    /// PEP 508 marker environment values for this target.
    pub fn marker_values(&self) -> MarkerValues {
        MarkerValues {
            implementation_name: "cpython",
            implementation_version: self.runtime.full_version(),
            os_name: "posix",
            platform_machine: self.arch.machine(),
            platform_python_implementation: "CPython",
            platform_system: "Linux",
            python_full_version: self.runtime.full_version(),
            python_version: format!("3.{}", self.runtime.minor()),
            sys_platform: "linux",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = self.glibc();
        write!(f, "{} on {} (glibc {a}.{b})", self.runtime, self.arch)
    }
}

/// Marker environment values (PEP 508) of a target.
#[derive(Debug, Clone)]
pub struct MarkerValues {
    pub implementation_name: &'static str,
    pub implementation_version: &'static str,
    pub os_name: &'static str,
    pub platform_machine: &'static str,
    pub platform_python_implementation: &'static str,
    pub platform_system: &'static str,
    pub python_full_version: &'static str,
    pub python_version: String,
    pub sys_platform: &'static str,
}

/// Legacy manylinux names for glibc versions (PEP 513, 571, 599).
fn legacy_manylinux(minor: u32) -> Option<&'static str> {
    match minor {
        17 => Some("manylinux2014"),
        12 => Some("manylinux2010"),
        5 => Some("manylinux1"),
        _ => None,
    }
}

/// Platform tags, best first: `manylinux_2_Y_<arch>` from the runtime's glibc down to the oldest
/// glibc the architecture ever had, each followed by its legacy alias where one exists.
fn platforms(runtime: Runtime, arch: Arch) -> Vec<String> {
    let (_, gmin) = runtime.glibc();
    // packaging: x86_64/i686 go down to glibc 2.5, every other arch to 2.17.
    let oldest = if arch == Arch::X86_64 { 5 } else { 17 };
    let machine = arch.machine();
    let mut out = Vec::new();
    for minor in (oldest..=gmin).rev() {
        out.push(format!("manylinux_2_{minor}_{machine}"));
        if let Some(legacy) = legacy_manylinux(minor) {
            out.push(format!("{legacy}_{machine}"));
        }
    }
    out
}

/// The ordered compatible tags, mirroring `packaging.tags.cpython_tags` followed by
/// `packaging.tags.compatible_tags`.
fn compatible_tags(runtime: Runtime, arch: Arch) -> Vec<Tag> {
    let minor = runtime.minor();
    let interp = format!("cp3{minor}");
    let plats = platforms(runtime, arch);
    let mut tags = Vec::new();
    // cpython_tags
    for p in &plats {
        tags.push(Tag::new(&interp, &interp, p));
    }
    for p in &plats {
        tags.push(Tag::new(&interp, "abi3", p));
    }
    for p in &plats {
        tags.push(Tag::new(&interp, "none", p));
    }
    for m in (2..minor).rev() {
        let older = format!("cp3{m}");
        for p in &plats {
            tags.push(Tag::new(&older, "abi3", p));
        }
    }
    // compatible_tags
    let mut py_range = vec![format!("py3{minor}"), "py3".to_string()];
    py_range.extend((0..minor).rev().map(|m| format!("py3{m}")));
    for v in &py_range {
        for p in &plats {
            tags.push(Tag::new(v, "none", p));
        }
    }
    tags.push(Tag::new(&interp, "none", "any"));
    for v in &py_range {
        tags.push(Tag::new(v, "none", "any"));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_modules_the_target_imports() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        for yes in [
            "pkg/q.cpython-312-x86_64-linux-gnu.so",
            "pkg/q.abi3.so",
            "pkg/q.so",
            "pkg.libs/libgfortran-1a2b.so.5.0.0",
            "libfoo.so",
            "pkg/data.txt",
        ] {
            assert!(t.imports_extension(yes), "{yes}");
        }
        for no in [
            "pkg/q.cpython-311-x86_64-linux-gnu.so",
            "pkg/q.cpython-37m-x86_64-linux-gnu.so",
            "pkg/q.cpython-312-aarch64-linux-gnu.so",
            "pkg/q.cpython-312-darwin.so",
            "pkg/q.cpython-313t-x86_64-linux-gnu.so",
            "pkg/q.pypy310-pp73-x86_64-linux-gnu.so",
        ] {
            assert!(!t.imports_extension(no), "{no}");
        }
        let a = Target::new(Runtime::Python312, Arch::Arm64);
        assert!(a.imports_extension("q.cpython-312-aarch64-linux-gnu.so"));
        assert!(!a.imports_extension("q.cpython-312-x86_64-linux-gnu.so"));
    }

    #[test]
    fn glibc_by_runtime() {
        assert_eq!(Runtime::Python311.glibc(), (2, 26));
        assert_eq!(Runtime::Python39.glibc(), (2, 26));
        assert_eq!(Runtime::Python312.glibc(), (2, 34));
        assert_eq!(Runtime::Python314.glibc(), (2, 34));
    }

    #[test]
    fn parse_runtime_and_arch() {
        assert_eq!(
            "python3.12".parse::<Runtime>().ok(),
            Some(Runtime::Python312)
        );
        assert_eq!("3.9".parse::<Runtime>().ok(), Some(Runtime::Python39));
        let e = "python3.8".parse::<Runtime>().unwrap_err().to_string();
        assert!(
            e.contains("deprecated by AWS on 2024-10-14"),
            "python3.8: {e}"
        );
        assert!(
            "python3.7"
                .parse::<Runtime>()
                .unwrap_err()
                .to_string()
                .contains("2023-12-04")
        );
        assert!("python2.7".parse::<Runtime>().is_err());
        assert_eq!("aarch64".parse::<Arch>().ok(), Some(Arch::Arm64));
        assert!("riscv".parse::<Arch>().is_err());
    }

    #[test]
    fn tag_order_basics() {
        let t = Target::new(Runtime::Python311, Arch::X86_64);
        assert_eq!(
            t.tags()[0],
            Tag::new("cp311", "cp311", "manylinux_2_26_x86_64")
        );
        let no_228 = Tag::new("cp311", "cp311", "manylinux_2_28_x86_64");
        assert_eq!(t.tag_priority(&no_228), None);
        let m2014 = Tag::new("cp311", "cp311", "manylinux2014_x86_64");
        let abi3 = Tag::new("cp38", "abi3", "manylinux_2_17_x86_64");
        let any = Tag::new("py3", "none", "any");
        let (a, b, c) = (
            t.tag_priority(&m2014),
            t.tag_priority(&abi3),
            t.tag_priority(&any),
        );
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
        assert_eq!(t.tags().last(), Some(&Tag::new("py30", "none", "any")));
    }

    #[test]
    fn arm_starts_at_2_17() {
        let t = Target::new(Runtime::Python312, Arch::Arm64);
        assert!(
            t.tag_priority(&Tag::new("cp312", "cp312", "manylinux2014_aarch64"))
                .is_some()
        );
        assert!(
            t.tag_priority(&Tag::new("cp312", "cp312", "manylinux_2_12_aarch64"))
                .is_none()
        );
        assert!(
            t.tag_priority(&Tag::new("cp312", "cp312", "manylinux_2_17_x86_64"))
                .is_none()
        );
    }
}

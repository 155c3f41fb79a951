//! The target's ordered tag list equals what Python's `packaging.tags` yields on that runtime.
//!
//! `packaging` is asked for the tags of CPython 3.Y on Linux with the runtime's glibc and CPU
//! (its glibc and ABI probes are pointed at the target instead of the host). lpack leaves out
//! `linux_<arch>` (host-only wheels, not portable to Lambda) and musllinux (never on Lambda); the
//! comparison drops those from packaging's list and otherwise requires the same tags in the same
//! order.

use std::process::Command;

use lpack::target::{Arch, Runtime, Target};

use crate::harness::helper_python;

const SCRIPT: &str = r#"
import sys
from packaging import tags, _manylinux
minor, machine, glibc_minor = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
_manylinux._get_glibc_version = lambda: (2, glibc_minor)
_manylinux._have_compatible_abi = lambda executable, archs: True
_manylinux._get_glibc_version.cache_clear = lambda: None
plats = list(_manylinux.platform_tags([machine]))
out = list(tags.cpython_tags((3, minor), [f"cp3{minor}"], plats))
out += list(tags.compatible_tags((3, minor), f"cp3{minor}", plats))
for t in out:
    print(t)
"#;

#[test]
fn tags_match_packaging_for_every_runtime_and_arch() {
    for runtime in Runtime::ALL {
        for arch in [Arch::X86_64, Arch::Arm64] {
            let target = Target::new(runtime, arch);
            let out = Command::new(helper_python())
                .arg("-c")
                .arg(SCRIPT)
                .arg(runtime.minor().to_string())
                .arg(arch.machine())
                .arg(runtime.glibc().1.to_string())
                .output()
                .expect("run python (pip install packaging; see .ci/run)");
            assert!(
                out.status.success(),
                "packaging failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| {
                    !l.ends_with(&format!("linux_{}", arch.machine())) || l.contains("manylinux")
                })
                .map(str::to_string)
                .collect();
            let ours: Vec<String> = target.tags().iter().map(|t| t.to_string()).collect();
            assert!(
                theirs.len() > 100,
                "suspiciously few tags from packaging: {}",
                theirs.len()
            );
            assert_eq!(ours.len(), theirs.len(), "{runtime} {arch}: tag count");
            for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(a, b, "{runtime} {arch}: tag #{i} differs");
            }
        }
    }
}

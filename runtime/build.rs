//! Builds our BPF objects (bpf/*.bpf.c) with clang into OUT_DIR (CO-RE against bpf/vmlinux.h).
//! Only the armor-loader package needs this; building `armorc` never runs it.
//!
//! The objects are the same bytes whatever the Rust target (x86_64 or aarch64, issue 11): every
//! kernel struct access is a CO-RE relocation, the LSM programs read their arguments through
//! BPF_PROG (the trampoline's u64 array, no `struct pt_regs`), the tracepoint never reads its
//! context, and `bpfel` fixes the byte order both our architectures use instead of the build
//! host's. No `__TARGET_ARCH_*` is defined, so a PT_REGS_* macro (architecture-specific register
//! layout) fails to compile here rather than working on one architecture only. The checkout's
//! path is mapped out of the debug info (and so of the BTF line info), so the objects do not
//! depend on where the tree lives either: scripts/cross-check.sh compares both targets' objects.

use std::path::PathBuf;
use std::process::Command;

const OBJECTS: [&str; 5] = ["harness", "lsm", "monitor", "sock", "task"];
const HEADERS: [&str; 7] = ["armor.h", "decide.h", "events.h", "maps.h", "task.h", "throttle.h", "vmlinux.h"];

fn main() {
    let bpf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bpf");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    for h in HEADERS {
        println!("cargo:rerun-if-changed={}", bpf.join(h).display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let have_libbpf = std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists();
    if Command::new(&clang).arg("--version").output().is_err() || !have_libbpf {
        eprintln!("armor-loader needs clang and libbpf headers to build bpf/: apt-get install -y clang libbpf-dev");
        std::process::exit(1);
    }
    for name in OBJECTS {
        let src = bpf.join(format!("{name}.bpf.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        let obj = out.join(format!("{name}.bpf.o"));
        let result = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpfel", "-Wall", "-Werror"])
            .arg(format!("-fdebug-prefix-map={}=runtime", env!("CARGO_MANIFEST_DIR")))
            .arg("-I")
            .arg(&bpf)
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .output()
            .expect("running clang");
        if !result.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&result.stderr));
            eprintln!("clang failed on {}", src.display());
            std::process::exit(1);
        }
    }
}

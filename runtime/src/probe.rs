//! `armor-loader probe`: what this kernel offers for BPF-LSM (active LSMs, BTF) and whether our
//! LSM programs load. The object is opened with aya first: maps are created and every CO-RE
//! relocation is resolved against /sys/kernel/btf/vmlinux before any program load is tried.

use crate::objects;
use anyhow::{Context, Result};
use aya::programs::{Lsm, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader};

/// Our LSM programs and the hook each attaches to (bpf/lsm.bpf.c).
pub const LSM_PROGRAMS: [(&str, &str); 16] = [
    ("armor_bprm", "bprm_check_security"),
    ("armor_file_open", "file_open"),
    ("armor_file_permission", "file_permission"),
    ("armor_path_unlink", "path_unlink"),
    ("armor_path_mkdir", "path_mkdir"),
    ("armor_path_rmdir", "path_rmdir"),
    ("armor_path_rename", "path_rename"),
    ("armor_path_chmod", "path_chmod"),
    ("armor_path_truncate", "path_truncate"),
    ("armor_path_link", "path_link"),
    ("armor_path_symlink", "path_symlink"),
    ("armor_path_mknod", "path_mknod"),
    ("armor_socket_create", "socket_create"),
    ("armor_socket_connect", "socket_connect"),
    ("armor_socket_accept", "socket_accept"),
    ("armor_capable", "capable"),
];

/// Active LSMs from securityfs (mounted if needed).
pub fn active_lsms() -> Result<Vec<String>> {
    let path = "/sys/kernel/security/lsm";
    if !std::path::Path::new(path).exists() {
        // SAFETY: source, target and type are NUL-terminated literals and data is NULL
        // (securityfs takes no options); mount(2) only reads them.
        let rc = unsafe {
            libc::mount(
                c"securityfs".as_ptr(),
                c"/sys/kernel/security".as_ptr(),
                c"securityfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            anyhow::bail!("mounting securityfs: {}", std::io::Error::last_os_error());
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(text.trim().split(',').filter(|s| !s.is_empty()).map(String::from).collect())
}

/// errno name and number of a failed program load, e.g. `EPERM (1)`.
pub fn errno_of(e: &ProgramError) -> String {
    let io = match e {
        ProgramError::LoadError { io_error, .. } => Some(io_error),
        ProgramError::SyscallError(s) => Some(&s.io_error),
        _ => None,
    };
    match io.and_then(|e| e.raw_os_error()) {
        Some(n) => format!("{} ({n})", errno_name(n)),
        None => e.to_string(),
    }
}

fn errno_name(n: i32) -> &'static str {
    match n {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOENT => "ENOENT",
        libc::E2BIG => "E2BIG",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        524 => "ENOTSUPP",
        _ => "errno",
    }
}

/// The LSM object opened with aya: maps created (private, unpinned), relocations applied.
pub fn open_lsm_object() -> Result<Ebpf> {
    EbpfLoader::new()
        .load(objects::LSM)
        .context("opening the LSM object (map creation, CO-RE relocation against kernel BTF)")
}

/// One program's load attempt: (program, hook, `Ok` or the errno text).
pub type LoadResult = (&'static str, &'static str, Result<(), String>);

/// Try to load every LSM program; `Ok(())` or the errno text per program.
pub fn try_load_lsm(obj: &mut Ebpf) -> Result<Vec<LoadResult>> {
    let btf = Btf::from_sys_fs().context("reading /sys/kernel/btf/vmlinux")?;
    let mut out = Vec::new();
    for (name, hook) in LSM_PROGRAMS {
        let prog = obj.program_mut(name).with_context(|| format!("object has no program {name}"))?;
        let prog: &mut Lsm = prog.try_into().with_context(|| format!("{name} is not an LSM program"))?;
        out.push((name, hook, prog.load(hook, &btf).map_err(|e| errno_of(&e))));
    }
    Ok(out)
}

/// A real test load of every LSM program and a test attach of the first one (detached again
/// when the object is dropped; a program attached for an instant touches no task, since tasks
/// without a target map are never decided): Ok, or the first refusal as `prog (lsm/hook): ERRNO`.
/// The attach matters: arm64 kernels before 6.4 load LSM programs but cannot attach them (no
/// ftrace direct calls for BPF trampolines: ENOTSUPP). It comes right after the first load, so
/// such a kernel answers after one verifier run instead of sixteen (minutes under emulation).
pub fn test_load() -> Result<(), String> {
    let mut obj = open_lsm_object().map_err(|e| format!("{e:#}"))?;
    let btf = Btf::from_sys_fs().map_err(|e| format!("reading /sys/kernel/btf/vmlinux: {e}"))?;
    for (i, (name, hook)) in LSM_PROGRAMS.into_iter().enumerate() {
        let prog = obj.program_mut(name).ok_or_else(|| format!("object has no program {name}"))?;
        let prog: &mut Lsm = prog.try_into().map_err(|e| format!("{name} is not an LSM program: {e}"))?;
        prog.load(hook, &btf).map_err(|e| format!("test load of {name} (lsm/{hook}) refused: {}", errno_of(&e)))?;
        if i == 0 {
            prog.attach().map_err(|e| {
                let hint = if errno_of(&e).starts_with("ENOTSUPP") {
                    " (this kernel cannot attach BPF trampolines here; arm64 needs Linux 6.4 or later)"
                } else {
                    ""
                };
                format!("test attach of {name} (lsm/{hook}) refused: {}{hint}", errno_of(&e))
            })?;
        }
    }
    Ok(())
}

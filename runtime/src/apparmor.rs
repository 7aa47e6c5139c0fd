//! The AppArmor enforcer: is AppArmor usable here (enabled, `apparmor_parser` present, a test
//! profile loads), loading a compiled profile, and starting a command under it (as aa-exec does:
//! `exec PROFILE` written to the task's exec attribute right before execve).

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::path::Path;
use std::process::Command;

/// Ok(why usable) or Err(why not).
pub fn usable(lsms: &[String]) -> Result<String, String> {
    if !lsms.iter().any(|l| l == "apparmor") {
        return Err(format!("`apparmor` is not an active LSM ({})", lsms.join(",")));
    }
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").unwrap_or_default();
    if enabled.trim() != "Y" {
        return Err("AppArmor is not enabled (/sys/module/apparmor/parameters/enabled)".into());
    }
    if Command::new("apparmor_parser").arg("--version").output().is_err() {
        return Err("apparmor_parser not found (Debian: apt-get install apparmor)".into());
    }
    let name = format!("armorc-probe-{}", std::process::id());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join(&name);
    std::fs::write(&file, format!("profile {name} flags=(complain) {{\n}}\n")).map_err(|e| e.to_string())?;
    load_profile(&file).map_err(|e| format!("a test profile does not load: {e:#}"))?;
    let _ = Command::new("apparmor_parser").arg("-R").arg(&file).output();
    Ok("AppArmor enabled, apparmor_parser loads profiles".into())
}

/// Load (or replace) the profile in `path` into the kernel.
pub fn load_profile(path: &Path) -> Result<()> {
    let out = Command::new("apparmor_parser")
        .args(["--replace", "--skip-cache"])
        .arg(path)
        .output()
        .context("running apparmor_parser")?;
    if !out.status.success() {
        bail!("apparmor_parser --replace {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// What the child writes to its exec attribute before execve, prepared before fork (the child
/// may only make async-signal-safe calls).
pub struct ExecAttr {
    paths: [CString; 2],
    value: Vec<u8>,
}

impl ExecAttr {
    pub fn new(profile: &str) -> ExecAttr {
        ExecAttr {
            paths: [c"/proc/self/attr/apparmor/exec".to_owned(), c"/proc/self/attr/exec".to_owned()],
            value: format!("exec {profile}").into_bytes(),
        }
    }

    /// In the child: the next execve runs under the profile. Returns false on failure.
    pub fn apply_in_child(&self) -> bool {
        for p in &self.paths {
            // SAFETY: open/write/close on a NUL-terminated path and a live buffer.
            unsafe {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    continue;
                }
                let n = libc::write(fd, self.value.as_ptr().cast(), self.value.len());
                libc::close(fd);
                if n == self.value.len() as isize {
                    return true;
                }
            }
        }
        false
    }
}

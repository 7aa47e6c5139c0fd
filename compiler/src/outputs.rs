//! Writing output trees: the one atomic directory swap `armorc compile` (OUT) and `armorc
//! recommend` (per-image directories) use, so readers see the old tree or the new one, never none.

use std::path::Path;

/// Atomically exchange two directories (Linux `renameat2(RENAME_EXCHANGE)`, 3.15+).
pub fn exchange_dirs(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the call.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

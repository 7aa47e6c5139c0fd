//! armor-loader: loads our BPF programs (bpf/) with aya, pins maps, applies map images, AppArmor
//! profiles and Landlock plans, and checks the kernel's decisions against the reference model
//! (`verify`).

pub mod agent;
pub mod apparmor;
pub mod bundle;
pub mod containerd;
pub mod enforcer;
pub mod events;
pub mod exec;
pub mod kernel;
pub mod landlock;
pub mod monitor;
pub mod mutate;
pub mod node;
pub mod op;
pub mod probe;
pub mod sockets;
pub mod sys;
pub mod task;
pub mod verify;
pub mod wire;

static PROGRAM: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// The name our messages start with: `armor-loader`, or the binary's that set it (`set_program`).
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("armor-loader")
}

/// Names the running binary in messages (`armor-exec`); once, before anything is printed.
pub fn set_program(name: &'static str) {
    // a second call keeps the first name: messages of one process name one program
    let _ = PROGRAM.set(name);
}

/// The BPF objects runtime/build.rs compiles from bpf/.
pub mod objects {
    pub static HARNESS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/harness.bpf.o"));
    pub static MONITOR: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor.bpf.o"));
    pub static LSM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lsm.bpf.o"));
    pub static SOCK: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sock.bpf.o"));
    pub static TASK: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/task.bpf.o"));
}

/// Where `apply`/`remove` pin the target map (bpffs).
pub const PIN_DIR: &str = "/sys/fs/bpf/armorc";
/// Name of the outer map in every object (bpf/maps.h).
pub const TARGETS_MAP: &str = "armor_targets";

/// Mount bpffs at /sys/fs/bpf if it is not mounted yet (idempotent).
pub fn ensure_bpffs() -> anyhow::Result<()> {
    ensure_mounted("bpf", "/sys/fs/bpf")
}

/// Mount a kernel file system (`bpf`, `tracefs`) at `target` unless one of that type is there.
pub fn ensure_mounted(fstype: &str, target: &str) -> anyhow::Result<()> {
    let mounted = std::fs::read_to_string("/proc/mounts")?.lines().any(|l| {
        let mut fields = l.split_whitespace().skip(1);
        fields.next() == Some(target) && fields.next() == Some(fstype)
    });
    if mounted {
        return Ok(());
    }
    std::fs::create_dir_all(target)?;
    let c = |s: &str| std::ffi::CString::new(s).map_err(|_| anyhow::anyhow!("NUL in {s:?}"));
    let (fstype_c, target_c) = (c(fstype)?, c(target)?);
    // SAFETY: source, target and type are NUL-terminated strings that outlive the call and data
    // is NULL (neither file system needs options); mount(2) only reads them.
    let rc = unsafe { libc::mount(fstype_c.as_ptr(), target_c.as_ptr(), fstype_c.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        anyhow::bail!("mounting {fstype} at {target}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Read (at most `inputs::MAX_INPUT_BYTES`) and decode a map-image file; nothing touches the
/// kernel before this succeeds.
pub fn read_image(path: &std::path::Path) -> anyhow::Result<armorc_compiler::image::MapImage> {
    use armorc_compiler::inputs;
    let bytes = inputs::read_file_capped(path, inputs::MAX_INPUT_BYTES)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), inputs::io_message(&e)))?;
    armorc_compiler::image::MapImage::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

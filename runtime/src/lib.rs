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
pub mod mutate;
pub mod node;
pub mod probe;
pub mod sys;
pub mod task;
pub mod verify;
pub mod wire;

/// The BPF objects runtime/build.rs compiles from bpf/.
pub mod objects {
    pub static HARNESS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/harness.bpf.o"));
    pub static LSM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lsm.bpf.o"));
    pub static TASK: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/task.bpf.o"));
}

/// Where `apply`/`remove` pin the target map (bpffs).
pub const PIN_DIR: &str = "/sys/fs/bpf/armorc";
/// Name of the outer map in every object (bpf/maps.h).
pub const TARGETS_MAP: &str = "armor_targets";

/// Mount bpffs at /sys/fs/bpf if it is not mounted yet (idempotent).
pub fn ensure_bpffs() -> anyhow::Result<()> {
    let mounted = std::fs::read_to_string("/proc/mounts")?
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "));
    if mounted {
        return Ok(());
    }
    std::fs::create_dir_all("/sys/fs/bpf")?;
    // SAFETY: source, target and type are NUL-terminated literals and data is NULL (bpffs takes no
    // options); mount(2) only reads them.
    let rc = unsafe { libc::mount(c"bpf".as_ptr(), c"/sys/fs/bpf".as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        anyhow::bail!("mounting bpffs at /sys/fs/bpf: {}", std::io::Error::last_os_error());
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

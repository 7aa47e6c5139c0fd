//! Lowerings from the IR to enforcer artifacts.

pub mod apparmor;
pub mod bpf;
mod kube;
pub mod landlock;
pub mod landlock_patch;

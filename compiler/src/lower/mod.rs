//! Lowerings from the IR to enforcer artifacts.

pub mod apparmor;
pub mod bpf;
pub mod landlock;

//! Lowerings from the IR to enforcer artifacts.

pub mod bpf;

//! armor-loader: loads our BPF programs (bpf/) with aya, pins maps, applies map images.

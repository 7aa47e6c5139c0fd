#!/usr/bin/env bash
# What scripts/fuzz.sh needs: cargo-fuzz (crates.io, `cargo install --locked`), skipped when present.
# The fuzz targets build on stable Rust: scripts/fuzz.sh sets RUSTC_BOOTSTRAP=1 for the -Z flags
# cargo-fuzz passes and uses --sanitizer none (libFuzzer's coverage instrumentation stays on).
set -euo pipefail
if command -v cargo-fuzz >/dev/null 2>&1; then
    echo "install-fuzz: cargo-fuzz present ($(cargo fuzz --version 2>/dev/null || echo unknown version))"
    exit 0
fi
cargo install --locked cargo-fuzz

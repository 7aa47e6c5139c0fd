//! Writes a synthetic OCI layout for benches/recommend.sh (pushed to a registry with skopeo).
//!
//! usage: make_bench_image OUT_DIR TAG --files N --bytes TOTAL [--layers L] [--zeros|--text]
//! N files spread over L gzip layers, TOTAL content bytes in all (pseudo-random, so the image
//! is as large compressed as uncompressed; `--zeros` writes zeros instead).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Pseudo-random bytes (xorshift64*), or zeros.
struct Content {
    state: u64,
    remaining: u64,
    zeros: bool,
    /// Only 16 distinct byte values: compresses about 2:1, like typical binaries.
    text: bool,
}

impl Read for Content {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.remaining) as usize;
        if self.zeros {
            buf[..n].fill(0);
        } else {
            for chunk in buf[..n].chunks_mut(8) {
                self.state ^= self.state >> 12;
                self.state ^= self.state << 25;
                self.state ^= self.state >> 27;
                let mut v = self.state.wrapping_mul(0x2545F4914F6CDD1D).to_le_bytes();
                if self.text {
                    v.iter_mut().for_each(|b| *b = b'a' + (*b & 0x0f));
                }
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("{:x}", h.finalize()), size))
}

fn write_blob(blobs: &Path, data: &[u8]) -> io::Result<(String, u64)> {
    let hex = format!("{:x}", Sha256::digest(data));
    std::fs::write(blobs.join(&hex), data)?;
    Ok((hex, data.len() as u64))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: make_bench_image OUT_DIR TAG --files N --bytes TOTAL [--layers L] [--zeros]");
        std::process::exit(2)
    };
    if args.len() < 3 {
        usage();
    }
    let (out, tag) = (Path::new(&args[1]), args[2].clone());
    let (mut files, mut bytes, mut layers, mut zeros, mut text) = (0u64, 0u64, 1u64, false, false);
    let mut it = args[3..].iter();
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match a.as_str() {
            "--files" => files = num(),
            "--bytes" => bytes = num(),
            "--layers" => layers = num().max(1),
            "--zeros" => zeros = true,
            "--text" => text = true,
            _ => usage(),
        }
    }
    if files == 0 {
        usage();
    }
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let per_file = bytes / files;
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut seed = 0x9E3779B97F4A7C15u64;
    for layer in 0..layers {
        let tmp = out.join(format!("layer-{layer}.tmp"));
        let gz = flate2::write::GzEncoder::new(BufWriter::new(File::create(&tmp)?), flate2::Compression::fast());
        // Hash the uncompressed tar too (diff_id) by teeing through a hasher.
        struct Tee<W: Write> {
            inner: W,
            hash: Sha256,
        }
        impl<W: Write> Write for Tee<W> {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                let n = self.inner.write(b)?;
                self.hash.update(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                self.inner.flush()
            }
        }
        let mut tar = tar::Builder::new(Tee { inner: gz, hash: Sha256::new() });
        if layer == 0 {
            let text = b"ID=benchos\nVERSION_ID=1\n";
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(text.len() as u64);
            tar.append_data(&mut h, "etc/os-release", &text[..])?;
        }
        let (start, end) = (files * layer / layers, files * (layer + 1) / layers);
        for i in start..end {
            seed = seed.wrapping_add(0x9E3779B97F4A7C15);
            let mut h = tar::Header::new_gnu();
            h.set_mode(if i % 10 == 0 { 0o755 } else { 0o644 });
            h.set_size(per_file);
            h.set_mtime(0);
            // 1,000 files per directory: entries = files + files/1000 + a few.
            let path = format!("usr/share/bench/d{:04}/file-{i}.bin", i / 1000);
            tar.append_data(&mut h, path, Content { state: seed | 1, remaining: per_file, zeros, text })?;
        }
        let tee = tar.into_inner()?;
        diff_ids.push(format!("sha256:{:x}", tee.hash.finalize()));
        tee.inner.finish()?.flush()?;
        let (hex, size) = sha256_file(&tmp)?;
        std::fs::rename(&tmp, blobs.join(&hex))?;
        layer_descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{hex}"), "size": size
        }));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    })
    .to_string();
    let (config_hex, config_size) = write_blob(&blobs, config.as_bytes())?;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config_size},
        "layers": layer_descs,
    })
    .to_string();
    let (manifest_hex, manifest_size) = write_blob(&blobs, manifest.as_bytes())?;
    std::fs::write(out.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{manifest_hex}"),
            "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    });
    std::fs::write(out.join("index.json"), index.to_string())?;
    Ok(())
}

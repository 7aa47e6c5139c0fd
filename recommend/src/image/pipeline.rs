//! The source-independent part of loading: manifest/platform resolution over a [`BlobStore`],
//! then layers parsed in parallel and applied to the index strictly in order.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use super::layer::{self, BlobCheck, Counters, LayerError, OsReleaseFiles, ParsedLayer};
use super::manifest::{
    check_layer_descriptor, select_platform, ConfigDoc, Descriptor, ManifestDoc, ManifestError, Platform,
};
use super::{ImageLoadError, LoadOptions, OsRelease, Progress};
use crate::index::FileIndex;

/// A layer blob opened for reading.
pub(crate) struct LayerStream<'a> {
    pub reader: Box<dyn Read + Send + 'a>,
    /// The source verifies the digest itself (the registry client does); skip our hash.
    pub verified_by_source: bool,
}

/// Where blobs come from (registry, layout directory, archive).
pub(crate) trait BlobStore: Sync {
    /// A small blob (manifest, config), digest-verified.
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageLoadError>;
    /// A layer blob as a stream.
    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError>;
    /// Extra attempts after a transport error while streaming a layer.
    fn layer_retries(&self) -> u32 {
        0
    }
}

/// The chosen image manifest: its digest, layers and config.
pub(crate) struct Resolved {
    pub digest: String,
    pub layers: Vec<Descriptor>,
    pub config: ConfigDoc,
}

/// Walks from a top-level manifest (or index) to the image manifest for the wanted platform.
pub(crate) fn resolve(
    store: &dyn BlobStore,
    mut doc: ManifestDoc,
    mut digest: String,
    wanted: Option<&Platform>,
    what: &str,
) -> Result<Resolved, ImageLoadError> {
    let default = Platform::linux_amd64();
    let from_index = doc.is_index();
    for _ in 0..4 {
        if !doc.is_index() {
            break;
        }
        let entries = doc.manifests.as_deref().unwrap_or_default();
        let entry = select_platform(entries, wanted.unwrap_or(&default))?.clone();
        let bytes = read_sized(store, &entry, what)?;
        doc = ManifestDoc::parse(&bytes, &format!("{what}: manifest {}", entry.digest))?;
        digest = entry.digest;
    }
    if doc.is_index() {
        return Err(ManifestError::NestedTooDeep { what: what.to_string() }.into());
    }
    let config_desc = doc.config.clone().unwrap_or_default();
    let config_bytes = read_sized(store, &config_desc, what)?;
    let config = ConfigDoc::parse(&config_bytes, &format!("{what}: config {}", config_desc.digest))?;
    if let (Some(wanted), false) = (wanted, from_index) {
        let have = config.platform();
        if !wanted.accepts(&have) {
            return Err(ImageLoadError::Platform { wanted: wanted.to_string(), available: vec![have.to_string()] });
        }
    }
    let layers = doc.layers.unwrap_or_default();
    for layer in &layers {
        check_layer_descriptor(layer, what)?;
    }
    Ok(Resolved { digest, layers, config })
}

/// A small blob whose length must be the descriptor's declared size (every source, registries too).
fn read_sized(store: &dyn BlobStore, desc: &Descriptor, what: &str) -> Result<Vec<u8>, ImageLoadError> {
    let bytes = store.read_blob(desc)?;
    super::layout::check_declared_size(desc, bytes.len() as u64).map_err(|error| ManifestError::BlobSize {
        what: what.to_string(),
        digest: desc.digest.clone(),
        error,
    })?;
    Ok(bytes)
}

/// Streams every layer into a fresh index (parallel parse, ordered apply).
pub(crate) fn load_layers(
    store: &dyn BlobStore,
    layers: &[Descriptor],
    opts: &LoadOptions,
) -> Result<(FileIndex, Option<OsRelease>), ImageLoadError> {
    let limits = opts.limits;
    let counters = Counters::default();
    let bytes_total: u64 = layers.iter().map(|d| d.size.max(0) as u64).fold(0, u64::saturating_add);
    // Blobs are at least about as large as what they decompress to would be over the limit: refuse
    // before streaming (a registry declaring 2^63-1 bytes and sending zeros forever stops here).
    if bytes_total > limits.max_uncompressed_bytes {
        return Err(ImageLoadError::DeclaredTooLarge { declared: bytes_total, limit: limits.max_uncompressed_bytes });
    }
    let on_bytes = |done: u64| {
        if let Some(progress) = &opts.progress {
            progress(Progress { bytes_done: done.min(bytes_total), bytes_total });
        }
    };
    let workers = layers.len().clamp(1, 3);
    let window = workers; // layers parsed ahead of the one being applied (bounds memory)
    let next_job = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let applied = (Mutex::new(0usize), Condvar::new());
    let mut index = FileIndex::with_limits(limits);
    let mut os_files = OsReleaseFiles::default();

    std::thread::scope(|scope| -> Result<(), ImageLoadError> {
        let (tx, rx) = mpsc::channel::<(usize, Result<ParsedLayer, LayerError>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next_job, cancel, applied, counters, on_bytes) = (&next_job, &cancel, &applied, &counters, &on_bytes);
            scope.spawn(move || loop {
                let i = next_job.fetch_add(1, Ordering::SeqCst);
                if i >= layers.len() {
                    return;
                }
                {
                    let (lock, cv) = applied;
                    let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= *done + window && !cancel.load(Ordering::SeqCst) {
                        done = cv.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                }
                if cancel.load(Ordering::SeqCst) {
                    return;
                }
                let result = parse_with_retries(store, &layers[i], &limits, counters, on_bytes, cancel);
                if tx.send((i, result)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, ParsedLayer> = BTreeMap::new();
        let mut next_apply = 0usize;
        let fail = |e: ImageLoadError| {
            cancel.store(true, Ordering::SeqCst);
            applied.1.notify_all();
            Err(e)
        };
        while next_apply < layers.len() {
            let Ok((i, result)) = rx.recv() else {
                return fail(ImageLoadError::WorkerStopped);
            };
            match result {
                Ok(parsed) => {
                    pending.insert(i, parsed);
                }
                Err(error) => {
                    return fail(ImageLoadError::Layer { digest: layers[i].digest.clone(), error });
                }
            }
            while let Some(parsed) = pending.remove(&next_apply) {
                if let Err(e) = layer::apply_layer(&mut index, &parsed) {
                    return fail(ImageLoadError::LayerIndex { digest: layers[next_apply].digest.clone(), error: e });
                }
                os_files.record(&parsed);
                drop(parsed);
                next_apply += 1;
                let (lock, cv) = &applied;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) = next_apply;
                cv.notify_all();
            }
        }
        Ok(())
    })?;

    index.check_links()?;
    let os = os_files.resolve(&index);
    Ok((index, os))
}

fn parse_with_retries(
    store: &dyn BlobStore,
    desc: &Descriptor,
    limits: &crate::index::Limits,
    counters: &Counters,
    on_bytes: &(dyn Fn(u64) + Sync),
    cancel: &AtomicBool,
) -> Result<ParsedLayer, LayerError> {
    let mut attempt = 0;
    loop {
        let result = store.open_layer(desc).and_then(|stream| {
            let digest = if stream.verified_by_source { None } else { Some(desc.digest.as_str()) };
            let declared = u64::try_from(desc.size).map_err(|_| LayerError::InvalidSize(desc.size))?;
            let exact = ExactSize { inner: stream.reader, remaining: declared, declared };
            let reader = Cancellable { inner: exact, cancel };
            layer::parse_layer(reader, BlobCheck { digest }, limits, counters, on_bytes)
        });
        match result {
            Err(e) if e.is_transport() && attempt < store.layer_retries() && !cancel.load(Ordering::SeqCst) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(250 << attempt.min(4)));
            }
            other => return other,
        }
    }
}

/// Yields exactly the descriptor's declared size: a blob that ends early or goes on past it is an
/// error (stores that know the size check it before reading too).
struct ExactSize<R> {
    inner: R,
    remaining: u64,
    declared: u64,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("blob is longer than its declared size {}", self.declared),
                )),
            };
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("blob ended after {} of its declared {} bytes", self.declared - self.remaining, self.declared),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Stops a layer read early once another layer has failed the load.
struct Cancellable<'a, R> {
    inner: R,
    cancel: &'a AtomicBool,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("load cancelled"));
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::EntryKind;
    use sha2::{Digest as _, Sha256};
    use std::collections::HashMap;
    use std::sync::Arc;

    struct MemStore(HashMap<String, Vec<u8>>);

    impl BlobStore for MemStore {
        fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageLoadError> {
            self.0.get(&desc.digest).cloned().ok_or(ImageLoadError::WorkerStopped)
        }
        fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
            let bytes = self.0.get(&desc.digest).ok_or_else(|| LayerError::Missing(desc.digest.clone()))?;
            Ok(LayerStream { reader: Box::new(&bytes[..]), verified_by_source: false })
        }
    }

    fn tar_with(files: &[(&str, usize)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, size) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(*size as u64);
            b.append_data(&mut h, path, &vec![b'x'; *size][..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn store_of(layers: Vec<Vec<u8>>) -> (MemStore, Vec<Descriptor>) {
        let mut blobs = HashMap::new();
        let mut descs = Vec::new();
        for bytes in layers {
            let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
            descs.push(Descriptor { digest: digest.clone(), size: bytes.len() as i64, ..Default::default() });
            blobs.insert(digest, bytes);
        }
        (MemStore(blobs), descs)
    }

    #[test]
    fn many_layers_apply_in_order_and_report_progress() {
        // Layer i: `f` of size i, its own `only-i`, and a whiteout of `only-(i-1)`.
        let layers: Vec<Vec<u8>> = (0..12usize)
            .map(|i| {
                let own = format!("only-{i}");
                let whiteout = format!(".wh.only-{}", i.wrapping_sub(1));
                let mut files = vec![("f", i), (own.as_str(), 0)];
                if i > 0 {
                    files.push((whiteout.as_str(), 0));
                }
                tar_with(&files)
            })
            .collect();
        let (store, descs) = store_of(layers);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let opts = LoadOptions {
            progress: Some(Arc::new(move |p: Progress| sink.lock().unwrap().push(p))),
            ..LoadOptions::default()
        };
        let (index, _) = load_layers(&store, &descs, &opts).unwrap();
        assert_eq!(index.lookup("/f"), Some(&EntryKind::File { mode: 0o644, size: 11 }));
        let paths: Vec<&str> = index.paths().collect();
        assert_eq!(paths, ["/f", "/only-11"], "each layer whites out the previous layer's file");
        let seen = seen.lock().unwrap();
        let total: u64 = descs.iter().map(|d| d.size as u64).sum();
        assert!(seen.iter().all(|p| p.bytes_total == total && p.bytes_done <= total));
        assert_eq!(seen.iter().map(|p| p.bytes_done).max(), Some(total));
    }

    #[test]
    fn declared_sizes_over_the_uncompressed_limit_fail_before_streaming() {
        let (store, mut descs) = store_of(vec![tar_with(&[("a", 1)])]);
        descs[0].size = i64::MAX;
        let err = load_layers(&store, &descs, &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("limit max-uncompressed-bytes=34359738368 exceeded"), "{err}");
    }

    #[test]
    fn a_bad_middle_layer_fails_the_load_naming_it() {
        let mut layers: Vec<Vec<u8>> = (0..8).map(|i| tar_with(&[(&format!("f{i}"), 1)])).collect();
        layers[5] = tar_with(&[("etc/.wh.", 0)]);
        let (store, descs) = store_of(layers);
        let err = load_layers(&store, &descs, &LoadOptions::default()).unwrap_err();
        assert!(
            matches!(&err, ImageLoadError::Layer { digest, error: LayerError::Hostile(_) } if *digest == descs[5].digest)
        );
        assert_eq!(
            err.to_string(),
            format!(
                "layer {}: hostile entry `etc/.wh.`: whiteout marker names no entry (`.wh.<name>` or `.wh..wh..opq`)",
                descs[5].digest
            )
        );
    }
}

//! The source-independent part of loading: manifest/platform resolution over a [`BlobStore`],
//! then layers parsed in parallel and applied to the index strictly in order.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use super::layer::{self, BlobCheck, Counters, LayerError, OsReleaseFiles, ParsedLayer};
use super::manifest::{select_platform, ConfigDoc, Descriptor, ManifestDoc, Platform};
use super::{ImageError, LoadOptions, OsRelease, Progress};
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
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageError>;
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
) -> Result<Resolved, ImageError> {
    let default = Platform::linux_amd64();
    let from_index = doc.is_index();
    for _ in 0..4 {
        if !doc.is_index() {
            break;
        }
        let entries = doc.manifests.as_deref().unwrap_or_default();
        let entry = select_platform(entries, wanted.unwrap_or(&default))?.clone();
        let bytes = store.read_blob(&entry)?;
        doc = ManifestDoc::parse(&bytes, &format!("{what}: manifest {}", entry.digest))?;
        digest = entry.digest;
    }
    if doc.is_index() {
        return Err(ImageError::Source(format!("{what}: indexes nested more than 4 deep")));
    }
    let config_desc = doc.config.clone().unwrap_or_default();
    let config_bytes = store.read_blob(&config_desc)?;
    let config = ConfigDoc::parse(&config_bytes, &format!("{what}: config {}", config_desc.digest))?;
    if let (Some(wanted), false) = (wanted, from_index) {
        let have = config.platform();
        if !wanted.accepts(&have) {
            return Err(ImageError::Platform { wanted: wanted.to_string(), available: vec![have.to_string()] });
        }
    }
    Ok(Resolved { digest, layers: doc.layers.unwrap_or_default(), config })
}

/// Streams every layer into a fresh index (parallel parse, ordered apply).
pub(crate) fn load_layers(
    store: &dyn BlobStore,
    layers: &[Descriptor],
    opts: &LoadOptions,
) -> Result<(FileIndex, Option<OsRelease>), ImageError> {
    let limits = opts.limits;
    let counters = Counters::default();
    let bytes_total: u64 = layers.iter().map(|d| d.size.max(0) as u64).sum();
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

    std::thread::scope(|scope| -> Result<(), ImageError> {
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
        let fail = |e: ImageError| {
            cancel.store(true, Ordering::SeqCst);
            applied.1.notify_all();
            Err(e)
        };
        while next_apply < layers.len() {
            let Ok((i, result)) = rx.recv() else {
                return fail(ImageError::Source("layer worker stopped unexpectedly".into()));
            };
            match result {
                Ok(parsed) => {
                    pending.insert(i, parsed);
                }
                Err(LayerError::Transport(m) | LayerError::Content(m)) => {
                    return fail(ImageError::Layer { digest: layers[i].digest.clone(), message: m });
                }
            }
            while let Some(parsed) = pending.remove(&next_apply) {
                if let Err(e) = layer::apply_layer(&mut index, &parsed) {
                    return fail(ImageError::Layer { digest: layers[next_apply].digest.clone(), message: e.to_string() });
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
            let reader = Cancellable { inner: stream.reader, cancel };
            layer::parse_layer(reader, BlobCheck { digest }, limits, counters, on_bytes)
        });
        match result {
            Err(LayerError::Transport(_)) if attempt < store.layer_retries() && !cancel.load(Ordering::SeqCst) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(250 << attempt.min(4)));
            }
            other => return other,
        }
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

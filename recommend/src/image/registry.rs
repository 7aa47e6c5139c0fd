//! Registry access through oci-client: manifests and configs fetched whole (digest-checked),
//! layers as streams (`pull_blob_stream`, verified by the client). Credentials go only to the
//! reference's own host and to the token realm its own 401 challenge names, over HTTPS unless that
//! host is under `--plain-http`; reqwest drops them on redirects to another host.

use std::error::Error as _;
use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};

use super::auth::{self, AuthError, Credentials};
use super::layer::LayerError;
use super::manifest::{Descriptor, ManifestDoc, Platform, ALL_MANIFEST_TYPES};
use super::pipeline::{self, BlobStore, LayerStream};
use super::{ImageLoadError, LoadOptions, LoadedImage};

/// Why a registry could not be used: a bad reference, a client that cannot start, a failed or
/// lying request. `reason` fields hold the client's whole error chain (reqwest hides the useful
/// part in `source()`).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image reference `{spec}`: {error}")]
    InvalidReference { spec: String, error: oci_client::ParseError },
    #[error("load_image is blocking: call it from a thread outside any async runtime (e.g. std::thread::spawn)")]
    InsideAsyncRuntime,
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot create the registry client: {reason}")]
    Client { reason: String },
    #[error("cannot create an HTTP client: {0}")]
    HttpClient(reqwest::Error),
    #[error("{host}: {what}: {reason}")]
    Request { host: String, what: String, reason: String },
    #[error("{host}: {what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { host: String, what: String, expected: String, actual: String },
    #[error("{host}: GET {url}: {reason}")]
    Challenge { host: String, url: String, reason: String },
}

const READ_AHEAD_PIECE: usize = 64 * 1024;
const READ_AHEAD_PIECES: usize = 32;

struct RegistryStore {
    rt: tokio::runtime::Runtime,
    client: Client,
    reference: Reference,
    auth: RegistryAuth,
    retries: u32,
}

/// Full error text including causes (reqwest hides the useful part in `source()`).
fn describe(e: &OciDistributionError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn retryable(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        _ => false,
    }
}

fn to_oci(desc: &Descriptor) -> OciDescriptor {
    // `urls` (foreign layers) are dropped on purpose: we fetch only from the registry itself.
    OciDescriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.clone(),
        size: desc.size,
        ..Default::default()
    }
}

impl RegistryStore {
    fn host(&self) -> &str {
        self.reference.resolve_registry()
    }

    /// Runs a request with retries on transport errors and 5xx/429 answers.
    fn with_retries<T, F>(&self, what: &str, mut op: impl FnMut() -> F) -> Result<T, ImageLoadError>
    where
        F: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let mut attempt = 0;
        loop {
            match self.rt.block_on(op()) {
                Ok(v) => return Ok(v),
                Err(e) if retryable(&e) && attempt < self.retries => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(250 << attempt.min(4)));
                }
                Err(e) => return Err(self.registry_error(what, &e)),
            }
        }
    }

    fn registry_error(&self, what: &str, e: &OciDistributionError) -> ImageLoadError {
        let host = self.host();
        match e {
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                AuthError::NotAuthorized {
                    host: host.to_string(),
                    what: what.to_string(),
                    registry: auth::normalize_registry_host(self.reference.registry()),
                    reason: describe(e),
                }
                .into()
            }
            _ => RegistryError::Request { host: host.to_string(), what: what.to_string(), reason: describe(e) }.into(),
        }
    }

    fn pull_manifest(&self, reference: &Reference) -> Result<(Vec<u8>, String), ImageLoadError> {
        let what = format!("manifest {}", reference.whole());
        let (bytes, digest) =
            self.with_retries(&what, || self.client.pull_manifest_raw(reference, &self.auth, &ALL_MANIFEST_TYPES))?;
        let actual = format!("sha256:{:x}", Sha256::digest(&bytes));
        let expected = reference.digest().unwrap_or(&digest);
        if expected.starts_with("sha256:") && actual != expected {
            return Err(RegistryError::DigestMismatch {
                host: self.host().to_string(),
                what,
                expected: expected.to_string(),
                actual,
            }
            .into());
        }
        Ok((bytes.to_vec(), actual))
    }
}

impl BlobStore for RegistryStore {
    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImageLoadError> {
        if ALL_MANIFEST_TYPES.contains(&desc.media_type.as_str()) {
            let by_digest = Reference::with_digest(
                self.reference.registry().to_string(),
                self.reference.repository().to_string(),
                desc.digest.clone(),
            );
            return self.pull_manifest(&by_digest).map(|(bytes, _)| bytes);
        }
        let oci = to_oci(desc);
        self.with_retries(&format!("blob {}", desc.digest), || async {
            let mut out = Vec::new();
            self.client.pull_blob(&self.reference, &oci, &mut out).await?;
            Ok(out)
        })
    }

    fn open_layer(&self, desc: &Descriptor) -> Result<LayerStream<'_>, LayerError> {
        let oci = to_oci(desc);
        let stream = self.rt.block_on(self.client.pull_blob_stream(&self.reference, &oci)).map_err(|e| {
            LayerError::Fetch { host: self.host().to_string(), reason: describe(&e), retryable: retryable(&e) }
        })?;
        // Read ahead on the runtime so the download overlaps decompression. Bounded in bytes:
        // chunks are cut into READ_AHEAD_PIECE pieces and at most READ_AHEAD_PIECES wait.
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD_PIECES);
        let mut body = stream.stream;
        self.rt.spawn(async move {
            while let Some(item) = body.next().await {
                match item {
                    Ok(mut chunk) => {
                        while !chunk.is_empty() {
                            let piece = chunk.split_to(chunk.len().min(READ_AHEAD_PIECE));
                            if tx.send(Ok(piece)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        let reader = StreamReader { chunks: rx, chunk: Bytes::new() };
        Ok(LayerStream { reader: Box::new(reader), verified_by_source: true })
    }

    fn layer_retries(&self) -> u32 {
        self.retries
    }
}

/// Blocking `Read` over the chunks the read-ahead task delivers (the layer pipeline is
/// synchronous and runs outside the runtime).
struct StreamReader {
    chunks: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    chunk: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// `--plain-http` entries compared as `host[:port]`, scheme and path ignored.
fn plain_http_hosts(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|h| {
            let h = h.trim();
            let h = h.strip_prefix("http://").or_else(|| h.strip_prefix("https://")).unwrap_or(h);
            h.split('/').next().unwrap_or("").to_string()
        })
        .filter(|h| !h.is_empty())
        .collect()
}

pub(crate) fn client_for(plain_http: &[String], timeout: Duration) -> Result<Client, RegistryError> {
    // ring, not aws-lc: installed once per process; a second install is a harmless no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain_http_hosts(plain_http)),
        read_timeout: Some(timeout),
        connect_timeout: Some(timeout),
        platform_resolver: None,
        ..Default::default()
    };
    Client::try_from(config).map_err(|e| RegistryError::Client { reason: describe(&e) })
}

pub(crate) fn load(spec: &str, wanted: Option<&Platform>, opts: &LoadOptions) -> Result<LoadedImage, ImageLoadError> {
    let reference: Reference =
        spec.parse().map_err(|error| RegistryError::InvalidReference { spec: spec.to_string(), error })?;
    if tokio::runtime::Handle::try_current().is_ok() {
        // block_on inside a runtime would panic; say so instead.
        return Err(RegistryError::InsideAsyncRuntime.into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RegistryError::Runtime)?;
    let plain = plain_http_hosts(&opts.plain_http);
    let creds = auth::credentials_for(reference.registry(), opts.docker_config.as_deref())?;
    let auth = match creds {
        None => RegistryAuth::Anonymous,
        Some(creds) => {
            rt.block_on(check_challenge(&reference, &plain, opts.timeout))?;
            match creds {
                Credentials::Basic { username, password } => RegistryAuth::Basic(username, password),
                Credentials::Bearer(token) => RegistryAuth::Bearer(token),
            }
        }
    };
    let client = {
        let _guard = rt.enter();
        client_for(&opts.plain_http, opts.timeout)?
    };
    let store = RegistryStore { rt, client, reference: reference.clone(), auth, retries: opts.retries };
    let (top_bytes, top_digest) = store.pull_manifest(&reference)?;
    let top = ManifestDoc::parse(&top_bytes, &reference.whole())?;
    let resolved = pipeline::resolve(&store, top, top_digest, wanted, &reference.whole())?;
    let (index, os_release) = pipeline::load_layers(&store, &resolved.layers, opts)?;
    Ok(LoadedImage {
        reference: reference.whole(),
        digest: resolved.digest,
        platform: resolved.config.platform().to_string(),
        index,
        os_release,
    })
}

/// Before any credential leaves: ask the registry (anonymously) how it authenticates. A token
/// realm must be HTTPS unless its host is under `--plain-http`, so a password never crosses the
/// network in clear text to a host the user did not name.
async fn check_challenge(reference: &Reference, plain: &[String], timeout: Duration) -> Result<(), ImageLoadError> {
    let host = reference.resolve_registry();
    let scheme = if plain.iter().any(|p| p == host) { "http" } else { "https" };
    let url = format!("{scheme}://{host}/v2/");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(RegistryError::HttpClient)?;
    let response = http.get(&url).send().await.map_err(|e| RegistryError::Challenge {
        host: host.to_string(),
        url: url.clone(),
        reason: error_chain(&e),
    })?;
    let Some(challenge) = response.headers().get(reqwest::header::WWW_AUTHENTICATE) else { return Ok(()) };
    let challenge = challenge.to_str().unwrap_or("");
    let Some(realm) = bearer_realm(challenge) else { return Ok(()) };
    let realm_url = reqwest::Url::parse(&realm).map_err(|e| AuthError::RealmNotUrl {
        host: host.to_string(),
        realm: realm.clone(),
        reason: e.to_string(),
    })?;
    if realm_url.scheme() == "https" {
        return Ok(());
    }
    let realm_host = match realm_url.port() {
        Some(port) => format!("{}:{port}", realm_url.host_str().unwrap_or("")),
        None => realm_url.host_str().unwrap_or("").to_string(),
    };
    if realm_url.scheme() == "http" && plain.contains(&realm_host) {
        return Ok(());
    }
    Err(AuthError::InsecureRealm { host: host.to_string(), realm, scheme: realm_url.scheme().to_string(), realm_host }
        .into())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `realm` of a `Bearer realm="...",service="..."` challenge.
fn bearer_realm(challenge: &str) -> Option<String> {
    let rest = challenge.trim();
    let (scheme, params) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    for part in split_params(params) {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("realm") {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// Splits `a="x,y",b=z` on commas outside quotes.
fn split_params(params: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in params.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&params[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&params[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing() {
        assert_eq!(
            bearer_realm(r#"Bearer realm="https://auth.example/token",service="reg,x",scope="repository:a:pull""#)
                .as_deref(),
            Some("https://auth.example/token")
        );
        assert_eq!(bearer_realm(r#"Basic realm="Registry""#), None);
    }

    #[test]
    fn plain_http_list_is_normalized() {
        assert_eq!(
            plain_http_hosts(&["http://127.0.0.1:5000/".into(), "h:1".into(), " ".into()]),
            ["127.0.0.1:5000", "h:1"]
        );
    }
}

//! Real components for the registry tests: Debian's `docker-registry` processes (htpasswd or
//! token auth), a tiny token server, a recording reverse proxy, and image builders that push
//! through oci-client. Everything listens on 127.0.0.0/8 on free ports and stops on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};

pub const REGISTRY_BIN: &str = "docker-registry";

/// False after `skip_or_fail` when a required tool is missing (the install script provides them;
/// CI runs it first).
pub fn tools_present(tools: &[&str]) -> bool {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            crate::common::skip_or_fail(format!("`{tool}` not installed; run .ci/install-recommend.sh"));
            return false;
        }
    }
    true
}

pub fn free_addr(ip: &str) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).expect("bind loopback");
    l.local_addr().unwrap()
}

fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr}");
}

pub enum RegistryAuthMode {
    Htpasswd { user: String, password: String },
    Token { realm: String, service: String, issuer: String, cert_pem: PathBuf },
}

/// A real `docker-registry` process.
pub struct Registry {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(ip: &str, auth: RegistryAuthMode) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr(ip);
        let auth_yaml = match &auth {
            RegistryAuthMode::Htpasswd { user, password } => {
                let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("run htpasswd");
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).unwrap();
                format!("  htpasswd:\n    realm: test-basic\n    path: {}\n", file.display())
            }
            RegistryAuthMode::Token { realm, service, issuer, cert_pem } => format!(
                "  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert_pem.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: armorc-test\nauth:\n{auth_yaml}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        wait_listening(addr, &mut child, "docker-registry");
        Registry { addr, child, _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as seen by a recording server.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which server saw it ("proxy-a", "token", ...).
    pub server: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if stream.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, body })
}

/// Background accept loop; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn serve(ip: &str, handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let handler = handler.clone();
            thread::spawn(move || handler(conn));
        }
    });
    Server { addr, stop }
}

/// Options of the recording reverse proxy.
#[derive(Clone, Default)]
pub struct ProxyOptions {
    /// Answer blob GETs with a 307 to this base URL (same path) instead of forwarding.
    pub redirect_blobs_to: Option<String>,
    /// Replace the client's Authorization with this value when forwarding upstream.
    pub upstream_authorization: Option<String>,
    /// Flip the last byte of this blob's body (digest) on the way back.
    pub corrupt_blob: Option<String>,
    /// Answer this many blob GETs with 503 before forwarding any (shared countdown).
    pub fail_blob_gets: Option<Arc<std::sync::atomic::AtomicUsize>>,
    /// Accept, read the request, then never answer (for timeouts).
    pub hang: bool,
}

/// A reverse proxy that records every request head, then forwards it (one request per
/// connection) to `upstream`.
pub fn recording_proxy(name: &str, ip: &str, upstream: SocketAddr, log: Log, opts: ProxyOptions) -> Server {
    let name = name.to_string();
    serve(ip, move |conn| {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let Some(req) = read_request(&mut reader) else { return };
        let path = req.target.clone();
        log.lock().unwrap().push(Seen {
            server: name.clone(),
            method: req.method.clone(),
            path: path.clone(),
            headers: req.headers.clone(),
        });
        let mut conn = conn;
        if opts.hang {
            thread::sleep(Duration::from_secs(30));
            return;
        }
        if let Some(left) = &opts.fail_blob_gets {
            let is_blob = req.method == "GET" && path.contains("/blobs/sha256:");
            if is_blob && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                let _ = conn
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return;
            }
        }
        if let Some(base) = &opts.redirect_blobs_to {
            if req.method == "GET" && path.contains("/blobs/sha256:") {
                let resp = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {base}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = conn.write_all(resp.as_bytes());
                return;
            }
        }
        let Ok(mut up) = TcpStream::connect(upstream) else { return };
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("connection")
                || (opts.upstream_authorization.is_some() && k.eq_ignore_ascii_case("authorization"))
            {
                continue;
            }
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(a) = &opts.upstream_authorization {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        if up.write_all(head.as_bytes()).is_err() || up.write_all(&req.body).is_err() {
            return;
        }
        match &opts.corrupt_blob {
            Some(digest) if req.method == "GET" && path.ends_with(&format!("/blobs/{digest}")) => {
                let mut response = Vec::new();
                let _ = up.read_to_end(&mut response);
                if let Some(last) = response.last_mut() {
                    *last ^= 0x01;
                }
                let _ = conn.write_all(&response);
            }
            _ => {
                let _ = std::io::copy(&mut up, &mut conn);
            }
        }
        let _ = conn.shutdown(Shutdown::Both);
    })
}

/// Key material for the token server and the registry's `rootcertbundle`.
pub struct TokenKeys {
    /// Holds the key files below for as long as the keys live.
    _dir: tempfile::TempDir,
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub cert_der_b64: String,
}

impl TokenKeys {
    pub fn generate() -> TokenKeys {
        let dir = tempfile::tempdir().unwrap();
        let key_pem = dir.path().join("key.pem");
        let cert_pem = dir.path().join("cert.pem");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=armorc-test-token"])
            .arg("-keyout")
            .arg(&key_pem)
            .arg("-out")
            .arg(&cert_pem)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl req failed");
        let der = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert_pem).output().unwrap();
        assert!(der.status.success());
        let cert_der_b64 = base64::engine::general_purpose::STANDARD.encode(&der.stdout);
        TokenKeys { _dir: dir, key_pem, cert_pem, cert_der_b64 }
    }

    fn sign_rs256(&self, data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key_pem)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn query_params(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token server: `GET /token?service=..&scope=repository:NAME:ACTIONS` with HTTP Basic
/// `user:password` returns a JWT the registry accepts (RS256, x5c chain = our cert).
pub fn token_server(
    ip: &str,
    keys: Arc<TokenKeys>,
    service: String,
    issuer: String,
    user: String,
    password: String,
    log: Log,
) -> Server {
    serve(ip, move |conn| {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let Some(req) = read_request(&mut reader) else { return };
        log.lock().unwrap().push(Seen {
            server: "token".into(),
            method: req.method.clone(),
            path: req.target.clone(),
            headers: req.headers.clone(),
        });
        let expected =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let authorized = req.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("authorization") && *v == expected);
        let mut conn = conn;
        if !authorized {
            let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        let params = query_params(&req.target);
        let access: Vec<serde_json::Value> = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .filter_map(|(_, scope)| {
                let mut parts = scope.splitn(3, ':');
                let (ty, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({"type": ty, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [keys.cert_der_b64]});
        let claims = serde_json::json!({
            "iss": issuer, "sub": user, "aud": service, "exp": now + 600, "nbf": now - 60, "iat": now - 60,
            "jti": format!("{now}-{}", access.len()), "access": access,
        });
        let signing_input =
            format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = keys.sign_rs256(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64url(&signature));
        let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 600}).to_string();
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = conn.write_all(resp.as_bytes());
    })
}

// ---------------------------------------------------------------------------------------------
// Images

/// One layer entry to write.
#[derive(Clone)]
pub enum E {
    File(&'static str, u32, Vec<u8>),
    Dir(&'static str),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
}

pub fn file(path: &'static str, mode: u32, content: &str) -> E {
    E::File(path, mode, content.as_bytes().to_vec())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::File(p, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
            E::Hardlink(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub fn compress(tar: &[u8], c: Compression) -> (Vec<u8>, &'static str) {
    match c {
        Compression::None => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            (gz.finish().unwrap(), "application/vnd.oci.image.layer.v1.tar+gzip")
        }
        Compression::Zstd => (zstd::encode_all(tar, 3).unwrap(), "application/vnd.oci.image.layer.v1.tar+zstd"),
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// Pushes images with oci-client (the same client the loader uses, in its push role).
pub struct Pusher {
    pub rt: tokio::runtime::Runtime,
    pub client: Client,
    pub auth: RegistryAuth,
    /// host:port as written in references.
    pub host: String,
}

/// A pushed manifest: digest, bytes length.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub digest: String,
    pub size: usize,
}

impl Pusher {
    pub fn new(host: &str, plain_http: Vec<String>, auth: RegistryAuth) -> Pusher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let client = {
            let _g = rt.enter();
            Client::try_from(ClientConfig { protocol: ClientProtocol::HttpsExcept(plain_http), ..Default::default() })
                .unwrap()
        };
        Pusher { rt, client, auth, host: host.to_string() }
    }

    fn reference(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repo.to_string(), tag.to_string())
    }

    /// Pushes layers + config + manifest under `repo:tag`.
    pub fn push_image(
        &self,
        repo: &str,
        tag: &str,
        platform: (&str, &str, Option<&str>),
        layers: &[(Vec<u8>, &str)],
    ) -> Pushed {
        let reference = self.reference(repo, tag);
        self.rt.block_on(async {
            self.client.store_auth_if_needed(reference.resolve_registry(), &self.auth).await;
            let mut config = serde_json::json!({
                "architecture": platform.1, "os": platform.0,
                "rootfs": {"type": "layers", "diff_ids": []},
                "config": {}
            });
            if let Some(v) = platform.2 {
                config["variant"] = v.into();
            }
            let config = config.to_string().into_bytes();
            let mut descs = Vec::new();
            for (data, media_type) in layers {
                let digest = sha256(data);
                self.client.push_blob(&reference, data.clone(), &digest).await.expect("push layer");
                descs.push(serde_json::json!({"mediaType": media_type, "digest": digest, "size": data.len()}));
            }
            let config_digest = sha256(&config);
            self.client.push_blob(&reference, config.clone(), &config_digest).await.expect("push config");
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
                "layers": descs,
            })
            .to_string()
            .into_bytes();
            self.push_manifest(&reference, manifest, "application/vnd.oci.image.manifest.v1+json").await
        })
    }

    /// Pushes an OCI index of `(pushed, os, arch, variant)` entries under `repo:tag`; entries
    /// with os "unknown" get the buildx attestation annotation.
    pub fn push_index(&self, repo: &str, tag: &str, entries: &[(Pushed, &str, &str, Option<&str>)]) -> Pushed {
        let reference = self.reference(repo, tag);
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(p, os, arch, variant)| {
                let mut platform = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    platform["variant"] = (*v).into();
                }
                let mut e = serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": p.digest, "size": p.size, "platform": platform,
                });
                if *os == "unknown" {
                    e["annotations"] = serde_json::json!({"vnd.docker.reference.type": "attestation-manifest"});
                }
                e
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        })
        .to_string()
        .into_bytes();
        self.rt.block_on(async {
            self.client.store_auth_if_needed(reference.resolve_registry(), &self.auth).await;
            self.push_manifest(&reference, index, "application/vnd.oci.image.index.v1+json").await
        })
    }

    async fn push_manifest(&self, reference: &Reference, body: Vec<u8>, media_type: &'static str) -> Pushed {
        let digest = sha256(&body);
        let size = body.len();
        self.client
            .push_manifest_raw(reference, body, reqwest::header::HeaderValue::from_static(media_type))
            .await
            .expect("push manifest");
        Pushed { digest, size }
    }
}

/// Writes a docker config file with `auths` for the given hosts; returns its path.
pub fn docker_config(dir: &Path, auths: &[(&str, &str, &str)]) -> PathBuf {
    let mut map = BTreeMap::new();
    for (host, user, password) in auths {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        map.insert(host.to_string(), serde_json::json!({"auth": auth}));
    }
    // A new file each call: several configs live side by side in one test.
    let (_, path) =
        tempfile::Builder::new().prefix("config-").suffix(".json").tempfile_in(dir).unwrap().keep().unwrap();
    std::fs::write(&path, serde_json::json!({"auths": map}).to_string()).unwrap();
    path
}

pub fn basic_header(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

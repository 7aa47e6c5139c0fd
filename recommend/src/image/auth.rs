//! Registry credentials from docker's `config.json`: credHelpers, then credsStore, then auths,
//! looked up by the registry host after Docker's key normalization.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// Why credentials could not be found, read or safely sent. Messages name the config file and key
/// or the helper program; never a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{}:{}:{}: invalid docker config: {error}", path.display(), error.line(), error.column())]
    InvalidConfig { path: PathBuf, error: serde_json::Error },
    #[error("{}: auths.\"{key}\": {error}", path.display())]
    Entry { path: PathBuf, key: String, error: EntryError },
    #[error("invalid credential helper name `{0}`")]
    HelperName(String),
    #[error("cannot run credential helper {program}: {error}")]
    HelperSpawn { program: String, error: std::io::Error },
    #[error("credential helper {program}: {error}")]
    HelperWait { program: String, error: std::io::Error },
    #[error("credential helper {program} failed for {server_url}: {stderr}")]
    HelperFailed { program: String, server_url: String, stderr: String },
    #[error("credential helper {program}: unreadable reply: {error}")]
    HelperReply { program: String, error: serde_json::Error },
    #[error(
        "credential helper {program} returned an identity token for {server_url}; identity tokens are not supported"
    )]
    HelperIdentityToken { program: String, server_url: String },
    /// The registry answered 401/403 (`reason`: the client's error chain).
    #[error(
        "{host}: not authorized to read {what} (check the credentials for {registry} in the docker config): {reason}"
    )]
    NotAuthorized { host: String, what: String, registry: String, reason: String },
    #[error("{host}: token realm `{realm}` is not a URL: {reason}")]
    RealmNotUrl { host: String, realm: String, reason: String },
    #[error("{host}: refusing to send credentials to token realm {realm} over {scheme}: add {realm_host} to --plain-http if that is intended")]
    InsecureRealm { host: String, realm: String, scheme: String, realm_host: String },
}

/// What is wrong with one `auths` entry of config.json.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("identity tokens (OAuth refresh tokens) are not supported; log in with a password or token")]
    IdentityToken,
    #[error("`auth` is not base64: {0}")]
    NotBase64(base64::DecodeError),
    #[error("`auth` is not UTF-8")]
    NotUtf8,
    #[error("`auth` is not `user:password`")]
    NoColon,
}

/// What to send to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// A registry token sent as `Authorization: Bearer`.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

const DOCKER_HUB: &str = "docker.io";
/// The key Docker uses for Docker Hub in config.json and with credential helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Docker's key normalization: scheme and path dropped, case folded, every Docker Hub alias
/// mapped to `docker.io`.
pub fn normalize_registry_host(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(&key);
    let host = key.split('/').next().unwrap_or("").to_string();
    match host.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

/// Which config.json to read: explicit (`-c`, a file or a directory), else $DOCKER_CONFIG, else
/// ~/.docker/config.json. Returns (path, explicitly chosen).
fn config_path(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        let p = if p.is_dir() { p.join("config.json") } else { p.to_path_buf() };
        return Some((p, true));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some((PathBuf::from(dir).join("config.json"), false));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some((PathBuf::from(home).join(".docker").join("config.json"), false))
}

/// Credentials for `registry` (a host[:port] as in the reference), if any are configured.
pub(crate) fn credentials_for(registry: &str, explicit: Option<&Path>) -> Result<Option<Credentials>, AuthError> {
    let Some((path, explicit)) = config_path(explicit) else { return Ok(None) };
    let text = match crate::readcap::read_file_capped(&path, crate::readcap::MAX_DOCKER_CONFIG_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(error) => return Err(AuthError::Read { path, error }),
    };
    let config: DockerConfig = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(error) => return Err(AuthError::InvalidConfig { path, error }),
    };
    lookup(&config, registry, &path)
}

fn lookup(config: &DockerConfig, registry: &str, path: &Path) -> Result<Option<Credentials>, AuthError> {
    let host = normalize_registry_host(registry);
    let server_url = if host == DOCKER_HUB { DOCKER_HUB_KEY.to_string() } else { host.clone() };
    if let Some((_, helper)) = config.cred_helpers.iter().find(|(k, _)| normalize_registry_host(k) == host) {
        if let Some(creds) = run_helper(helper, &server_url)? {
            return Ok(Some(creds));
        }
    } else if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        if let Some(creds) = run_helper(store, &server_url)? {
            return Ok(Some(creds));
        }
    }
    // Exact key first (a later alias must not shadow it), then any alias of the host.
    let entry = config
        .auths
        .iter()
        .filter(|(k, _)| normalize_registry_host(k) == host)
        .min_by_key(|(k, _)| k.as_str() != registry);
    let Some((key, entry)) = entry else { return Ok(None) };
    entry_credentials(entry).map_err(|error| AuthError::Entry { path: path.to_path_buf(), key: key.clone(), error })
}

fn entry_credentials(entry: &AuthEntry) -> Result<Option<Credentials>, EntryError> {
    if let Some(token) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::Bearer(token.to_string())));
    }
    if entry.identitytoken.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(EntryError::IdentityToken);
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(EntryError::NotBase64)?;
        let decoded = String::from_utf8(decoded).map_err(|_| EntryError::NotUtf8)?;
        let (username, password) = decoded.split_once(':').ok_or(EntryError::NoColon)?;
        return Ok(Some(Credentials::Basic { username: username.into(), password: password.into() }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => {
            Ok(Some(Credentials::Basic { username: u.clone(), password: p.clone() }))
        }
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// Runs `docker-credential-<helper> get`; "not found" is `None`, anything else failing is an error.
fn run_helper(helper: &str, server_url: &str) -> Result<Option<Credentials>, AuthError> {
    if helper.is_empty() || !helper.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(AuthError::HelperName(helper.to_string()));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| AuthError::HelperSpawn { program: program.clone(), error })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits early closes its stdin; the exit status tells us what happened.
        let _ = stdin.write_all(server_url.as_bytes());
    }
    let out = child.wait_with_output().map_err(|error| AuthError::HelperWait { program: program.clone(), error })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found")
            || String::from_utf8_lossy(&out.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(AuthError::HelperFailed {
            program,
            server_url: server_url.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let reply: HelperReply =
        serde_json::from_str(&stdout).map_err(|error| AuthError::HelperReply { program: program.clone(), error })?;
    if reply.username == "<token>" {
        return Err(AuthError::HelperIdentityToken { program, server_url: server_url.to_string() });
    }
    Ok(Some(Credentials::Basic { username: reply.username, password: reply.secret }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }
    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic { username: u.into(), password: p.into() })
    }

    #[test]
    fn docker_hub_aliases_are_one_host() {
        for k in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "HTTPS://Docker.IO/x",
        ] {
            assert_eq!(normalize_registry_host(k), "docker.io", "{k}");
        }
        assert_eq!(normalize_registry_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_ne!(normalize_registry_host("docker.io.evil.com"), "docker.io");
    }

    #[test]
    fn auths_lookup_by_normalized_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:x");
        let c = cfg(&format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"http://127.0.0.1:5000":{{"username":"bob","password":"pw"}}}}}}"#
        ));
        let p = Path::new("config.json");
        assert_eq!(lookup(&c, "docker.io", p).unwrap(), basic("alice", "s3cret:x"));
        assert_eq!(lookup(&c, "index.docker.io", p).unwrap(), basic("alice", "s3cret:x"));
        assert_eq!(lookup(&c, "127.0.0.1:5000", p).unwrap(), basic("bob", "pw"));
        assert_eq!(lookup(&c, "127.0.0.1:5001", p).unwrap(), None);
        assert_eq!(lookup(&c, "127.0.0.1", p).unwrap(), None);
    }

    #[test]
    fn helpers_take_precedence_and_missing_helper_is_an_error() {
        let c = cfg(
            r#"{"credHelpers":{"reg.example":"nonexistent-h5"},"auths":{"reg.example":{"username":"u","password":"p"}}}"#,
        );
        let err = lookup(&c, "reg.example", Path::new("c.json")).unwrap_err();
        assert!(err.to_string().contains("docker-credential-nonexistent-h5"), "{err}");
        let c = cfg(r#"{"credHelpers":{"reg.example":"../../bin/sh"}}"#);
        assert!(lookup(&c, "reg.example", Path::new("c.json")).is_err());
    }

    /// Puts a fake `docker-credential-armorctest` first on PATH (once per process).
    fn install_fake_helper() {
        use std::os::unix::fs::PermissionsExt;
        static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        ONCE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            let script = dir.join("docker-credential-armorctest");
            std::fs::write(
                &script,
                "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r url\ncase \"$url\" in\n\
                 'https://index.docker.io/v1/') printf '{\"ServerURL\":\"%s\",\"Username\":\"hubuser\",\"Secret\":\"hubpw\"}' \"$url\";;\n\
                 'reg.example:5000') printf '{\"ServerURL\":\"%s\",\"Username\":\"reguser\",\"Secret\":\"regpw\"}' \"$url\";;\n\
                 *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![dir.clone()];
            paths.extend(std::env::split_paths(&path));
            std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
            dir
        });
    }

    #[test]
    fn creds_store_and_helpers_are_asked_by_server_url() {
        install_fake_helper();
        let p = Path::new("c.json");
        let c = cfg(r#"{"credsStore":"armorctest","auths":{"fallback.example":{"username":"fb","password":"fbpw"}}}"#);
        assert_eq!(lookup(&c, "docker.io", p).unwrap(), basic("hubuser", "hubpw"));
        assert_eq!(lookup(&c, "registry-1.docker.io", p).unwrap(), basic("hubuser", "hubpw"));
        assert_eq!(lookup(&c, "reg.example:5000", p).unwrap(), basic("reguser", "regpw"));
        // Not in the store: the auths entry still applies.
        assert_eq!(lookup(&c, "fallback.example", p).unwrap(), basic("fb", "fbpw"));
        assert_eq!(lookup(&c, "nowhere.example", p).unwrap(), None);
        // credHelpers win over credsStore and auths for their host.
        let c = cfg(
            r#"{"credsStore":"nonexistent-h5","credHelpers":{"https://reg.example:5000":"armorctest"},"auths":{"reg.example:5000":{"username":"a","password":"b"}}}"#,
        );
        assert_eq!(lookup(&c, "reg.example:5000", p).unwrap(), basic("reguser", "regpw"));
    }

    #[test]
    fn identity_tokens_are_refused_clearly() {
        let c = cfg(r#"{"auths":{"r.example":{"identitytoken":"abc"}}}"#);
        let err = lookup(&c, "r.example", Path::new("c.json")).unwrap_err().to_string();
        assert!(err.contains("identity tokens"), "{err}");
        let c = cfg(r#"{"auths":{"r.example":{"registrytoken":"tok"}}}"#);
        assert_eq!(lookup(&c, "r.example", Path::new("c.json")).unwrap(), Some(Credentials::Bearer("tok".into())));
    }
}

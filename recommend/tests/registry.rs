//! Image sources against real registries (Debian's docker-registry), a token server, recording
//! proxies and skopeo-written layouts/archives. Needs .ci/install-recommend.sh.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;
mod registry_support;

use std::sync::{Arc, Mutex};

use armorc_recommend::image::{load_image, ImageLoadError, LoadOptions, LoadedImage};
use armorc_recommend::{EntryKind, OsRelease};
use oci_client::secrets::RegistryAuth;
use registry_support::*;

const ALICE: (&str, &str) = ("alice", "alice-pw-1");
const BOB: (&str, &str) = ("bob", "bob-pw-2");
const MALLORY: (&str, &str) = ("mallory", "never-sent-3");

fn base_entries() -> Vec<E> {
    vec![
        E::Dir("etc"),
        file("etc/os-release", 0o644, "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.1\n"),
        file("usr/bin/busybox", 0o755, "#!busybox"),
        E::Symlink("bin", "usr/bin"),
        E::Symlink("usr/bin/sh", "busybox"),
    ]
}

/// amd64 and arm64 images with different files, plus a buildx-style attestation entry.
fn push_multi_arch(p: &Pusher) {
    let (base, base_type) = compress(&layer_tar(&base_entries()), Compression::Gzip);
    let (amd, amd_type) = compress(&layer_tar(&[file("usr/bin/amd64-tool", 0o755, "x86")]), Compression::Gzip);
    let (arm, arm_type) = compress(&layer_tar(&[file("usr/bin/arm64-tool", 0o755, "arm")]), Compression::Zstd);
    let (att, att_type) = compress(&layer_tar(&[file("intoto.json", 0o644, "{}")]), Compression::None);
    let amd64 = p.push_image("multi", "amd64", ("linux", "amd64", None), &[(base.clone(), base_type), (amd, amd_type)]);
    let arm64 = p.push_image("multi", "arm64", ("linux", "arm64", Some("v8")), &[(base, base_type), (arm, arm_type)]);
    let attest = p.push_image("multi", "att", ("unknown", "unknown", None), &[(att, att_type)]);
    p.push_index(
        "multi",
        "v1",
        &[(attest, "unknown", "unknown", None), (arm64, "linux", "arm64", Some("v8")), (amd64, "linux", "amd64", None)],
    );
}

/// Three layers (gzip, zstd, plain): whiteouts, an opaque dir, symlinks, a hard link, and
/// os-release turned into a symlink to /usr/lib/os-release by an upper layer.
/// Returns the digest of the last (uncompressed) layer.
fn push_layered(p: &Pusher) -> String {
    let mut l1 = base_entries();
    l1.extend([
        E::Symlink("usr/bin/ls", "busybox"),
        file("etc/secret.conf", 0o600, "s"),
        file("opt/app/old1", 0o644, "1"),
        file("opt/app/old2", 0o644, "2"),
        file("var/cache/x/y", 0o644, "y"),
        file("usr/bin/perl5.36", 0o755, "perl"),
    ]);
    let l2 = vec![
        file("etc/.wh.secret.conf", 0o644, ""),
        E::Dir("opt/app"),
        file("opt/app/.wh..wh..opq", 0o644, ""),
        file("opt/app/new", 0o644, "n"),
        file("var/.wh.cache", 0o644, ""),
        E::Hardlink("usr/bin/perl", "usr/bin/perl5.36"),
        file("usr/lib/os-release", 0o644, "ID=ubuntu\nVERSION_ID=\"24.04\"\n"),
        E::Symlink("etc/os-release", "../usr/lib/os-release"),
    ];
    let l3 = vec![E::Symlink("usr/sbin/nologin", "/bin/busybox"), file("var/cache/new", 0o644, "c")];
    let layers = [
        compress(&layer_tar(&l1), Compression::Gzip),
        compress(&layer_tar(&l2), Compression::Zstd),
        compress(&layer_tar(&l3), Compression::None),
    ];
    p.push_image("layered", "v1", ("linux", "amd64", None), &layers);
    sha256(&layers[2].0)
}

fn push_hostile(p: &Pusher) {
    let bare = compress(&layer_tar(&[file("etc/.wh.", 0o644, "")]), Compression::Gzip);
    p.push_image("hostile", "bare-whiteout", ("linux", "amd64", None), &[bare]);
    let looped = compress(&layer_tar(&[E::Symlink("a", "b"), E::Symlink("b", "a")]), Compression::Gzip);
    p.push_image("hostile", "loop", ("linux", "amd64", None), &[looped]);
}

fn check_multi(img: &LoadedImage, arch: &str) {
    let other = if arch == "amd64" { "arm64" } else { "amd64" };
    assert!(
        img.index.is_executable(&format!("/usr/bin/{arch}-tool")),
        "{arch}: {:?}",
        img.index.paths().collect::<Vec<_>>()
    );
    assert!(img.index.is_executable(&format!("/bin/{arch}-tool")), "usr-merge symlink");
    assert!(!img.index.exists(&format!("/usr/bin/{other}-tool")));
    assert!(!img.index.exists("/intoto.json"), "attestation layer must not be loaded");
    assert_eq!(img.os_release, Some(OsRelease { id: "alpine".into(), version_id: "3.20.1".into() }));
    assert!(img.platform.starts_with(&format!("linux/{arch}")), "{}", img.platform);
}

fn check_layered(img: &LoadedImage) {
    let ix = &img.index;
    assert!(!ix.exists("/etc/secret.conf"), "whiteout");
    assert!(ix.exists("/opt/app/new") && !ix.exists("/opt/app/old1") && !ix.exists("/opt/app/old2"), "opaque dir");
    assert!(!ix.exists("/var/cache/x/y") && !ix.exists("/var/cache/x"), "whited-out dir");
    assert!(ix.is_file("/var/cache/new"), "re-created after whiteout");
    assert_eq!(ix.resolve("/bin/sh").map(|(p, _)| p), Some("/usr/bin/busybox".to_string()));
    assert!(ix.is_executable("/bin/ls") && ix.is_executable("/usr/sbin/nologin"), "busybox applets");
    assert!(ix.is_executable("/usr/bin/perl"));
    assert_eq!(ix.lookup("/usr/bin/perl"), Some(&EntryKind::Hardlink { target: "/usr/bin/perl5.36".into() }));
    assert_eq!(ix.lookup("/etc/secret.conf"), None);
    assert_eq!(img.os_release, Some(OsRelease { id: "ubuntu".into(), version_id: "24.04".into() }));
    assert_eq!(ix.os_release(), img.os_release);
    assert_eq!(img.platform, "linux/amd64");
}

fn opts(plain: &[String], config: &std::path::Path, platform: Option<&str>) -> LoadOptions {
    LoadOptions {
        platform: platform.map(str::to_string),
        plain_http: plain.to_vec(),
        docker_config: Some(config.to_path_buf()),
        retries: 1,
        ..LoadOptions::default()
    }
}

fn mentions(seen: &Seen, needle: &str) -> bool {
    seen.path.contains(needle) || seen.headers.iter().any(|(k, v)| k.contains(needle) || v.contains(needle))
}

/// htpasswd registry behind a recording proxy that redirects blob downloads to a third host.
#[test]
fn basic_auth_registry_platforms_layers_and_header_routing() {
    if !tools_present(&[REGISTRY_BIN, "htpasswd", "skopeo"]) {
        return;
    }
    let registry =
        Registry::start("127.0.0.1", RegistryAuthMode::Htpasswd { user: ALICE.0.into(), password: ALICE.1.into() });
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let cdn = recording_proxy(
        "cdn",
        "127.0.0.4",
        registry.addr,
        log.clone(),
        ProxyOptions { upstream_authorization: Some(basic_header(ALICE.0, ALICE.1)), ..Default::default() },
    );
    let proxy = recording_proxy(
        "proxy-a",
        "127.0.0.1",
        registry.addr,
        log.clone(),
        ProxyOptions { redirect_blobs_to: Some(format!("http://{}", cdn.addr)), ..Default::default() },
    );
    let direct = registry.addr.to_string();
    let pusher = Pusher::new(&direct, vec![direct.clone()], RegistryAuth::Basic(ALICE.0.into(), ALICE.1.into()));
    push_multi_arch(&pusher);
    let plain_layer = push_layered(&pusher);
    push_hostile(&pusher);

    let host = proxy.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    // Keys with scheme and path: Docker's normalization must still find them. The decoy is for
    // a host we never contact.
    let config = docker_config(
        dir.path(),
        &[(&format!("http://{host}/v2/"), ALICE.0, ALICE.1), ("127.0.0.9:5000", MALLORY.0, MALLORY.1)],
    );
    let plain = vec![host.clone()];

    let amd = load_image(&format!("{host}/multi:v1"), &opts(&plain, &config, None)).unwrap();
    check_multi(&amd, "amd64");
    let arm = load_image(&format!("{host}/multi:v1"), &opts(&plain, &config, Some("linux/arm64"))).unwrap();
    check_multi(&arm, "arm64");
    assert_ne!(amd.digest, arm.digest);
    assert_eq!(arm.reference, format!("{host}/multi:v1"));

    let err = load_image(&format!("{host}/multi:v1"), &opts(&plain, &config, Some("linux/s390x"))).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ImageLoadError::Platform { .. }), "{err:?}");
    assert!(text.contains("linux/s390x") && text.contains("linux/amd64") && text.contains("linux/arm64/v8"), "{text}");
    assert!(!text.contains("unknown"), "attestations are not platforms: {text}");
    // A single-platform image does not silently satisfy another platform.
    let err = load_image(&format!("{host}/layered:v1"), &opts(&plain, &config, Some("linux/arm64"))).unwrap_err();
    assert!(err.to_string().contains("available: linux/amd64"), "{err}");

    let layered = load_image(&format!("{host}/layered:v1"), &opts(&plain, &config, None)).unwrap();
    check_layered(&layered);
    let by_digest = load_image(&format!("{host}/layered@{}", layered.digest), &opts(&plain, &config, None)).unwrap();
    assert_eq!(by_digest.index.paths().collect::<Vec<_>>(), layered.index.paths().collect::<Vec<_>>());

    let err =
        load_image(&format!("{host}/hostile:bare-whiteout"), &opts(&plain, &config, None)).unwrap_err().to_string();
    assert!(err.contains("layer sha256:") && err.contains("whiteout marker names no entry"), "{err}");
    let err = load_image(&format!("{host}/hostile:loop"), &opts(&plain, &config, None)).unwrap_err().to_string();
    assert!(err.contains("symlink loop") && err.contains("max-symlink-hops"), "{err}");
    let tight = LoadOptions {
        limits: armorc_recommend::Limits { max_entries: 5, ..Default::default() },
        ..opts(&plain, &config, None)
    };
    let err = load_image(&format!("{host}/layered:v1"), &tight).unwrap_err().to_string();
    assert!(err.contains("max-entries=5"), "{err}");

    // Header routing: alice's password reached only proxy-a; the redirected blob host saw no
    // credentials; the decoy never left the machine's config.
    let seen = log.lock().unwrap().clone();
    let alice = basic_header(ALICE.0, ALICE.1);
    assert!(
        seen.iter().any(|s| s.server == "proxy-a" && s.header("authorization") == Some(alice.as_str())),
        "credentials used"
    );
    for s in &seen {
        if let Some(a) = s.header("authorization") {
            assert!(
                s.server == "proxy-a" && a == alice,
                "unexpected Authorization at {}: {} {}",
                s.server,
                s.method,
                s.path
            );
        }
        assert!(
            !mentions(s, MALLORY.0) && !mentions(s, &basic_header(MALLORY.0, MALLORY.1)),
            "decoy leaked to {}",
            s.server
        );
    }
    assert!(
        seen.iter().any(|s| s.server == "cdn" && s.path.contains("/blobs/sha256:")),
        "blobs went through the redirect"
    );

    // A blob altered in transit fails its digest check, naming the layer.
    let corrupting = recording_proxy(
        "proxy-corrupt",
        "127.0.0.1",
        registry.addr,
        log.clone(),
        ProxyOptions { corrupt_blob: Some(plain_layer.clone()), ..Default::default() },
    );
    let bad_host = corrupting.addr.to_string();
    let bad_config = docker_config(dir.path(), &[(&bad_host, ALICE.0, ALICE.1)]);
    let err = load_image(&format!("{bad_host}/layered:v1"), &opts(std::slice::from_ref(&bad_host), &bad_config, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&plain_layer) && err.to_lowercase().contains("digest"), "{err}");

    // Transient 503s on blob downloads are retried.
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(3));
    let flaky = recording_proxy(
        "proxy-flaky",
        "127.0.0.1",
        registry.addr,
        log.clone(),
        ProxyOptions { fail_blob_gets: Some(failures.clone()), ..Default::default() },
    );
    let flaky_host = flaky.addr.to_string();
    let flaky_config = docker_config(dir.path(), &[(&flaky_host, ALICE.0, ALICE.1)]);
    let retrying = LoadOptions { retries: 3, ..opts(std::slice::from_ref(&flaky_host), &flaky_config, None) };
    check_layered(&load_image(&format!("{flaky_host}/layered:v1"), &retrying).unwrap());
    assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 0, "all injected failures were hit");
    // A registry that never answers times out instead of hanging.
    let hanging = recording_proxy(
        "proxy-hang",
        "127.0.0.1",
        registry.addr,
        log.clone(),
        ProxyOptions { hang: true, ..Default::default() },
    );
    let hang_host = hanging.addr.to_string();
    let quick = LoadOptions {
        retries: 0,
        timeout: std::time::Duration::from_secs(1),
        ..opts(std::slice::from_ref(&hang_host), &flaky_config, None)
    };
    let started = std::time::Instant::now();
    let err = load_image(&format!("{hang_host}/layered:v1"), &quick).unwrap_err().to_string();
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(err.contains(&hang_host), "{err}");

    // Without --plain-http the registry is reached over HTTPS only, and fails clearly.
    let err = load_image(&format!("{host}/layered:v1"), &opts(&[], &config, None)).unwrap_err().to_string();
    assert!(err.contains(&host), "{err}");
    // Wrong password: an authorization error naming the host.
    let wrong = docker_config(dir.path(), &[(&host, ALICE.0, "wrong")]);
    let err = load_image(&format!("{host}/layered:v1"), &opts(&plain, &wrong, None)).unwrap_err();
    assert!(matches!(err, ImageLoadError::Auth(_) | ImageLoadError::Registry(_)), "{err:?}");
    assert!(err.to_string().contains(&host), "{err}");

    // skopeo writes the local formats from the same registry; they load to the same trees.
    let skopeo = |src: &str, dest: &str, all: bool| {
        let mut cmd = std::process::Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--src-tls-verify=false", "--src-creds", &format!("{}:{}", ALICE.0, ALICE.1)]);
        if all {
            cmd.arg("--all");
        }
        let out = cmd.arg(format!("docker://{direct}/{src}")).arg(dest).output().unwrap();
        assert!(out.status.success(), "skopeo {src} -> {dest}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let oci_dir = dir.path().join("layout");
    skopeo("multi:v1", &format!("oci:{}:v1", oci_dir.display()), true);
    skopeo("layered:v1", &format!("oci:{}:layered", oci_dir.display()), false);
    let spec = format!("oci:{}:v1", oci_dir.display());
    check_multi(&load_image(&spec, &opts(&[], &config, Some("linux/arm64"))).unwrap(), "arm64");
    check_multi(&load_image(&spec, &opts(&[], &config, None)).unwrap(), "amd64");
    check_layered(&load_image(&format!("oci:{}:layered", oci_dir.display()), &opts(&[], &config, None)).unwrap());
    let err = load_image(&format!("oci:{}", oci_dir.display()), &opts(&[], &config, None)).unwrap_err().to_string();
    assert!(err.contains("several images") && err.contains("layered") && err.contains("v1"), "{err}");

    // A tampered layer blob in a layout is refused, naming the layer (skopeo recompresses the
    // plain layer, so the decoder's check or our digest check fires, whichever comes first).
    let blob_file = |digest: &str| oci_dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(oci_dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "layered")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob_file(&manifest_digest)).unwrap()).unwrap();
    let last_layer = manifest["layers"][2]["digest"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(blob_file(&last_layer)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(blob_file(&last_layer), bytes).unwrap();
    let err =
        load_image(&format!("oci:{}:layered", oci_dir.display()), &opts(&[], &config, None)).unwrap_err().to_string();
    assert!(err.contains(&format!("layer {last_layer}")), "{err}");

    let oci_archive = dir.path().join("layered.oci.tar");
    skopeo("layered:v1", &format!("oci-archive:{}:v1", oci_archive.display()), false);
    check_layered(&load_image(&format!("oci-archive:{}", oci_archive.display()), &opts(&[], &config, None)).unwrap());

    let docker_archive = dir.path().join("multi.docker.tar");
    skopeo("multi:v1", &format!("docker-archive:{}:multi:v1", docker_archive.display()), false);
    let img = load_image(&format!("docker-archive:{}", docker_archive.display()), &opts(&[], &config, None)).unwrap();
    check_multi(&img, "amd64");
    let img = load_image(&format!("docker-archive:{}:multi:v1", docker_archive.display()), &opts(&[], &config, None))
        .unwrap();
    check_multi(&img, "amd64");
    let err =
        load_image(&format!("docker-archive:{}", docker_archive.display()), &opts(&[], &config, Some("linux/arm64")))
            .unwrap_err()
            .to_string();
    assert!(err.contains("no image for platform linux/arm64; available: linux/amd64"), "{err}");
}

/// Token-auth registry on 127.0.0.2 whose realm is a token server on 127.0.0.3.
#[test]
fn token_auth_sends_password_only_to_the_realm() {
    if !tools_present(&[REGISTRY_BIN, "openssl"]) {
        return;
    }
    let keys = Arc::new(TokenKeys::generate());
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let (service, issuer) = ("armorc-test-registry".to_string(), "armorc-test-issuer".to_string());
    let tokens = token_server(
        "127.0.0.3",
        keys.clone(),
        service.clone(),
        issuer.clone(),
        BOB.0.into(),
        BOB.1.into(),
        log.clone(),
    );
    let realm_host = tokens.addr.to_string();
    let registry = Registry::start(
        "127.0.0.2",
        RegistryAuthMode::Token {
            realm: format!("http://{realm_host}/token"),
            service,
            issuer,
            cert_pem: keys.cert_pem.clone(),
        },
    );
    let proxy = recording_proxy("proxy-b", "127.0.0.2", registry.addr, log.clone(), ProxyOptions::default());
    let direct = registry.addr.to_string();
    let pusher = Pusher::new(&direct, vec![direct.clone()], RegistryAuth::Basic(BOB.0.into(), BOB.1.into()));
    push_layered(&pusher);
    push_multi_arch(&pusher);
    log.lock().unwrap().clear(); // pushes are setup, not under test

    let host = proxy.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&host, BOB.0, BOB.1), ("127.0.0.1:5000", ALICE.0, ALICE.1)]);
    let plain = vec![host.clone(), realm_host.clone()];
    check_layered(&load_image(&format!("{host}/layered:v1"), &opts(&plain, &config, None)).unwrap());
    check_multi(
        &load_image(&format!("{host}/multi:v1"), &opts(&plain, &config, Some("linux/arm64/v8"))).unwrap(),
        "arm64",
    );

    let seen = log.lock().unwrap().clone();
    let bob = basic_header(BOB.0, BOB.1);
    let to_realm: Vec<&Seen> = seen.iter().filter(|s| s.server == "token").collect();
    assert!(!to_realm.is_empty(), "token server was asked");
    for s in &to_realm {
        assert_eq!(s.header("authorization"), Some(bob.as_str()), "realm gets bob's password: {}", s.path);
        assert!(
            s.path.contains("scope=repository%3Alayered%3Apull")
                || s.path.contains("scope=repository%3Amulti%3Apull")
                || s.path.contains("repository:"),
            "{}",
            s.path
        );
    }
    let bearer = seen
        .iter()
        .filter(|s| s.server == "proxy-b" && s.header("authorization").is_some_and(|a| a.starts_with("Bearer ")))
        .count();
    assert!(bearer > 0, "registry got bearer tokens");
    for s in seen.iter().filter(|s| s.server == "proxy-b") {
        assert!(
            !s.header("authorization").is_some_and(|a| a.starts_with("Basic")),
            "password sent to the registry: {} {}",
            s.method,
            s.path
        );
    }
    for s in &seen {
        assert!(!mentions(s, &basic_header(ALICE.0, ALICE.1)), "another host's credentials leaked to {}", s.server);
    }

    // A realm over plain HTTP that the user did not list: no credential leaves.
    let before = log.lock().unwrap().iter().filter(|s| s.server == "token").count();
    let err = load_image(&format!("{host}/layered:v1"), &opts(std::slice::from_ref(&host), &config, None)).unwrap_err();
    assert!(matches!(err, ImageLoadError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("refusing to send credentials") && err.to_string().contains(&realm_host), "{err}");
    let after = log.lock().unwrap().iter().filter(|s| s.server == "token").count();
    assert_eq!(before, after, "the token realm was not contacted");

    // No credentials: the registry refuses and the error says so.
    let empty = docker_config(dir.path(), &[]);
    let err = load_image(&format!("{host}/layered:v1"), &opts(&plain, &empty, None)).unwrap_err();
    assert!(err.to_string().contains("not authorized") || err.to_string().contains("401"), "{err}");
}

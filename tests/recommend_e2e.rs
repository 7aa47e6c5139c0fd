//! `armorc recommend` against a real loopback registry (Debian's docker-registry, started here on a
//! free port; images pushed with skopeo from OCI layouts built by the test): `-i` with
//! `--plain-http`, and `-f` over a Deployment with two containers. The policies pass
//! `armorc lint --deny warning` and compile to BPF and AppArmor. Tools: .ci/install-recommend.sh.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;
mod recommend_support;

use recommend_support::{oci_layout, tools_present, Entry};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Registry {
    host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry() -> Registry {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: armorc-e2e\n",
        dir.path().join("data").display()
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "docker-registry exited");
        assert!(Instant::now() < deadline, "docker-registry did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry { host: addr.to_string(), child, _dir: dir }
}

fn push(layout_spec: &str, reference: &str) {
    let st = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", layout_spec, &format!("docker://{reference}")])
        .status()
        .expect("skopeo");
    assert!(st.success(), "skopeo copy {layout_spec} -> {reference}");
}

fn armorc(args: &[&str], extra: &[&Path]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_armorc")).args(args).args(extra).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn lint_and_compile(policies: &Path, workloads: &Path, tmp: &Path) {
    let lint = armorc(&["lint", "--deny", "warning"], &[policies]);
    assert_eq!(lint.status.code(), Some(0), "{}", String::from_utf8_lossy(&lint.stdout));
    let art = tmp.join("artifacts");
    let compile = Command::new(env!("CARGO_BIN_EXE_armorc"))
        .args(["compile", "--target", "all", "--deny", "warning", "--workloads"])
        .arg(workloads)
        .arg("--out")
        .arg(&art)
        .arg(policies)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&compile.stderr);
    assert_eq!(compile.status.code(), Some(0), "{err}");
    assert!(!err.contains(" 0 target(s)"), "something was compiled: {err}");
}

#[test]
fn registry_image_and_two_container_deployment() {
    if !tools_present()
        || ["docker-registry", "skopeo"].iter().any(|t| Command::new(t).arg("--version").output().is_err())
    {
        common::skip_or_fail("docker-registry/skopeo/tar/sha256sum not installed; run .ci/install-recommend.sh");
        return;
    }
    let reg = start_registry();
    let tmp = tempfile::tempdir().unwrap();
    let web = oci_layout(
        tmp.path(),
        "web",
        &[
            Entry::File("/usr/sbin/nginx", 0o755),
            Entry::Dir("/etc/nginx"),
            Entry::File("/usr/bin/dash", 0o755),
            Entry::Symlink("/usr/bin/sh", "dash"),
            Entry::Symlink("/bin", "usr/bin"),
            Entry::File("/usr/bin/apt-get", 0o755),
        ],
    );
    let cache = oci_layout(
        tmp.path(),
        "cache",
        &[
            Entry::File("/usr/local/bin/redis-server", 0o755),
            Entry::File("/usr/local/bin/redis-cli", 0o755),
            Entry::File("/sbin/apk", 0o755),
        ],
    );
    let web_ref = format!("{}/shop/web:1.0", reg.host);
    let cache_ref = format!("{}/shop/cache:7", reg.host);
    push(&web, &web_ref);
    push(&cache, &cache_ref);

    // -i with --plain-http.
    let out = tmp.path().join("out-i");
    let o =
        armorc(&["recommend", "-i", &web_ref, "--plain-http", &reg.host, "-n", "shop", "-r", "r.json", "-o"], &[&out]);
    assert_eq!(o.status.code(), Some(0));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("r.json")).unwrap()).unwrap();
    let img = &report["images"][0];
    assert!(img["digest"].as_str().unwrap().starts_with("sha256:"), "{img}");
    assert_eq!(img["platform"], "linux/amd64");
    let names: Vec<&str> =
        img["policies"].as_array().unwrap().iter().map(|p| p["template"].as_str().unwrap()).collect();
    for t in ["nginx-config-protect", "apt-dpkg-exec", "shell-exec-audit"] {
        assert!(names.contains(&t), "{t} in {names:?}");
    }
    assert!(!names.contains(&"redis-cli-audit"));
    let dir = out.join(format!("shop-{}", armorc_recommend::render::dns_name(&web_ref)));
    assert!(dir.is_dir(), "{}", dir.display());
    let pod = tmp.path().join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {containers: [{name: web, image: x}]}\n").unwrap();
    lint_and_compile(&dir, &pod, &tmp.path().join("i"));

    // -f over a Deployment with two containers.
    let deploy = tmp.path().join("deploy.yaml");
    std::fs::write(
        &deploy,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop, namespace: prod}}\nspec:\n  selector: {{matchLabels: {{app: shop}}}}\n  template:\n    metadata: {{labels: {{app: shop}}}}\n    spec:\n      containers:\n        - {{name: web, image: '{web_ref}'}}\n        - {{name: cache, image: '{cache_ref}'}}\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("out-f");
    let o = armorc(&["recommend", "--plain-http", &reg.host, "-f"], &[&deploy, Path::new("-o"), &out]);
    assert_eq!(o.status.code(), Some(0));
    let dir = out.join("prod-shop");
    assert!(dir.join("web-nginx-config-protect.yaml").is_file());
    assert!(dir.join("cache-redis-cli-audit.yaml").is_file());
    assert!(dir.join("cache-apk-exec.yaml").is_file());
    assert!(!dir.join("web-redis-cli-audit.yaml").exists());
    let text = std::fs::read_to_string(dir.join("cache-apk-exec.yaml")).unwrap();
    assert!(text.contains("matchLabels:\n      app: shop\n      kubearmor.io/container.name: \"[cache]\"\n"), "{text}");
    lint_and_compile(&dir, &deploy, &tmp.path().join("f"));

    // The wrong platform fails clearly, exit 1, and the report says why.
    let out = tmp.path().join("out-p");
    let o =
        armorc(&["recommend", "-i", &web_ref, "--plain-http", &reg.host, "--platform", "linux/arm64", "-o"], &[&out]);
    assert_eq!(o.status.code(), Some(1));
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(report.contains("Error") && report.contains("linux/amd64"), "{report}");
}

//! Against a real Debian bookworm image (`.ci/install-images.sh`: mmdebstrap's minbase plus
//! iproute2, as an OCI layout under /var/cache/armorc-images, or `ARMORC_BOOKWORM_IMAGE=DIR`):
//! a policy blocking `/bin/ls`, `/bin/` and `/sbin/ip` gets an I001 symlink warning for each with
//! the `/usr/...` fix, and `compile --resolve-symlinks` makes `armorc query` deny the exec of
//! `/usr/bin/ls`, which is what the kernel sees; without the flag it is allowed.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn image_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ARMORC_BOOKWORM_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/armorc-images/bookworm"));
    dir.join("index.json").exists().then_some(dir)
}

fn armorc(args: &[&str], stdin: Option<&str>) -> Output {
    let out = match stdin {
        Some(text) => common::armorc_with_stdin(args, text),
        None => common::armorc(args),
    };
    eprintln!("armorc {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

fn write_inputs(dir: &Path) {
    std::fs::create_dir_all(dir.join("p")).unwrap();
    std::fs::create_dir_all(dir.join("w")).unwrap();
    std::fs::write(
        dir.join("p/block.yaml"),
        "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: block-tools, namespace: demo}\n\
         spec:\n  selector: {matchLabels: {app: web}}\n  process:\n    matchPaths:\n      - path: /bin/ls\n      - path: /sbin/ip\n\
         \x20   matchDirectories:\n      - dir: /bin/\n  action: Block\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("w/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\nspec:\n  selector: {matchLabels: {app: web}}\n\
         \x20 template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: app, image: debian:bookworm}]\n",
    )
    .unwrap();
}

fn exec_decision(out: &Path, path: &str) -> String {
    let image = out.join("bpf/demo/web/app.img");
    let line = format!("{{\"op\":\"exec\",\"path\":\"{path}\",\"source\":\"/usr/bin/bash\"}}\n");
    let q = armorc(&["query", "--image", image.to_str().unwrap()], Some(&line));
    assert!(q.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    answer["decision"].as_str().unwrap().to_string()
}

#[test]
fn bookworm_symlinked_paths_are_reported_and_resolved() {
    let Some(image) = image_dir() else {
        common::skip_or_fail("no Debian bookworm image (run .ci/install-images.sh, or set ARMORC_BOOKWORM_IMAGE)");
        return;
    };
    let spec = format!("oci:{}:bookworm", image.display());
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let policies = dir.path().join("p");

    let lint = armorc(&["lint", policies.to_str().unwrap(), "--image", &spec, "--format", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&lint.stdout).unwrap();
    let i001: Vec<String> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "I001")
        .map(|d| format!("{} {}", d["line"], d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(i001.len(), 3, "one I001 per path: {i001:#?}");
    for (line, resolved) in [("8", "/usr/bin/ls"), ("9", "/usr/bin/ip"), ("11", "/usr/bin/")] {
        assert!(
            i001.iter().any(|m| m.starts_with(&format!("{line} ")) && m.contains(resolved)),
            "line {line} should name {resolved}: {i001:#?}"
        );
    }

    let workloads = dir.path().join("w");
    let compile = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "compile",
            policies.to_str().unwrap(),
            "--workloads",
            workloads.to_str().unwrap(),
            "--target",
            "bpf",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        assert!(armorc(&args, None).status.success());
    };
    let plain = dir.path().join("plain");
    compile(&plain, &[]);
    assert_eq!(exec_decision(&plain, "/usr/bin/ls"), "allow", "without --resolve-symlinks /usr/bin/ls is not matched");
    let resolved = dir.path().join("resolved");
    compile(&resolved, &["--resolve-symlinks", &spec]);
    for path in ["/usr/bin/ls", "/usr/bin/ip", "/usr/bin/cat", "/bin/ls"] {
        assert_eq!(exec_decision(&resolved, path), "deny", "{path} with --resolve-symlinks");
    }
}

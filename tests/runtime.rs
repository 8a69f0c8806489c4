//! The runtime is verified before every load: a missing or tampered runtime is a clear
//! `runtime` error naming the command that fixes it, never a crash or a silent download.

mod common;

use common::*;

fn dynamic_sdist(dir: &std::path::Path) -> std::path::PathBuf {
    write_sdist(
        dir,
        "dyn-1.0",
        Kind::TarGz,
        &[file(
            "dyn-1.0/setup.py",
            "from setuptools import setup\nsetup(name='dyn', version='1.0')\n",
        )],
    )
}

#[test]
fn tampered_runtime_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tmp.path().join("rt");
    std::fs::create_dir_all(rt.join("site")).unwrap();
    std::fs::write(rt.join("installed.json"), "{}").unwrap();
    std::fs::write(rt.join("python.wasm"), b"\0asm not the pinned runtime").unwrap();
    let sdist = dynamic_sdist(tmp.path());
    let (code, v) = inspect_one(&["--runtime", rt.to_str().unwrap()], &sdist);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("runtime"), "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("sha256") && msg.contains("sdistill runtime install"),
        "{msg}"
    );
}

#[test]
fn missing_runtime_offline_names_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let sdist = dynamic_sdist(tmp.path());
    let empty = tmp.path().join("empty-cache");
    let (code, v) = inspect_env(
        &["--offline", sdist.to_str().unwrap()],
        &[("SDISTILL_CACHE_DIR", empty.as_os_str())],
    );
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v[0]), Some("runtime"));
    assert!(v[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sdistill runtime install"));
}

#[test]
fn runtime_info_reports_the_lock() {
    let out = run(&["runtime", "info"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"),
        "{text}"
    );
    assert!(text.contains("setuptools"), "{text}");
}

//! Resources the whole process shares — descriptors, disk, time, work dirs, the cache —
//! and the guests that try to exhaust them: one input must never change another's answer
//! or the cache, and every bound must hold however the guest writes or waits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// An sdist whose setup.py reads its requirements from a file, and (like real ones)
/// swallows a failure to read it: a wrong answer if the read fails for a host reason.
fn victim(dir: &Path, name: &str) -> PathBuf {
    let top = format!("{name}-1.0");
    let setup = format!(
        "from setuptools import setup\ntry:\n    reqs = open('requirements.txt').read().split()\nexcept Exception:\n    reqs = []\nsetup(name='{name}', version='1.0', install_requires=reqs)\n"
    );
    write_sdist(
        dir,
        &top,
        Kind::TarGz,
        &[
            file(
                &format!("{top}/PKG-INFO"),
                &format!("Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n"),
            ),
            file(&format!("{top}/setup.py"), &setup),
            file(&format!("{top}/requirements.txt"), "alpha>=1\nbeta<2\n"),
        ],
    )
}

fn assert_victim(v: &serde_json::Value, name: &str) {
    assert!(v["error"].is_null(), "victim failed: {v}");
    assert_eq!(v["name"], name, "{v}");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["alpha>=1", "beta<2"]),
        "victim got a wrong answer: {v}"
    );
}

/// Opens files until the sandbox refuses, keeps them open, and waits for the others.
const DESCRIPTOR_HOG: &str = r#"
import os, time
held = []
for i in range(1_000_000):
    try:
        held.append(open('/sdist/setup.py'))
    except OSError:
        break
time.sleep(3)
"#;

#[test]
fn a_descriptor_hog_changes_no_other_answer_nor_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, runtime) = private_cache();
    let hog = setup_py_sdist(tmp.path(), "hog", &honest("hog", DESCRIPTOR_HOG));
    let victims: Vec<PathBuf> = (0..3)
        .map(|i| victim(tmp.path(), &format!("victim{i}")))
        .collect();
    let mut inputs: Vec<String> = vec![hog.display().to_string()];
    for v in &victims {
        inputs.push(v.display().to_string());
        inputs.push(hog.display().to_string());
    }
    // Repeated: the race between the hog and its victims must never go the wrong way.
    // The first rounds fill the cache, the later ones read it.
    for round in 0..4 {
        let mut args = vec![
            "inspect",
            "--format",
            "json",
            "-j",
            "2",
            "--runtime",
            &runtime,
        ];
        args.extend(inputs.iter().map(String::as_str));
        let out = run_env(
            &args,
            &[
                ("SDISTILL_CACHE_DIR", cache.path().as_os_str()),
                ("SDISTILL_NO_CACHE", "0".as_ref()),
            ],
        );
        let arr: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        for (i, v) in arr.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(error_kind(v), Some("limit"), "round {round}: {v}");
                assert_eq!(v["error"]["limit"], "open-files", "{v}");
            } else {
                assert_victim(v, &format!("victim{}", i / 2));
            }
        }
    }
}

#[test]
fn a_host_out_of_descriptors_voids_the_answer() {
    // The process itself is starved (a tiny RLIMIT_NOFILE, below what sdistill's own
    // accounting assumes): the victim's read fails for a host reason, and the answer it
    // would then compute is discarded, never reported or cached.
    let tmp = tempfile::tempdir().unwrap();
    let name = "starved";
    let top = format!("{name}-1.0");
    let setup = "import os\nheld = []\nfor i in range(60):\n    try:\n        held.append(open('setup.py'))\n    except OSError:\n        break\ntry:\n    reqs = open('requirements.txt').read().split()\nexcept Exception:\n    reqs = []\nfrom setuptools import setup\nsetup(name='starved', version='1.0', install_requires=reqs)\n";
    let path = write_sdist(
        tmp.path(),
        &top,
        Kind::TarGz,
        &[
            file(
                &format!("{top}/PKG-INFO"),
                "Metadata-Version: 1.0\nName: starved\nVersion: 1.0\n",
            ),
            file(&format!("{top}/setup.py"), setup),
            file(&format!("{top}/requirements.txt"), "alpha>=1\n"),
        ],
    );
    let script = format!(
        "ulimit -n 48 && exec {} inspect --format json --offline {}",
        bin(),
        path.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("SDISTILL_NO_CACHE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let arr: Vec<serde_json::Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let v = &arr[0];
    if v["error"].is_null() {
        // Only acceptable if the read really worked.
        assert_eq!(v["requires_dist"], serde_json::json!(["alpha>=1"]), "{v}");
    } else {
        assert!(
            matches!(error_kind(v), Some("sandbox") | Some("limit")),
            "{v}"
        );
    }
}

#[test]
fn an_unlinked_file_cannot_hide_writes() {
    // Open, unlink, then write: no directory scan sees it, the per-write count does.
    let payload = r#"
import os
f = open('/scratch/tmp/hidden', 'wb')
os.unlink('/scratch/tmp/hidden')
block = b'x' * (1024 * 1024)
for _ in range(1024):
    f.write(block)
    f.flush()
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), "unlinked", &honest("unlinked", payload));
    let (code, v) = inspect_one(&["--max-scratch", "64MiB"], &path);
    assert_eq!(code, 1, "{v}");
    assert_eq!(error_kind(&v), Some("limit"), "{v}");
    assert_eq!(v["error"]["limit"], "scratch", "{v}");
}

#[test]
fn paths_past_path_max_and_empty_files_count_too() {
    // A chain of directories far longer than PATH_MAX, with data at the bottom; then a
    // flood of empty files. Both are bounded by the same budget.
    let deep = r#"
import os
fd = os.open('/scratch/tmp', os.O_RDONLY)
for i in range(3000):
    os.mkdir('d' * 200, dir_fd=fd)
    nfd = os.open('d' * 200, os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
block = b'x' * (1024 * 1024)
out = os.open('data', os.O_WRONLY | os.O_CREAT, dir_fd=fd)
for _ in range(1024):
    os.write(out, block)
"#;
    let flood =
        "import os\nfor i in range(10_000_000):\n    open('/scratch/tmp/f%d' % i, 'w').close()\n";
    for (name, payload) in [("deepwriter", deep), ("flood", flood)] {
        let tmp = tempfile::tempdir().unwrap();
        let path = setup_py_sdist(tmp.path(), name, &honest(name, payload));
        let (code, v) = inspect_one(&["--max-scratch", "64MiB"], &path);
        assert_eq!(code, 1, "{name}: {v}");
        assert_eq!(v["error"]["limit"], "scratch", "{name}: {v}");
    }
}

#[test]
fn a_30000_deep_tree_is_cleaned_up_without_a_crash() {
    // The guest builds a very deep tree in its scratch dir and its sdist copy, then
    // answers honestly; cleanup must not recurse on that depth, and a batch goes on.
    let payload = r#"
import os
for top in ('/scratch/tmp', '/sdist'):
    fd = os.open(top, os.O_RDONLY)
    for i in range(15000):
        os.mkdir('d', dir_fd=fd)
        nfd = os.open('d', os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
"#;
    let tmp = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let deep = setup_py_sdist(tmp.path(), "deeptree", &honest("deeptree", payload));
    let plain = victim(tmp.path(), "plain");
    let work_arg = work.path().display().to_string();
    let (code, arr, _) = inspect_json(
        &["--work-dir", &work_arg, "--timeout", "120"],
        &[&deep, &plain],
    );
    assert_eq!(code, 0, "{arr:?}");
    assert_honest(&arr[0], "deeptree");
    assert_victim(&arr[1], "plain");
    assert_work_dir_clean(work.path());
}

/// Nothing is left in a work dir once sdistill has exited: the per-user root only.
fn assert_work_dir_clean(work: &Path) {
    for user_root in std::fs::read_dir(work).unwrap().flatten() {
        let left: Vec<_> = std::fs::read_dir(user_root.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

#[test]
fn timeout_bounds_the_input_not_each_attempt() {
    // Each attempt sleeps 4 s; the build asks for a setup_requires (second attempt) and
    // imports pkg_resources (third attempt). With --timeout 5 the whole input ends ~5 s.
    let payload = r#"
import time
time.sleep(4)
from setuptools import setup
import pkg_resources
setup(name='slowretry', version='1.0', setup_requires=['sdistill-no-such-helper'])
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), "slowretry", payload);
    let started = Instant::now();
    let (code, v) = inspect_one(&["--timeout", "5"], &path);
    let took = started.elapsed();
    assert_eq!(code, 1, "{v}");
    assert_eq!(error_kind(&v), Some("limit"), "{v}");
    assert_eq!(v["error"]["limit"], "timeout", "{v}");
    // Not a speed check but the behaviour itself: with a deadline per attempt the three
    // 4-second attempts would all run (12 s and more); one deadline ends them all near 5 s.
    let three_attempts = Duration::from_secs(12);
    assert!(took < three_attempts, "took {took:?} for --timeout 5");
}

#[test]
fn sigterm_mid_batch_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = (0..4)
        .map(|i| {
            let name = format!("slow{i}");
            setup_py_sdist(
                tmp.path(),
                &name,
                &honest(&name, "import time\ntime.sleep(30)\n"),
            )
            .display()
            .to_string()
        })
        .collect();
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(bin())
            .args(["inspect", "--format", "json", "--offline", "-j", "2"])
            .arg("--work-dir")
            .arg(work.path())
            .args(&inputs)
            .env("SDISTILL_NO_CACHE", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until both workers have unpacked their sdists (generous: CI machines are
        // shared, and this is about cleanup, not speed).
        let deadline = Instant::now() + Duration::from_secs(120);
        while count_trees(work.path()) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(count_trees(work.path()) >= 2, "the batch never started");
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        let expected = if signal == "TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(expected), "SIG{signal}");
        assert_work_dir_clean(work.path());
    }
}

#[test]
fn what_a_killed_process_left_is_swept_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let slow = setup_py_sdist(
        tmp.path(),
        "slow",
        &honest("slow", "import time\ntime.sleep(30)\n"),
    );
    let mut child = Command::new(bin())
        .args(["inspect", "--format", "json", "--offline"])
        .arg("--work-dir")
        .arg(work.path())
        .arg(&slow)
        .env("SDISTILL_NO_CACHE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_trees(work.path()) < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    assert!(
        count_trees(work.path()) >= 1,
        "nothing to sweep: test is void"
    );
    // A foreign directory in the user's root is never touched.
    let user_root = std::fs::read_dir(work.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::create_dir(user_root.join("not-sdistill")).unwrap();
    let ok = write_sdist(tmp.path(), "ok", Kind::TarGz, &static_members("ok", "1"));
    let work_arg = work.path().display().to_string();
    let (code, _, _) = inspect_json(&["--work-dir", &work_arg, "--no-sandbox"], &[&ok]);
    assert_eq!(code, 0);
    let left: Vec<String> = std::fs::read_dir(&user_root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["not-sdistill".to_string()],
        "not swept: {left:?}"
    );
}

/// Per-input trees under a work dir: `<work>/sdistill-<uid>/<process>/<tree>`.
fn count_trees(work: &Path) -> usize {
    let mut n = 0;
    for user_root in std::fs::read_dir(work).into_iter().flatten().flatten() {
        for process in std::fs::read_dir(user_root.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            n += std::fs::read_dir(process.path())
                .map(|d| d.count())
                .unwrap_or(0);
        }
    }
    n
}

/// Whether the tests run as root (able to make files owned by another user).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn another_users_cache_or_work_dir_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root to make directories owned by another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    // Forged content another user planted: it must never be read.
    std::fs::create_dir_all(theirs.join("metadata")).unwrap();
    Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&theirs)
        .status()
        .unwrap();
    let ok = write_sdist(tmp.path(), "ok", Kind::TarGz, &static_members("ok", "1"));
    let out = run_env(
        &["inspect", "--format", "json", ok.to_str().unwrap()],
        &[
            ("SDISTILL_CACHE_DIR", theirs.as_os_str()),
            ("SDISTILL_NO_CACHE", "0".as_ref()),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsafe directory") && stderr.contains("65534"),
        "{stderr}"
    );
    // A work dir whose per-user root belongs to someone else.
    let work = tmp.path().join("work");
    let uid_root = work.join("sdistill-0");
    std::fs::create_dir_all(&uid_root).unwrap();
    Command::new("chown")
        .args(["65534:65534"])
        .arg(&uid_root)
        .status()
        .unwrap();
    let out = run(&[
        "inspect",
        "--format",
        "json",
        "--work-dir",
        work.to_str().unwrap(),
        ok.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_tampered_snapshot_is_never_loaded() {
    // A private cache with its own copies of the compiled modules; one byte of the
    // snapshot is changed. sdistill must notice and rebuild it, and answer correctly.
    let config = sdistill::sandbox::SandboxConfig::default();
    let shared = sdistill::sandbox::runtime::cache_root(&config)
        .unwrap()
        .join("modules");
    let runtime = sdistill::sandbox::runtime::default_runtime_dir(&config).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let modules = cache.path().join("modules");
    std::fs::create_dir(&modules).unwrap();
    let mut tampered = Vec::new();
    for entry in std::fs::read_dir(&shared).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".verified") {
            continue;
        }
        std::fs::copy(entry.path(), modules.join(&name)).unwrap();
        if name.ends_with(".cwasm") && shared.join(format!("{name}.sha256")).exists() {
            tampered.push(modules.join(&name));
        }
    }
    assert!(
        !tampered.is_empty(),
        "the shared cache has no verified artifact"
    );
    for path in &tampered {
        let mut bytes = std::fs::read(path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(path, &bytes).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = victim(tmp.path(), "aftertamper");
    let (code, arr) = inspect_env(
        &[
            "--runtime",
            runtime.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        &[("SDISTILL_CACHE_DIR", cache.path().as_os_str())],
    );
    assert_eq!(code, 0, "{arr:?}");
    assert_victim(&arr[0], "aftertamper");
}

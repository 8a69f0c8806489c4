//! `inspect --manifest`: the streaming bulk mode. Files are served by the test on
//! 127.0.0.1; nothing here reaches another host.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Static sdists (answered without a build) and setup.py-only ones (answered in the
/// sandbox), as index entries.
fn fixtures(n_static: usize, n_setup: usize) -> Vec<IndexEntry> {
    let mut entries = Vec::new();
    for i in 0..n_static {
        let name = format!("stat{i}");
        let dep = format!("dep{i}>=1");
        let bytes = static_sdist_bytes(&name, "1.0", &[dep.as_str(), "six"]);
        entries.push(IndexEntry::new(&name, &format!("{name}-1.0.tar.gz"), bytes));
    }
    for i in 0..n_setup {
        let name = format!("dyn{i}");
        let setup = format!(
            "from setuptools import setup\nsetup(name='{name}', version='2.{i}', install_requires=['req{i}>=1', 'six'], extras_require={{'x': ['extra{i}']}})\n"
        );
        let bytes = setup_py_sdist_bytes(&name, &format!("2.{i}"), &setup);
        entries.push(IndexEntry::new(
            &name,
            &format!("{name}-2.{i}.tar.gz"),
            bytes,
        ));
    }
    entries
}

/// The manifest line of an entry served by `index` (`http://127.0.0.1:PORT/simple/`).
fn url_line(index: &IndexServer, e: &IndexEntry, extra: &str) -> String {
    let base = index.url.trim_end_matches("simple/");
    format!(
        r#"{{"url": "{base}files/{}", "sha256": "{}"{extra}}}"#,
        e.filename,
        e.sha256()
    )
}

/// A private cache (with the installed runtime's compiled modules) and the arguments
/// every run here uses.
struct Env {
    cache: tempfile::TempDir,
    work: tempfile::TempDir,
    runtime: String,
    index_url: String,
}

impl Env {
    fn new(index: &IndexServer) -> Self {
        let (cache, runtime) = private_cache();
        Self {
            cache,
            work: tempfile::tempdir().unwrap(),
            runtime,
            index_url: index.url.clone(),
        }
    }

    fn command(&self, args: &[&str], use_cache: bool) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("inspect")
            .args(["--runtime", &self.runtime, "--index-url", &self.index_url])
            .arg("--work-dir")
            .arg(self.work.path())
            .args(args)
            .env_remove("SDISTILL_RUNTIME")
            .env("SDISTILL_CACHE_DIR", self.cache.path())
            .env("SDISTILL_NO_CACHE", if use_cache { "0" } else { "1" })
            .env("SDISTILL_TEST_SECRET", SECRET);
        cmd
    }

    /// Runs `inspect --manifest -` on `manifest`; (exit code, result lines, stderr).
    fn run(&self, manifest: &str, args: &[&str], use_cache: bool) -> (i32, Vec<Value>, String) {
        let mut cmd = self.command(&[&["--manifest", "-"], args].concat(), use_cache);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let text = manifest.to_string();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        (out.status.code().unwrap_or(-1), lines, stderr)
    }

    /// What is left in the work dir of processes that have ended.
    fn work_left(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for user in std::fs::read_dir(self.work.path()).unwrap().flatten() {
            for entry in std::fs::read_dir(user.path()).unwrap().flatten() {
                left.push(entry.path());
            }
        }
        left
    }
}

/// A result without what says how this run got it (`elapsed_ms`, `cached`): the part
/// that must be the same whoever computes it, wherever.
fn answer(v: &Value) -> Value {
    let mut v = v.clone();
    let obj = v.as_object_mut().unwrap();
    obj.remove("elapsed_ms");
    obj.remove("cached");
    v
}

/// The answer without what names where the file was (`input`, `source.path`) and the
/// manifest's own object: to compare with `inspect` on the file.
fn file_answer(v: &Value) -> Value {
    let mut v = answer(v);
    let obj = v.as_object_mut().unwrap();
    obj.remove("input");
    obj.remove("manifest");
    if let Some(source) = obj.get_mut("source").and_then(Value::as_object_mut) {
        source.remove("path");
    }
    v
}

fn key(v: &Value) -> String {
    let m = &v["manifest"];
    match (m["sha256"].as_str(), m["path"].as_str()) {
        (Some(sha), _) => format!("sha256:{sha}"),
        (None, Some(path)) => format!("path:{path}"),
        _ => format!("line:{}", m["line"]),
    }
}

#[test]
fn a_manifest_streams_the_answers_inspect_gives_for_the_files() {
    let entries = fixtures(3, 2);
    let index = IndexServer::start(entries.clone());
    let env = Env::new(&index);
    let files = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for e in &entries {
        let path = files.path().join(&e.filename);
        std::fs::write(&path, &e.bytes).unwrap();
        paths.push(path);
    }
    let local = files.path().join("local-1.0.tar.gz");
    std::fs::write(&local, static_sdist_bytes("local", "1.0", &["zzz"])).unwrap();
    let mut manifest = String::new();
    for (i, e) in entries.iter().enumerate() {
        manifest.push_str(&url_line(
            &index,
            e,
            &format!(r#", "id": {i}, "tags": ["a", {{"b": null}}]"#),
        ));
        manifest.push('\n');
        if i == 1 {
            // Errors are values, and the lines after them are read as usual.
            manifest.push_str("not json at all\n\n   \n");
            manifest.push_str(r#"{"url": "https://example.invalid/x-1.0.tar.gz", "sha256": "abc", "id": "bad-sha"}"#);
            manifest.push('\n');
            manifest.push_str(r#"{"url": "file:///etc/passwd-1.0.tar.gz", "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}"#);
            manifest.push('\n');
        }
    }
    // A file whose bytes are not the ones the entry names: refused, never inspected.
    let wrong = format!(
        r#"{{"url": "{}files/{}", "sha256": "{}", "id": "wrong"}}"#,
        index.url.trim_end_matches("simple/"),
        entries[0].filename,
        entries[1].sha256()
    );
    manifest.push_str(&format!("{wrong}\n"));
    manifest.push_str(&format!(
        r#"{{"path": "{}", "id": "local"}}"#,
        local.display()
    ));
    manifest.push('\n');
    manifest.push_str(&format!(
        r#"{{"path": "{}", "id": "dir"}}"#,
        files.path().display()
    ));
    // No newline after the last line: still an entry.

    let (code, results, stderr) = env.run(&manifest, &["-j", "2"], false);
    // Every entry has its line: the run succeeded, whatever the entries' outcomes.
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(results.len(), entries.len() + 6, "{results:#?}");
    assert!(
        stderr.contains("results in"),
        "a summary on stderr: {stderr}"
    );
    let by_id: BTreeMap<String, &Value> = results
        .iter()
        .map(|v| (v["manifest"]["extra"]["id"].to_string(), v))
        .collect();

    // Every remote entry gives exactly what `inspect` gives for the file itself.
    let mut args = vec![
        "--runtime",
        env.runtime.as_str(),
        "--index-url",
        env.index_url.as_str(),
    ];
    args.push("--work-dir");
    let work = env.work.path().display().to_string();
    args.push(&work);
    let strings: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(strings.iter().map(String::as_str));
    let (_, direct) = inspect_env(
        &args,
        &[("SDISTILL_CACHE_DIR", env.cache.path().as_os_str())],
    );
    for (i, (e, file)) in entries.iter().zip(&direct).enumerate() {
        let v = by_id[&i.to_string()];
        assert!(v["error"].is_null(), "{v}");
        assert_eq!(file_answer(v), file_answer(file), "{}", e.filename);
        assert_eq!(v["manifest"]["sha256"], e.sha256().as_str());
        assert!(v["manifest"]["path"].is_null() && v["manifest"]["line"].is_null());
        assert_eq!(
            v["manifest"]["extra"]["tags"],
            serde_json::json!(["a", {"b": null}])
        );
        let url = v["input"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with(&e.filename));
        assert_eq!(v["source"]["path"], v["input"]);
        assert_eq!(v["source"]["size"], e.bytes.len());
    }
    assert!(direct.iter().any(|v| v["method"] == "pkg-info"));
    assert!(direct.iter().any(|v| v["method"] == "sandbox-egg-info"));

    // The malformed line: an error value with its line number and no identity.
    let garbage = results
        .iter()
        .find(|v| v["manifest"]["line"] == 3)
        .expect("line 3's result");
    assert_eq!(error_kind(garbage), Some("manifest"));
    assert!(garbage["manifest"]["sha256"].is_null());
    let bad_sha = by_id["\"bad-sha\""];
    assert_eq!(error_kind(bad_sha), Some("manifest"), "{bad_sha}");
    assert!(bad_sha["error"]["message"]
        .as_str()
        .unwrap()
        .contains("64 hex digits"));
    let file_url = results
        .iter()
        .find(|v| v["manifest"]["line"] == 7)
        .expect("line 7's result");
    assert_eq!(error_kind(file_url), Some("manifest"), "{file_url}");
    let wrong = by_id["\"wrong\""];
    assert_eq!(error_kind(wrong), Some("index"), "{wrong}");
    assert!(wrong["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert_eq!(wrong["source"]["sha256"], entries[1].sha256().as_str());
    let local = by_id["\"local\""];
    assert!(local["error"].is_null(), "{local}");
    assert_eq!(local["requires_dist"], serde_json::json!(["zzz"]));
    assert_eq!(local["manifest"]["path"], local["input"]);
    assert_eq!(error_kind(by_id["\"dir\""]), Some("manifest"));

    // Downloads were deleted; the cache kept none of them; nothing is left in the work dir.
    assert!(env.work_left().is_empty(), "{:?}", env.work_left());
    assert!(!env.cache.path().join("files").exists());
}

#[test]
fn known_answers_cost_a_lookup_and_memory_stays_flat_on_a_manifest_100_times_longer() {
    let entries = fixtures(20, 3);
    let index = IndexServer::start(entries.clone());
    let env = Env::new(&index);
    let once: String = entries
        .iter()
        .map(|e| url_line(&index, e, r#", "n": 1"#) + "\n")
        .collect();
    // Computes and stores every answer.
    let (code, first, stderr) = env.run(&once, &["-j", "2"], true);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(first.len(), entries.len());
    assert!(first.iter().all(|v| v["cached"] == false), "{stderr}");
    drop(index); // From now on every answer must come without a download.

    let measure = |repeat: usize| -> (u64, usize, String) {
        let manifest = tempfile::NamedTempFile::new().unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        {
            let mut w = std::io::BufWriter::new(manifest.reopen().unwrap());
            for _ in 0..repeat {
                w.write_all(once.as_bytes()).unwrap();
            }
        }
        let child = env
            .command(
                &["--manifest", manifest.path().to_str().unwrap(), "-j", "2"],
                true,
            )
            .stdin(Stdio::null())
            .stdout(out.reopen().unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (peak, status, stderr) = peak_rss(child);
        assert!(status.success(), "{stderr}");
        let text = std::fs::read_to_string(out.path()).unwrap();
        let mut count = 0;
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["cached"], true, "{v}");
            assert!(v["error"].is_null(), "{v}");
            count += 1;
        }
        (peak, count, stderr)
    };
    let (peak_1, n_1, _) = measure(1);
    let (peak_100, n_100, stderr) = measure(100);
    assert_eq!(n_1, entries.len());
    assert_eq!(n_100, 100 * entries.len());
    assert!(stderr.contains(" 0 downloaded"), "{stderr}");
    eprintln!(
        "peak RSS: {} KiB for {n_1} entries, {} KiB for {n_100}",
        peak_1, peak_100
    );
    // Flat: the 100x run holds no more than a few MiB above the 1x run (allocator noise),
    // where collecting 2300 results would add far more.
    assert!(
        peak_100 < peak_1 + 12 * 1024,
        "peak RSS grew from {peak_1} KiB to {peak_100} KiB"
    );
}

/// The peak resident set of `child` (VmHWM, polled until it exits), its status and
/// stderr.
fn peak_rss(mut child: Child) -> (u64, std::process::ExitStatus, String) {
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak = 0u64;
    let started = Instant::now();
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for line in status.lines() {
                if let Some(kb) = line.strip_prefix("VmHWM:") {
                    let kb = kb.trim().trim_end_matches("kB").trim();
                    peak = peak.max(kb.parse().unwrap_or(0));
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // A hang guard, not a speed check.
        if Instant::now() > started + Duration::from_secs(240) {
            panic!("did not end");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (peak, status, reader.join().unwrap())
}

#[test]
fn a_slow_consumer_slows_intake() {
    let entries = fixtures(4, 0);
    let index = IndexServer::start(entries.clone());
    let env = Env::new(&index);
    let once: String = entries
        .iter()
        .map(|e| url_line(&index, e, "") + "\n")
        .collect();
    let (code, _, stderr) = env.run(&once, &["-j", "1"], true);
    assert_eq!(code, 0, "{stderr}");
    let lines = 12_000;
    let manifest: String = once.repeat(lines / entries.len());
    let total = manifest.len();
    let mut child = env
        .command(&["--manifest", "-", "-j", "1"], true)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let feeder = {
        let written = written.clone();
        std::thread::spawn(move || {
            for chunk in manifest.as_bytes().chunks(4096) {
                if stdin.write_all(chunk).is_err() {
                    return;
                }
                written.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    // Nobody reads the results yet: the run must stop taking the manifest.
    std::thread::sleep(Duration::from_secs(4));
    let stalled = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        stalled < total / 4,
        "{stalled} of {total} manifest bytes taken with no result read"
    );
    let mut count = 0;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert!(v["error"].is_null(), "{v}");
        count += 1;
    }
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(count, lines);
    eprintln!("backpressure: {stalled} of {total} manifest bytes taken while stalled");
}

#[test]
fn a_killed_run_resumes_with_no_duplicates_and_no_gaps() {
    let entries = fixtures(2, 6);
    let index = IndexServer::start(entries.clone());
    let env = Env::new(&index);
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("manifest.jsonl");
    let manifest: String = entries
        .iter()
        .map(|e| url_line(&index, e, "") + "\n")
        .collect();
    std::fs::write(&manifest_path, &manifest).unwrap();
    let results = dir.path().join("results.jsonl");
    let args = |resume: bool| {
        let mut a = vec![
            "--manifest".to_string(),
            manifest_path.display().to_string(),
            "-j".into(),
            "1".into(),
            "-o".into(),
            results.display().to_string(),
        ];
        if resume {
            a.extend(["--skip-done".into(), results.display().to_string()]);
        }
        a
    };
    let first_args = args(false);
    let first: Vec<&str> = first_args.iter().map(String::as_str).collect();
    // No cache: every entry takes a real inspection, so the kill lands mid-way.
    let mut child = env
        .command(&first, false)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let done = std::fs::read_to_string(&results)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if done >= 2 {
            break;
        }
        // A hang guard, not a speed check.
        if Instant::now() > started + Duration::from_secs(120) {
            panic!("no progress");
        }
        assert!(child.try_wait().unwrap().is_none(), "ended before the kill");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up of its own
    child.wait().unwrap();
    let before = std::fs::read_to_string(&results).unwrap();
    let done_before = before.lines().count();
    assert!(done_before < entries.len(), "the kill came too late");
    // As if the kill had landed in the middle of a write.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&results)
        .unwrap()
        .write_all(b"{\"schema\":\"sdistill/1\",\"inp")
        .unwrap();

    let resume_args = args(true);
    let resume: Vec<&str> = resume_args.iter().map(String::as_str).collect();
    let out = env.command(&resume, false).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("partial last line"), "{stderr}");
    assert!(
        stderr.contains(&format!("{done_before} skipped as done")),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&results).unwrap();
    let values: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let keys: Vec<String> = values.iter().map(key).collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    let wanted: BTreeSet<String> = entries
        .iter()
        .map(|e| format!("sha256:{}", e.sha256()))
        .collect();
    assert_eq!(keys.len(), entries.len(), "no duplicates: {keys:?}");
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        wanted,
        "no gaps"
    );
    assert!(values.iter().all(|v| v["error"].is_null()));
    // The killed run's spool and unpacked trees were swept by the resumed one.
    assert!(env.work_left().is_empty(), "{:?}", env.work_left());
}

#[test]
fn any_sharding_gives_the_same_union() {
    let entries = fixtures(4, 4);
    let index = IndexServer::start(entries.clone());
    let files = tempfile::tempdir().unwrap();
    let local = files.path().join("local-1.0.tar.gz");
    std::fs::write(&local, static_sdist_bytes("local", "1.0", &["zzz"])).unwrap();
    let mut lines: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| url_line(&index, e, &format!(r#", "i": {i}"#)))
        .collect();
    lines.push(format!(
        r#"{{"path": "{}", "i": "local"}}"#,
        local.display()
    ));
    let as_set = |results: &[Value]| -> BTreeSet<String> {
        results.iter().map(|v| answer(v).to_string()).collect()
    };

    let whole_env = Env::new(&index);
    let (code, whole, stderr) = whole_env.run(&(lines.join("\n") + "\n"), &["-j", "2"], true);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(whole.len(), lines.len());
    let whole = as_set(&whole);
    assert_eq!(whole.len(), lines.len());

    // Three shards, each with a cache of its own and another -j; one shard is run twice
    // on its cache, so the union mixes computed and cached answers.
    let mut union = Vec::new();
    for shard in 0..3 {
        let env = Env::new(&index);
        let text: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == shard)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let jobs = (shard + 1).to_string();
        let (code, mut results, stderr) = env.run(&text, &["-j", &jobs], true);
        assert_eq!(code, 0, "{stderr}");
        if shard == 1 {
            let (_, again, _) = env.run(&text, &["-j", &jobs], true);
            assert!(again.iter().all(|v| v["cached"] == true));
            results = again;
        }
        union.extend(results);
    }
    assert_eq!(union.len(), lines.len(), "one result per entry");
    assert!(union.iter().any(|v| v["cached"] == true));
    assert_eq!(as_set(&union), whole);
}

#[test]
fn manifest_mode_refuses_other_formats_and_reports_unreadable_files() {
    let out = run(&["inspect", "--manifest", "-", "--format", "text"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["inspect", "--manifest", "/nonexistent/m.jsonl"]);
    assert_eq!(out.status.code(), Some(3));
    let out = run(&["inspect", "--skip-done", "x.jsonl", "a.tar.gz"]);
    assert_eq!(out.status.code(), Some(2), "--skip-done needs --manifest");
}

//! `sdistill lock` and the network: wheels' METADATA read with HTTP range requests (and a
//! download where the server serves no ranges, or where only verified metadata will do),
//! retries of transient failures (503, 429 with Retry-After, dropped connections), and
//! stalled responses that end instead of hanging. The index is served by the test on
//! 127.0.0.1 and counts what it served.

mod common;

use common::*;
use serde_json::Value;

/// A wheel of about `kb` KiB (an incompressible module), with METADATA requiring `requires`.
fn big_wheel(name: &str, version: &str, requires: &[&str], kb: usize) -> IndexEntry {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ (kb as u64);
    let noise: String = (0..kb * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    let body = format!("DATA = r'''{noise}'''\n");
    IndexEntry::new(
        name,
        &format!("{name}-{version}-py3-none-any.whl"),
        wheel_bytes(name, version, &body, requires),
    )
}

/// A wheel whose METADATA comes first and 700 KiB of module after it: the first range
/// request (the tail) holds the central directory but not the member.
fn early_metadata_wheel() -> IndexEntry {
    let big = big_wheel("filler", "0", &[], 700).bytes;
    let meta = "Metadata-Version: 2.1\nName: early\nVersion: 1.0\nRequires-Dist: small\n";
    let module = String::from_utf8_lossy(&big).into_owned();
    let bytes = zip_bytes(&[
        file("early-1.0.dist-info/METADATA", meta),
        file("early/__init__.py", &module),
        file(
            "early-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        file("early-1.0.dist-info/RECORD", ""),
    ]);
    IndexEntry::new("early", "early-1.0-py3-none-any.whl", bytes)
}

fn entries() -> Vec<IndexEntry> {
    vec![
        early_metadata_wheel(),
        big_wheel("app", "1.0", &["lib>=1", "small"], 600),
        big_wheel("lib", "1.0", &[], 400),
        big_wheel("lib", "2.0", &[], 400),
        // Smaller than the first range request: read whole, and so verified.
        big_wheel("small", "1.0", &[], 8),
    ]
}

struct Net {
    server: IndexServer,
    cache: tempfile::TempDir,
    runtime: String,
}

impl Net {
    fn new(options: ServerOptions) -> Self {
        let server = IndexServer::start_options(entries(), options);
        let (cache, runtime) = private_cache();
        Self {
            server,
            cache,
            runtime,
        }
    }

    fn lock(&self, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
        let mut all = vec![
            "lock",
            "--index-url",
            &self.server.url,
            "--runtime",
            &self.runtime,
            "-v",
        ];
        all.extend_from_slice(args);
        let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![
            ("SDISTILL_CACHE_DIR", self.cache.path().as_os_str()),
            ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("0")),
        ];
        env.extend(envs.iter().map(|(k, v)| (*k, std::ffi::OsStr::new(*v))));
        let out = run_env(&all, &env);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.lock(&all, &[]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Requests for wheels: (with a Range header, without).
    fn wheel_requests(&self) -> (usize, usize) {
        let served = self.server.served();
        let wheels = served.iter().filter(|s| s.path.ends_with(".whl"));
        let ranged = wheels.clone().filter(|s| s.range.is_some()).count();
        (ranged, wheels.count() - ranged)
    }
}

fn metadata_of<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| &p["metadata"])
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

#[test]
fn large_wheels_are_read_with_range_requests_and_marked_unverified() {
    let net = Net::new(ServerOptions {
        ranges: true,
        ..Default::default()
    });
    let report = net.json(&["app"]);
    for big in ["app", "lib"] {
        let m = metadata_of(&report, big);
        assert_eq!(m["method"], "wheel-range", "{m}");
        assert_eq!(m["source"], "wheel-range", "{m}");
        assert_eq!(m["verified"], false, "{m}");
        assert_eq!(m["integrity"], "range-read", "{m}");
    }
    let small = metadata_of(&report, "small");
    assert_eq!(small["method"], "wheel");
    assert_eq!(small["verified"], true);
    assert_eq!(small["integrity"], "file-sha256");
    let lib = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lib")
        .unwrap();
    assert_eq!(lib["version"], "2.0");
    // Ranges only, never a whole download: the big wheels' tails held their METADATA,
    // and the small one came whole in its first range (so it was checked against its
    // sha256 like a download).
    let (ranged, whole) = net.wheel_requests();
    assert!((3..=8).contains(&ranged), "{ranged} range requests");
    assert_eq!(whole, 0, "{:?}", net.server.served());
    // Nothing read by range is kept where wheels go.
    let kept = walk(&net.cache.path().join("files"));
    assert!(kept.is_empty(), "{kept:?}");

    // METADATA far from the end: a second range request fetches it.
    let before = net.server.served().len();
    let report = net.json(&["early"]);
    assert_eq!(metadata_of(&report, "early")["method"], "wheel-range");
    let asks: Vec<_> = net.server.served()[before..]
        .iter()
        .filter(|s| s.path.ends_with("early-1.0-py3-none-any.whl"))
        .cloned()
        .collect();
    assert_eq!(asks.len(), 2, "{asks:?}");
    assert!(asks.iter().all(|a| a.status == 206), "{asks:?}");

    // Strict: every wheel downloaded and hash-checked, nothing read by range.
    let strict = Net::new(ServerOptions {
        ranges: true,
        ..Default::default()
    });
    let report = strict.json(&["app", "--verified-metadata-only"]);
    for name in ["app", "lib", "small"] {
        let m = metadata_of(&report, name);
        assert_eq!(m["method"], "wheel", "{m}");
        assert_eq!(m["verified"], true, "{m}");
    }
    assert_eq!(strict.wheel_requests(), (0, 3));
}

#[test]
fn a_server_without_ranges_gets_full_downloads_and_the_same_lock() {
    let with = Net::new(ServerOptions {
        ranges: true,
        ..Default::default()
    });
    let without = Net::new(ServerOptions::default());
    let (code, a, err) = with.lock(&["app", "--no-header"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, b, err) = without.lock(&["app", "--no-header"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(a, b, "the same pins and hashes either way");
    assert!(err.contains("no range read"), "{err}");
    // One range attempt per big wheel, answered with the whole file, then a download.
    let served = without.server.served();
    for wheel in ["app-1.0-py3-none-any.whl", "lib-2.0-py3-none-any.whl"] {
        let asks: Vec<_> = served.iter().filter(|s| s.path.ends_with(wheel)).collect();
        assert_eq!(asks.len(), 2, "{asks:?}");
        assert!(
            asks[0].range.is_some() && asks[1].range.is_none(),
            "{asks:?}"
        );
    }
    // A second lock reads the verified METADATA it kept: no wheel request at all.
    let before = without.server.served().len();
    let (code, c, err) = without.lock(&["app", "--no-header"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(c, b);
    let again = &without.server.served()[before..];
    assert!(
        again.iter().all(|s| s.path.starts_with("/simple/")),
        "{again:?}"
    );
}

#[test]
fn transient_failures_are_retried_and_reported() {
    let net = Net::new(ServerOptions {
        ranges: true,
        faults: vec![
            ("/simple/app/".into(), Fault::Unavailable),
            ("/simple/app/".into(), Fault::TooMany(1)),
            ("/simple/lib/".into(), Fault::Reset),
            ("/files/small-".into(), Fault::Unavailable),
            ("/files/lib-2.0".into(), Fault::Reset),
        ],
        ..Default::default()
    });
    let (code, out, err) = net.lock(&["app"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lib==2.0"), "{out}");
    // Retry-After: 1 was honoured: the retry after the 429 waited at least a second (as
    // the retry report says; the wait is computed, not timed here).
    let waited_ms: Vec<u64> = err
        .lines()
        .filter(|l| l.contains("HTTP 429"))
        .filter_map(|l| {
            l.rsplit_once(" after ")?
                .1
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        !waited_ms.is_empty() && waited_ms.iter().all(|ms| *ms >= 1000),
        "{err}"
    );
    assert!(
        err.contains("retried") && err.contains("HTTP 503") && err.contains("HTTP 429"),
        "{err}"
    );
    let retried = err.matches("warning: retried").count();
    assert_eq!(retried, 5, "{err}");
    let app_pages = net
        .server
        .served()
        .iter()
        .filter(|s| s.path == "/simple/app/")
        .count();
    assert_eq!(app_pages, 3);
}

#[test]
fn retries_are_bounded() {
    let net = Net::new(ServerOptions {
        faults: (0..10)
            .map(|_| ("/simple/app/".to_string(), Fault::Unavailable))
            .collect(),
        ..Default::default()
    });
    let (code, _, err) = net.lock(&["app"], &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("HTTP 503") && err.contains("4 attempts"),
        "{err}"
    );
    let pages = net.server.count("/simple/app/");
    assert_eq!(pages, 4);
}

#[test]
fn a_stalled_response_ends_and_is_retried() {
    let stall = std::time::Duration::from_secs(30);
    let net = Net::new(ServerOptions {
        faults: vec![
            ("/simple/lib/".into(), Fault::StallBody(stall)),
            ("/files/small-".into(), Fault::Stall(stall)),
        ],
        ..Default::default()
    });
    let (code, out, err) = net.lock(&["app"], &[("SDISTILL_HTTP_TIMEOUT", "1")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("small==1.0"), "{out}");
    // Both stalls were cut by the stall timeout and retried: a stall waited out (30 s)
    // would have answered on the first attempt, with nothing retried.
    assert_eq!(err.matches("warning: retried").count(), 2, "{err}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

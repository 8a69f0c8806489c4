//! Fixture builders shared by the integration tests: sdists of every archive kind,
//! including hostile ones, generated on the fly (no third-party files are committed).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// One archive member.
#[derive(Clone, Debug)]
pub enum Member {
    File(Vec<u8>, Vec<u8>),
    Dir(Vec<u8>),
    Symlink(Vec<u8>, Vec<u8>),
    Hardlink(Vec<u8>, Vec<u8>),
    Fifo(Vec<u8>),
    CharDevice(Vec<u8>),
}

pub fn file(path: &str, content: &str) -> Member {
    Member::File(path.as_bytes().to_vec(), content.as_bytes().to_vec())
}
pub fn symlink(path: &str, target: &str) -> Member {
    Member::Symlink(path.as_bytes().to_vec(), target.as_bytes().to_vec())
}
pub fn hardlink(path: &str, target: &str) -> Member {
    Member::Hardlink(path.as_bytes().to_vec(), target.as_bytes().to_vec())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    TarGz,
    TarBz2,
    TarXz,
    Zip,
}

impl Kind {
    pub fn ext(self) -> &'static str {
        match self {
            Kind::TarGz => "tar.gz",
            Kind::TarBz2 => "tar.bz2",
            Kind::TarXz => "tar.xz",
            Kind::Zip => "zip",
        }
    }
    pub const ALL: [Kind; 4] = [Kind::TarGz, Kind::TarBz2, Kind::TarXz, Kind::Zip];
}

/// Writes raw tar bytes for members, bypassing the tar crate's own path checks so that
/// hostile names reach sdistill unchanged.
pub fn tar_bytes(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut h = tar::Header::new_gnu();
        let (name, data, kind, link): (&[u8], &[u8], tar::EntryType, &[u8]) = match m {
            Member::File(n, d) => (n, d, tar::EntryType::Regular, b""),
            Member::Dir(n) => (n, b"", tar::EntryType::Directory, b""),
            Member::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, t),
            Member::Hardlink(n, t) => (n, b"", tar::EntryType::Link, t),
            Member::Fifo(n) => (n, b"", tar::EntryType::Fifo, b""),
            Member::CharDevice(n) => (n, b"", tar::EntryType::Char, b""),
        };
        assert!(
            name.len() < 100 && link.len() < 100,
            "fixture names must be short"
        );
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..name.len()].copy_from_slice(name);
            gnu.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

pub fn compress(kind: Kind, raw: &[u8]) -> Vec<u8> {
    match kind {
        Kind::TarGz => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        Kind::TarBz2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        Kind::TarXz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        Kind::Zip => panic!("zip is not a stream compressor"),
    }
}

pub fn zip_bytes(members: &[Member]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for m in members {
        match m {
            Member::File(n, d) => {
                w.start_file(String::from_utf8_lossy(n), opts).unwrap();
                w.write_all(d).unwrap();
            }
            Member::Dir(n) => {
                w.add_directory(String::from_utf8_lossy(n), opts).unwrap();
            }
            Member::Symlink(n, t) => {
                w.add_symlink(String::from_utf8_lossy(n), String::from_utf8_lossy(t), opts)
                    .unwrap();
            }
            other => panic!("zip fixtures do not support {other:?}"),
        }
    }
    w.finish().unwrap().into_inner()
}

/// Writes an sdist of `kind` named `name` into `dir`.
pub fn write_sdist(dir: &Path, name: &str, kind: Kind, members: &[Member]) -> PathBuf {
    let path = dir.join(format!("{name}.{}", kind.ext()));
    let bytes = match kind {
        Kind::Zip => zip_bytes(members),
        k => compress(k, &tar_bytes(members)),
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A PKG-INFO document.
pub fn pkg_info(name: &str, version: &str, mv: &str, requires: &[&str], extra: &str) -> String {
    let mut s = format!("Metadata-Version: {mv}\nName: {name}\nVersion: {version}\n");
    for r in requires {
        s.push_str(&format!("Requires-Dist: {r}\n"));
    }
    s.push_str(extra);
    s.push_str("\nlong description\n");
    s
}

/// A static sdist (PKG-INFO 2.2, no Dynamic) with a pyproject build-system.
pub fn static_members(name: &str, version: &str) -> Vec<Member> {
    let top = format!("{name}-{version}");
    vec![
        Member::Dir(format!("{top}/").into_bytes()),
        file(
            &format!("{top}/PKG-INFO"),
            &pkg_info(
                name,
                version,
                "2.2",
                &["requests>=2.0", "tomli; python_version < \"3.11\"", "pytest; extra == \"test\""],
                "Requires-Python: >=3.8\nProvides-Extra: test\n",
            ),
        ),
        file(
            &format!("{top}/pyproject.toml"),
            "[build-system]\nrequires = [\"setuptools>=61\", \"wheel\"]\nbuild-backend = \"setuptools.build_meta\"\n",
        ),
        file(&format!("{top}/src/{name}/__init__.py"), ""),
    ]
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sdistill")
}

/// A secret placed in the environment of every sdistill process the tests start: no
/// output may ever contain it (the guest gets no host environment).
pub const SECRET: &str = "sdistill-test-secret-8d1f0c";

/// Runs the CLI with a clean environment for the runtime (installed runtime, no network),
/// a secret in its environment, and checks common to every run: no panic, no secret and
/// no host password file in the output.
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

/// [`run`] with extra environment variables (a private cache dir, say).
pub fn run_env(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Output {
    run_env_stdin(args, envs, None)
}

/// [`run_env`] with `stdin` as the process's standard input (empty when `None`).
pub fn run_env_stdin(
    args: &[&str],
    envs: &[(&str, &std::ffi::OsStr)],
    stdin: Option<&str>,
) -> Output {
    let started = std::time::Instant::now();
    let mut cmd = Command::new(bin());
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.args(args)
        .env_remove("SDISTILL_RUNTIME")
        .env("SDISTILL_TEST_SECRET", SECRET)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        // Every test exercises the real pipeline unless it opts into the cache.
        .env("SDISTILL_NO_CACHE", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run sdistill");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("run sdistill");
    // Containment, not speed: every limit is far below this; a hang would blow through it.
    if std::time::Instant::now() > started + std::time::Duration::from_secs(240) {
        panic!("sdistill did not end within its limits: {args:?}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
        assert!(
            !text.contains("root:x:0:0"),
            "host /etc/passwd leaked: {text}"
        );
    }
    out
}

/// Runs `inspect --format json --offline` and returns (exit code, parsed array, stderr).
pub fn inspect_json(extra: &[&str], inputs: &[&Path]) -> (i32, Vec<Value>, String) {
    let mut args = vec!["inspect", "--format", "json", "--offline"];
    args.extend_from_slice(extra);
    let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    args.extend(inputs.iter().map(String::as_str));
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let parsed: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), parsed, stderr)
}

/// Runs `inspect --format json` with `args` and `envs`; returns (exit code, parsed array).
pub fn inspect_env(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> (i32, Vec<Value>) {
    let mut all = vec!["inspect", "--format", "json"];
    all.extend_from_slice(args);
    let out = run_env(&all, envs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
    (out.status.code().unwrap_or(-1), parsed)
}

/// Inspects one input and returns (exit code, its object).
pub fn inspect_one(extra: &[&str], input: &Path) -> (i32, Value) {
    let (code, mut arr, _) = inspect_json(extra, &[input]);
    assert_eq!(arr.len(), 1);
    (code, arr.remove(0))
}

pub fn error_kind(v: &Value) -> Option<&str> {
    v["error"]["kind"].as_str()
}

pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A directory outside every temporary tree sdistill makes, to detect escapes.
pub fn canary_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sdistill-canary-")
        .tempdir()
        .unwrap()
}

pub fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// A wheel with one module and its dist-info.
pub fn wheel_bytes(name: &str, version: &str, module_source: &str, requires: &[&str]) -> Vec<u8> {
    let module = name.replace('-', "_");
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    zip_bytes(&[
        file(&format!("{module}/__init__.py"), module_source),
        file(&format!("{module}-{version}.dist-info/METADATA"), &meta),
        file(
            &format!("{module}-{version}.dist-info/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: sdistill-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        file(&format!("{module}-{version}.dist-info/RECORD"), ""),
    ])
}

/// A PEP 503 index served by the test on 127.0.0.1, stopped when dropped.
pub struct IndexServer {
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    log: std::sync::Arc<std::sync::Mutex<Vec<Served>>>,
}

/// One request the test index answered, for tests that count what a lock fetched.
#[derive(Clone, Debug)]
pub struct Served {
    /// The request path (`/simple/demo/`, `/files/demo-1.0.tar.gz`).
    pub path: String,
    /// The `Range` header, if the client sent one.
    pub range: Option<String>,
    /// The status line's code (0 when the connection was dropped instead).
    pub status: u16,
    /// Bytes of body sent.
    pub bytes: usize,
}

/// A failure the test index serves instead of an answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// `503 Service Unavailable`.
    Unavailable,
    /// `429 Too Many Requests` with `Retry-After: N` seconds.
    TooMany(u64),
    /// The connection is closed without an answer (as a reset or a dropped proxy does).
    Reset,
    /// Nothing at all for this long, then the answer.
    Stall(std::time::Duration),
    /// The status line and headers, then nothing for this long, then the body.
    StallBody(std::time::Duration),
}

/// How the test index behaves.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// PEP 691 JSON pages (with PEP 700 `size` and `upload-time`) to clients that ask.
    pub json: bool,
    /// Answer `Range` requests with `206 Partial Content` (otherwise the whole file, as a
    /// server without range support does).
    pub ranges: bool,
    /// Faults served to the first requests whose path starts with the given prefix, one
    /// fault per request, in order.
    pub faults: Vec<(String, Fault)>,
}

/// One file on the test index.
#[derive(Default, Clone)]
pub struct IndexEntry {
    /// Normalized project name (the page it is listed on).
    pub project: String,
    pub filename: String,
    pub bytes: Vec<u8>,
    /// The sha256 the page states (the real one when `None`).
    pub advertised_sha256: Option<String>,
    /// Listed as yanked (PEP 592).
    pub yanked: bool,
    /// `data-requires-python`.
    pub requires_python: Option<String>,
    /// A PEP 658 metadata file served at `<file>.metadata` and advertised with its hash.
    pub metadata: Option<String>,
    /// PEP 700 `upload-time` (JSON pages only), e.g. `2024-01-02T03:04:05.000000Z`.
    pub upload_time: Option<String>,
}

impl IndexEntry {
    pub fn new(project: &str, filename: &str, bytes: Vec<u8>) -> Self {
        Self {
            project: project.into(),
            filename: filename.into(),
            bytes,
            ..Default::default()
        }
    }

    pub fn sha256(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&self.bytes))
    }
}

/// A response the test index serves verbatim at one path: the pages a hostile index
/// writes (PEP 691 JSON, hand-made HTML) that [`IndexEntry`] cannot express.
#[derive(Clone)]
pub struct RawPage {
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl IndexServer {
    pub fn start(entries: Vec<IndexEntry>) -> Self {
        Self::start_with(entries, Vec::new())
    }

    /// Serves `raw` pages first (exact path), then the pages and files of `entries`.
    pub fn start_with(entries: Vec<IndexEntry>, raw: Vec<RawPage>) -> Self {
        Self::serve(entries, raw, ServerOptions::default())
    }

    /// Serves PEP 691 JSON pages (with PEP 700 `size` and `upload-time`) to clients that
    /// ask for them, HTML to the others.
    pub fn start_json(entries: Vec<IndexEntry>) -> Self {
        Self::serve(
            entries,
            Vec::new(),
            ServerOptions {
                json: true,
                ..Default::default()
            },
        )
    }

    /// Serves `entries` as `options` say.
    pub fn start_options(entries: Vec<IndexEntry>, options: ServerOptions) -> Self {
        Self::serve(entries, Vec::new(), options)
    }

    /// Every request answered so far.
    pub fn served(&self) -> Vec<Served> {
        self.log.lock().unwrap().clone()
    }

    /// Requests answered so far whose path ends with `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        self.served()
            .iter()
            .filter(|s| s.path.ends_with(suffix))
            .count()
    }

    fn serve(entries: Vec<IndexEntry>, raw: Vec<RawPage>, options: ServerOptions) -> Self {
        use std::sync::atomic::Ordering;
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/simple/", listener.local_addr().unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new((entries, raw, options.json, options.ranges));
        let faults = Arc::new(Mutex::new(options.faults));
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while !stop2.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                let (stream, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(_) => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                };
                let (shared, faults, log, stop) =
                    (shared.clone(), faults.clone(), log2.clone(), stop2.clone());
                // One thread per connection: clients keep connections alive and reuse them.
                std::thread::spawn(move || Self::connection(stream, &shared, &faults, &log, &stop));
            }
        });
        Self {
            url,
            stop,
            thread: Some(thread),
            log,
        }
    }

    #[allow(clippy::type_complexity)]
    fn connection(
        stream: std::net::TcpStream,
        shared: &(Vec<IndexEntry>, Vec<RawPage>, bool, bool),
        faults: &std::sync::Mutex<Vec<(String, Fault)>>,
        log: &std::sync::Mutex<Vec<Served>>,
        stop: &std::sync::atomic::AtomicBool,
    ) {
        use std::io::{BufRead, BufReader};
        let (entries, raw, json, ranges) = shared;
        stream.set_nonblocking(false).ok();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut stream = stream;
        loop {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let mut request = String::new();
            if reader.read_line(&mut request).unwrap_or(0) == 0 {
                return;
            }
            // A stopped server answers nothing, also on a connection kept alive from before.
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let mut wants_json = false;
            let mut range = None;
            let mut close = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("accept:") && lower.contains("vnd.pypi.simple.v1+json") {
                    wants_json = true;
                }
                if let Some(r) = lower.strip_prefix("range:") {
                    range = Some(r.trim().to_string());
                }
                if lower.starts_with("connection:") && lower.contains("close") {
                    close = true;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let fault = {
                let mut faults = faults.lock().unwrap();
                let at = faults
                    .iter()
                    .position(|(prefix, _)| path.starts_with(prefix.as_str()));
                at.map(|i| faults.remove(i).1)
            };
            let record = |status: u16, bytes: usize| {
                log.lock().unwrap().push(Served {
                    path: path.clone(),
                    range: range.clone(),
                    status,
                    bytes,
                })
            };
            let mut stall_body = None;
            match fault {
                Some(Fault::Reset) => {
                    record(0, 0);
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
                Some(Fault::Unavailable) => {
                    record(503, 0);
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                    );
                    continue;
                }
                Some(Fault::TooMany(after)) => {
                    record(429, 0);
                    let _ = stream.write_all(format!(
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {after}\r\nContent-Length: 0\r\n\r\n"
                    ).as_bytes());
                    continue;
                }
                Some(Fault::Stall(d)) => std::thread::sleep(d),
                Some(Fault::StallBody(d)) => stall_body = Some(d),
                None => {}
            }
            let (mut status, ctype, mut body) = match raw.iter().find(|r| r.path == path) {
                Some(r) => ("200 OK", r.content_type, r.body.clone()),
                None if *json && wants_json && path.starts_with("/simple/") => {
                    Self::respond_json(entries, &path)
                }
                None => Self::respond(entries, &path),
            };
            let mut extra = String::new();
            if *ranges && path.starts_with("/files/") && status.starts_with("200") {
                extra.push_str("Accept-Ranges: bytes\r\n");
                if let Some((start, end)) = range.as_deref().and_then(|r| byte_range(r, body.len()))
                {
                    extra.push_str(&format!(
                        "Content-Range: bytes {start}-{}/{}\r\n",
                        end - 1,
                        body.len()
                    ));
                    body = body[start..end].to_vec();
                    status = "206 Partial Content";
                }
            }
            let code: u16 = status[..3].parse().unwrap_or(0);
            record(code, body.len());
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}{}\r\n",
                body.len(),
                if close { "Connection: close\r\n" } else { "" }
            );
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            if let Some(d) = stall_body {
                let _ = stream.flush();
                std::thread::sleep(d);
            }
            if stream.write_all(&body).is_err() || close {
                return;
            }
        }
    }

    fn respond_json(entries: &[IndexEntry], path: &str) -> (&'static str, &'static str, Vec<u8>) {
        let project = path.trim_start_matches("/simple/").trim_end_matches('/');
        let files: Vec<Value> = entries
            .iter()
            .filter(|e| e.project == project)
            .map(|e| {
                let mut f = serde_json::json!({
                    "filename": e.filename,
                    "url": format!("/files/{}", e.filename),
                    "hashes": {"sha256": e.advertised_sha256.clone().unwrap_or_else(|| e.sha256())},
                    "size": e.bytes.len(),
                    "yanked": e.yanked,
                });
                if let Some(t) = &e.upload_time {
                    f["upload-time"] = Value::from(t.clone());
                }
                if let Some(rp) = &e.requires_python {
                    f["requires-python"] = Value::from(rp.clone());
                }
                if let Some(m) = &e.metadata {
                    use sha2::Digest;
                    let h = hex::encode(sha2::Sha256::digest(m.as_bytes()));
                    f["core-metadata"] = serde_json::json!({"sha256": h});
                }
                f
            })
            .collect();
        let page =
            serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "files": files});
        (
            "200 OK",
            "application/vnd.pypi.simple.v1+json",
            serde_json::to_vec(&page).unwrap(),
        )
    }

    fn respond(entries: &[IndexEntry], path: &str) -> (&'static str, &'static str, Vec<u8>) {
        if let Some(project) = path.strip_prefix("/simple/") {
            let project = project.trim_end_matches('/');
            let mut html = String::from("<html><body>\n");
            for e in entries.iter().filter(|e| e.project == project) {
                let sha = e.advertised_sha256.clone().unwrap_or_else(|| e.sha256());
                let mut attrs = String::new();
                if e.yanked {
                    attrs.push_str(" data-yanked=\"\"");
                }
                if let Some(rp) = &e.requires_python {
                    attrs.push_str(&format!(
                        " data-requires-python=\"{}\"",
                        rp.replace('<', "&lt;").replace('>', "&gt;")
                    ));
                }
                if let Some(m) = &e.metadata {
                    use sha2::Digest;
                    let h = hex::encode(sha2::Sha256::digest(m.as_bytes()));
                    attrs.push_str(&format!(" data-core-metadata=\"sha256={h}\""));
                }
                html.push_str(&format!(
                    "<a href=\"/files/{0}#sha256={sha}\"{attrs}>{0}</a>\n",
                    e.filename
                ));
            }
            html.push_str("</body></html>\n");
            return ("200 OK", "text/html", html.into_bytes());
        }
        if let Some(name) = path.strip_prefix("/files/") {
            if let Some(e) = name
                .strip_suffix(".metadata")
                .and_then(|n| entries.iter().find(|e| e.filename == n))
            {
                if let Some(m) = &e.metadata {
                    return ("200 OK", "text/plain", m.clone().into_bytes());
                }
            }
            if let Some(e) = entries.iter().find(|e| e.filename == name) {
                return ("200 OK", "application/octet-stream", e.bytes.clone());
            }
        }
        ("404 Not Found", "text/plain", b"not found".to_vec())
    }
}

/// The bytes a `Range: bytes=...` header asks of a body of `len` bytes, as `start..end`;
/// `None` for a range that cannot be satisfied (the whole body is then sent).
fn byte_range(header: &str, len: usize) -> Option<(usize, usize)> {
    let spec = header.strip_prefix("bytes=")?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: usize = b.parse().ok()?;
        (len.saturating_sub(n), len)
    } else {
        let start: usize = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            (b.parse::<usize>().ok()? + 1).min(len)
        };
        (start, end)
    };
    (start < end).then_some((start, end))
}

impl Drop for IndexServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A private cache dir that shares the installed runtime's compiled modules (hard links,
/// so tests do not recompile them; a symlink would lead out of the cache and is refused),
/// plus the `--runtime` argument for the installed runtime.
pub fn private_cache() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let runtime = share_modules_into(tmp.path());
    (tmp, runtime)
}

/// Gives the cache root `cache` the installed runtime's compiled modules (hard links, or
/// copies across file systems) and returns the `--runtime` argument.
pub fn share_modules_into(cache: &Path) -> String {
    let config = sdistill::sandbox::SandboxConfig::default();
    let runtime = sdistill::sandbox::runtime::default_runtime_dir(&config).unwrap();
    let modules = sdistill::sandbox::runtime::cache_root(&config)
        .unwrap()
        .join("modules");
    let private = cache.join("modules");
    std::fs::create_dir_all(&private).unwrap();
    for entry in std::fs::read_dir(&modules).unwrap().flatten() {
        // Another process may be building a snapshot there (a temporary directory).
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let to = private.join(entry.file_name());
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    runtime.display().to_string()
}

/// A setup.py-only sdist (PKG-INFO 1.0, so static metadata is not trusted).
pub fn setup_py_sdist(dir: &Path, name: &str, setup_py: &str) -> PathBuf {
    let top = format!("{name}-1.0");
    let members = vec![
        file(
            &format!("{top}/PKG-INFO"),
            &format!("Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n"),
        ),
        file(&format!("{top}/setup.py"), setup_py),
    ];
    write_sdist(dir, &top, Kind::TarGz, &members)
}

/// A setup() call that declares honest metadata after `payload` ran.
pub fn honest(name: &str, payload: &str) -> String {
    format!(
        "{payload}\nfrom setuptools import setup\nsetup(name='{name}', version='1.0', install_requires=['honest-dep>=1'], python_requires='>=3.8')\n"
    )
}

pub fn assert_honest(v: &Value, name: &str) {
    assert!(v["error"].is_null(), "expected metadata, got {v}");
    assert_eq!(v["name"], name, "{v}");
    assert_eq!(v["version"], "1.0");
    assert_eq!(
        v["requires_dist"],
        serde_json::json!(["honest-dep>=1"]),
        "{v}"
    );
    assert!(v["method"].as_str().unwrap().starts_with("sandbox-"), "{v}");
}

/// An sdist with static metadata (PKG-INFO 2.2, nothing dynamic): answered without a build.
pub fn static_sdist_bytes(name: &str, version: &str, requires: &[&str]) -> Vec<u8> {
    let top = format!("{name}-{version}");
    compress(
        Kind::TarGz,
        &tar_bytes(&[file(
            &format!("{top}/PKG-INFO"),
            &pkg_info(name, version, "2.2", requires, ""),
        )]),
    )
}

/// A setup.py-only sdist (PKG-INFO 1.0): its metadata comes from running `setup_py`.
pub fn setup_py_sdist_bytes(name: &str, version: &str, setup_py: &str) -> Vec<u8> {
    let top = format!("{name}-{version}");
    compress(
        Kind::TarGz,
        &tar_bytes(&[
            file(
                &format!("{top}/PKG-INFO"),
                &format!("Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n"),
            ),
            file(&format!("{top}/setup.py"), setup_py),
        ]),
    )
}

/// A response read off the wire by [`http`], with what a client library would hide: the
/// reason phrase, and whether the body arrived whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was complete (its `Content-Length`, or the final chunk, arrived).
    pub complete: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(180)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    // A server may answer (431) and close before a huge request is written.
    let _ = stream.write_all(request.as_bytes());
    let mut raw = Vec::new();
    // A broken transfer ends in a reset or an early EOF: keep what arrived.
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let reason = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (body, complete) = if method == "HEAD" || status == 304 {
        (Vec::new(), true)
    } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        let mut complete = false;
        while let Some(end) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[at..at + end]).to_string();
            let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
                break;
            };
            at += end + 2;
            if size == 0 {
                complete = true;
                break;
            }
            if at + size > rest.len() {
                body.extend_from_slice(&rest[at..]);
                break;
            }
            body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
        (body, complete)
    } else if let Some(len) = find("content-length").and_then(|l| l.parse::<usize>().ok()) {
        (rest.to_vec(), rest.len() == len)
    } else {
        (rest.to_vec(), true)
    };
    HttpResponse {
        status,
        reason,
        headers,
        body,
        complete,
    }
}

/// `GET path`.
pub fn get(addr: &str, path: &str) -> HttpResponse {
    http(addr, "GET", path, &[])
}

/// A `sdistill serve` process on 127.0.0.1 (a port the system picks), its stderr
/// collected line by line; SIGTERM and reaped when dropped.
pub struct ServeProcess {
    child: std::process::Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// `http://127.0.0.1:PORT/simple/`
    pub url: String,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServeProcess {
    /// Starts `sdistill serve --listen 127.0.0.1:0 ARGS` with `cache` as its cache dir.
    pub fn start(args: &[&str], cache: &Path) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("SDISTILL_RUNTIME")
            .env("SDISTILL_CACHE_DIR", cache)
            .env("SDISTILL_TEST_SECRET", SECRET)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start sdistill serve");
        let stderr = child.stderr.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("sdistill: serving http://") {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not start: {:?}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            url: format!("http://{addr}/simple/"),
            addr,
            child,
            lines,
        }
    }

    /// The server's process id (to look at its open descriptors).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `sdistill serve` in front of `upstreams` (in order) with the installed `runtime`,
    /// offline (the runtime is there; build requirements come from the cache), and
    /// `extra` arguments.
    pub fn in_front_of(upstreams: &[&str], runtime: &str, cache: &Path, extra: &[&str]) -> Self {
        let mut args = Vec::new();
        for upstream in upstreams {
            args.extend(["--upstream", upstream]);
        }
        args.extend(["--runtime", runtime, "--offline"]);
        args.extend_from_slice(extra);
        Self::start(&args, cache)
    }

    /// Every stderr line so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `needle` (access-log lines are written when a
    /// response is done, a moment after the client has it).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needle:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends `signal` (e.g. `rustix::process::Signal::TERM`).
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits for the process to end (at most `secs`); its exit status.
    pub fn wait(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(rustix::process::Signal::TERM);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !std::thread::panicking() {
            let text = self.log().join("\n");
            assert!(!text.contains("panicked"), "panic: {text}");
            assert!(!text.contains(SECRET), "secret leaked: {text}");
        }
    }
}

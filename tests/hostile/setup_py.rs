//! Hostile setup.py files: each is contained (no host file, secret, network, process or
//! canary reached) and answered with honest metadata or the documented error kind.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn printed_fake_result_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = r#"print('{"ok": true, "method": "sandbox-egg-info", "metadata": "Name: evil\nVersion: 6.6.6\n"}')
import sys; sys.stderr.write('Name: evil\n')"#;
    let path = setup_py_sdist(tmp.path(), "spoof", &honest("spoof", payload));
    let (_, v) = inspect_one(&[], &path);
    assert_honest(&v, "spoof");
}

#[test]
fn host_files_and_secrets_are_out_of_reach() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = r#"
import os
leaks = []
for p in ['/etc/passwd', '../../../../../../etc/passwd', '/proc/self/environ', '/root/.ssh/id_rsa',
          os.path.expanduser('~/.bashrc'), '/work', '/tmp']:
    try:
        with open(p) as f:
            leaks.append(p + ':' + f.read(64))
    except Exception:
        pass
    try:
        leaks.append(p + ':' + repr(os.listdir(p)[:3]))
    except Exception:
        pass
for k, v in os.environ.items():
    if 'SECRET' in k or 'sdistill-test-secret' in v:
        leaks.append(k)
if leaks:
    raise SystemExit('LEAKED ' + repr(leaks))
"#;
    let path = setup_py_sdist(tmp.path(), "reader", &honest("reader", payload));
    // `common::run` puts a secret in sdistill's environment and checks no output has it.
    let (_, v) = inspect_one(&[], &path);
    assert_honest(&v, "reader");
}

#[test]
fn host_writes_do_not_land() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary_dir();
    let payload = format!(
        r#"
import os
for p in [{canary:?} + '/pwned', '../../../../../..' + {canary:?} + '/pwned2', os.path.expanduser('~/pwned'), '/tmp/sdistill-pwned', '/site/pwned']:
    try:
        with open(p, 'w') as f:
            f.write('x')
    except Exception:
        pass
try:
    os.symlink({canary:?}, 'link')
    with open('link/pwned3', 'w') as f:
        f.write('x')
except Exception:
    pass
"#,
        canary = canary.path().display().to_string()
    );
    let path = setup_py_sdist(tmp.path(), "writer", &honest("writer", &payload));
    let (_, v) = inspect_one(&[], &path);
    assert_honest(&v, "writer");
    assert!(dir_is_empty(canary.path()), "canary written");
    assert!(!Path::new("/tmp/sdistill-pwned").exists());
}

#[test]
fn no_network() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let payload = format!(
        r#"
import socket
got = []
def connected():
    # A socket object may exist (a stand-in, as on a machine without network); it must
    # never reach anything.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(('127.0.0.1', {port}))
    return s
for attempt in (lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2),
                connected,
                lambda: socket.getaddrinfo('localhost', {port}),
                lambda: socket.gethostbyname('example.com'),
                lambda: __import__('urllib.request').request.urlopen('http://127.0.0.1:{port}/', timeout=2)):
    try:
        got.append(repr(attempt()))
    except BaseException:
        pass
if got:
    raise SystemExit('NETWORK ' + repr(got))
"#
    );
    let path = setup_py_sdist(tmp.path(), "net", &honest("net", &payload));
    let (_, v) = inspect_one(&[], &path);
    assert_honest(&v, "net");
    assert!(listener.accept().is_err(), "the listener saw a connection");
}

#[test]
fn no_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary_dir();
    let payload = format!(
        r#"
import os, subprocess
cmd = 'touch {c}/pwned'
ran = []
try:
    subprocess.run(['sh', '-c', cmd]); ran.append('run')
except FileNotFoundError:
    pass
try:
    subprocess.check_output(['git', 'describe'])
except FileNotFoundError:
    pass
if os.system(cmd) != 127 << 8:
    ran.append('system')
for fn in ('execv', 'execve', 'posix_spawn', 'fork', 'spawnv'):
    f = getattr(os, fn, None)
    if f is None:
        continue
    try:
        f('/bin/sh', ['sh', '-c', cmd]) if fn != 'fork' else f()
        ran.append(fn)
    except Exception:
        pass
try:
    import ctypes
    ran.append('ctypes')
except ImportError:
    pass
if ran:
    raise SystemExit('RAN ' + repr(ran))
"#,
        c = canary.path().display()
    );
    let path = setup_py_sdist(tmp.path(), "proc", &honest("proc", &payload));
    let (_, v) = inspect_one(&[], &path);
    assert_honest(&v, "proc");
    assert!(dir_is_empty(canary.path()));
}

fn limit_case(name: &str, payload: &str, flags: &[&str], limit: &str, within: Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), name, &honest(name, payload));
    let started = Instant::now();
    let (code, v) = inspect_one(flags, &path);
    let took = started.elapsed();
    assert_eq!(code, 1, "{v}");
    assert_eq!(error_kind(&v), Some("limit"), "{v}");
    assert_eq!(v["error"]["limit"], limit, "{v}");
    // Containment, not speed: a generous bound that a hung process would blow through.
    assert!(took < within, "{name} took {took:?}");
}

#[test]
fn cpu_loop_hits_the_deadline() {
    limit_case(
        "spin",
        "while True:\n    pass\n",
        &["--timeout", "2"],
        "timeout",
        Duration::from_secs(30),
    );
}

#[test]
fn sleeping_for_an_hour_hits_the_deadline() {
    limit_case(
        "sleepy",
        "import time\ntime.sleep(3600)\n",
        &["--timeout", "2"],
        "timeout",
        Duration::from_secs(30),
    );
}

#[test]
fn atexit_and_threads_do_not_outlive_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = "import atexit, time\natexit.register(lambda: time.sleep(3600))\ntry:\n    import threading\n    threading.Thread(target=lambda: time.sleep(3600)).start()\nexcept Exception:\n    pass\n";
    let path = setup_py_sdist(tmp.path(), "lingering", &honest("lingering", payload));
    let (_, v) = inspect_one(&["--timeout", "20"], &path);
    assert_honest(&v, "lingering");
}

#[test]
fn memory_hog_hits_the_memory_limit() {
    limit_case(
        "hog",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 1024 * 1024))\n",
        &["--memory-limit", "256MiB"],
        "memory",
        Duration::from_secs(60),
    );
}

#[test]
fn filling_the_disk_hits_the_scratch_limit() {
    limit_case(
        "filler",
        "import os\nblock = b'x' * (4 * 1024 * 1024)\nwith open('/scratch/tmp/fill', 'wb') as f:\n    while True:\n        f.write(block)\n        f.flush()\n",
        &["--max-scratch", "64MiB"],
        "scratch",
        Duration::from_secs(60),
    );
}

#[test]
fn output_flood_is_capped_and_the_answer_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(8 * 1024):\n    sys.stdout.write(line)\n    sys.stderr.write(line)\n";
    let path = setup_py_sdist(tmp.path(), "noisy", &honest("noisy", payload));
    let (code, v) = inspect_one(&["--max-output", "64KiB"], &path);
    assert_eq!(code, 0, "{v}");
    assert_honest(&v, "noisy");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("stdout")),
        "{v}"
    );
}

#[test]
fn exit_before_setup_is_no_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), "quitter", "import os\nos._exit(3)\n");
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("no-metadata"), "{v}");
}

#[test]
fn exceptions_are_setup_failed_with_traceback() {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(tmp.path(), "broken", "import nonexistent_helper_module\n");
    let (code, v) = inspect_one(&[], &path);
    assert_eq!(code, 1);
    assert_eq!(error_kind(&v), Some("setup-failed"), "{v}");
    assert!(
        v["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("nonexistent_helper_module"),
        "{v}"
    );
}

#[test]
fn deep_recursion_is_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let path = setup_py_sdist(
        tmp.path(),
        "deep",
        "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
    );
    let (code, v) = inspect_one(&["--timeout", "5", "--memory-limit", "256MiB"], &path);
    assert_eq!(code, 1);
    // Python 3.12 keeps pure-Python frames on the heap: the run ends on the recursion
    // limit, the wasm stack, memory or the deadline, whichever comes first.
    assert!(
        matches!(
            error_kind(&v),
            Some("setup-failed") | Some("sandbox") | Some("limit")
        ),
        "{v}"
    );
}

#[test]
fn one_sdist_cannot_poison_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let poison = r#"
import os
evil = "import builtins\nraise SystemExit('POISONED')\n"
for p in ['/site/sitecustomize.py', '/site/setuptools/__init__.py', '/scratch/sitecustomize.py',
          '/sdist/sitecustomize.py', '/site/usercustomize.py', '/out/result.json']:
    try:
        with open(p, 'a') as f:
            f.write(evil)
    except Exception:
        pass
try:
    import setuptools
    setuptools.setup = lambda **kw: None
except Exception:
    pass
import setuptools.command.egg_info as ei
"#;
    let a = setup_py_sdist(tmp.path(), "poisoner", &honest("poisoner", poison));
    let b = setup_py_sdist(tmp.path(), "victim", &honest("victim", ""));
    let (_, arr, _) = inspect_json(&["-j", "1"], &[&a, &b, &a, &b]);
    assert_honest(&arr[1], "victim");
    assert_honest(&arr[3], "victim");
}

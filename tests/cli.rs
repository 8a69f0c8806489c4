//! What every subcommand shares: `-q`/`-v`, `--version` naming the runtime lock,
//! completions and man pages generated from the parser.

mod common;

use common::*;

fn stdout(args: &[&str]) -> (i32, String, String) {
    let out = run(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_names_the_runtime_lock() {
    let key = sdistill::sandbox::runtime::Lock::key();
    let (code, short, _) = stdout(&["-V"]);
    assert_eq!(code, 0);
    assert_eq!(
        short.trim(),
        format!(
            "sdistill {} (runtime lock {key})",
            env!("CARGO_PKG_VERSION")
        )
    );
    let (_, long, _) = stdout(&["--version"]);
    assert!(long.starts_with(short.trim()), "{long}");
    assert!(
        long.contains("python-3.12.0.wasm")
            && long.contains("e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763")
            && long.contains("wasmtime: 48.0.8"),
        "{long}"
    );
}

#[test]
fn completions_for_each_shell_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, script, err) = stdout(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(
            script.contains("inspect") && script.contains("max-scratch"),
            "{shell}"
        );
    }
    let (code, page, _) = stdout(&["man"]);
    assert_eq!(code, 0);
    assert!(
        page.contains(".TH sdistill 1") && page.contains("inspect"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = stdout(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for page in [
        "sdistill.1",
        "sdistill-inspect.1",
        "sdistill-lock.1",
        "sdistill-runtime-install.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
}

#[test]
fn every_subcommand_takes_quiet_and_verbose() {
    for sub in [
        &["inspect"][..],
        &["lock"],
        &["runtime", "install"],
        &["runtime", "info"],
        &["completions"],
        &["man"],
    ] {
        for flag in ["-q", "--quiet", "-v", "--verbose"] {
            let mut args = sub.to_vec();
            args.extend([flag, "--help"]);
            let (code, _, err) = stdout(&args);
            assert_eq!(code, 0, "{args:?}: {err}");
        }
    }
    let (code, _, err) = stdout(&["inspect", "-q", "-v", "x.tar.gz"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn verbose_shows_step_timings_and_the_guest_output_quiet_shows_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let sdist = setup_py_sdist(
        tmp.path(),
        "noisy",
        &honest(
            "noisy",
            "import sys\nprint('hello from setup.py')\nprint('oops', file=sys.stderr)",
        ),
    );
    let path = sdist.to_str().unwrap();
    let (code, out, err) = stdout(&["inspect", "--offline", "-v", "--format", "json", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("honest-dep>=1"));
    for expected in [
        "noisy-1.0.tar.gz: unpacked into noisy-1.0 in ",
        "noisy-1.0: guest run (from the snapshot",
        "noisy-1.0.tar.gz: read static metadata in ",
        "guest run (",
        "guest stdout | hello from setup.py",
        "guest stderr | oops",
        "ran the build in the sandbox (sandbox-egg-info) in ",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let (code, out, err) = stdout(&["-q", "inspect", "--offline", "--format", "json", path]);
    assert_eq!(code, 0);
    assert!(out.contains("honest-dep>=1"));
    assert_eq!(err, "");
    // Errors still reach stderr when quiet.
    let (code, _, err) = stdout(&["lock", "-q", "-r", "/nonexistent/requirements.in"]);
    assert_eq!(
        code, 2,
        "a requirements file that cannot be read is a usage error"
    );
    assert!(err.contains("sdistill:"), "{err}");
}

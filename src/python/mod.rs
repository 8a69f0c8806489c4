//! `sdistill._native`: the extension module of the Python distribution (feature `python`).
//!
//! Deliberately thin. The typed API, its documentation and the exception classes live in
//! Python (`python/sdistill/`); this module offers three things:
//!
//! - [`inspect_json`]: inputs and options in, the `sdistill/1` JSON array out — rendered
//!   by [`crate::report::to_json`], the CLI's own renderer, so the Python objects are the
//!   JSON schema by construction. The GIL is released for the whole inspection, so
//!   Python threads inspect in parallel.
//! - [`cli_main`]: the whole command line (`sdistill …`, `python -m sdistill …`), run
//!   in-process by [`crate::cli::run_embedded`], so the wheel needs no second copy of the engine
//!   as a separate binary.
//! - [`cleanup`]: removes this process's work dirs (registered with `atexit`).
//!
//! Inspectors are kept per distinct options, so the compiled sandbox is loaded once per
//! process and reused by every call.

mod options;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::fetch::{self, Fetcher, Input};
use crate::inspect::Inspector;
use crate::notify::Notify;
use options::PyOptions;

/// One configured inspector and the fetcher for remote inputs, shared by calls with the
/// same options.
struct Session {
    inspector: Inspector,
    fetcher: Fetcher,
    jobs: usize,
}

/// The Python callable progress lines go to (`sdistill` sets it to a `logging` call).
static LOG: OnceLock<Py<PyAny>> = OnceLock::new();

/// Sends a line to the Python log callable, taking the GIL for it (the line comes from a
/// worker thread while the caller's thread has released the GIL). A failing callable is
/// ignored: logging must not end an inspection.
fn log(level: &'static str, line: &str) {
    if let Some(callable) = LOG.get() {
        Python::attach(|py| {
            let _ = callable.call1(py, (level, line));
        });
    }
}

fn session(options_json: &str) -> PyResult<Arc<Session>> {
    static SESSIONS: OnceLock<Mutex<HashMap<String, Arc<Session>>>> = OnceLock::new();
    let sessions = SESSIONS.get_or_init(Default::default);
    let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = sessions.get(options_json) {
        return Ok(found.clone());
    }
    let parsed: PyOptions = serde_json::from_str(options_json)
        .map_err(|e| PyValueError::new_err(format!("bad options: {e}")))?;
    let mut notify = Notify::to(|line| log("info", line));
    if parsed.trace {
        notify = notify.with_trace(|line| log("debug", line));
    }
    let options = parsed
        .to_options(notify.clone())
        .map_err(PyValueError::new_err)?;
    let fetcher = Fetcher::new(
        &parsed.index_url(),
        parsed.cache_dir().as_deref(),
        parsed.prefer(),
        parsed.offline,
        notify,
    );
    let jobs = parsed.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let session = Arc::new(Session {
        inspector: Inspector::new(options),
        fetcher,
        jobs,
    });
    sessions.insert(options_json.to_string(), session.clone());
    Ok(session)
}

/// Inspects `inputs` (paths, project names, URLs) with the options in `options_json`;
/// returns the `sdistill/1` JSON array, one object per input in input order. Never
/// raises for a failing input: its object carries `error`.
#[pyfunction]
fn inspect_json(py: Python<'_>, inputs: Vec<PathBuf>, options_json: &str) -> PyResult<String> {
    let session = session(options_json)?;
    let inputs: Vec<Input> = inputs.iter().map(|p| Input::parse(p)).collect();
    let values = py.detach(|| {
        let reports = fetch::inspect_inputs(
            &session.inspector,
            &session.fetcher,
            &inputs,
            session.jobs,
            |_, _| {},
        );
        reports
            .iter()
            .map(crate::report::to_json)
            .collect::<Vec<_>>()
    });
    serde_json::to_string(&values).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Runs the command line `argv` (program name first) and returns its exit status. The
/// work dirs stay for `cleanup` at exit, so the API keeps working afterwards.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> u8 {
    py.detach(|| crate::cli::run_embedded(argv))
}

/// Removes the work dirs this process made (unpacked trees, guest scratch dirs).
#[pyfunction]
fn cleanup() {
    crate::dirs::work::cleanup();
}

/// Where library progress lines go: `callable(level, line)`, level `"info"` or `"debug"`.
/// Settable once per process.
#[pyfunction]
fn set_log(callable: Py<PyAny>) -> bool {
    LOG.set(callable).is_ok()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Guests lease descriptors from the process's limit: as large a pool as allowed.
    crate::sandbox::descriptors::raise_process_limit();
    m.add_function(wrap_pyfunction!(inspect_json, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup, m)?)?;
    m.add_function(wrap_pyfunction!(set_log, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RUNTIME_LOCK", crate::sandbox::runtime::Lock::key())?;
    m.add("SCHEMA", crate::report::SCHEMA)?;
    Ok(())
}

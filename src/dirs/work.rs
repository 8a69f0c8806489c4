//! Work directories: where unpacked trees and guest scratch dirs live while inputs are
//! processed.
//!
//! Layout: `<base>/sdistill-<uid>/<pid>.<start>/<one temporary tree per input and run>`.
//! `<base>` is `--work-dir`/`SDISTILL_WORK_DIR`, else `/dev/shm` when it is a writable
//! tmpfs (unpacking thousands of small files is many times faster in RAM), else the
//! system temp dir. `sdistill-<uid>` is private to the user ([`super::ensure_private`]);
//! `<pid>.<start>` belongs to one process (its id and start time, so a recycled pid is
//! not mistaken for the owner).
//!
//! Every tree is removed when its input is done ([`super::TempTree`]). What an
//! interrupted process leaves is removed by [`cleanup`] (the CLI calls it on SIGINT,
//! SIGTERM and SIGHUP) and, after a crash or `kill -9`, by the next sdistill process of
//! the same user: [`process_dir`] sweeps process dirs whose owner is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

/// The base work dir: `explicit`, else `SDISTILL_WORK_DIR`, else `/dev/shm` when it is a
/// writable directory, else the system temp dir. Decided once per process for the
/// default.
pub fn base(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    static DEFAULT: OnceLock<PathBuf> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("SDISTILL_WORK_DIR").filter(|d| !d.is_empty()) {
                return PathBuf::from(dir);
            }
            let shm = Path::new("/dev/shm");
            if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
                return shm.to_path_buf();
            }
            std::env::temp_dir()
        })
        .clone()
}

/// This process's identity as a directory name: `<pid>.<start time>`.
fn process_name() -> String {
    let pid = std::process::id();
    format!("{pid}.{}", start_time(pid).unwrap_or(0))
}

/// When process `pid` started (clock ticks since boot, from `/proc`), if known.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields after the last
    // `)` are plain. `starttime` is field 22, the 20th after the command.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that made the dir named `name` (`<pid>.<start>`) still runs.
/// Unknown names count as alive: only dirs this tool made are ever swept.
fn owner_alive(name: &str) -> bool {
    let Some((pid, start)) = name.split_once('.') else {
        return true;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return true;
    };
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc/self/stat").exists() {
        // With /proc: alive only if that pid exists *and* started when the dir says.
        return start_time(pid).is_some_and(|s| start == 0 || s == start);
    }
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Whether a process with this pid exists (a recycled pid counts as alive: sweeping is
/// only ever skipped by mistake, never done by mistake).
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Removes the process dirs under the user's work root whose owner process is gone.
/// Returns how many were removed.
pub fn sweep(user_root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(user_root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !owner_alive(&name) && super::remove_tree(&entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Process dirs made by this process, by base (for [`cleanup`]).
fn registry() -> &'static Mutex<BTreeMap<PathBuf, PathBuf>> {
    static DIRS: OnceLock<Mutex<BTreeMap<PathBuf, PathBuf>>> = OnceLock::new();
    DIRS.get_or_init(Default::default)
}

/// This process's work dir under `base` (see [`base`]): the user's private root is
/// checked (or created) and swept of dead processes' leftovers once, then
/// `<pid>.<start>` is created. Every temporary tree of an input goes inside it.
pub fn process_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let base = base(explicit);
    let mut dirs = registry().lock().unwrap_or_else(|p| p.into_inner());
    if CLEANED.load(Ordering::SeqCst) {
        return Err(Error::Sandbox {
            detail: "sdistill is shutting down".to_string(),
        });
    }
    if let Some(dir) = dirs.get(&base) {
        if dir.is_dir() {
            return Ok(dir.clone());
        }
    }
    let user_root = base.join(format!("sdistill-{}", super::current_uid()));
    super::ensure_private(&user_root)?;
    sweep(&user_root);
    let dir = user_root.join(process_name());
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(&dir, e)),
    }
    super::ensure_private(&dir)?;
    dirs.insert(base, dir.clone());
    Ok(dir)
}

/// Set once [`cleanup`] ran: no new work dir is made after it.
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Removes every work dir this process made, and makes no new one after. For the end of
/// a command and for signal handlers; running inputs lose their trees (the caller is
/// about to exit).
pub fn cleanup() {
    let dirs = registry().lock().unwrap_or_else(|p| p.into_inner());
    CLEANED.store(true, Ordering::SeqCst);
    for dir in dirs.values() {
        // A worker thread may still be writing into the tree (an unpack in progress when
        // a signal came): what it adds behind the removal keeps the directory from going.
        // A few more passes, bounded (the process is about to exit and nothing writes
        // after that).
        for _ in 0..50 {
            let _ = super::remove_tree(dir);
            if !dir.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_dead_owners() {
        let tmp = tempfile::tempdir().unwrap();
        let me = tmp.path().join(process_name());
        // pid 2^22+1 is above the kernel's pid_max: never a live process.
        let dead = tmp.path().join("4194305.12345");
        let foreign = tmp.path().join("not-ours");
        for d in [&me, &dead, &foreign] {
            std::fs::create_dir_all(d.join("inner")).unwrap();
        }
        assert_eq!(sweep(tmp.path()), 1);
        assert!(me.is_dir() && foreign.is_dir() && !dead.exists());
    }

    #[test]
    fn a_recycled_pid_is_not_the_owner() {
        let pid = std::process::id();
        let Some(start) = start_time(pid) else {
            eprintln!("skipped: no /proc");
            return;
        };
        // Our own pid is always alive; pid 1 with a wrong start time is not the owner.
        assert!(owner_alive(&format!("{pid}.{start}")));
        if let Some(init) = start_time(1) {
            assert!(owner_alive(&format!("1.{init}")));
            assert!(!owner_alive(&format!("1.{}", init + 1)));
        }
    }

    #[test]
    fn process_dirs_are_private_and_cleaned() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = process_dir(Some(tmp.path())).unwrap();
        assert!(dir.starts_with(tmp.path()));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(process_dir(Some(tmp.path())).unwrap(), dir);
    }
}

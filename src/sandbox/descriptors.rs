//! The process's file descriptors and guest slots, shared out between guests so none can
//! starve another.
//!
//! Every descriptor a guest opens is a host descriptor of this process, and the process
//! has one limit (`RLIMIT_NOFILE`) for all of them. The per-guest cap
//! ([`crate::Limits::max_open_files`], enforced in [`super::guard`]) bounds one guest; this
//! pool bounds the sum: a run leases its cap before it starts and returns it when it
//! ends, and waits while the pool is short. Whatever the concurrency (`-j`, `lock`'s
//! parallel prefetch, a library user's own threads), guests together never hold more
//! than the process limit minus [`RESERVE`] kept for the host's own work.
//!
//! The same lease takes one of a fixed number of guest slots ([`set_max_guests`], by
//! default the number of CPUs): each guest may use up to `--memory-limit` of RAM and a
//! core, so the number running at once is bounded too, not only the number of threads
//! that happen to call the sandbox.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Descriptors kept for the host: downloads, unpacking, cache files, wasmtime itself.
pub const RESERVE: usize = 256;

/// Whatever the process limit says, a guest is never given fewer than this.
const FLOOR: usize = 64;

struct Pool {
    size: usize,
    free: Mutex<Free>,
    returned: Condvar,
}

/// What is free in the pool.
struct Free {
    descriptors: usize,
    guests: usize,
}

/// Guest slots, set before the first lease (0: the number of CPUs).
static MAX_GUESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets how many guests may run at once in this process (the CLI passes `--jobs`). Takes
/// effect only before the first guest runs.
pub fn set_max_guests(n: usize) {
    MAX_GUESTS.store(n.max(1), std::sync::atomic::Ordering::SeqCst);
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 20);
        let size = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(RESERVE)
            .clamp(FLOOR, 1 << 20);
        let guests = match MAX_GUESTS.load(std::sync::atomic::Ordering::SeqCst) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Pool {
            size,
            free: Mutex::new(Free {
                descriptors: size,
                guests,
            }),
            returned: Condvar::new(),
        }
    })
}

/// Descriptors leased by one guest run; returned to the pool on drop.
#[derive(Debug)]
pub struct Lease {
    count: usize,
    /// How long the lease waited for the pool.
    pub waited: Duration,
}

impl Lease {
    /// How many descriptors the run may hold.
    pub fn count(&self) -> usize {
        self.count
    }
}

/// Leases a guest slot and `want` descriptors (fewer if the whole pool is smaller),
/// waiting until both are free.
pub fn lease(want: usize) -> Lease {
    let pool = pool();
    let count = want.clamp(1, pool.size);
    let started = Instant::now();
    let mut free = pool.free.lock().unwrap_or_else(|p| p.into_inner());
    while free.descriptors < count || free.guests == 0 {
        free = pool.returned.wait(free).unwrap_or_else(|p| p.into_inner());
    }
    free.descriptors -= count;
    free.guests -= 1;
    Lease {
        count,
        waited: started.elapsed(),
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let pool = pool();
        let mut free = pool.free.lock().unwrap_or_else(|p| p.into_inner());
        free.descriptors += self.count;
        free.guests += 1;
        pool.returned.notify_all();
    }
}

/// Raises this process's soft descriptor limit to its hard limit (as most build tools
/// do), so the pool is as large as the system allows. For the CLI and the Python module
/// to call first thing; a library embedded elsewhere leaves the limit to its host.
pub fn raise_process_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    let target = current.maximum.map(|m| m.min(1 << 20));
    if target.is_some() && target > current.current {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: target,
                maximum: current.maximum,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_bounded_and_returned() {
        let size = pool().size;
        let a = lease(usize::MAX);
        assert_eq!(a.count(), size);
        let waiter = std::thread::spawn(|| lease(10).count());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "a lease must wait while the pool is empty"
        );
        drop(a);
        assert_eq!(waiter.join().unwrap(), 10);
    }
}

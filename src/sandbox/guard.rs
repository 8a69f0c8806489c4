//! Every WASI call of the guest passes through [`GuardedWasi`] before it reaches
//! wasmtime's implementation: the per-guest accounting of what the host shares between
//! guests.
//!
//! The sandbox walls (preopens, no sockets, no processes) are wasmtime's. What they do not
//! bound is how much of the *host's shared resources* one guest may use, and that is how
//! one sdist could change another's answer: a guest that opens descriptors until the
//! process limit makes a concurrent guest's `open()` fail, and that guest's `setup.py` may
//! carry on with wrong metadata. So, per guest:
//!
//! - **descriptors**: at most [`crate::Limits::max_open_files`] open at once; beyond, the
//!   guest gets `EMFILE` and the run ends as the `open-files` limit. Together with the
//!   process-wide [`super::descriptors`] pool this keeps all guests together below the
//!   process's own limit.
//! - **writes**: every byte written to a file (`fd_write`, `fd_pwrite`, growing a file
//!   with `fd_filestat_set_size`) and every entry created (files, directories, links;
//!   charged [`ENTRY_CHARGE`] bytes each) is counted where it happens, before it happens:
//!   a write that would pass [`crate::Limits::max_scratch`] is refused (`ENOSPC`) and the
//!   run ends as the `scratch` limit. Unlinked files and paths longer than `PATH_MAX`
//!   are counted like any other, because the count is of calls, not of what a directory
//!   scan can see. Writes to the captured stdout/stderr are capped separately.
//! - **host failures**: an error the host itself produced while serving the guest
//!   (`ENOMEM`, `ENOSPC`, and `EIO`, which is how wasmtime reports `EMFILE`, `ENFILE` and
//!   `EDQUOT`) is remembered, and the run's answer is discarded: a build that "succeeded"
//!   after the host failed it is not an answer.
//! - **the event channel**: the guest observer opens [`EVENT_PATH`] once, before any sdist
//!   code runs (in the interpreter snapshot, or at the start of an ordinary run). The
//!   guard answers that `path_open` itself with [`EVENT_FD`], a descriptor number wasmtime
//!   never hands out, and the guest's libc keeps it in its own table (so a resumed
//!   snapshot still has it). Every `fd_write` on it is the observer's record of one event
//!   (`python-wasm/observe.py`); the bytes of each call go straight into the run's
//!   [`Recorder`], which rates them at once; they are not charged to the write budget
//!   (the recorder has its own bounds). Any other open of that name, and any call on the
//!   descriptor that could end or redirect it — closing, renumbering, seeking,
//!   truncating — is refused and recorded by the host as tampering: what was captured
//!   stays captured.

use std::collections::BTreeSet;

use wasmtime_wasi::p1::types::{self, Errno};
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wasmtime_wasi::p1::WasiP1Ctx;
use wiggle::{GuestMemory, GuestPtr};

use crate::observe::record::MAX_RECORD;
use crate::observe::{Recorder, EVENT_FD, EVENT_PATH};

/// What creating a file, directory or link is charged against the write budget (an
/// inode and a block), so that a flood of empty files is bounded too.
pub const ENTRY_CHARGE: u64 = 4096;

/// The budgets of one guest run.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Descriptors the guest may hold open at once (its preopens and stdio included).
    pub open_files: usize,
    /// Bytes the guest may write to files (plus [`ENTRY_CHARGE`] per created entry).
    pub write_bytes: u64,
}

/// What the guard saw during a run; the sandbox turns it into the run's outcome.
#[derive(Debug, Default, Clone)]
pub struct GuardReport {
    /// The guest tried to hold more descriptors than its budget.
    pub open_files_exceeded: bool,
    /// The guest tried to write past its budget.
    pub writes_exceeded: bool,
    /// Bytes (and entry charges) the guest wrote.
    pub written: u64,
    /// The most descriptors the guest held at once.
    pub peak_open: usize,
    /// The first host-side failure (`call: errno`), which voids the answer.
    pub host_failure: Option<String>,
    /// What the guest observer reported on the event channel.
    pub observed: Recorder,
}

/// wasmtime's WASI preview 1 with per-guest accounting in front of it.
pub struct GuardedWasi {
    inner: WasiP1Ctx,
    budgets: Budgets,
    open: usize,
    /// Descriptors that are still the captured stdio streams (closing or renumbering
    /// moves them, so a later file on fd 1 is a file).
    stdio: BTreeSet<u32>,
    report: GuardReport,
    /// Whether the observer may still open the event channel in this run (once, in a run
    /// that starts the interpreter; a resumed snapshot has it already).
    event_open_allowed: bool,
}

impl GuardedWasi {
    /// Wraps a context that has `preopens` preopened directories besides stdio. With
    /// `fresh_start` the driver starts from scratch and opens the event channel itself
    /// (once); otherwise it resumes a snapshot that has it open already.
    pub fn new(inner: WasiP1Ctx, preopens: usize, budgets: Budgets, fresh_start: bool) -> Self {
        let open = 3 + preopens;
        Self {
            inner,
            budgets,
            open,
            stdio: [0, 1, 2].into_iter().collect(),
            report: GuardReport {
                peak_open: open,
                ..GuardReport::default()
            },
            event_open_allowed: fresh_start,
        }
    }

    /// What happened so far.
    pub fn report(&self) -> &GuardReport {
        &self.report
    }

    /// Records a host-side failure from the inner implementation.
    fn note<T>(&mut self, call: &str, result: &Result<T, types::Error>) {
        if let Err(e) = result {
            if let Some(errno) = e.downcast_ref() {
                let host_failure = matches!(
                    errno,
                    Errno::Io
                        | Errno::Nomem
                        | Errno::Nospc
                        | Errno::Dquot
                        | Errno::Mfile
                        | Errno::Nfile
                        | Errno::Nobufs
                );
                if host_failure && self.report.host_failure.is_none() {
                    self.report.host_failure = Some(format!("{call}: {errno:?}"));
                }
            }
        }
    }

    /// Charges `bytes` against the write budget, or refuses them.
    fn charge(&mut self, bytes: u64) -> Result<(), types::Error> {
        let total = self.report.written.saturating_add(bytes);
        if total > self.budgets.write_bytes {
            self.report.writes_exceeded = true;
            return Err(Errno::Nospc.into());
        }
        self.report.written = total;
        Ok(())
    }

    /// Total length of the buffers of a write.
    fn ciovec_len(
        memory: &GuestMemory<'_>,
        ciovs: types::CiovecArray,
    ) -> Result<u64, types::Error> {
        let mut total = 0u64;
        for ptr in ciovs.iter() {
            let ciov: types::Ciovec = memory.read(ptr?)?;
            total = total.saturating_add(u64::from(ciov.buf_len));
        }
        Ok(total)
    }

    /// Refuses `call` (`EBADF`) when `fd` is the event channel, recording the attempt:
    /// nothing may end, move or rewind it.
    fn keep_channel(&mut self, fd: types::Fd, call: &str) -> Result<(), types::Error> {
        if u32::from(fd) != EVENT_FD {
            return Ok(());
        }
        self.report.observed.channel_tamper(call);
        Err(Errno::Badf.into())
    }

    /// A `path_open` of the event channel's name: the observer's one open, or tampering.
    fn open_event_channel(&mut self) -> Result<types::Fd, types::Error> {
        if std::mem::take(&mut self.event_open_allowed) {
            return Ok(types::Fd::from(EVENT_FD));
        }
        self.report
            .observed
            .channel_tamper("path_open of the event channel");
        Err(Errno::Acces.into())
    }

    /// One `fd_write` on the event channel: its bytes are one record of the observer.
    fn capture_event(
        &mut self,
        memory: &GuestMemory<'_>,
        ciovs: types::CiovecArray,
    ) -> Result<types::Size, types::Error> {
        let total = Self::ciovec_len(memory, ciovs)?;
        let size = types::Size::try_from(total).map_err(|_| Errno::Inval)?;
        if total > MAX_RECORD as u64 {
            self.report.observed.oversized(total);
            return Ok(size);
        }
        let mut record = Vec::with_capacity(total as usize);
        for ptr in ciovs.iter() {
            let ciov: types::Ciovec = memory.read(ptr?)?;
            record.extend_from_slice(&memory.as_cow(ciov.buf.as_array(ciov.buf_len))?);
        }
        self.report.observed.capture(&record);
        Ok(size)
    }

    /// Before a write to `fd`: stdio is not charged (it is captured and capped).
    fn charge_write(
        &mut self,
        memory: &GuestMemory<'_>,
        fd: types::Fd,
        ciovs: types::CiovecArray,
    ) -> Result<(), types::Error> {
        if self.stdio.contains(&u32::from(fd)) {
            return Ok(());
        }
        let len = Self::ciovec_len(memory, ciovs)?;
        self.charge(len)
    }
}

// Everything below delegates to wasmtime's implementation; the calls that allocate host
// resources are accounted first, and every result is checked for host-side failures.
impl WasiSnapshotPreview1 for GuardedWasi {
    fn set_hostcall_fuel(&mut self, fuel: usize) {
        self.inner.set_hostcall_fuel(fuel);
    }

    fn args_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        argv: GuestPtr<GuestPtr<u8>>,
        argv_buf: GuestPtr<u8>,
    ) -> Result<(), types::Error> {
        self.inner.args_get(memory, argv, argv_buf)
    }

    fn args_sizes_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
    ) -> Result<(types::Size, types::Size), types::Error> {
        self.inner.args_sizes_get(memory)
    }

    fn environ_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        environ: GuestPtr<GuestPtr<u8>>,
        environ_buf: GuestPtr<u8>,
    ) -> Result<(), types::Error> {
        self.inner.environ_get(memory, environ, environ_buf)
    }

    fn environ_sizes_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
    ) -> Result<(types::Size, types::Size), types::Error> {
        self.inner.environ_sizes_get(memory)
    }

    fn clock_res_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        id: types::Clockid,
    ) -> Result<types::Timestamp, types::Error> {
        self.inner.clock_res_get(memory, id)
    }

    fn clock_time_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        id: types::Clockid,
        precision: types::Timestamp,
    ) -> Result<types::Timestamp, types::Error> {
        self.inner.clock_time_get(memory, id, precision)
    }

    async fn fd_advise(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> Result<(), types::Error> {
        let r = self.inner.fd_advise(memory, fd, offset, len, advice).await;
        self.note("fd_advise", &r);
        r
    }

    fn fd_allocate(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        offset: types::Filesize,
        len: types::Filesize,
    ) -> Result<(), types::Error> {
        self.keep_channel(fd, "fd_allocate")?;
        self.inner.fd_allocate(memory, fd, offset, len)
    }

    async fn fd_close(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<(), types::Error> {
        self.keep_channel(fd, "fd_close")?;
        let r = self.inner.fd_close(memory, fd).await;
        if r.is_ok() {
            self.open = self.open.saturating_sub(1);
            self.stdio.remove(&u32::from(fd));
        }
        self.note("fd_close", &r);
        r
    }

    async fn fd_datasync(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<(), types::Error> {
        let r = self.inner.fd_datasync(memory, fd).await;
        self.note("fd_datasync", &r);
        r
    }

    async fn fd_fdstat_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<types::Fdstat, types::Error> {
        if u32::from(fd) == EVENT_FD {
            // What the guest's libc asks of a descriptor it just opened.
            return Ok(types::Fdstat {
                fs_filetype: types::Filetype::RegularFile,
                fs_flags: types::Fdflags::APPEND,
                fs_rights_base: types::Rights::FD_WRITE,
                fs_rights_inheriting: types::Rights::empty(),
            });
        }
        let r = self.inner.fd_fdstat_get(memory, fd).await;
        self.note("fd_fdstat_get", &r);
        r
    }

    fn fd_fdstat_set_flags(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        flags: types::Fdflags,
    ) -> Result<(), types::Error> {
        if u32::from(fd) == EVENT_FD {
            return Ok(()); // flags change nothing on the channel
        }
        self.inner.fd_fdstat_set_flags(memory, fd, flags)
    }

    fn fd_fdstat_set_rights(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        fs_rights_base: types::Rights,
        fs_rights_inheriting: types::Rights,
    ) -> Result<(), types::Error> {
        self.inner
            .fd_fdstat_set_rights(memory, fd, fs_rights_base, fs_rights_inheriting)
    }

    async fn fd_filestat_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<types::Filestat, types::Error> {
        let r = self.inner.fd_filestat_get(memory, fd).await;
        self.note("fd_filestat_get", &r);
        r
    }

    async fn fd_filestat_set_size(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        size: types::Filesize,
    ) -> Result<(), types::Error> {
        self.keep_channel(fd, "fd_filestat_set_size")?;
        // Growing a file is charged like writing the bytes it grows by.
        let current = self.inner.fd_filestat_get(memory, fd).await?.size;
        if size > current {
            self.charge(size - current)?;
        }
        let r = self.inner.fd_filestat_set_size(memory, fd, size).await;
        self.note("fd_filestat_set_size", &r);
        r
    }

    async fn fd_filestat_set_times(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        atim: types::Timestamp,
        mtim: types::Timestamp,
        fst_flags: types::Fstflags,
    ) -> Result<(), types::Error> {
        let r = self
            .inner
            .fd_filestat_set_times(memory, fd, atim, mtim, fst_flags)
            .await;
        self.note("fd_filestat_set_times", &r);
        r
    }

    async fn fd_read(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        iovs: types::IovecArray,
    ) -> Result<types::Size, types::Error> {
        let r = self.inner.fd_read(memory, fd, iovs).await;
        self.note("fd_read", &r);
        r
    }

    async fn fd_pread(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        iovs: types::IovecArray,
        offset: types::Filesize,
    ) -> Result<types::Size, types::Error> {
        let r = self.inner.fd_pread(memory, fd, iovs, offset).await;
        self.note("fd_pread", &r);
        r
    }

    async fn fd_write(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        ciovs: types::CiovecArray,
    ) -> Result<types::Size, types::Error> {
        if u32::from(fd) == EVENT_FD {
            return self.capture_event(memory, ciovs);
        }
        self.charge_write(memory, fd, ciovs)?;
        let r = self.inner.fd_write(memory, fd, ciovs).await;
        self.note("fd_write", &r);
        r
    }

    async fn fd_pwrite(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        ciovs: types::CiovecArray,
        offset: types::Filesize,
    ) -> Result<types::Size, types::Error> {
        self.keep_channel(fd, "fd_pwrite")?;
        self.charge_write(memory, fd, ciovs)?;
        let r = self.inner.fd_pwrite(memory, fd, ciovs, offset).await;
        self.note("fd_pwrite", &r);
        r
    }

    fn fd_prestat_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<types::Prestat, types::Error> {
        self.inner.fd_prestat_get(memory, fd)
    }

    fn fd_prestat_dir_name(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        path: GuestPtr<u8>,
        path_max_len: types::Size,
    ) -> Result<(), types::Error> {
        self.inner
            .fd_prestat_dir_name(memory, fd, path, path_max_len)
    }

    async fn fd_renumber(
        &mut self,
        memory: &mut GuestMemory<'_>,
        from: types::Fd,
        to: types::Fd,
    ) -> Result<(), types::Error> {
        // Either way round: nothing may be moved onto the channel, nor the channel moved.
        self.keep_channel(from, "fd_renumber")?;
        self.keep_channel(to, "fd_renumber")?;
        let r = self.inner.fd_renumber(memory, from, to).await;
        if r.is_ok() && u32::from(from) != u32::from(to) {
            // `to` was closed and `from` moved onto it.
            self.open = self.open.saturating_sub(1);
            let was_stdio = self.stdio.remove(&u32::from(from));
            self.stdio.remove(&u32::from(to));
            if was_stdio {
                self.stdio.insert(u32::from(to));
            }
        }
        self.note("fd_renumber", &r);
        r
    }

    async fn fd_seek(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        offset: types::Filedelta,
        whence: types::Whence,
    ) -> Result<types::Filesize, types::Error> {
        self.keep_channel(fd, "fd_seek")?;
        let r = self.inner.fd_seek(memory, fd, offset, whence).await;
        self.note("fd_seek", &r);
        r
    }

    async fn fd_sync(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<(), types::Error> {
        let r = self.inner.fd_sync(memory, fd).await;
        self.note("fd_sync", &r);
        r
    }

    fn fd_tell(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
    ) -> Result<types::Filesize, types::Error> {
        self.keep_channel(fd, "fd_tell")?;
        self.inner.fd_tell(memory, fd)
    }

    async fn fd_readdir(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        buf: GuestPtr<u8>,
        buf_len: types::Size,
        cookie: types::Dircookie,
    ) -> Result<types::Size, types::Error> {
        let r = self
            .inner
            .fd_readdir(memory, fd, buf, buf_len, cookie)
            .await;
        self.note("fd_readdir", &r);
        r
    }

    async fn path_create_directory(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        self.charge(ENTRY_CHARGE)?;
        let r = self.inner.path_create_directory(memory, dirfd, path).await;
        self.note("path_create_directory", &r);
        r
    }

    async fn path_filestat_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        flags: types::Lookupflags,
        path: GuestPtr<str>,
    ) -> Result<types::Filestat, types::Error> {
        let r = self
            .inner
            .path_filestat_get(memory, dirfd, flags, path)
            .await;
        self.note("path_filestat_get", &r);
        r
    }

    async fn path_filestat_set_times(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        flags: types::Lookupflags,
        path: GuestPtr<str>,
        atim: types::Timestamp,
        mtim: types::Timestamp,
        fst_flags: types::Fstflags,
    ) -> Result<(), types::Error> {
        let r = self
            .inner
            .path_filestat_set_times(memory, dirfd, flags, path, atim, mtim, fst_flags)
            .await;
        self.note("path_filestat_set_times", &r);
        r
    }

    async fn path_link(
        &mut self,
        memory: &mut GuestMemory<'_>,
        src_fd: types::Fd,
        src_flags: types::Lookupflags,
        src_path: GuestPtr<str>,
        target_fd: types::Fd,
        target_path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        self.charge(ENTRY_CHARGE)?;
        let r = self
            .inner
            .path_link(memory, src_fd, src_flags, src_path, target_fd, target_path)
            .await;
        self.note("path_link", &r);
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn path_open(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        dirflags: types::Lookupflags,
        path: GuestPtr<str>,
        oflags: types::Oflags,
        fs_rights_base: types::Rights,
        fs_rights_inheriting: types::Rights,
        fdflags: types::Fdflags,
    ) -> Result<types::Fd, types::Error> {
        if memory.as_cow_str(path)?.as_ref() == EVENT_PATH {
            return self.open_event_channel();
        }
        if self.open >= self.budgets.open_files {
            self.report.open_files_exceeded = true;
            return Err(Errno::Mfile.into());
        }
        if oflags.contains(types::Oflags::CREAT) {
            self.charge(ENTRY_CHARGE)?;
        }
        let r = self
            .inner
            .path_open(
                memory,
                dirfd,
                dirflags,
                path,
                oflags,
                fs_rights_base,
                fs_rights_inheriting,
                fdflags,
            )
            .await;
        if let Ok(fd) = &r {
            self.open += 1;
            self.report.peak_open = self.report.peak_open.max(self.open);
            self.stdio.remove(&u32::from(*fd));
        }
        self.note("path_open", &r);
        r
    }

    async fn path_readlink(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
        buf: GuestPtr<u8>,
        buf_len: types::Size,
    ) -> Result<types::Size, types::Error> {
        let r = self
            .inner
            .path_readlink(memory, dirfd, path, buf, buf_len)
            .await;
        self.note("path_readlink", &r);
        r
    }

    async fn path_remove_directory(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        let r = self.inner.path_remove_directory(memory, dirfd, path).await;
        self.note("path_remove_directory", &r);
        r
    }

    async fn path_rename(
        &mut self,
        memory: &mut GuestMemory<'_>,
        src_fd: types::Fd,
        src_path: GuestPtr<str>,
        dest_fd: types::Fd,
        dest_path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        let r = self
            .inner
            .path_rename(memory, src_fd, src_path, dest_fd, dest_path)
            .await;
        self.note("path_rename", &r);
        r
    }

    async fn path_symlink(
        &mut self,
        memory: &mut GuestMemory<'_>,
        src_path: GuestPtr<str>,
        dirfd: types::Fd,
        dest_path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        self.charge(ENTRY_CHARGE)?;
        let r = self
            .inner
            .path_symlink(memory, src_path, dirfd, dest_path)
            .await;
        self.note("path_symlink", &r);
        r
    }

    async fn path_unlink_file(
        &mut self,
        memory: &mut GuestMemory<'_>,
        dirfd: types::Fd,
        path: GuestPtr<str>,
    ) -> Result<(), types::Error> {
        let r = self.inner.path_unlink_file(memory, dirfd, path).await;
        self.note("path_unlink_file", &r);
        r
    }

    async fn poll_oneoff(
        &mut self,
        memory: &mut GuestMemory<'_>,
        subs: GuestPtr<types::Subscription>,
        events: GuestPtr<types::Event>,
        nsubscriptions: types::Size,
    ) -> Result<types::Size, types::Error> {
        self.inner
            .poll_oneoff(memory, subs, events, nsubscriptions)
            .await
    }

    fn proc_exit(
        &mut self,
        memory: &mut GuestMemory<'_>,
        status: types::Exitcode,
    ) -> wasmtime::Error {
        self.inner.proc_exit(memory, status)
    }

    fn proc_raise(
        &mut self,
        memory: &mut GuestMemory<'_>,
        sig: types::Signal,
    ) -> Result<(), types::Error> {
        self.inner.proc_raise(memory, sig)
    }

    fn sched_yield(&mut self, memory: &mut GuestMemory<'_>) -> Result<(), types::Error> {
        self.inner.sched_yield(memory)
    }

    fn random_get(
        &mut self,
        memory: &mut GuestMemory<'_>,
        buf: GuestPtr<u8>,
        buf_len: types::Size,
    ) -> Result<(), types::Error> {
        self.inner.random_get(memory, buf, buf_len)
    }

    fn sock_accept(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        flags: types::Fdflags,
    ) -> Result<types::Fd, types::Error> {
        self.inner.sock_accept(memory, fd, flags)
    }

    fn sock_recv(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        ri_data: types::IovecArray,
        ri_flags: types::Riflags,
    ) -> Result<(types::Size, types::Roflags), types::Error> {
        self.inner.sock_recv(memory, fd, ri_data, ri_flags)
    }

    fn sock_send(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        si_data: types::CiovecArray,
        si_flags: types::Siflags,
    ) -> Result<types::Size, types::Error> {
        self.inner.sock_send(memory, fd, si_data, si_flags)
    }

    fn sock_shutdown(
        &mut self,
        memory: &mut GuestMemory<'_>,
        fd: types::Fd,
        how: types::Sdflags,
    ) -> Result<(), types::Error> {
        self.inner.sock_shutdown(memory, fd, how)
    }
}

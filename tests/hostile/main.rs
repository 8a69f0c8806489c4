//! The hostile suite: generated sdists that try every way we know to reach the host.
//!
//! Every case runs the real binary (with the real sandbox where build code runs) and
//! asserts containment — no canary written, no secret or host file in the output (checked
//! on every run by `common::run`), no connection, an end within its limit — and the exact
//! documented error kind and exit status.
//!
//! - `archive`: traversal, absolute paths, link escapes, loops, devices, bombs (data,
//!   tar extension records, zip central directories), entry floods, deep and long paths,
//!   duplicates, bad names, truncated and corrupt archives, private modes;
//! - `setup_py`: host reads and writes, network, processes, secrets, CPU, sleep, memory,
//!   disk, recursion, output floods, early exits, lingering code, spoofing, poisoning;
//! - `metadata`: huge and deeply nested files and markers, megabyte lines, invalid
//!   PEP 508/440, terminal escape sequences;
//! - `behaviour`: the behaviour report: one sdist per category and verdict level, the CI
//!   gate, install-time and Windows-only payloads, tampering with the observer or the
//!   report, event floods, answers unchanged by observation;
//! - `resources`: what the process shares — descriptor hogs racing honest inputs, writes
//!   no directory scan sees, very deep trees, timeouts across retries, signals and
//!   crashes mid-batch, other users' cache and work dirs, tampered compiled artifacts.

#[path = "../common/mod.rs"]
mod common;

mod archive;
mod behaviour;
mod metadata;
mod resources;
mod setup_py;

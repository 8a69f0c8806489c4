//! Arbitrary bytes as a zip sdist and as a wheel: no panic, no escape.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sdistill::archive::{read_wheel_metadata, unpack, InputKind};
use sdistill::Limits;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.zip");
    std::fs::write(&path, data).unwrap();
    let limits = Limits {
        max_unpacked_size: 8 << 20,
        max_entries: 2000,
        ..Limits::default()
    };
    let work = tempfile::tempdir().unwrap();
    let _ = unpack(&path, InputKind::SdistZip, &limits, Some(work.path()));
    let _ = read_wheel_metadata(&path, &limits);
});

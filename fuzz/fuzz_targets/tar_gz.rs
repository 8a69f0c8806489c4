//! Raw tar bytes, gzip-wrapped and unpacked with small limits: no panic, no escape.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;
use sdistill::archive::{unpack, InputKind};
use sdistill::Limits;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let limits = Limits {
        max_unpacked_size: 8 << 20,
        max_entries: 2000,
        ..Limits::default()
    };
    let work = tempfile::tempdir().unwrap();
    let _ = unpack(&path, InputKind::SdistTarGz, &limits, Some(work.path()));
});

//! Hostile archives: every one is refused with the documented error kind and exit status 1,
//! promptly, without a panic, and without writing anything outside sdistill's own
//! temporary directory.

use std::io::Write;
use std::path::Path;

use crate::common::*;

/// Inspects `path` and asserts the error kind (and limit, when given).
fn refused(path: &Path, kind: &str, limit: Option<&str>) -> serde_json::Value {
    let (code, v) = inspect_one(&["--no-sandbox"], path);
    assert_eq!(code, 1, "{v}");
    assert_eq!(error_kind(&v), Some(kind), "{v}");
    if let Some(limit) = limit {
        assert_eq!(v["error"]["limit"], limit, "{v}");
    }
    v
}

fn with_static(mut extra: Vec<Member>) -> Vec<Member> {
    let mut m = static_members("evil", "1");
    m.append(&mut extra);
    m
}

#[test]
fn traversal_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary_dir();
    let rel = format!(
        "evil-1/../../../../../../..{}/pwned",
        canary.path().display()
    );
    let path = write_sdist(
        tmp.path(),
        "trav",
        Kind::TarGz,
        &with_static(vec![file(&rel, "x")]),
    );
    refused(&path, "archive", None);
    let path = write_sdist(
        tmp.path(),
        "trav",
        Kind::Zip,
        &with_static(vec![file("../escape.txt", "x")]),
    );
    refused(&path, "archive", None);
    assert!(dir_is_empty(canary.path()));
}

#[test]
fn absolute_paths_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary_dir();
    let abs = format!("{}/pwned", canary.path().display());
    for kind in [Kind::TarGz, Kind::Zip] {
        let path = write_sdist(tmp.path(), "abs", kind, &with_static(vec![file(&abs, "x")]));
        refused(&path, "archive", None);
    }
    let path = write_sdist(
        tmp.path(),
        "drive",
        Kind::Zip,
        &with_static(vec![file("C:/x/evil.txt", "x")]),
    );
    refused(&path, "archive", None);
    assert!(dir_is_empty(canary.path()));
}

#[test]
fn escaping_symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = canary_dir();
    let cases: Vec<Vec<Member>> = vec![
        vec![symlink("evil-1/passwd", "/etc/passwd")],
        vec![symlink("evil-1/up", "../../../../../../../../tmp")],
        vec![
            symlink("evil-1/c", &canary.path().display().to_string()),
            file("evil-1/c/pwned", "x"),
        ],
        // A link through a link: `a` -> `.` is harmless alone, `a/../../x` escapes.
        vec![
            symlink("evil-1/a", "."),
            symlink("evil-1/b", "a/../../../etc"),
        ],
        // Link chains that climb one level per hop.
        vec![
            Member::Dir(b"evil-1/d/".to_vec()),
            symlink("evil-1/d/up", ".."),
            symlink("evil-1/x", "d/up/../../etc"),
        ],
    ];
    for (i, members) in cases.into_iter().enumerate() {
        let path = write_sdist(
            tmp.path(),
            &format!("sym{i}"),
            Kind::TarGz,
            &with_static(members),
        );
        refused(&path, "archive", None);
    }
    let path = write_sdist(
        tmp.path(),
        "symzip",
        Kind::Zip,
        &with_static(vec![symlink("evil-1/p", "/etc/passwd")]),
    );
    refused(&path, "archive", None);
    assert!(dir_is_empty(canary.path()));
}

#[test]
fn in_tree_symlinks_are_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_sdist(
        tmp.path(),
        "ok",
        Kind::TarGz,
        &with_static(vec![
            file("evil-1/docs/README", "x"),
            symlink("evil-1/README", "docs/README"),
        ]),
    );
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn symlink_loops_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write_sdist(
        tmp.path(),
        "loop",
        Kind::TarGz,
        &with_static(vec![symlink("evil-1/a", "b"), symlink("evil-1/b", "a/x")]),
    );
    refused(&path, "archive", None);
}

#[test]
fn hardlink_escapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for target in [
        "/etc/passwd",
        "../../../../etc/passwd",
        "evil-1/nonexistent",
    ] {
        let path = write_sdist(
            tmp.path(),
            "hard",
            Kind::TarGz,
            &with_static(vec![hardlink("evil-1/h", target)]),
        );
        refused(&path, "archive", None);
    }
    // A hard link to an earlier file of the archive is a copy.
    let path = write_sdist(
        tmp.path(),
        "hardok",
        Kind::TarGz,
        &with_static(vec![hardlink("evil-1/copy", "evil-1/PKG-INFO")]),
    );
    let (code, _) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0);
}

#[test]
fn devices_and_fifos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, m) in [
        Member::Fifo(b"evil-1/fifo".to_vec()),
        Member::CharDevice(b"evil-1/null".to_vec()),
    ]
    .into_iter()
    .enumerate()
    {
        let path = write_sdist(
            tmp.path(),
            &format!("dev{i}"),
            Kind::TarGz,
            &with_static(vec![m]),
        );
        let v = refused(&path, "archive", None);
        assert!(
            v["error"]["message"].as_str().unwrap().contains("evil-1/"),
            "{v}"
        );
    }
}

#[test]
fn duplicates_and_conflicts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = vec![
        vec![file("evil-1/setup.py", "a"), file("evil-1/setup.py", "b")],
        vec![file("evil-1/f", "a"), file("evil-1/f/g", "b")],
        vec![symlink("evil-1/l", "src"), file("evil-1/l/x", "b")],
    ];
    for (i, members) in cases.into_iter().enumerate() {
        let path = write_sdist(
            tmp.path(),
            &format!("dup{i}"),
            Kind::TarGz,
            &with_static(members),
        );
        refused(&path, "archive", None);
    }
}

#[test]
fn non_utf8_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Member::File(b"evil-1/\xff\xfe.py".to_vec(), b"x".to_vec());
    let path = write_sdist(tmp.path(), "nonutf8", Kind::TarGz, &with_static(vec![m]));
    refused(&path, "archive", None);
}

#[test]
fn truncated_and_corrupt_archives() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in Kind::ALL {
        let full = write_sdist(tmp.path(), "t", kind, &static_members("t", "1"));
        let bytes = std::fs::read(&full).unwrap();
        let cut = tmp.path().join(format!("cut.{}", kind.ext()));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        refused(&cut, "archive", None);
        let garbage = tmp.path().join(format!("garbage.{}", kind.ext()));
        std::fs::write(&garbage, vec![0x42u8; 4096]).unwrap();
        refused(&garbage, "archive", None);
    }
    let empty = tmp.path().join("empty.tar.gz");
    std::fs::write(&empty, b"").unwrap();
    let (code, _) = inspect_one(&["--no-sandbox"], &empty);
    assert_eq!(code, 1);
}

/// A multi-member gzip: `files` tar members of 64 MiB of zeros each (with `one_member`,
/// a single tar member declaring the whole size), made without compressing GiBs.
fn gzip_bomb(path: &Path, files: usize, one_member: bool) {
    let gz = |bytes: &[u8], level| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let header = |name: &str, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        gz(h.as_bytes(), 1)
    };
    let zeros = gz(&vec![0u8; 64 * 1024 * 1024], 9);
    let mut f = std::fs::File::create(path).unwrap();
    if one_member {
        f.write_all(&header("bomb-1/zeros", (files * 64 * 1024 * 1024) as u64))
            .unwrap();
    }
    for i in 0..files {
        if !one_member {
            f.write_all(&header(&format!("bomb-1/zeros{i}"), 64 * 1024 * 1024))
                .unwrap();
        }
        f.write_all(&zeros).unwrap();
    }
}

#[test]
fn gzip_bomb_is_refused_early() {
    let tmp = tempfile::tempdir().unwrap();
    // One member announcing 4 GiB: refused on its header, before anything is written.
    let path = tmp.path().join("bomb-1.tar.gz");
    gzip_bomb(&path, 64, true);
    refused(&path, "limit", Some("unpacked-size"));
    // 64 members of 64 MiB (4 GiB in ~4 MiB): the ratio trips.
    let path = tmp.path().join("bomb-2.tar.gz");
    gzip_bomb(&path, 64, false);
    refused(&path, "limit", Some("compression-ratio"));
    // With the ratio check off, the size limit trips instead.
    let (code, v) = inspect_one(
        &[
            "--no-sandbox",
            "--max-compression-ratio",
            "100000",
            "--max-unpacked-size",
            "300MiB",
        ],
        &path,
    );
    assert_eq!(code, 1);
    assert_eq!(v["error"]["limit"], "unpacked-size", "{v}");
}

#[test]
fn bzip2_and_xz_bombs() {
    let tmp = tempfile::tempdir().unwrap();
    let members = vec![Member::File(
        b"bomb-1/zeros".to_vec(),
        vec![0u8; 48 * 1024 * 1024],
    )];
    for kind in [Kind::TarBz2, Kind::TarXz] {
        let path = write_sdist(tmp.path(), "bomb", kind, &members);
        refused(&path, "limit", Some("compression-ratio"));
    }
}

#[test]
fn zip_bombs() {
    let tmp = tempfile::tempdir().unwrap();
    let members = vec![Member::File(
        b"bomb-1/zeros".to_vec(),
        vec![0u8; 48 * 1024 * 1024],
    )];
    let path = write_sdist(tmp.path(), "bomb", Kind::Zip, &members);
    refused(&path, "limit", Some("compression-ratio"));
    // Overlapping entries: many central-directory records pointing at the same data.
    let path = tmp.path().join("overlap.zip");
    std::fs::write(&path, overlapping_zip(2000, 1024 * 1024)).unwrap();
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 1);
    assert!(
        matches!(error_kind(&v), Some("limit") | Some("archive")),
        "{v}"
    );
}

/// A zip whose `n` central-directory entries all point at one local file of `size` zeros.
fn overlapping_zip(n: usize, size: usize) -> Vec<u8> {
    use std::io::Cursor;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("bomb-1/z", opts).unwrap();
    w.write_all(&vec![0u8; size]).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    // Find the one central directory record and the end record, then repeat the record.
    let cd = bytes
        .windows(4)
        .position(|x| x == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    let eocd = bytes
        .windows(4)
        .rposition(|x| x == [0x50, 0x4b, 0x05, 0x06])
        .unwrap();
    let record = bytes[cd..eocd].to_vec();
    let mut out = bytes[..cd].to_vec();
    for i in 0..n {
        let mut r = record.clone();
        // Make each name unique ("bomb-1/z" -> "bomb-1/z" + suffix is not possible in place;
        // vary the last name byte so duplicates are not what trips).
        let name_len = u16::from_le_bytes([r[28], r[29]]) as usize;
        r[46 + name_len - 1] = b'a' + (i % 26) as u8;
        out.extend_from_slice(&r);
    }
    let mut end = bytes[eocd..].to_vec();
    let count = (n as u16).to_le_bytes();
    end[8..10].copy_from_slice(&count);
    end[10..12].copy_from_slice(&count);
    let cd_size = (record.len() * n) as u32;
    end[12..16].copy_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&end);
    out
}

#[test]
fn too_many_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let mut raw = Vec::with_capacity(300_000 * 512 + 1024);
    for i in 0..300_000u32 {
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("many-1/f{i}")).unwrap();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
    }
    raw.extend(std::iter::repeat_n(0u8, 1024));
    let path = tmp.path().join("many-1.tar.gz");
    std::fs::write(&path, compress(Kind::TarGz, &raw)).unwrap();
    let started = std::time::Instant::now();
    refused(&path, "limit", Some("entries"));
    eprintln!("300,000 entries refused in {:?}", started.elapsed());
}

#[test]
fn temporary_directories_are_removed() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = write_sdist(
        tmp.path(),
        "c",
        Kind::TarGz,
        &with_static(vec![file("evil-1/../x", "x")]),
    );
    let inspector = sdistill::Inspector::new(sdistill::Options {
        sandbox: sdistill::SandboxMode::Off,
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    });
    assert!(inspector.inspect(&path).is_err());
    let ok = write_sdist(tmp.path(), "ok", Kind::TarGz, &static_members("ok", "1"));
    assert!(inspector.inspect(&ok).is_ok());
    // Left: only the user's private root and this process's (empty) work dir.
    let process_dir = sdistill::dirs::work::process_dir(Some(work.path())).unwrap();
    assert!(
        dir_is_empty(&process_dir),
        "temporary directories left behind"
    );
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        1,
        "only the per-user root belongs in the work dir"
    );
}

/// One tar header block for `name` (short) of `kind` announcing `size` bytes of data.
fn tar_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

/// A .tar.gz whose first member is preceded by an extension record (`kind`: pax `x` or
/// `g`, GNU long name `L`) of `size` bytes, streamed through the encoder so that the test
/// never holds it.
fn extension_bomb(path: &Path, kind: tar::EntryType, size: u64) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(tar_header("././@Ext", kind, size).as_bytes())
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&vec![0u8; ((512 - size % 512) % 512) as usize])
        .unwrap();
    gz.write_all(tar_header("x-1/PKG-INFO", tar::EntryType::Regular, 0).as_bytes())
        .unwrap();
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap();
}

/// The tar crate reads pax and GNU extension records whole into memory, uncounted: a
/// 6 MB .tar.gz carrying an 800 MB pax header took ~870 MB of host memory. Extension
/// records (and data skipped between members) are capped at 1 MiB: refused at once.
#[test]
fn huge_tar_extension_headers_are_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, kind) in [
        tar::EntryType::XHeader,
        tar::EntryType::GNULongName,
        tar::EntryType::GNULongLink,
        tar::EntryType::XGlobalHeader,
    ]
    .into_iter()
    .enumerate()
    {
        let path = tmp.path().join(format!("ext{i}-1.tar.gz"));
        extension_bomb(&path, kind, 256 << 20);
        // Refused by the extension-header cap (what it costs in memory is measured by
        // benches/hardening.py, not timed here).
        let v = refused(&path, "archive", None);
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("extension headers"), "{kind:?}: {v}");
    }
}

/// One pax record (`<len> key=value\n`, the length counting itself).
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

/// Raw tar bytes of `(pax records, name, content)` members, each file preceded by its pax
/// header when it has records, as Python's tarfile writes sdists (PAX_FORMAT).
fn pax_tar(members: &[(Vec<u8>, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let pad =
        |out: &mut Vec<u8>, n: usize| out.extend(std::iter::repeat_n(0u8, (512 - n % 512) % 512));
    for (records, name, content) in members {
        if !records.is_empty() {
            let h = tar_header(
                "././@PaxHeader",
                tar::EntryType::XHeader,
                records.len() as u64,
            );
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(records);
            pad(&mut out, records.len());
        }
        let h = tar_header(name, tar::EntryType::Regular, content.len() as u64);
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(content);
        pad(&mut out, content.len());
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

/// Ordinary pax headers (a long path, mtime, uid, a non-ASCII name) still unpack.
#[test]
fn ordinary_pax_headers_still_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    let long = format!("p-1/{}/module.py", "sub/".repeat(40).trim_end_matches('/'));
    let pkg_info = pkg_info("p", "1", "2.2", &["dep>=1"], "");
    let mut long_records = pax_record("path", &long);
    long_records.extend(pax_record("mtime", "1600000000.123456"));
    long_records.extend(pax_record("uid", "123456789"));
    let raw = pax_tar(&[
        (
            pax_record("mtime", "1600000000.5"),
            "p-1/PKG-INFO",
            pkg_info.as_bytes(),
        ),
        (long_records, "p-1/placeholder", b"x = 1\n"),
        (
            pax_record("path", "p-1/caf\u{e9}.txt"),
            "p-1/cafe.txt",
            b"ok",
        ),
    ]);
    let path = tmp.path().join("p-1.tar.gz");
    std::fs::write(&path, compress(Kind::TarGz, &raw)).unwrap();
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["requires_dist"], serde_json::json!(["dep>=1"]));
    let work = tempfile::tempdir().unwrap();
    let unpacked = sdistill::archive::unpack(
        &path,
        sdistill::archive::InputKind::SdistTarGz,
        &sdistill::Limits::default(),
        Some(work.path()),
    )
    .unwrap();
    let root = unpacked.root_path();
    assert!(root.join(long.trim_start_matches("p-1/")).is_file());
    assert!(root.join("caf\u{e9}.txt").is_file());
}

/// A member path of 30,000 components cost memory quadratic in its depth (every prefix
/// kept as its own key) and as many nested directories. Paths deeper than 256 components
/// or longer than 4096 bytes, names longer than 255 bytes, and link targets alike, are
/// refused, in tar and zip.
#[test]
fn deep_and_long_member_paths_are_refused() {
    use sdistill::Limits;
    let tmp = tempfile::tempdir().unwrap();
    let deep = format!("d-1/{}f", "a/".repeat(30_000));
    let raw = pax_tar(&[(pax_record("path", &deep), "d-1/short", b"x")]);
    let path = tmp.path().join("deep-1.tar.gz");
    std::fs::write(&path, compress(Kind::TarGz, &raw)).unwrap();
    let v = refused(&path, "archive", None);
    assert!(v["error"]["message"].as_str().unwrap().len() < 1000, "{v}");
    let name = "n".repeat(250);
    let cases = [
        (
            "depth",
            file(
                &format!("evil-1/{}f", "a/".repeat(Limits::MAX_PATH_DEPTH)),
                "x",
            ),
        ),
        (
            "bytes",
            file(&format!("evil-1/{}f", format!("{name}/").repeat(17)), "x"),
        ),
        ("name", file(&format!("evil-1/{}", "n".repeat(256)), "x")),
        ("target-depth", symlink("evil-1/l", &"./".repeat(300))),
        ("target-bytes", symlink("evil-1/l", &"a/".repeat(2100))),
    ];
    for (what, member) in cases {
        let path = write_sdist(
            tmp.path(),
            &format!("{what}-1"),
            Kind::Zip,
            &with_static(vec![member]),
        );
        let v = refused(&path, "archive", None);
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("more than"), "{what}: {v}");
    }
    // At the bound, a path is fine.
    let ok = format!("evil-1/{}f", "a/".repeat(Limits::MAX_PATH_DEPTH - 2));
    let path = write_sdist(
        tmp.path(),
        "evil-1",
        Kind::Zip,
        &with_static(vec![file(&ok, "x")]),
    );
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
}

/// A source directory is walked without recursion, and its depth is bounded like an
/// archive's.
#[test]
fn deep_source_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("src-1");
    std::fs::create_dir(&top).unwrap();
    std::fs::write(
        top.join("PKG-INFO"),
        pkg_info("src", "1", "2.2", &["dep"], ""),
    )
    .unwrap();
    let mut deep = top.clone();
    for _ in 0..sdistill::Limits::MAX_PATH_DEPTH + 5 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    let v = refused(&top, "archive", None);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("path components"),
        "{v}"
    );
}

/// `bytes` (a zip) with its end record replaced by zip64 end records declaring `entries`.
fn zip64_declaring(bytes: &[u8], entries: u64) -> Vec<u8> {
    let eocd = bytes
        .windows(4)
        .rposition(|x| x == [0x50, 0x4b, 0x05, 0x06])
        .unwrap();
    let field = |at: usize| u32::from_le_bytes(bytes[eocd + at..eocd + at + 4].try_into().unwrap());
    let (cd_size, cd_offset) = (u64::from(field(12)), u64::from(field(16)));
    let mut out = bytes[..eocd].to_vec();
    let eocd64_at = out.len() as u64;
    out.extend_from_slice(&[0x50, 0x4b, 0x06, 0x06]);
    out.extend_from_slice(&44u64.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0x50, 0x4b, 0x06, 0x07, 0, 0, 0, 0]);
    out.extend_from_slice(&eocd64_at.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
    out.extend_from_slice(&[0xff; 12]);
    out.extend_from_slice(&[0, 0]);
    out
}

/// The zip crate parsed the whole central directory into memory before any check of
/// sdistill's. Its end records are read first: too many entries declared (zip64) is the
/// `entries` limit, a central directory declared above 64 MiB is refused, for sdists and
/// wheels alike.
#[test]
fn zip_central_directory_declarations_are_checked_first() {
    let tmp = tempfile::tempdir().unwrap();
    let honest = zip_bytes(&static_members("z", "1"));
    let many = zip64_declaring(&honest, 10_000_000);
    let mut huge = honest.clone();
    let eocd = huge.len() - 22;
    huge[eocd + 12..eocd + 16].copy_from_slice(&(100u32 << 20).to_le_bytes());
    let wheel = wheel_bytes("w", "1", "", &[]);
    let cases = [
        ("many-1.zip", many, "limit"),
        ("huge-1.zip", huge, "archive"),
        (
            "w-1-py3-none-any.whl",
            zip64_declaring(&wheel, 10_000_000),
            "limit",
        ),
    ];
    for (name, bytes, kind) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        refused(&path, kind, (kind == "limit").then_some("entries"));
    }
    // The same zip64 records declaring the true count are read as before.
    let path = tmp.path().join("z-1.zip");
    std::fs::write(&path, zip64_declaring(&honest, 4)).unwrap();
    let (code, v) = inspect_one(&["--no-sandbox"], &path);
    assert_eq!(code, 0, "{v}");
}

/// A zip whose central directory lists `PKG-INFO` twice: the zip crate kept the last
/// record, other tools may read the first. Refused, as tar duplicates are.
#[test]
fn zip_duplicate_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = zip_bytes(&static_members("z", "1"));
    let cd = bytes
        .windows(4)
        .position(|x| x == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    let eocd = bytes.len() - 22;
    let name_len = u16::from_le_bytes([bytes[cd + 28], bytes[cd + 29]]) as usize;
    let extra = u16::from_le_bytes([bytes[cd + 30], bytes[cd + 31]]) as usize;
    let comment = u16::from_le_bytes([bytes[cd + 32], bytes[cd + 33]]) as usize;
    let first = bytes[cd..cd + 46 + name_len + extra + comment].to_vec();
    let mut out = bytes[..eocd].to_vec();
    out.extend_from_slice(&first);
    let mut end = bytes[eocd..].to_vec();
    for at in [8, 10] {
        let n = u16::from_le_bytes([end[at], end[at + 1]]) + 1;
        end[at..at + 2].copy_from_slice(&n.to_le_bytes());
    }
    let size = u32::from_le_bytes(end[12..16].try_into().unwrap()) + first.len() as u32;
    end[12..16].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&end);
    let path = tmp.path().join("dup-1.zip");
    std::fs::write(&path, out).unwrap();
    let v = refused(&path, "archive", None);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("twice"),
        "{v}"
    );
}

/// Unpacked trees are private to the user: directories 0700, files 0600, whatever the
/// archive says (tar and zip members declare 0755/0644) and whatever the source tree's
/// modes are.
#[cfg(unix)]
#[test]
fn unpacked_trees_are_private() {
    use sdistill::archive::{unpack, InputKind};
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let members = with_static(vec![file("evil-1/pkg/deep/mod.py", "x = 1\n")]);
    let source = tmp.path().join("source");
    std::fs::create_dir_all(source.join("pkg")).unwrap();
    std::fs::write(source.join("pkg/mod.py"), "x = 1\n").unwrap();
    std::fs::write(source.join("setup.py"), "").unwrap();
    std::fs::set_permissions(source.join("pkg"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let inputs = [
        (
            write_sdist(tmp.path(), "t-1", Kind::TarGz, &members),
            InputKind::SdistTarGz,
        ),
        (
            write_sdist(tmp.path(), "z-1", Kind::Zip, &members),
            InputKind::SdistZip,
        ),
        (source, InputKind::Directory),
    ];
    for (path, kind) in inputs {
        let work = tempfile::tempdir().unwrap();
        let unpacked =
            unpack(&path, kind, &sdistill::Limits::default(), Some(work.path())).unwrap();
        let mut stack = vec![unpacked.root_path()];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for item in std::fs::read_dir(&dir).unwrap() {
                let item = item.unwrap();
                let meta = std::fs::symlink_metadata(item.path()).unwrap();
                let mode = meta.permissions().mode() & 0o777;
                if meta.is_dir() {
                    assert_eq!(mode, 0o700, "{}", item.path().display());
                    stack.push(item.path());
                } else if meta.is_file() {
                    assert_eq!(mode, 0o600, "{}", item.path().display());
                }
                seen += 1;
            }
        }
        assert!(seen >= 2, "{kind:?}: nothing unpacked");
    }
}

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

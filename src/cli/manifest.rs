//! `sdistill inspect --manifest`: the command-line face of [`crate::bulk`] — opening the
//! manifest, the `--skip-done` files and the output, and the summary on stderr.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{level, Level, EXIT_ENVIRONMENT, EXIT_FLAGGED, EXIT_OK};
use crate::bulk::{self, DoneSet, Summary};
use crate::inspect::{Inspector, Options};
use crate::report::sanitize;

/// Everything `inspect --manifest` was asked to do.
pub(super) struct ManifestRun {
    pub manifest: PathBuf,
    pub skip_done: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    pub options: Options,
    pub config: bulk::Config,
}

/// Runs the manifest; the exit status: 0 every entry has its result line (failed entries
/// included: a failure is a value, and an engine would retry a whole shard on a
/// non-zero status), 4 some reached `--fail-on`, 3 the run could not finish (the
/// manifest, a results file or the output was unusable). Never 1.
pub(super) fn run(run: ManifestRun) -> u8 {
    let shown = |p: &Path| sanitize(&p.display().to_string());
    // The output first: with `-o R --skip-done R`, the done set must be read from the
    // file as it will be appended to (a partial line a killed run left cut off).
    let mut out: Box<dyn Write> = match &run.output {
        None => Box::new(io::stdout()),
        Some(path) => match open_append(path) {
            Ok((file, cut)) => {
                if cut > 0 && level() != Level::Quiet {
                    eprintln!(
                        "sdistill: {}: removed a partial last line ({cut} bytes) a killed run left",
                        shown(path)
                    );
                }
                Box::new(file)
            }
            Err(e) => {
                eprintln!("sdistill: cannot write {}: {e}", shown(path));
                return EXIT_ENVIRONMENT;
            }
        },
    };
    let mut done = DoneSet::new();
    for path in &run.skip_done {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                eprintln!("sdistill: cannot read {}: {e}", shown(path));
                return EXIT_ENVIRONMENT;
            }
        };
        match done.read_results(BufReader::with_capacity(1 << 16, file)) {
            Ok(stats) => {
                if level() != Level::Quiet && (stats.ignored > 0 || stats.partial_last_line) {
                    eprintln!(
                        "sdistill: {}: {} results; {} lines that are not results ignored{}",
                        shown(path),
                        stats.results,
                        stats.ignored,
                        if stats.partial_last_line {
                            " (the last line is partial: a killed run; its entry is done again)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Err(e) => {
                eprintln!("sdistill: cannot read {}: {e}", shown(path));
                return EXIT_ENVIRONMENT;
            }
        }
    }
    done.finish();
    let manifest: Box<dyn io::BufRead + Send> = if run.manifest.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 16, io::stdin()))
    } else {
        match File::open(&run.manifest) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 16, f)),
            Err(e) => {
                eprintln!("sdistill: cannot read {}: {e}", shown(&run.manifest));
                return EXIT_ENVIRONMENT;
            }
        }
    };
    crate::sandbox::descriptors::set_max_guests(run.config.jobs);
    let inspector = Inspector::new(run.options);
    let summary = bulk::run(&inspector, &run.config, manifest, done, &mut *out);
    if level() != Level::Quiet {
        eprintln!("sdistill: {}", summary_line(&summary));
    }
    if let Some(stop) = &summary.stopped {
        eprintln!("sdistill: {}", sanitize(&stop.to_string()));
        return EXIT_ENVIRONMENT;
    }
    if summary.flagged > 0 {
        eprintln!(
            "sdistill: {} results reached the --fail-on level",
            summary.flagged
        );
        return EXIT_FLAGGED;
    }
    EXIT_OK
}

/// The summary: what was read, skipped and written, how the answers were obtained, and
/// the rate.
fn summary_line(s: &Summary) -> String {
    let secs = s.elapsed.as_secs_f64();
    let mut line = format!(
        "manifest: {} results in {secs:.1} s ({:.1}/s): {} ok, {} failed",
        s.results,
        s.results as f64 / secs.max(1e-9),
        s.ok,
        s.failed
    );
    if !s.failed_by_kind.is_empty() {
        let kinds: Vec<String> = s
            .failed_by_kind
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        line.push_str(&format!(" ({})", kinds.join(", ")));
    }
    line.push_str(&format!(
        "; {} from the metadata cache, {} downloaded ({:.1} MiB), {} from copies in the cache; {} skipped as done; {} lines read",
        s.cached,
        s.downloads,
        s.downloaded_bytes as f64 / (1024.0 * 1024.0),
        s.local_copies,
        s.skipped,
        s.lines
    ));
    line
}

/// Opens `path` for appending results, first cutting off a partial last line (what a
/// run killed in the middle of a write leaves), so the next line starts on a line of its
/// own. Returns the file and how many bytes were cut. A new file gets the mode a plain
/// write would give it.
fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let len = file.metadata()?.len();
    let keep = last_line_end(&mut file, len)?;
    if keep < len {
        file.set_len(keep)?;
    }
    drop(file);
    let file = OpenOptions::new().append(true).open(path)?;
    Ok((file, len - keep))
}

/// The length of `file` up to and including its last newline (0 when it has none).
fn last_line_end(file: &mut File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_cuts_a_partial_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let (mut f, cut) = open_append(&path).unwrap();
        assert_eq!(cut, 5);
        f.write_all(b"{\"c\":3}\n").unwrap();
        drop(f);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"c\":3}\n"
        );
        let (_, cut) = open_append(&path).unwrap();
        assert_eq!(cut, 0);
        std::fs::write(&path, "no newline at all").unwrap();
        let (_, cut) = open_append(&path).unwrap();
        assert_eq!(cut, 17);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let (_, cut) = open_append(&dir.path().join("new.jsonl")).unwrap();
        assert_eq!(cut, 0);
    }
}

//! Requirements files as pip reads them, the subset a lock needs: one PEP 508 requirement
//! per line (`name @ URL` included, see [`super::direct`]), `#` comments, `\`
//! continuations, nested `-r`/`--requirement` and `-c`/`--constraint` files (relative to
//! the file naming them), per-line `--hash` options (ignored: the lock computes its own),
//! and standard input (`-r -`). Anything else — editables, unnamed URLs and paths, index
//! options — is refused with the file and line and what to write instead, rather than
//! silently dropped.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::metadata::parse_requirement;
use crate::resolve::RootRequirement;

/// Deepest `-r` nesting followed (a loop of includes ends here with an error).
const MAX_DEPTH: usize = 16;
/// Largest requirements file read.
const MAX_FILE: u64 = 8 * 1024 * 1024;

/// Requirements and constraints read from files.
#[derive(Debug, Default, Clone)]
pub struct RequirementSet {
    /// What to install.
    pub requirements: Vec<RootRequirement>,
    /// Constraints (`-c`).
    pub constraints: Vec<RootRequirement>,
}

/// A requirement given on the command line.
pub fn parse_arg(text: &str) -> Result<RootRequirement> {
    let requirement = parse_requirement(text).map_err(|e| Error::Usage {
        detail: format!("`{text}` is not a PEP 508 requirement: {e}"),
    })?;
    Ok(RootRequirement {
        requirement,
        origin: "command line".to_string(),
    })
}

impl RequirementSet {
    /// Reads `path` as a requirements file (`constraint`: as a `-c` file).
    pub fn read(&mut self, path: &Path, constraint: bool) -> Result<()> {
        self.read_nested(path, constraint, 0)
    }

    fn read_nested(&mut self, path: &Path, constraint: bool, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::Usage {
                detail: format!(
                    "{}: requirement files nest deeper than {MAX_DEPTH} (a loop?)",
                    path.display()
                ),
            });
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > MAX_FILE {
            return Err(Error::Usage {
                detail: format!("{}: larger than {MAX_FILE} bytes", path.display()),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let origin = format!(
            "{} {}",
            if constraint { "-c" } else { "-r" },
            path.display()
        );
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.read_lines(&text, &origin, path, &base, constraint, depth)
    }

    /// Reads requirements text that is not in a file (`-r -`: standard input); nested
    /// `-r`/`-c` paths in it are relative to the current directory, as pip has them.
    pub fn read_text(&mut self, text: &str, constraint: bool) -> Result<()> {
        let origin = if constraint { "-c -" } else { "-r -" };
        self.read_lines(
            text,
            origin,
            Path::new("<stdin>"),
            Path::new(""),
            constraint,
            0,
        )
    }

    fn read_lines(
        &mut self,
        text: &str,
        origin: &str,
        path: &Path,
        base: &Path,
        constraint: bool,
        depth: usize,
    ) -> Result<()> {
        let mut logical = String::new();
        let mut start_line = 0;
        for (i, raw) in text.lines().enumerate() {
            if logical.is_empty() {
                start_line = i + 1;
            }
            if let Some(cont) = raw.strip_suffix('\\') {
                logical.push_str(cont);
                logical.push(' ');
                continue;
            }
            logical.push_str(raw);
            let line = std::mem::take(&mut logical);
            self.line(&line, origin, path, start_line, base, constraint, depth)?;
        }
        if !logical.is_empty() {
            self.line(
                &logical.clone(),
                origin,
                path,
                start_line,
                base,
                constraint,
                depth,
            )?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        line: &str,
        origin: &str,
        path: &Path,
        number: usize,
        base: &Path,
        constraint: bool,
        depth: usize,
    ) -> Result<()> {
        // A comment starts at `#` at the line start or after whitespace (pip's rule).
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let at = |detail: String| Error::Usage {
            detail: format!("{}:{number}: {detail}", path.display()),
        };
        for (flags, nested_constraint) in [
            (["-r", "--requirement"], constraint),
            (["-c", "--constraint"], true),
        ] {
            for flag in flags {
                if let Some(rest) = line.strip_prefix(flag) {
                    let target = rest.trim_start_matches('=').trim();
                    if target.is_empty() || !(rest.starts_with([' ', '=', '\t'])) {
                        continue;
                    }
                    let nested: PathBuf = base.join(target);
                    return self.read_nested(&nested, nested_constraint, depth + 1);
                }
            }
        }
        if ["-e", "--editable"].iter().any(|f| {
            line.strip_prefix(f)
                .is_some_and(|r| r.starts_with([' ', '=', '\t']))
        }) {
            return Err(at(format!(
                "`{line}`: an editable install is a live directory, which has no hash a lock could pin; give the project directory as an input instead (`sdistill lock DIR` locks its dependencies)"
            )));
        }
        if line.starts_with('-') {
            return Err(at(format!(
                "`{line}`: only requirements, -r and -c lines are supported in a lock's inputs"
            )));
        }
        // Per-requirement options (`--hash=...`) follow the requirement.
        let requirement_text = match line.find(" --") {
            Some(i) => line[..i].trim(),
            None => line,
        };
        let requirement = parse_requirement(requirement_text).map_err(|e| {
            let lower = requirement_text.to_ascii_lowercase();
            if ["git+", "hg+", "svn+", "bzr+"].iter().any(|p| lower.starts_with(p)) {
                at(format!(
                    "`{requirement_text}`: a version-control checkout has no file whose hash pip could check; point at an archive of the commit with a name (`NAME @ https://github.com/OWNER/REPO/archive/COMMIT.tar.gz`)"
                ))
            } else if lower.contains("://") || lower.starts_with(['.', '/']) {
                at(format!(
                    "`{requirement_text}`: a URL or path needs the project's name in front (`NAME @ URL`), so the lock can check the file is that project's"
                ))
            } else {
                at(format!(
                    "`{requirement_text}` is not a PEP 508 requirement: {e}"
                ))
            }
        })?;
        let entry = RootRequirement {
            requirement,
            origin: origin.to_string(),
        };
        if constraint {
            self.constraints.push(entry);
        } else {
            self.requirements.push(entry);
        }
        Ok(())
    }
}

/// The pins of an earlier lock (`name==version` lines), to keep them when they still fit.
pub fn read_pins(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|l| {
            let spec = l.split([' ', ';', '\\']).next()?;
            let (name, version) = spec.split_once("==")?;
            let name = name.split('[').next()?.trim();
            Some((
                crate::metadata::normalize_name(name),
                version.trim().to_string(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_with_nesting_comments_and_continuations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base.in"),
            "# top comment\nrequests>=2 \\\n  ; python_version >= '3'  # why\n-r more.in\n-c cons.txt\nsix --hash=sha256:00\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("more.in"), "idna\n").unwrap();
        std::fs::write(dir.path().join("cons.txt"), "idna<4\n").unwrap();
        let mut set = RequirementSet::default();
        set.read(&dir.path().join("base.in"), false).unwrap();
        let names: Vec<String> = set
            .requirements
            .iter()
            .map(|r| r.requirement.name.to_string())
            .collect();
        assert_eq!(names, ["requests", "idna", "six"]);
        assert_eq!(set.constraints.len(), 1);
        assert!(set.constraints[0].origin.starts_with("-c "));
    }

    #[test]
    fn refuses_what_it_cannot_lock_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.in"), "-e .\n").unwrap();
        let err = RequirementSet::default()
            .read(&dir.path().join("a.in"), false)
            .unwrap_err();
        assert!(err.to_string().contains("a.in:1"), "{err}");
        std::fs::write(dir.path().join("loop.in"), "-r loop.in\n").unwrap();
        let err = RequirementSet::default()
            .read(&dir.path().join("loop.in"), false)
            .unwrap_err();
        assert!(err.to_string().contains("nest"), "{err}");
    }

    #[test]
    fn reads_previous_pins() {
        let pins = read_pins("# header\nDjango==1.11.1 \\\n    --hash=sha256:aa\n    # via -r x\npytz==2024.1 ; python_version >= \"3\"\n");
        assert_eq!(
            pins,
            [
                ("django".to_string(), "1.11.1".to_string()),
                ("pytz".to_string(), "2024.1".to_string())
            ]
        );
    }
}

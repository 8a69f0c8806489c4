//! What `sdistill lock` is asked to lock: positional inputs (requirements, project
//! directories and files, requirements files, `-` for standard input), `-r`/`-c` files,
//! and each project's extras and dependency groups; and `[tool.sdistill]`, found before
//! anything else so that its settings shape everything after.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::inspect::Inspector;
use crate::resolve::config::LockConfig;
use crate::resolve::project::{project_dir, Project};
use crate::resolve::requirements::{self, RequirementSet};
use crate::sandbox::Target;

/// Largest standard input read as requirements.
const MAX_STDIN: u64 = 8 * 1024 * 1024;

/// One input, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Input {
    /// A PEP 508 requirement.
    Requirement(String),
    /// A project directory (from a directory, `pyproject.toml`, `setup.cfg` or `setup.py`).
    Project(PathBuf),
    /// A requirements file.
    File(PathBuf),
    /// Requirements on standard input (`-`).
    Stdin,
}

/// Classifies a positional input. It is a path when it is `-`, contains a `/`, is `.` or
/// `..`, or ends like a project or requirements file, and is not a direct reference
/// (`name @ URL`); otherwise a requirement, as pip decides (so `sdistill lock django`
/// never picks up a directory named `django`).
pub(super) fn classify(arg: &str) -> Result<Input> {
    if arg == "-" {
        return Ok(Input::Stdin);
    }
    let looks_like_path = arg.contains('/')
        || arg == "."
        || arg == ".."
        || [".toml", ".py", ".cfg", ".in", ".txt"]
            .iter()
            .any(|ext| arg.ends_with(ext));
    if !looks_like_path || arg.contains('@') || arg.contains("://") {
        return Ok(Input::Requirement(arg.to_string()));
    }
    path_input(Path::new(arg))
}

/// A `-r FILE` argument: `-` is standard input, a project file is the project.
pub(super) fn classify_file(path: &Path) -> Result<Input> {
    if path == Path::new("-") {
        return Ok(Input::Stdin);
    }
    path_input(path)
}

fn path_input(path: &Path) -> Result<Input> {
    if let Some(dir) = project_dir(path) {
        return Ok(Input::Project(dir));
    }
    if path.is_file() {
        return Ok(Input::File(path.to_path_buf()));
    }
    Err(Error::Usage {
        detail: format!(
            "{}: no such file or project directory",
            crate::report::sanitize(&path.display().to_string())
        ),
    })
}

/// `[tool.sdistill]` of the first project input's `pyproject.toml`, else of the current
/// directory's (a `pyproject.toml` there that is not valid TOML is skipped: it may have
/// nothing to do with this lock).
pub(super) fn find_config(inputs: &[Input]) -> Result<Option<LockConfig>> {
    let project = inputs.iter().find_map(|i| match i {
        Input::Project(dir) => Some(dir.join("pyproject.toml")),
        _ => None,
    });
    let (path, strict) = match project {
        Some(p) => (p, true),
        None => (PathBuf::from("pyproject.toml"), false),
    };
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let doc: toml::Table = match toml::from_str(&text) {
        Ok(doc) => doc,
        Err(e) if strict => {
            return Err(Error::Usage {
                detail: format!("{}: {}", path.display(), e.message()),
            })
        }
        Err(_) => return Ok(None),
    };
    LockConfig::from_pyproject(&doc, &path.display().to_string())
}

/// Extras and dependency groups asked for, after the command line and the config merged.
#[derive(Debug, Clone, Default)]
pub(super) struct Selection {
    pub extras: Vec<String>,
    pub all_extras: bool,
    pub groups: Vec<String>,
    pub all_groups: bool,
    pub default_groups: Vec<String>,
}

/// What reading the inputs found besides requirements.
#[derive(Debug, Default)]
pub(super) struct InputsRead {
    /// The projects' warnings, prefixed with their name.
    pub warnings: Vec<String>,
    /// Each project's `requires-python`, with the project (`NAME (FILE)`).
    pub requires_python: Vec<(String, String)>,
}

/// Reads every input into `set`: requirements, files, standard input, and each project's
/// requirements for the selected extras and groups. Projects that need the sandbox are
/// evaluated through `inspector`, as each of `targets` (the platforms of the lock: a
/// requirement only some platforms' builds ask for gets their marker).
pub(super) fn read_inputs(
    inputs: &[Input],
    constraints: &[Input],
    selection: &Selection,
    targets: &[Target],
    inspector: &Inspector,
    set: &mut RequirementSet,
) -> Result<InputsRead> {
    let mut stdin_used = false;
    let mut read_stdin = |constraint: bool, set: &mut RequirementSet| -> Result<()> {
        if std::mem::replace(&mut stdin_used, true) {
            return Err(Error::Usage {
                detail: "standard input (`-`) can be read only once".to_string(),
            });
        }
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_STDIN)
            .read_to_string(&mut text)
            .map_err(|e| Error::io("<stdin>", e))?;
        set.read_text(&text, constraint)
    };
    let mut projects = Vec::new();
    for input in inputs {
        match input {
            Input::Requirement(text) => set.requirements.push(requirements::parse_arg(text)?),
            Input::File(path) => set.read(path, false)?,
            Input::Stdin => read_stdin(false, set)?,
            Input::Project(dir) => {
                projects.push(Project::read_for_targets(dir, inspector, targets)?)
            }
        }
    }
    for input in constraints {
        match input {
            Input::File(path) => set.read(path, true)?,
            Input::Stdin => read_stdin(true, set)?,
            Input::Requirement(_) | Input::Project(_) => {
                return Err(Error::Usage {
                    detail: "-c takes a constraints file".to_string(),
                })
            }
        }
    }
    let mut read = InputsRead::default();
    if projects.is_empty() {
        let named = !selection.extras.is_empty()
            || selection.all_extras
            || !selection.groups.is_empty()
            || selection.all_groups;
        if named {
            return Err(Error::Usage {
                detail: "--extra, --all-extras, --group and --all-groups need a project input (a directory, pyproject.toml, setup.cfg or setup.py)".to_string(),
            });
        }
        return Ok(read);
    }
    for wanted in &selection.extras {
        let normalized = crate::metadata::normalize_name(wanted);
        if !projects.iter().any(|p| p.extras.contains(&normalized)) {
            let have: Vec<String> = projects
                .iter()
                .map(|p| format!("{}: [{}]", p.origin(), p.extras.join(", ")))
                .collect();
            return Err(Error::Usage {
                detail: format!(
                    "no project input has the extra `{wanted}` ({})",
                    have.join("; ")
                ),
            });
        }
    }
    for wanted in selection.groups.iter().chain(&selection.default_groups) {
        if !projects.iter().any(|p| p.groups.contains(wanted)) {
            let have: Vec<String> = projects
                .iter()
                .map(|p| format!("{}: [{}]", p.origin(), p.groups.names().join(", ")))
                .collect();
            return Err(Error::Usage {
                detail: format!(
                    "no project input has the dependency group `{wanted}` ({})",
                    have.join("; ")
                ),
            });
        }
    }
    for project in &projects {
        if let Some(rp) = &project.requires_python {
            read.requires_python.push((project.origin(), rp.clone()));
        }
        let extras: Vec<String> = if selection.all_extras {
            project.extras.clone()
        } else {
            selection
                .extras
                .iter()
                .filter(|e| project.extras.contains(&crate::metadata::normalize_name(e)))
                .cloned()
                .collect()
        };
        let groups: Vec<String> = if selection.all_groups {
            project.groups.names()
        } else {
            selection
                .groups
                .iter()
                .chain(&selection.default_groups)
                .filter(|g| project.groups.contains(g))
                .cloned()
                .collect()
        };
        set.requirements
            .extend(project.requirements(&extras, &groups)?);
        read.warnings.extend(
            project
                .warnings
                .iter()
                .map(|w| format!("{}: {w}", project.origin())),
        );
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_paths_only_when_they_look_like_paths() {
        assert_eq!(
            classify("django>=1").unwrap(),
            Input::Requirement("django>=1".into())
        );
        assert_eq!(classify("src").unwrap(), Input::Requirement("src".into()));
        assert_eq!(classify("-").unwrap(), Input::Stdin);
        assert!(classify("./nowhere")
            .unwrap_err()
            .to_string()
            .contains("no such"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("setup.py"), "").unwrap();
        std::fs::write(dir.path().join("reqs.in"), "").unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(classify(&d).unwrap(), Input::Project(dir.path().into()));
        assert_eq!(
            classify(&format!("{d}/setup.py")).unwrap(),
            Input::Project(dir.path().into())
        );
        assert_eq!(
            classify(&format!("{d}/reqs.in")).unwrap(),
            Input::File(dir.path().join("reqs.in"))
        );
        assert_eq!(
            classify("demo @ https://host.invalid/demo-1.0.tar.gz").unwrap(),
            Input::Requirement("demo @ https://host.invalid/demo-1.0.tar.gz".into())
        );
    }
}

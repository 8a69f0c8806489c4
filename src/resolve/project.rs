//! A project as a lock's input: `sdistill lock PROJECT_DIR` (or its `pyproject.toml`,
//! `setup.cfg` or `setup.py`) locks the project's own dependencies, its chosen extras and
//! PEP 735 dependency groups — not the project itself.
//!
//! Where the dependencies come from:
//! - a `[project]` table whose `dependencies` and `optional-dependencies` are not
//!   `dynamic` is read as written (PEP 621): no code runs;
//! - anything else (a `setup.py` or `setup.cfg` project, dynamic dependencies, another
//!   build backend) is evaluated like any sdist, through [`Inspector`]: the directory is
//!   copied into a private tree and its build runs in the sandbox, for the target
//!   platform. pip-compile and uv run the project's own `setup.py` on the host to lock
//!   it; sdistill never does.
//!
//! `[dependency-groups]` ([`super::groups`]) and `[tool.sdistill]` ([`super::config`])
//! are read from `pyproject.toml` statically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::{ExtraName, PackageName, Requirement};

use super::config::LockConfig;
use super::groups::DependencyGroups;
use super::RootRequirement;
use crate::error::{Error, Result};
use crate::inspect::Inspector;
use crate::metadata::{normalize_name, parse_requirement};
use crate::sandbox::Target;
use crate::static_meta::{parse_pyproject, with_extra_marker};

/// Largest `pyproject.toml` read.
const MAX_PYPROJECT: u64 = 16 * 1024 * 1024;

/// The files that make a directory a Python project.
const PROJECT_FILES: &[&str] = &["pyproject.toml", "setup.py", "setup.cfg"];

/// The project directory a path names: the directory itself, or the directory of a
/// `pyproject.toml`, `setup.py` or `setup.cfg`; `None` for anything else.
pub fn project_dir(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path.to_path_buf());
    }
    let name = path.file_name()?.to_str()?;
    if !PROJECT_FILES.contains(&name) {
        return None;
    }
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(".")),
    }
}

/// A project's dependency declarations, read.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its name.
    pub name: PackageName,
    /// Its directory, as given.
    pub dir: PathBuf,
    /// The file its dependencies were read from (`pyproject.toml`, `setup.py`,
    /// `setup.cfg`), for `# via NAME (FILE)`.
    pub file: &'static str,
    /// How: `pyproject` (static) or the sandbox method (`sandbox-egg-info`, ...).
    pub method: String,
    /// `Requires-Dist` as core metadata writes it (`dep; extra == "x"` for extras).
    pub requires: Vec<String>,
    /// Its extras (normalized).
    pub extras: Vec<String>,
    /// `Requires-Python`, when declared.
    pub requires_python: Option<String>,
    /// `[dependency-groups]`.
    pub groups: DependencyGroups,
    /// `[tool.sdistill]`, when present.
    pub config: Option<LockConfig>,
    /// What the evaluation reported (sandbox answers: compatibility help and the like).
    pub warnings: Vec<String>,
}

impl Project {
    /// Reads the project in `dir`: statically when its `[project]` table declares its
    /// dependencies, otherwise through `inspector` (the sandbox).
    pub fn read(dir: &Path, inspector: &Inspector) -> Result<Self> {
        Self::read_for(dir, inspector, inspector.options().target)
    }

    /// [`Project::read`] for a universal lock: a project whose dependencies come from its
    /// build is evaluated as each of `targets` (its `setup.py` may choose dependencies by
    /// `sys.platform`, `os.name` or `platform.machine()`), and a requirement that only some
    /// platforms' builds ask for gets the marker of those platforms
    /// (`pywin32 ; sys_platform == 'win32' and platform_machine == 'AMD64'`). A static
    /// `[project]` table is read once.
    pub fn read_for_targets(dir: &Path, inspector: &Inspector, targets: &[Target]) -> Result<Self> {
        let Some((first_target, others)) = targets.split_first() else {
            return Self::read(dir, inspector);
        };
        let mut first = Self::read_for(dir, inspector, *first_target)?;
        if !first.method.starts_with("sandbox") || others.is_empty() {
            return Ok(first);
        }
        let mut answers = vec![(*first_target, first.requires.clone())];
        for t in others {
            let other = Self::read_for(dir, inspector, *t)?;
            for w in other.warnings {
                if !first.warnings.contains(&w) {
                    first.warnings.push(w);
                }
            }
            answers.push((*t, other.requires));
        }
        first.requires = requirements_by_target(&answers)?;
        Ok(first)
    }

    fn read_for(dir: &Path, inspector: &Inspector, target: Target) -> Result<Self> {
        let usage = |detail: String| Error::Usage {
            detail: format!("{}: {detail}", dir.display()),
        };
        if !PROJECT_FILES.iter().any(|f| dir.join(f).is_file()) {
            return Err(usage(
                "not a Python project (no pyproject.toml, setup.py or setup.cfg)".to_string(),
            ));
        }
        let pyproject_path = dir.join("pyproject.toml");
        let doc = if pyproject_path.is_file() {
            Some(read_pyproject(&pyproject_path)?)
        } else {
            None
        };
        let shown = pyproject_path.display().to_string();
        let groups = DependencyGroups::from_toml(
            doc.as_ref().and_then(|d| d.0.get("dependency-groups")),
            &shown,
        )?;
        let config = match &doc {
            Some((table, _)) => LockConfig::from_pyproject(table, &shown)?,
            None => None,
        };
        if let Some(static_project) = doc.as_ref().and_then(|(_, text)| static_project(text)) {
            let (name, requires, extras, requires_python) = static_project?;
            return Ok(Self {
                name,
                dir: dir.to_path_buf(),
                file: "pyproject.toml",
                method: "pyproject".to_string(),
                requires,
                extras,
                requires_python,
                groups,
                config,
                warnings: Vec::new(),
            });
        }
        let report = inspector.inspect_report_for(dir, target);
        let meta = report.outcome.map_err(|e| match e {
            // The machine, not the project: keep the error (and its exit status).
            Error::Runtime { .. }
            | Error::Index { .. }
            | Error::Io { .. }
            | Error::UnsafeDirectory { .. } => e,
            e => usage(format!(
                "cannot read the project's dependencies (its build ran in the sandbox, never on this host): {e}"
            )),
        })?;
        let name = PackageName::from_str(&meta.name).map_err(|_| {
            usage(format!(
                "the project's name `{}` is not a valid name",
                crate::report::sanitize(&meta.name)
            ))
        })?;
        let file = if dir.join("setup.py").is_file() {
            "setup.py"
        } else if dir.join("setup.cfg").is_file() {
            "setup.cfg"
        } else {
            "pyproject.toml"
        };
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            file,
            method: meta.method.as_str().to_string(),
            requires: meta.requires_dist,
            extras: meta
                .provides_extra
                .iter()
                .map(|e| normalize_name(e))
                .collect(),
            requires_python: meta.requires_python,
            groups,
            config,
            warnings: report.warnings,
        })
    }

    /// `NAME (FILE)`: how `# via` names the project.
    pub fn origin(&self) -> String {
        format!("{} ({})", self.name, self.file)
    }

    /// The requirements to lock for this project: its dependencies, those of `extras`
    /// (and of the extras they turn on through the project itself, `demo[all]` →
    /// `demo[a,b]`), and the requirements of `groups`. Requirements on the project
    /// itself are expanded, never locked.
    pub fn requirements(
        &self,
        extras: &[String],
        groups: &[String],
    ) -> Result<Vec<RootRequirement>> {
        let parse = |text: &str, origin: &str| -> Result<Requirement> {
            parse_requirement(text).map_err(|e| Error::Usage {
                detail: format!("{origin}: `{text}` is not a PEP 508 requirement: {e}"),
            })
        };
        let origin = self.origin();
        let parsed: Vec<Requirement> = self
            .requires
            .iter()
            .map(|t| parse(t, &origin))
            .collect::<Result<_>>()?;
        let mut wanted: BTreeSet<ExtraName> = BTreeSet::new();
        for e in extras {
            if !self.extras.contains(&normalize_name(e)) {
                return Err(Error::Usage {
                    detail: format!(
                        "{origin} has no extra `{e}` (it has: {})",
                        if self.extras.is_empty() {
                            "none".to_string()
                        } else {
                            self.extras.join(", ")
                        }
                    ),
                });
            }
            if let Ok(name) = ExtraName::from_str(e) {
                wanted.insert(name);
            }
        }
        let mut group_reqs: Vec<(String, Requirement)> = Vec::new();
        for g in groups {
            let group_origin = format!("{} ({}:{})", self.name, self.file, normalize_name(g));
            for text in self.groups.requirements(g)? {
                group_reqs.push((group_origin.clone(), parse(&text, &group_origin)?));
            }
        }
        // Extras the project turns on through itself, until nothing changes.
        for (_, r) in &group_reqs {
            if r.name == self.name {
                wanted.extend(r.extras.iter().cloned());
            }
        }
        loop {
            let selected: Vec<ExtraName> = wanted.iter().cloned().collect();
            let more: Vec<ExtraName> = parsed
                .iter()
                .filter(|r| r.name == self.name && r.marker.evaluate_extras(&selected))
                .flat_map(|r| r.extras.iter().cloned())
                .filter(|e| !wanted.contains(e))
                .collect();
            if more.is_empty() {
                break;
            }
            wanted.extend(more);
        }
        let selected: Vec<ExtraName> = wanted.into_iter().collect();
        let mut out = Vec::new();
        for r in parsed {
            if r.name == self.name || !r.marker.evaluate_extras(&selected) {
                continue;
            }
            let mut requirement = r;
            requirement.marker = requirement.marker.simplify_extras(&selected);
            out.push(RootRequirement {
                requirement,
                origin: origin.clone(),
            });
        }
        for (group_origin, requirement) in group_reqs {
            if requirement.name != self.name {
                out.push(RootRequirement {
                    requirement,
                    origin: group_origin,
                });
            }
        }
        Ok(out)
    }
}

/// The parsed table and the text of a `pyproject.toml`; bad TOML is a usage error.
fn read_pyproject(path: &Path) -> Result<(toml::Table, String)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_PYPROJECT {
        return Err(Error::Usage {
            detail: format!("{}: larger than {MAX_PYPROJECT} bytes", path.display()),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let table = toml::from_str(&text).map_err(|e: toml::de::Error| Error::Usage {
        detail: format!("{}: {}", path.display(), e.message()),
    })?;
    Ok((table, text))
}

type StaticProject = (PackageName, Vec<String>, Vec<String>, Option<String>);

/// The dependencies a `[project]` table declares statically: `None` when they are
/// `dynamic` (or there is no table), an error when the table is malformed.
fn static_project(text: &str) -> Option<Result<StaticProject>> {
    let parsed = match parse_pyproject(text) {
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    let table = parsed.project?;
    if table
        .dynamic
        .iter()
        .any(|d| d == "dependencies" || d == "optional-dependencies")
    {
        return None;
    }
    let Some(name) = table.name.as_deref() else {
        return Some(Err(Error::Usage {
            detail: "pyproject.toml: [project] has no name".to_string(),
        }));
    };
    let Ok(name) = PackageName::from_str(name) else {
        return Some(Err(Error::Usage {
            detail: format!(
                "pyproject.toml: `{}` is not a project name",
                crate::report::sanitize(name)
            ),
        }));
    };
    let mut requires: Vec<String> = table
        .dependencies
        .iter()
        .map(|d| d.trim().to_string())
        .collect();
    let mut extras = Vec::new();
    for (extra, reqs) in &table.optional_dependencies {
        let normalized = normalize_name(extra);
        for req in reqs {
            requires.push(with_extra_marker(req.trim(), &normalized));
        }
        extras.push(normalized);
    }
    Some(Ok((name, requires, extras, table.requires_python)))
}

/// The requirements of every target's answer, each with the marker of the targets that
/// asked for it (none when all did), in the order they first appear.
fn requirements_by_target(answers: &[(Target, Vec<String>)]) -> Result<Vec<String>> {
    let mut order: Vec<&String> = Vec::new();
    let mut asked: std::collections::BTreeMap<&String, BTreeSet<Target>> = Default::default();
    for (target, requires) in answers {
        for r in requires {
            if !asked.contains_key(r) {
                order.push(r);
            }
            asked.entry(r).or_default().insert(*target);
        }
    }
    let mut out = Vec::new();
    for text in order {
        let targets = &asked[text];
        if targets.len() == answers.len() {
            out.push(text.clone());
            continue;
        }
        let mut req = parse_requirement(text).map_err(|e| Error::Usage {
            detail: format!("`{text}` is not a PEP 508 requirement: {e}"),
        })?;
        // The marker of those platforms among all of them (the Python version is invisible
        // to the build, so only the platform's dimensions can decide).
        let all: Vec<Target> = answers.iter().map(|(t, _)| *t).collect();
        let platforms = super::matrix::Matrix::new(&all, &[(3, 12, 0)])?;
        let set: BTreeSet<usize> = platforms
            .envs()
            .iter()
            .enumerate()
            .filter(|(_, e)| targets.contains(&e.target))
            .map(|(i, _)| i)
            .collect();
        if let Some(only) = super::matrix::marker_for(&set, &platforms, None) {
            req.marker.and(only);
        }
        out.push(req.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pyproject: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        // A static project never needs the sandbox: an inspector that cannot run one.
        let inspector = Inspector::new(crate::inspect::Options {
            sandbox: crate::inspect::SandboxMode::Off,
            ..Default::default()
        });
        Project::read(dir.path(), &inspector).unwrap()
    }

    fn names(reqs: &[RootRequirement]) -> Vec<String> {
        reqs.iter().map(|r| r.requirement.to_string()).collect()
    }

    #[test]
    fn static_dependencies_extras_and_groups() {
        let p = project(
            r#"
[project]
name = "Demo"
dynamic = ["version"]
dependencies = ["requests>=2", "colorama; sys_platform == 'win32'"]
[project.optional-dependencies]
web = ["flask"]
cli = ["click"]
all = ["demo[web,cli]"]
[dependency-groups]
test = ["pytest", "demo[web]"]
[tool.sdistill]
no-header = true
"#,
        );
        assert_eq!(p.method, "pyproject");
        assert_eq!(p.origin(), "demo (pyproject.toml)");
        assert_eq!(p.config.as_ref().unwrap().no_header, Some(true));
        assert_eq!(
            names(&p.requirements(&[], &[]).unwrap()),
            ["requests>=2", "colorama ; sys_platform == 'win32'"]
        );
        let all = p.requirements(&["all".into()], &[]).unwrap();
        assert_eq!(names(&all)[2..], ["click", "flask"]);
        let test = p.requirements(&[], &["test".into()]).unwrap();
        assert_eq!(names(&test)[2..], ["flask", "pytest"]);
        assert_eq!(test.last().unwrap().origin, "demo (pyproject.toml:test)");
        let err = p
            .requirements(&["nope".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no extra `nope` (it has: all, cli, web)"),
            "{err}"
        );
    }

    #[test]
    fn paths_name_project_dirs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(project_dir(dir.path()).unwrap(), dir.path());
        assert_eq!(
            project_dir(&dir.path().join("setup.py")).unwrap(),
            dir.path()
        );
        assert_eq!(
            project_dir(Path::new("pyproject.toml")).unwrap(),
            Path::new(".")
        );
        assert!(project_dir(&dir.path().join("requirements.in")).is_none());
    }
}

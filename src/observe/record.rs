//! One captured record → a [`Fact`] the rules can rate.
//!
//! The guest's observer writes each event as one JSON object in one `fd_write` call on
//! the event channel; the host frames records by call, never by newline, so nothing the
//! sdist writes can merge into, split or rewrite a record the observer wrote. The guest
//! reports raw facts (which audit event, its target, who on the stack asked); what they
//! mean is decided here and in [`super::rules`], on the host. A record that does not
//! parse, or names an event the observer never sends, was written by something else:
//! that is itself a fact (`tamper`/`forged-record`).

use serde::Deserialize;

use super::model::Category;
use super::patterns;

/// The longest record read from the guest (the observer's own are far below: targets are
/// cut at 1 KiB, code excerpts at 4,096 characters).
pub const MAX_RECORD: usize = 64 * 1024;

/// Longest target kept for display.
const MAX_TARGET: usize = 300;

/// Longest code excerpt kept for display.
const MAX_EXCERPT: usize = 160;

/// The guest's HOME (`/scratch/home`), shown as `~`.
const GUEST_HOME: &str = "/scratch/home";

/// Whose code asked, as the observer classified the stack (innermost frame that is not
/// the driver's or the standard library's plumbing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// A file of the sdist (`/sdist/...`).
    Sdist,
    /// Code with no file: `exec`/`eval` of a string, or any file the sdist made at run
    /// time.
    Dynamic,
    /// A build requirement (`/deps/N`).
    Requirement,
    /// The pinned setuptools (`/site`).
    Setuptools,
    /// A standard-library module called by build code (`ast`, `timeit`, `tempfile`).
    Library,
    /// sdistill's own driver (never rated: the observer drops these guest-side, except
    /// processes and network, which are always kept).
    Driver,
}

impl Who {
    fn parse(letter: Option<&str>) -> Self {
        match letter {
            Some("s") => Self::Sdist,
            Some("d") => Self::Requirement,
            Some("t") => Self::Setuptools,
            Some("l") => Self::Library,
            Some("p") => Self::Driver,
            _ => Self::Dynamic,
        }
    }

    /// The sdist's own code (its files, or code it built at run time).
    pub fn is_build_code(self) -> bool {
        matches!(self, Self::Sdist | Self::Dynamic)
    }
}

/// Where a piece of run-time code came from (decided on the host, after the run, against
/// the sdist's files as unpacked: see [`super::provenance`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Provenance {
    /// Not a question for this fact.
    NotApplicable,
    /// Not looked up yet.
    Pending(SourceDigest),
    /// The text is in this file of the sdist (`exec(open('pkg/version.py').read())`).
    Found(String),
    /// The text is in no file of the sdist: decoded, decrypted or assembled at run time.
    NotFound,
}

/// What the observer sent about a piece of run-time code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceDigest {
    /// sha256 (hex) of the normalized source (`\r` removed, whitespace trimmed, UTF-8).
    pub sha256: String,
    /// Its length in bytes.
    pub len: u64,
    /// The whole normalized text, when it is short enough to have been sent whole.
    pub text: Option<String>,
}

/// One event, parsed and normalized, before rating.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fact {
    /// The category the event belongs to before the rules (which may report it under
    /// another one: a write to `~/.bashrc` is persistence).
    pub category: Category,
    /// What exactly.
    pub action: &'static str,
    /// What to show.
    pub target: String,
    /// What the rules match on: lowercase, `/` separators, HOME as `~`; for a rename both
    /// paths, one per line.
    pub subject: String,
    /// Whose code asked.
    pub who: Who,
    /// `file:line` in the sdist.
    pub location: Option<String>,
    /// The observer refused the operation.
    pub refused: bool,
    /// For run-time code: where its text came from.
    pub provenance: Provenance,
}

/// A record as the observer writes it (every field optional but `e`).
#[derive(Debug, Deserialize)]
struct Raw {
    e: String,
    #[serde(default)]
    t: Option<String>,
    #[serde(default)]
    s: Option<String>,
    #[serde(default)]
    b: Option<String>,
    #[serde(default)]
    l: Option<String>,
    #[serde(default)]
    w: Option<u8>,
    #[serde(default)]
    m: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    h: Option<String>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    r: Option<u8>,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The observer is installed and running in this instance (sent by the driver before
    /// any sdist code runs).
    Ready,
    /// An event.
    Fact(Fact),
}

/// The event the observer sends when it is alive in a run.
pub const READY: &str = "sdistill.ready";

/// Parses one record. Anything that is not a record the observer writes comes back as a
/// `tamper`/`forged-record` fact.
pub fn parse(bytes: &[u8]) -> Record {
    let raw: Raw = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(_) => return Record::Fact(forged("a record that does not parse")),
    };
    if raw.e == READY {
        return Record::Ready;
    }
    match fact(&raw) {
        Some(f) => Record::Fact(f),
        None => Record::Fact(forged(&format!("unknown event {}", raw.e))),
    }
}

/// A fact the host itself observed on the event channel (closing it, seeking, ...).
pub fn channel_tamper(what: &str) -> Fact {
    Fact {
        category: Category::Tamper,
        action: "event-channel",
        target: what.to_string(),
        subject: what.to_string(),
        who: Who::Dynamic,
        location: None,
        refused: true,
        provenance: Provenance::NotApplicable,
    }
}

fn forged(what: &str) -> Fact {
    Fact {
        category: Category::Tamper,
        action: "forged-record",
        target: cut(what, MAX_TARGET),
        subject: String::new(),
        who: Who::Dynamic,
        location: None,
        refused: false,
        provenance: Provenance::NotApplicable,
    }
}

fn fact(raw: &Raw) -> Option<Fact> {
    let target = raw.t.clone().unwrap_or_default();
    let write = raw.w == Some(1);
    let (category, action) = classify(&raw.e, &target, write)?;
    let mut shown = target.clone();
    let mut subject = target.to_lowercase();
    let mut provenance = Provenance::NotApplicable;
    match category {
        Category::FileRead | Category::FileWrite => {
            let paths: Vec<String> = match &raw.s {
                Some(src) if action == "rename" => vec![src.clone(), target.clone()],
                _ => vec![target.clone()],
            };
            subject = paths
                .iter()
                .map(|p| path_subject(p))
                .collect::<Vec<_>>()
                .join("\n");
            shown = paths
                .iter()
                .map(|p| home_relative(p))
                .collect::<Vec<_>>()
                .join(" -> ");
        }
        Category::Network if action == "http" => {
            let method = raw.m.as_deref().unwrap_or("GET");
            shown = format!("{method} {target}");
        }
        Category::DynamicCode if action == "exec" => {
            let text = raw.x.clone().unwrap_or_default();
            shown = excerpt(&text);
            subject = text.to_lowercase();
            if let (Some(sha256), Some(len)) = (raw.h.clone(), raw.n) {
                let complete = text.len() as u64 == len;
                provenance = Provenance::Pending(SourceDigest {
                    sha256,
                    len,
                    text: complete.then_some(text),
                });
            }
        }
        Category::Environment if action == "enumerate" => shown = "os.environ".to_string(),
        _ => {}
    }
    Some(Fact {
        category,
        action,
        target: cut(&shown, MAX_TARGET),
        subject,
        who: Who::parse(raw.b.as_deref()),
        location: raw.l.as_deref().map(|l| cut(l, MAX_TARGET)),
        refused: raw.r == Some(1),
        provenance,
    })
}

/// The category and action of an event the observer sends; `None` for names it never
/// sends.
fn classify(event: &str, target: &str, write: bool) -> Option<(Category, &'static str)> {
    use Category::*;
    Some(match event {
        "open" if write => (FileWrite, "write"),
        "open" => (FileRead, "open"),
        "os.listdir" | "os.scandir" | "glob.glob" => (FileRead, "list"),
        "os.remove" | "os.rmdir" | "shutil.rmtree" => (FileWrite, "remove"),
        "os.rename" => (FileWrite, "rename"),
        "os.mkdir" => (FileWrite, "mkdir"),
        "os.chmod" => (FileWrite, "chmod"),
        "os.truncate" => (FileWrite, "truncate"),
        "os.utime" => (FileWrite, "touch"),
        "os.symlink" => (FileWrite, "symlink"),
        "os.link" => (FileWrite, "link"),
        "subprocess.Popen" | "os.system" | "os.exec" | "os.spawn" | "os.posix_spawn"
        | "os.startfile" | "pty.spawn" => (Process, "run"),
        "socket.__new__" => (Network, "socket"),
        "socket.connect"
        | "http.client.connect"
        | "ftplib.connect"
        | "smtplib.connect"
        | "poplib.connect"
        | "imaplib.open"
        | "nntplib.connect"
        | "telnetlib.Telnet.open" => (Network, "connect"),
        "socket.bind" => (Network, "bind"),
        "socket.sendto" | "socket.sendmsg" => (Network, "send"),
        "socket.getaddrinfo"
        | "socket.gethostbyname"
        | "socket.gethostbyname_ex"
        | "socket.gethostbyaddr"
        | "socket.getnameinfo" => (Network, "dns"),
        "urllib.Request" | "webbrowser.open" => (Network, "http"),
        "sdistill.environ.get" => (Environment, "read"),
        "sdistill.environ.list" => (Environment, "enumerate"),
        "compile" => (DynamicCode, "exec"),
        "marshal.loads" | "marshal.load" => (DynamicCode, "marshal"),
        "code.__new__" => (DynamicCode, "code-object"),
        "pickle.find_class" => (DynamicCode, "unpickle"),
        "import" => {
            let top = target.split('.').next().unwrap_or(target);
            if patterns::NETWORK_MODULES.contains(&top) {
                (Network, "import")
            } else if patterns::NATIVE_MODULES.contains(&top) {
                (NativeCode, "import")
            } else if patterns::PROCESS_MODULES.contains(&top) {
                (Process, "import")
            } else {
                return None;
            }
        }
        "ctypes.dlopen" | "ctypes.dlsym" | "ctypes.cdata" => (NativeCode, "load"),
        "winreg.SetValue" | "winreg.CreateKey" | "winreg.DeleteKey" | "winreg.DeleteValue" => {
            (Persistence, "registry-write")
        }
        "gc.get_objects" | "gc.get_referrers" | "gc.get_referents" => (Tamper, "introspect"),
        "sys.settrace" | "sys.setprofile" | "sys.monitoring.register_callback" => (Tamper, "trace"),
        "object.__setattr__" | "object.__delattr__" => (Tamper, "patch-observer"),
        "sys.addaudithook" => (Tamper, "audit-hook"),
        "sdistill.forged-filename" => (Tamper, "forge-filename"),
        _ => return None,
    })
}

/// A path as the rules see it: lowercase, `/` separators, HOME as `~`.
fn path_subject(path: &str) -> String {
    home_relative(path).replace('\\', "/").to_lowercase()
}

/// A path with the guest's HOME shown as `~` (where `~/.ssh` lands in the guest).
fn home_relative(path: &str) -> String {
    match path.strip_prefix(GUEST_HOME) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
        _ => path.to_string(),
    }
}

/// The first characters of some code, on one line.
fn excerpt(code: &str) -> String {
    let one_line = code.split_whitespace().collect::<Vec<_>>().join(" ");
    cut(&one_line, MAX_EXCERPT)
}

/// At most `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Fact {
        match parse(json.as_bytes()) {
            Record::Fact(f) => f,
            Record::Ready => panic!("ready"),
        }
    }

    #[test]
    fn files_are_home_relative_and_lowercase_for_rules() {
        let f = one(r#"{"e":"open","t":"/scratch/home/.SSH/id_rsa","b":"s","l":"setup.py:3"}"#);
        assert_eq!(f.category, Category::FileRead);
        assert_eq!(f.target, "~/.SSH/id_rsa");
        assert_eq!(f.subject, "~/.ssh/id_rsa");
        assert_eq!(f.who, Who::Sdist);
        assert_eq!(f.location.as_deref(), Some("setup.py:3"));
        let w = one(r#"{"e":"os.rename","t":"/out/result.json","s":"/scratch/x","w":1}"#);
        assert_eq!(w.category, Category::FileWrite);
        assert_eq!(w.target, "/scratch/x -> /out/result.json");
        assert_eq!(w.subject, "/scratch/x\n/out/result.json");
        let win = one(r#"{"e":"open","t":"C:\\Users\\u\\AppData\\Roaming\\discord\\x"}"#);
        assert_eq!(win.subject, "c:/users/u/appdata/roaming/discord/x");
    }

    #[test]
    fn anything_else_on_the_channel_is_forged() {
        for junk in [&b"not json"[..], br#"{"e":"made.up"}"#, br#"{"t":"x"}"#] {
            let f = match parse(junk) {
                Record::Fact(f) => f,
                Record::Ready => panic!(),
            };
            assert_eq!((f.category, f.action), (Category::Tamper, "forged-record"));
        }
        assert_eq!(parse(br#"{"e":"sdistill.ready"}"#), Record::Ready);
        // An import of an ordinary module is not something the observer sends.
        assert!(matches!(
            parse(br#"{"e":"import","t":"json"}"#),
            Record::Fact(Fact {
                action: "forged-record",
                ..
            })
        ));
    }

    #[test]
    fn every_event_the_observer_sends_has_a_meaning() {
        // The guest's lists (python-wasm/observe.py) and `classify` must agree, or the
        // observer's own records would read as forged.
        let source = include_str!("../../python-wasm/observe.py");
        let start = source.find("files_read = frozenset").unwrap();
        let end = source.find("# Where code files live").unwrap();
        let region = &source[start..end];
        let at = region.find("imports = frozenset((").unwrap();
        let until = at + region[at..].find("))").unwrap();
        let strings = |text: &str| -> Vec<String> {
            text.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let mut events = strings(&region[..at]);
        events.extend(strings(&region[until..]));
        assert!(events.len() > 40, "{events:?}");
        for e in &events {
            if e != READY && e != "import" {
                assert!(classify(e, "x", false).is_some(), "{e}");
            }
        }
        let modules = strings(&region[at..until]);
        assert!(modules.len() > 20, "{modules:?}");
        for m in &modules {
            assert!(classify("import", m, false).is_some(), "{m}");
        }
    }

    #[test]
    fn code_digest_is_kept_for_provenance() {
        let f = one(r#"{"e":"compile","x":"import os\nos.system('x')","h":"ab","n":24,"b":"s"}"#);
        assert_eq!(f.target, "import os os.system('x')");
        match f.provenance {
            Provenance::Pending(d) => {
                assert_eq!(d.len, 24);
                assert!(d.text.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cut("abcdef", 3), "abc…");
    }
}

//! The word lists the rules match on: secret and persistence locations, command names,
//! environment variable names, module names. Matching is on lowercase text with `/` as
//! the separator (Windows paths are rewritten so), `~` standing for the guest's HOME.
//!
//! Lists, not regular expressions: a reader can check each entry, and adding one is a
//! one-line change with a test.

/// Path fragments of credentials, keys, tokens, browser profiles and wallets. A read or a
/// write of any of them is suspicious: no build needs them.
pub const CREDENTIAL_PATHS: &[&str] = &[
    // SSH, cloud and tool credentials
    "/.ssh/",
    "/.ssh",
    "/id_rsa",
    "/id_dsa",
    "/id_ecdsa",
    "/id_ed25519",
    "/.aws/",
    "/.azure/",
    "/.config/gcloud",
    "/.kube/config",
    "/.docker/config.json",
    "/.npmrc",
    "/.pypirc",
    "/.netrc",
    "/.git-credentials",
    "/.gnupg",
    "/.password-store",
    "/.config/gh/",
    "/.config/hub",
    "/.cargo/credentials",
    "/.terraform.d/credentials",
    "/.vault-token",
    "/.boto",
    "/.s3cfg",
    "/.pgpass",
    "/.my.cnf",
    "/.env",
    "/.bash_history",
    "/.zsh_history",
    "/.python_history",
    // system secrets and account data
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/passwd",
    "/etc/sudoers",
    "/environ",
    "/var/run/secrets/",
    "/run/secrets/",
    "/windows/system32/config/sam",
    "/microsoft/credentials",
    "/microsoft/protect",
    // browser profiles (cookies, saved passwords)
    "/.mozilla/firefox",
    "/.config/google-chrome",
    "/.config/chromium",
    "/.config/bravesoftware",
    "/.config/microsoft-edge",
    "/.config/opera",
    "/.config/vivaldi",
    "/library/application support/google/chrome",
    "/library/application support/firefox",
    "/library/cookies",
    "/library/keychains",
    "appdata/local/google/chrome",
    "appdata/local/microsoft/edge",
    "appdata/local/bravesoftware",
    "appdata/roaming/mozilla/firefox",
    "appdata/roaming/opera software",
    "/login data",
    "/cookies.sqlite",
    "/logins.json",
    "/key4.db",
    "/local state",
    // wallets
    "/.bitcoin",
    "/wallet.dat",
    "/.electrum",
    "/.ethereum",
    "/.config/solana",
    "/.config/exodus",
    "/exodus/exodus.wallet",
    "appdata/roaming/exodus",
    "appdata/roaming/electrum",
    "appdata/roaming/atomic",
    "appdata/roaming/ethereum",
    "/ledger live",
    "nkbihfbeogaeaoehlefnkodbefgpgknn",
    // chat and app tokens
    "/discord",
    "/telegram desktop/tdata",
    "/.config/slack",
    "appdata/roaming/slack",
];

/// Path fragments of places that make code run again later: shell start-up files,
/// autostart entries, launch agents, systemd units, cron, Python start-up hooks. A write
/// is persistence.
pub const PERSISTENCE_PATHS: &[&str] = &[
    "/.bashrc",
    "/.bash_profile",
    "/.bash_login",
    "/.profile",
    "/.zshrc",
    "/.zprofile",
    "/.zshenv",
    "/.zlogin",
    "/.config/fish/config.fish",
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/zsh/",
    "/etc/environment",
    "/etc/rc.local",
    "/etc/init.d/",
    "/etc/ld.so.preload",
    "/.config/autostart/",
    "/etc/xdg/autostart/",
    "/library/launchagents/",
    "/library/launchdaemons/",
    "/.config/systemd/",
    "/etc/systemd/",
    "/lib/systemd/",
    "/etc/cron",
    "/var/spool/cron",
    "/.ssh/authorized_keys",
    "start menu/programs/startup",
    "/sitecustomize.py",
    "/usercustomize.py",
];

/// Harmless device files code opens without meaning anything (`os.devnull`).
pub const HARMLESS_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/stdin",
    "/dev/stdout",
    "/dev/stderr",
];

/// Programs (or fragments of a command line) that download or contact something remote.
pub const FETCH_PROGRAMS: &[&str] = &[
    "curl",
    "wget",
    "nc",
    "ncat",
    "netcat",
    "socat",
    "telnet",
    "ftp",
    "tftp",
    "scp",
    "sftp",
    "ssh",
    "bitsadmin",
    "certutil",
    "mshta",
    "mshta.exe",
    "regsvr32",
    "regsvr32.exe",
    "invoke-webrequest",
    "iwr",
    "invoke-restmethod",
    "irm",
    "start-bitstransfer",
    // name lookups and probes: DNS and ICMP carry data out too
    "nslookup",
    "dig",
    "host",
    "ping",
    "ping6",
    "traceroute",
    "whois",
];

/// Command-line fragments that fetch remote content or install from an index.
pub const FETCH_FRAGMENTS: &[&str] = &[
    "http://",
    "https://",
    "ftp://",
    "downloadstring",
    "downloadfile",
    "net.webclient",
    "pip install",
    "pip3 install",
    "-m pip ",
    "npm install",
    "yarn install",
    "pnpm install",
    "easy_install",
];

/// Command-line fragments that decode something or pipe it into an interpreter.
pub const DECODE_AND_RUN_FRAGMENTS: &[&str] = &[
    "| sh",
    "|sh",
    "| bash",
    "|bash",
    "| zsh",
    "| python",
    "|python",
    "| perl",
    "base64 -d",
    "base64 --decode",
    "frombase64string",
    "b64decode",
    "invoke-expression",
    "iex(",
    "iex ",
    "exec(",
];

/// Command-line fragments of an interactive or network-attached shell.
pub const REMOTE_SHELL_FRAGMENTS: &[&str] = &[
    "/dev/tcp/",
    "/dev/udp/",
    "sh -i",
    "bash -i",
    "-e /bin/sh",
    "-e /bin/bash",
    "mkfifo",
];

/// PowerShell and the other Windows script hosts under their names.
pub const POWERSHELL_PROGRAMS: &[&str] = &[
    "powershell",
    "powershell.exe",
    "pwsh",
    "pwsh.exe",
    "wscript",
    "wscript.exe",
    "cscript",
    "cscript.exe",
    "rundll32",
    "rundll32.exe",
];

/// Command-line fragments that install something to run later.
pub const PERSISTENCE_COMMANDS: &[&str] = &[
    "crontab",
    "schtasks",
    "launchctl load",
    "launchctl bootstrap",
    "launchctl submit",
    "systemctl enable",
    "systemctl --user enable",
    "update-rc.d",
    "chkconfig",
    "sc create",
    "sc.exe create",
    "currentversion\\run",
    "currentversion/run",
];

/// Command-line fragments that read stored credentials.
pub const CREDENTIAL_COMMANDS: &[&str] = &[
    "find-generic-password",
    "find-internet-password",
    "dump-keychain",
    "cmdkey",
    "vaultcmd",
    "mimikatz",
    "lazagne",
    "reg save hklm\\sam",
    "reg save hklm\\system",
    "ntdsutil",
];

/// Version-control programs: builds ask them for a version (`git describe`).
pub const VCS_PROGRAMS: &[&str] = &["git", "hg", "svn", "bzr", "fossil", "darcs"];

/// Compilers and build tools builds probe for.
pub const BUILD_TOOLS: &[&str] = &[
    "cc",
    "gcc",
    "g++",
    "c++",
    "clang",
    "clang++",
    "cl",
    "cl.exe",
    "link",
    "link.exe",
    "ld",
    "ar",
    "icc",
    "icpc",
    "icx",
    "nvcc",
    "gfortran",
    "f77",
    "f90",
    "f95",
    "ifort",
    "flang",
    "pkg-config",
    "pkgconf",
    "cmake",
    "make",
    "gmake",
    "ninja",
    "meson",
    "swig",
    "cython",
    "protoc",
    "rustc",
    "cargo",
    "go",
    "javac",
    "xcrun",
    "xcode-select",
    "sw_vers",
    "vswhere",
    "vswhere.exe",
    "uname",
    "ldconfig",
    "lsb_release",
    "which",
    "where",
    "command",
    "nproc",
    "getconf",
    "sysctl",
    "arch",
    "lscpu",
];

/// Name fragments of environment variables that hold secrets, anywhere in the name.
pub const SECRET_ENV_FRAGMENTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSW",
    "PASSPHRASE",
    "CREDENTIAL",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
];

/// Words (between `_`) of environment variable names that hold secrets: whole words only,
/// so that `SKIP_GENERATE_AUTHORS` is not `AUTH`.
pub const SECRET_ENV_WORDS: &[&str] = &[
    "AUTH", "KEY", "PASS", "PWD", "PRIVATE", "COOKIE", "SESSION", "CREDS", "SIGNING",
];

/// Suffixes of variables that name where something is, not the secret itself
/// (`AWS_CREDENTIAL_FILE`, `GNUPG_HOME`): reading one is an ordinary read; reading the
/// file it points to is rated on its own.
pub const LOCATION_ENV_SUFFIXES: &[&str] = &["_FILE", "_PATH", "_DIR", "_HOME", "_CONFIG"];

/// Hosts of the Python Package Index. Old sdists bootstrap setuptools or distribute from
/// there (`ez_setup.py`, `distribute_setup.py`); nothing else is exempt.
pub const PACKAGE_INDEX_HOSTS: &[&str] = &["pypi.python.org", "pypi.org", "files.pythonhosted.org"];

/// What such a bootstrap downloads.
pub const BOOTSTRAP_PACKAGES: &[&str] = &["/setuptools-", "/distribute-"];

/// Prefixes of environment variables of cloud and CI accounts.
pub const SECRET_ENV_PREFIXES: &[&str] = &["AWS_", "AZURE_", "GOOGLE_APPLICATION", "KUBECONFIG"];

/// Modules that are client libraries for the network: importing one from a build is
/// worth a notice (their use, if it gets that far, is recorded on its own).
pub const NETWORK_MODULES: &[&str] = &[
    "requests",
    "ssl",
    "urllib3",
    "httpx",
    "aiohttp",
    "pycurl",
    "websocket",
    "websockets",
    "paramiko",
    "ftplib",
    "smtplib",
    "telnetlib",
    "poplib",
    "imaplib",
    "nntplib",
    "dns",
    "scapy",
    "discord",
    "discord_webhook",
    "telegram",
];

/// Network client modules the observer can stand in for in a run that is never an answer
/// (`python-wasm/observe.py`, `_sdistill_obs_bait_http`).
pub const BAITED_MODULES: &[&str] = &["requests", "ssl"];

/// Modules that load or call native code, or only exist as Windows native modules.
pub const NATIVE_MODULES: &[&str] = &[
    "ctypes",
    "_ctypes",
    "cffi",
    "_cffi_backend",
    "win32api",
    "win32con",
    "win32com",
    "win32crypt",
    "win32gui",
    "win32process",
    "pywintypes",
    "_winapi",
    "msvcrt",
    "winreg",
    "_winreg",
];

/// Modules for driving terminals and child processes.
pub const PROCESS_MODULES: &[&str] = &["pty"];

/// `module.name` globals an unpickled object may call that run code or reach the system.
pub const DANGEROUS_PICKLE_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "socket",
    "shutil",
    "importlib",
    "runpy",
    "pty",
    "ctypes",
    "code",
    "codeop",
    "marshal",
    "pickle",
    "webbrowser",
    "commands",
    "popen2",
];

/// Builtins an unpickled object may call that run code.
pub const DANGEROUS_PICKLE_BUILTINS: &[&str] = &[
    "builtins.exec",
    "builtins.eval",
    "builtins.compile",
    "builtins.__import__",
    "builtins.open",
    "builtins.getattr",
    "__builtin__.exec",
    "__builtin__.eval",
];

/// Registry key fragments that make a program start with Windows or a user's logon.
pub const RUN_KEYS: &[&str] = &[
    "currentversion\\run",
    "currentversion\\policies\\explorer\\run",
    "currentversion\\winlogon",
    "currentcontrolset\\services",
    "currentversion\\explorer\\shell folders",
];

/// Fragments of code that reaches into the system or runs more code: what a decoded
/// payload does (and a version string assembled at run time does not).
pub const ACTIVE_CODE_FRAGMENTS: &[&str] = &[
    "import",
    "exec",
    "eval",
    "compile(",
    "system",
    "popen",
    "subprocess",
    "socket",
    "urllib",
    "http",
    "requests",
    "open(",
    "environ",
    "getattr",
    "setattr",
    "globals()",
    "b64decode",
    "base64",
    "marshal",
    "zlib",
    "ctypes",
    "os.",
    "sys.",
    "builtins",
    "chr(",
    "fromhex",
];

/// Whether `text` contains any of `fragments`.
pub fn contains_any(text: &str, fragments: &[&str]) -> bool {
    fragments.iter().any(|f| text.contains(f))
}

/// The program names of a command line: every whitespace-, quote- or operator-separated
/// word, reduced to its base name (`/usr/bin/gcc` → `gcc`).
pub fn words(command: &str) -> impl Iterator<Item = &str> {
    command
        .split(|c: char| c.is_whitespace() || "'\"|;&()`".contains(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.rsplit(['/', '\\']).next().unwrap_or(w))
}

/// Whether a program name is a compiler or build tool (`x86_64-linux-gnu-gcc`,
/// `gcc-12`, `xslt-config` included).
pub fn is_build_tool(word: &str) -> bool {
    BUILD_TOOLS.contains(&word)
        || [
            "-gcc", "-g++", "-cc", "-c++", "-clang", "-config", "_config", "-ld",
        ]
        .iter()
        .any(|s| word.ends_with(s))
        || ["gcc-", "g++-", "clang-"]
            .iter()
            .any(|p| word.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_base_names() {
        let w: Vec<&str> = words("sh -c '/usr/bin/curl http://x | bash'").collect();
        assert_eq!(w, ["sh", "-c", "curl", "x", "bash"]);
        assert!(is_build_tool("x86_64-linux-gnu-gcc"));
        assert!(is_build_tool("xslt-config"));
        assert!(is_build_tool("mysql_config"));
        assert!(is_build_tool("gcc-12"));
        assert!(!is_build_tool("curl"));
    }

    #[test]
    fn lists_are_lowercase() {
        for list in [
            CREDENTIAL_PATHS,
            PERSISTENCE_PATHS,
            FETCH_PROGRAMS,
            FETCH_FRAGMENTS,
            DECODE_AND_RUN_FRAGMENTS,
            PERSISTENCE_COMMANDS,
            CREDENTIAL_COMMANDS,
            RUN_KEYS,
        ] {
            for entry in list {
                assert_eq!(entry.to_lowercase(), *entry);
            }
        }
    }
}

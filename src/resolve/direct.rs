//! Direct references in a lock's inputs: `name @ https://host/name-1.0.tar.gz#sha256=...`
//! and `name @ file:///path/name-1.0.tar.gz`.
//!
//! A direct reference is locked like any pin: with the sha256 of the exact file (the
//! URL's `#sha256=` when it has one, otherwise the digest of the bytes sdistill downloaded
//! and checked), and with dependencies from that file through the normal pipeline. What
//! cannot be hash-pinned is refused here, naming what to write instead: version-control
//! URLs (pip cannot hash a checkout), local directories (no file to hash) and editables.
//!
//! This module only reads the requirement; fetching is the provider's job
//! ([`super::MetadataProvider::direct`]). Everything kept from the URL is validated: the
//! file name is one path component of archive characters, the URL is re-serialized by the
//! `url` crate without credentials or fragment, and a `${VAR}` (which the PEP 508 parser
//! would fill from the host environment, so a project's metadata could smuggle a secret
//! into a download URL) is refused.

use std::fmt;
use std::path::PathBuf;

use pep508_rs::{PackageName, Requirement, VersionOrUrl};

use crate::error::{Error, Result};
use crate::index::Sha256Hex;

/// Archive kinds a direct reference may name (what sdistill can read).
const ARCHIVE_EXTENSIONS: &[&str] = &[".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"];

/// Version-control schemes (PEP 440 direct references, pip's VCS support).
const VCS_PREFIXES: &[&str] = &["git+", "hg+", "svn+", "bzr+"];

/// Where the file of a direct reference is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectLocation {
    /// An `http(s)://` URL, with any credentials the user gave (used to download only).
    Remote(url::Url),
    /// A local file (`file://`).
    Local(PathBuf),
}

/// A direct reference a lock can pin, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectRef {
    /// The project it is for (normalized).
    pub name: PackageName,
    /// Where to read it from.
    pub location: DirectLocation,
    /// The URL as a lock file may state it: no credentials, no fragment.
    pub url: url::Url,
    /// The file name the URL ends with (one path component, archive characters only).
    pub filename: ArchiveName,
    /// The sha256 the URL states (`#sha256=`), checked against the bytes.
    pub sha256: Option<Sha256Hex>,
}

/// The file name of a direct reference: one path component of ASCII letters, digits and
/// `._-+!`, not starting with `.`, ending like an archive sdistill reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveName(String);

impl ArchiveName {
    /// Accepts a file name that is safe as a cache path component and an archive.
    pub fn parse(text: &str) -> Option<Self> {
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'));
        let lower = text.to_ascii_lowercase();
        let archive = ARCHIVE_EXTENSIONS
            .iter()
            .any(|ext| lower.ends_with(ext) && lower.len() > ext.len());
        (ok_chars && archive && !text.starts_with('.') && text.len() <= 255)
            .then(|| Self(text.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it names a wheel.
    pub fn is_wheel(&self) -> bool {
        self.0.to_ascii_lowercase().ends_with(".whl")
    }
}

impl fmt::Display for ArchiveName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl DirectRef {
    /// The direct reference of `req`, `None` for a requirement by version; an error
    /// naming the alternative for anything a hash-pinned lock cannot hold. `origin` says
    /// where the requirement was written, for the message.
    pub fn from_requirement(req: &Requirement, origin: &str) -> Result<Option<Self>> {
        let Some(VersionOrUrl::Url(url)) = &req.version_or_url else {
            return Ok(None);
        };
        let given = url.given().unwrap_or_else(|| url.raw().as_str());
        let shown = crate::index::redact_url(given);
        let refuse = |why: String| Error::Usage {
            detail: format!("{origin}: `{} @ {shown}`: {why}", req.name),
        };
        if given.contains("${") {
            return Err(refuse(
                "environment variables in a URL are not expanded (they would put host secrets into a download URL); write the URL out".to_string(),
            ));
        }
        let lower = given.trim().to_ascii_lowercase();
        if VCS_PREFIXES.iter().any(|p| lower.starts_with(p)) {
            return Err(refuse(format!(
                "a version-control checkout has no file whose hash pip could check, so a hash-pinned lock cannot hold it; point at an archive of the commit instead (for GitHub: `{} @ https://github.com/OWNER/REPO/archive/COMMIT.tar.gz`), which is locked with its sha256",
                req.name
            )));
        }
        let raw = url.raw();
        let mut fragment_sha = None;
        if let Some(fragment) = raw.fragment() {
            for part in fragment.split('&') {
                if let Some(h) = part.strip_prefix("sha256=") {
                    fragment_sha = Some(Sha256Hex::parse(h).map_err(|e| refuse(e.to_string()))?);
                } else if part.starts_with("subdirectory=") {
                    return Err(refuse(
                        "`#subdirectory=` is not supported; build an sdist of that directory and point at it".to_string(),
                    ));
                }
            }
        }
        let mut clean = raw.clone();
        clean.set_fragment(None);
        let location = match raw.scheme() {
            "http" | "https" => DirectLocation::Remote(clean.clone()),
            "file" => {
                let path = raw
                    .to_file_path()
                    .map_err(|()| refuse("not a local path this machine can read".to_string()))?;
                if path.is_dir() {
                    return Err(refuse(format!(
                        "a directory has no file to hash; lock it as a project (`sdistill lock {}`) or point at an sdist built from it",
                        path.display()
                    )));
                }
                DirectLocation::Local(path)
            }
            other => {
                return Err(refuse(format!(
                    "`{other}:` URLs are not supported; use https:// or file://"
                )))
            }
        };
        let last = clean
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_string))
            .unwrap_or_default();
        let decoded = percent_encoding::percent_decode_str(&last)
            .decode_utf8()
            .map(|s| s.into_owned())
            .unwrap_or_default();
        let filename = ArchiveName::parse(&decoded).ok_or_else(|| {
            refuse("the URL must end with the file name of a wheel or an sdist (.whl, .tar.gz, .zip, ...)".to_string())
        })?;
        let public = crate::index::url_without_credentials(clean.as_str())
            .ok_or_else(|| refuse("not a valid URL".to_string()))?;
        Ok(Some(Self {
            name: req.name.clone(),
            location,
            url: public,
            filename,
            sha256: fragment_sha,
        }))
    }
}

/// A direct reference fetched and answered: what the lock pins.
#[derive(Debug, Clone)]
pub struct DirectDist {
    /// The reference.
    pub reference: DirectRef,
    /// The version its metadata declares.
    pub version: pep440_rs::Version,
    /// The sha256 of the file that was read (the URL's, checked, or computed).
    pub sha256: Sha256Hex,
    /// Its size in bytes.
    pub size: u64,
    /// Its dependencies.
    pub metadata: super::DistMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::parse_requirement;

    fn direct(text: &str) -> Result<Option<DirectRef>> {
        DirectRef::from_requirement(&parse_requirement(text).unwrap(), "test")
    }

    #[test]
    fn reads_urls_with_and_without_hashes() {
        let sha = "a".repeat(64);
        let d = direct(&format!(
            "Demo @ https://u:s3cret@host.invalid/p/demo-1.0.tar.gz#sha256={sha}"
        ))
        .unwrap()
        .unwrap();
        assert_eq!(d.name.as_ref(), "demo");
        assert_eq!(d.url.as_str(), "https://host.invalid/p/demo-1.0.tar.gz");
        assert_eq!(d.filename.as_str(), "demo-1.0.tar.gz");
        assert_eq!(d.sha256.unwrap().as_str(), sha);
        assert!(matches!(d.location, DirectLocation::Remote(u) if u.password() == Some("s3cret")));
        let d = direct("demo @ https://host.invalid/archive/0123abc.zip")
            .unwrap()
            .unwrap();
        assert_eq!(d.sha256, None);
        assert!(direct("demo>=1").unwrap().is_none());
    }

    #[test]
    fn refuses_what_cannot_be_hash_pinned_naming_the_alternative() {
        let cases = [
            (
                "demo @ git+https://host.invalid/demo.git@v1",
                "archive of the commit",
            ),
            (
                "demo @ https://host.invalid/${AWS_SECRET_ACCESS_KEY}/demo-1.0.tar.gz",
                "environment variables",
            ),
            ("demo @ https://host.invalid/demo/", "file name"),
            (
                "demo @ https://host.invalid/..%2F..%2Fdemo-1.0.tar.gz",
                "file name",
            ),
            (
                "demo @ https://host.invalid/demo-1.0.tar.gz#sha256=zz",
                "sha256",
            ),
            (
                "demo @ https://host.invalid/demo-1.0.tar.gz#subdirectory=x",
                "subdirectory",
            ),
        ];
        for (text, why) in cases {
            let err = direct(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.starts_with("test: "), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let err = direct(&format!("demo @ {url}")).unwrap_err().to_string();
        assert!(err.contains("lock it as a project"), "{err}");
    }

    #[test]
    fn archive_names_are_one_safe_component() {
        assert!(ArchiveName::parse("demo-1.0-py3-none-any.whl")
            .unwrap()
            .is_wheel());
        for bad in [
            "",
            ".tar.gz",
            "../x.tar.gz",
            "a/b.zip",
            "x.exe",
            "a b.zip",
            ".hidden.zip",
        ] {
            assert!(ArchiveName::parse(bad).is_none(), "{bad}");
        }
    }
}

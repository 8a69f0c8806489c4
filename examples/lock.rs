//! Library usage: resolve with sdistill's resolver and your own metadata provider.
//!
//! The resolver asks a [`MetadataProvider`] two questions (which versions exist, what one
//! version depends on) and applies the PEP 440/508 policy itself. sdistill's own
//! [`IndexProvider`](sdistill::resolve::IndexProvider) answers from a package index (and
//! the sandbox for sdists); here an in-memory provider stands in, which is how a resolver
//! with its own index layer, or a test, plugs in. The reverse works too: another resolver
//! can call `IndexProvider` alone for its metadata.
//!
//! Run: `cargo run --example lock`

use std::collections::BTreeMap;
use std::str::FromStr;

use sdistill::index::{DistFilename, Sha256Hex};
use sdistill::resolve::{
    self, requirements, DistFile, DistMetadata, LockRequest, MetadataProvider, ProjectVersion,
};
use sdistill::sandbox::Notify;

/// A tiny index: project -> version -> requirements.
struct InMemory(BTreeMap<&'static str, Vec<(&'static str, Vec<&'static str>)>>);

impl MetadataProvider for InMemory {
    fn versions(&self, name: &str) -> sdistill::Result<Vec<ProjectVersion>> {
        let versions = self.0.get(name).cloned().unwrap_or_default();
        let project = pep508_rs::PackageName::from_str(name).ok();
        Ok(versions
            .into_iter()
            .filter_map(|(v, _)| {
                // File names and hashes are validated types: a provider cannot hand the
                // resolver a path or a hash that is not one.
                let filename =
                    DistFilename::parse(&format!("{name}-{v}.tar.gz"), project.as_ref()?);
                Some(ProjectVersion {
                    version: v.parse().ok()?,
                    // A real provider states the file's real hash.
                    files: vec![DistFile::new(
                        filename.ok()?,
                        format!("memory://{name}-{v}.tar.gz"),
                        Sha256Hex::of(format!("{name}-{v}").as_bytes()),
                    )],
                })
            })
            .collect())
    }

    fn metadata(
        &self,
        name: &str,
        version: &resolve::Version,
        files: &[DistFile],
        _target: &resolve::TargetEnv,
    ) -> sdistill::Result<DistMetadata> {
        let requires = self
            .0
            .get(name)
            .and_then(|vs| {
                vs.iter()
                    .find(|(v, _)| v.parse().ok().as_ref() == Some(version))
            })
            .map(|(_, r)| r.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        Ok(DistMetadata {
            requires_dist: requires,
            requires_python: None,
            provides_extra: vec![],
            filename: files
                .first()
                .map(|f| f.filename.to_string())
                .unwrap_or_default(),
            method: "memory".into(),
            warnings: vec![],
            integrity: Default::default(),
            behaviour: None,
        })
    }
}

fn main() -> sdistill::Result<()> {
    let provider = InMemory(BTreeMap::from([
        (
            "web",
            vec![("1.0", vec!["http>=2", "colors; sys_platform == 'win32'"])],
        ),
        ("http", vec![("1.5", vec![]), ("2.1", vec!["idna<4"])]),
        ("idna", vec![("3.7", vec![]), ("4.0", vec![])]),
        ("colors", vec![("0.4", vec![])]),
    ]));
    let request = LockRequest {
        requirements: vec![requirements::parse_arg("web")?],
        ..LockRequest::default()
    };
    let resolution = resolve::resolve(&request, &provider, &Notify::default())?;
    let options = resolve::output::RenderOptions::new(&request.env, "cargo run --example lock");
    print!(
        "{}",
        resolve::output::render(
            resolve::output::Format::RequirementsTxt,
            &resolution,
            &options
        )?
    );
    Ok(())
}

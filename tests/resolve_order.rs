//! The lock depends only on the inputs and the index's contents, never on timing: the
//! resolver fetches ahead on worker threads, and answers come back in whatever order the
//! network gives. Here a provider delays every answer by a pseudo-random amount (a
//! different pattern per run, so background fetches finish in different orders), over a
//! graph with extras, markers, conflicts that force backtracking and an extra whose newest
//! version conflicts; every run must render byte for byte the same lock.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use sdistill::index::{DistFilename, Sha256Hex};
use sdistill::resolve::output::{render, Format, RenderOptions};
use sdistill::resolve::{
    self, requirements, DistFile, DistMetadata, LockRequest, MetadataProvider, ProjectVersion,
    TargetEnv, Version,
};
use sdistill::sandbox::Notify;

type Graph = BTreeMap<String, Vec<(String, Vec<String>)>>;

/// An index in memory whose answers arrive after a delay chosen by `seed`.
struct Delayed {
    graph: Graph,
    seed: u64,
    calls: AtomicUsize,
    /// Every metadata answer asked for, `name==version`.
    asked: std::sync::Mutex<Vec<String>>,
}

impl Delayed {
    fn pause(&self, what: &str) {
        // A small deterministic hash of (seed, what): 0-7 ms, different per run.
        let mut h = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in what.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(h % 8000));
    }
}

impl MetadataProvider for Delayed {
    fn versions(&self, name: &str) -> sdistill::Result<Vec<ProjectVersion>> {
        self.pause(name);
        let project = pep508_rs::PackageName::from_str(name).unwrap();
        Ok(self
            .graph
            .get(name)
            .into_iter()
            .flatten()
            .map(|(v, _)| {
                let file = format!("{}-{v}-py3-none-any.whl", name.replace('-', "_"));
                ProjectVersion {
                    version: v.parse().unwrap(),
                    files: vec![DistFile::new(
                        DistFilename::parse(&file, &project).unwrap(),
                        format!("https://example.invalid/{file}"),
                        Sha256Hex::of(file.as_bytes()),
                    )],
                }
            })
            .collect())
    }

    fn metadata(
        &self,
        name: &str,
        version: &Version,
        files: &[DistFile],
        _target: &TargetEnv,
    ) -> sdistill::Result<DistMetadata> {
        self.pause(&format!("{name}=={version}"));
        self.asked
            .lock()
            .unwrap()
            .push(format!("{name}=={version}"));
        let requires = self.graph[name]
            .iter()
            .find(|(v, _)| v.parse::<Version>().unwrap() == *version)
            .map(|(_, r)| r.clone())
            .unwrap();
        Ok(DistMetadata {
            requires_dist: requires,
            requires_python: None,
            provides_extra: vec!["x".into(), "y".into()],
            filename: files[0].filename.to_string(),
            method: "metadata-file".into(),
            warnings: vec![],
            integrity: Default::default(),
            behaviour: None,
        })
    }
}

fn graph() -> Graph {
    let mut g: Graph = BTreeMap::new();
    let mut add = |name: &str, version: String, requires: Vec<String>| {
        g.entry(name.to_string())
            .or_default()
            .push((version, requires));
    };
    // Like celery[redis]: app N requires lib>=N, and app[x] requires lib[x]; lib[x] at the
    // newest version conflicts with the pinned `pin`, so app and lib must both step back.
    for n in 1..=30 {
        add(
            "app",
            format!("{n}.0"),
            vec![
                format!("lib>={n}.0"),
                "lib[x]; extra == 'x'".into(),
                "util<3; sys_platform == 'win32'".into(),
                "shared".into(),
            ],
        );
        let mut lib = vec!["xdep; extra == 'x'".to_string(), "shared<5".to_string()];
        if n == 30 {
            lib.push("pin==1; extra == 'x'".into());
        }
        add("lib", format!("{n}.0"), lib);
    }
    for n in 1..=6 {
        add("shared", format!("{n}.0"), vec![format!("leaf>={n}")]);
        add("leaf", format!("{n}"), vec![]);
        add("util", format!("{n}.0"), vec!["leaf".into()]);
    }
    add("pin", "1".into(), vec![]);
    add("pin", "2".into(), vec![]);
    add("xdep", "1.0".into(), vec!["other; extra == 'y'".into()]);
    add("other", "1.0".into(), vec![]);
    // boto N needs core N.x (as boto3 and botocore do), and s3, met later, needs core < 3:
    // boto walks back from 20 to 2, long enough to make the resolver start over with it
    // decided last, which must change nothing in the lock.
    for n in 1..=20 {
        add(
            "boto",
            format!("{n}.0"),
            vec![format!("core>={n}.0,<{}.0", n + 1)],
        );
        add("core", format!("{n}.0"), vec![]);
    }
    add("s3", "1.0".into(), vec!["core<3".into()]);
    // Two projects that disagree until one steps back.
    add("left", "1.0".into(), vec!["mid<2".into()]);
    add("left", "2.0".into(), vec!["mid>=3".into()]);
    add(
        "right",
        "1.0".into(),
        vec!["mid<3".into(), "util>=2".into()],
    );
    for m in ["1.0", "2.0", "3.0"] {
        add("mid", m.into(), vec![]);
    }
    g
}

fn lock(seed: u64, env: TargetEnv) -> (String, String, Vec<String>) {
    let (text, json, asked, _) = lock_noting(seed, env);
    (text, json, asked)
}

/// [`lock`], and the progress lines the resolver said.
fn lock_noting(seed: u64, env: TargetEnv) -> (String, String, Vec<String>, Vec<String>) {
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = said.clone();
    let notify = Notify::to(move |line| sink.lock().unwrap().push(line.to_string()));
    let provider = Delayed {
        graph: graph(),
        seed,
        calls: AtomicUsize::new(0),
        asked: Default::default(),
    };
    let request = LockRequest {
        requirements: ["app[x]", "pin==2", "left", "right", "util", "boto", "s3"]
            .iter()
            .map(|r| requirements::parse_arg(r).unwrap())
            .collect(),
        env,
        ..LockRequest::default()
    };
    let resolution = resolve::resolve(&request, &provider, &notify).unwrap();
    let mut options = RenderOptions::new(&request.env, "test");
    options.header = false;
    let lines: Vec<String> = said.lock().unwrap().clone();
    (
        render(Format::RequirementsTxt, &resolution, &options).unwrap(),
        render(Format::Json, &resolution, &options).unwrap(),
        provider.asked.into_inner().unwrap(),
        lines,
    )
}

#[test]
fn answers_arriving_in_any_order_give_the_same_lock() {
    for env in [
        TargetEnv::default(),
        TargetEnv {
            python: (3, 11, 0),
            target: TargetEnv::parse_platform("windows").unwrap(),
        },
    ] {
        let (first, first_json, _) = lock(0, env);
        assert!(first.contains("app[x]==29.0"), "{first}");
        assert!(first.contains("lib[x]==29.0"), "{first}");
        assert!(first.contains("pin==2"), "{first}");
        assert!(first.contains("mid==1.0"), "{first}");
        assert!(first.contains("boto==2.0"), "{first}");
        assert!(first.contains("core==2.0"), "{first}");
        for seed in 1..6 {
            let (text, json, _) = lock(seed, env);
            assert_eq!(text, first, "seed {seed} locked differently");
            assert_eq!(json, first_json, "seed {seed} reported differently");
        }
    }
}

/// The extras walk: an extra whose newest version cannot be used makes the resolver step
/// both the extra and its project back once, without reading the metadata of every
/// older release of either.
#[test]
fn an_extra_that_cannot_take_its_newest_version_costs_no_walk() {
    let (_, _, asked, said) = lock_noting(7, TargetEnv::default());
    // boto's walk made the resolver start over once, with boto decided last.
    let restarts: Vec<&String> = said
        .iter()
        .filter(|l| l.contains("starting over"))
        .collect();
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert!(restarts[0].starts_with("boto:"), "{restarts:?}");
    // Without the fix every release of app and lib was read, down to app 1.0.
    for project in ["app==", "lib=="] {
        let read = asked.iter().filter(|a| a.starts_with(project)).count();
        assert!(read <= 4, "{read} versions of {project}: {asked:?}");
    }
}

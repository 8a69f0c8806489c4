//! The upstream indexes: their pages fetched, validated and merged, and kept briefly.
//!
//! A project page is the merge of every upstream's page for it, by the rules `lock` uses
//! ([`crate::index::merge_pages`]): files of every upstream, the first upstream's file
//! where two list the same name, files without a sha256 left out (they could be neither
//! verified nor pinned). Every listed file is validated on the way in
//! ([`crate::index::ProjectPage`]), so the pages, file routes and cache paths built from
//! it are made of validated names and digests only. A page that any upstream fails to
//! give is an error, not a smaller page: quietly dropping a private upstream would leave
//! its projects to whoever registers the same names on a public one.
//!
//! Pages are kept for `page_ttl` (a burst of clients resolving the same requirements costs
//! one upstream request per project), and concurrent requests for a page that is being
//! fetched wait for that fetch instead of starting their own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pep508_rs::PackageName;

use crate::error::{Error, Result};
use crate::index::{merge_pages, IndexClient, IndexFile, ProjectPage, Sha256Hex};

use super::access_log::Log;
use super::config::ServeLimits;

/// One file on a merged page.
#[derive(Debug, Clone)]
pub struct PageFile {
    /// Which upstream listed it (its position in the configuration).
    pub upstream: usize,
    /// The file as listed, validated.
    pub file: IndexFile,
    /// Its sha256 (every served file has one).
    pub sha256: Sha256Hex,
}

/// A project's merged page.
#[derive(Debug)]
pub struct Page {
    /// The project (normalized).
    pub project: PackageName,
    /// Its files, in upstream order.
    pub files: Vec<PageFile>,
}

impl Page {
    /// The file named `filename` with this sha256, if the page lists it.
    pub fn file(&self, sha256: &Sha256Hex, filename: &str) -> Option<&PageFile> {
        self.files
            .iter()
            .find(|f| f.sha256 == *sha256 && f.file.filename.as_str() == filename)
    }
}

/// Every project the upstreams list, and the list as written in each page format (PyPI
/// lists ~900,000 projects: a page of 20–45 MB is written once per fetch, not per request).
#[derive(Debug, Default)]
pub struct ProjectList {
    /// The projects, sorted, without duplicates.
    pub names: Vec<PackageName>,
    written: [std::sync::OnceLock<bytes::Bytes>; 3],
}

impl ProjectList {
    /// The list as written by `write` for the format numbered `format` (0..3), written on
    /// first use.
    pub fn written(
        &self,
        format: usize,
        write: impl FnOnce(&[PackageName]) -> String,
    ) -> bytes::Bytes {
        match self.written.get(format) {
            Some(slot) => slot
                .get_or_init(|| bytes::Bytes::from(write(&self.names)))
                .clone(),
            None => bytes::Bytes::from(write(&self.names)),
        }
    }
}

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

type Slot<T> = Arc<tokio::sync::Mutex<Option<Cached<T>>>>;

/// The configured upstreams.
pub struct Upstreams {
    clients: Vec<Arc<IndexClient>>,
    limits: ServeLimits,
    pages: Mutex<HashMap<PackageName, Slot<Page>>>,
    list: Slot<ProjectList>,
    reported: Mutex<HashSet<(usize, PackageName)>>,
    log: Log,
}

/// How old a page must be before a request for a file it does not list fetches it again
/// (the file may have been uploaded since; a replica behind the same load balancer may
/// have handed out its URL).
const REFRESH_FOR_MISSING_FILE: Duration = Duration::from_secs(5);

impl Upstreams {
    /// Clients for `urls`, in priority order.
    pub fn new(urls: &[String], limits: ServeLimits, log: Log) -> Result<Self> {
        if urls.is_empty() {
            return Err(Error::Usage {
                detail: "no upstream index".to_string(),
            });
        }
        let clients = urls
            .iter()
            .map(|u| IndexClient::new(u).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            clients,
            limits,
            pages: Mutex::new(HashMap::new()),
            list: Arc::default(),
            reported: Mutex::new(HashSet::new()),
            log,
        })
    }

    /// The client of upstream `index`.
    pub fn client(&self, index: usize) -> Option<Arc<IndexClient>> {
        self.clients.get(index).cloned()
    }

    /// The upstream URLs as they may be shown (credentials redacted).
    pub fn shown(&self) -> Vec<String> {
        self.clients.iter().map(|c| c.url()).collect()
    }

    /// The merged page of `project`, from memory while fresh.
    pub async fn page(&self, project: &PackageName) -> Result<Arc<Page>> {
        self.page_fresher_than(project, self.limits.page_ttl).await
    }

    /// The file `filename` with this sha256 if an upstream lists it now.
    pub async fn find(
        &self,
        project: &PackageName,
        sha256: &Sha256Hex,
        filename: &str,
    ) -> Result<Option<PageFile>> {
        let page = self.page(project).await?;
        if let Some(found) = page.file(sha256, filename) {
            return Ok(Some(found.clone()));
        }
        let page = self
            .page_fresher_than(project, REFRESH_FOR_MISSING_FILE)
            .await?;
        Ok(page.file(sha256, filename).cloned())
    }

    async fn page_fresher_than(&self, project: &PackageName, age: Duration) -> Result<Arc<Page>> {
        let slot = self.slot(project);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.at.elapsed() < age) {
            return Ok(c.value.clone());
        }
        let page = Arc::new(self.fetch_page(project).await?);
        *cached = Some(Cached {
            at: Instant::now(),
            value: page.clone(),
        });
        Ok(page)
    }

    /// The slot of one project's page; the map is trimmed of idle slots when it grows
    /// past its bound (requests for made-up names must not grow it without end).
    fn slot(&self, project: &PackageName) -> Slot<Page> {
        let mut pages = self
            .pages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if pages.len() >= self.limits.max_pages && !pages.contains_key(project) {
            pages.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        pages.entry(project.clone()).or_default().clone()
    }

    async fn fetch_page(&self, project: &PackageName) -> Result<Page> {
        let deadline = Instant::now() + self.limits.upstream_timeout;
        let fetches = self.clients.iter().map(|client| {
            let client = client.clone();
            let project = project.clone();
            tokio::task::spawn_blocking(move || {
                client
                    .listing(&project, Some(deadline))
                    .map(|listing| ProjectPage::from_listing(&project, listing))
            })
        });
        let mut pages = Vec::new();
        for (index, fetch) in futures_util::future::join_all(fetches)
            .await
            .into_iter()
            .enumerate()
        {
            let page = fetch.map_err(|e| Error::Internal {
                detail: format!("page fetch task: {e}"),
            })??;
            if let Some(first) = page.refused.first() {
                self.report_refused(index, project, page.refused.len(), &first.to_string());
            }
            pages.push(page);
        }
        let files = merge_pages(pages)
            .into_iter()
            .map(|(upstream, file, sha256)| PageFile {
                upstream,
                file,
                sha256,
            })
            .collect();
        Ok(Page {
            project: project.clone(),
            files,
        })
    }

    /// One line per upstream and project, the first time its page leaves files out (they
    /// are never served; old eggs and non-PEP 440 versions are the usual ones).
    fn report_refused(&self, index: usize, project: &PackageName, count: usize, first: &str) {
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if reported.len() >= self.limits.max_pages {
            reported.clear();
        }
        if reported.insert((index, project.clone())) {
            self.log.event(&format!(
                "{}{project}/: {count} listed file(s) left out, never served; the first: {first}",
                self.clients[index].url()
            ));
        }
    }

    /// Every project any upstream lists (sorted, without duplicates), from memory while
    /// fresh. Used only for `/simple/` itself, which resolvers do not read.
    pub async fn project_list(&self) -> Result<Arc<ProjectList>> {
        let mut cached = self.list.lock().await;
        if let Some(c) = cached
            .as_ref()
            .filter(|c| c.at.elapsed() < self.limits.project_list_ttl)
        {
            return Ok(c.value.clone());
        }
        let limit = self.limits.max_project_list;
        let fetches = self.clients.iter().map(|client| {
            let client = client.clone();
            tokio::task::spawn_blocking(move || client.project_list(limit))
        });
        let mut all = Vec::new();
        for fetch in futures_util::future::join_all(fetches).await {
            all.extend(fetch.map_err(|e| Error::Internal {
                detail: format!("project list task: {e}"),
            })??);
        }
        all.sort();
        all.dedup();
        let value = Arc::new(ProjectList {
            names: all,
            written: Default::default(),
        });
        *cached = Some(Cached {
            at: Instant::now(),
            value: value.clone(),
        });
        Ok(value)
    }
}

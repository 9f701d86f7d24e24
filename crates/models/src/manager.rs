//! [`ModelManager`]: makes a model's file ready in the cache — checks the cached copy, else
//! downloads it once however many ask, verifies it, extracts it from its archive when the
//! entry says so, and moves it into place atomically — reporting each step to a
//! [`StatusSink`].

use crate::ModelError;
use crate::cache::{Cache, Pin, Trust, sha256_file};
use crate::fetch::RetryPolicy;
use crate::http::{self, Stop};
use crate::rate::RateMeter;
use fs4::fs_std::FileExt;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use studio_proto::api::{ModelState, ModelStatus};
use studio_proto::config::ModelEntry;
use tokio::sync::watch;

/// Receives every status change of every model. The server's registry implements it (and
/// serves the result on `/v1/status` and `/v1/events`); the CLI draws progress bars with it.
pub trait StatusSink: Send + Sync + 'static {
    fn model_status(&self, status: ModelStatus);
}

/// Bytes available to this user in the filesystem holding a folder. A seam so tests can
/// pretend the disk is full.
pub type FreeSpace = Arc<dyn Fn(&Path) -> io::Result<u64> + Send + Sync>;

#[derive(Clone)]
pub struct ManagerOptions {
    /// The cache folder (see [`crate::resolve_cache_dir`]); models go in its `models` folder.
    pub cache_dir: PathBuf,
    pub retry: RetryPolicy,
    pub free_space: FreeSpace,
    /// At most one progress report per model this often, so event streams stay light.
    pub progress_every: Duration,
    pub connect_timeout: Duration,
    /// A connection that delivers nothing for this long is dropped and resumed.
    pub read_timeout: Duration,
}

impl ManagerOptions {
    pub fn new(cache_dir: PathBuf) -> ManagerOptions {
        ManagerOptions {
            cache_dir,
            retry: RetryPolicy::default(),
            free_space: Arc::new(|path: &Path| fs4::available_space(path)),
            progress_every: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// What the cache holds for a model, without reading the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Missing,
    /// An unfinished download of this many bytes, resumed by the next fetch.
    Partial(u64),
    /// A finished file of this many bytes (verified before each use).
    Present(u64),
}

/// The result of checking a cached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Nothing cached.
    Missing,
    Good {
        sha256: String,
        trust: Trust,
    },
    /// It did not match and was deleted.
    Deleted {
        expected: String,
        actual: String,
    },
}

/// Downloads and checks the configuration's models. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct ModelManager {
    inner: Arc<Inner>,
}

struct Inner {
    entries: BTreeMap<String, ModelEntry>,
    cache: Cache,
    client: reqwest::Client,
    options: ManagerOptions,
    sink: Arc<dyn StatusSink>,
    jobs: Mutex<HashMap<String, Job>>,
}

type Outcome = Option<Result<PathBuf, ModelError>>;

/// A model being made ready (or made ready: successes stay so later asks return at once).
struct Job {
    outcome: watch::Receiver<Outcome>,
    cancel: watch::Sender<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ModelManager {
    pub fn new(
        entries: BTreeMap<String, ModelEntry>,
        options: ManagerOptions,
        sink: Arc<dyn StatusSink>,
    ) -> Result<ModelManager, ModelError> {
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(concat!("streaming-studio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModelError::Client(e.to_string()))?;
        Ok(ModelManager {
            inner: Arc::new(Inner {
                entries,
                cache: Cache::new(options.cache_dir.clone()),
                client,
                options,
                sink,
                jobs: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn entries(&self) -> &BTreeMap<String, ModelEntry> {
        &self.inner.entries
    }

    /// The cache folder this manager keeps its files under (`models/` among others).
    pub fn cache_root(&self) -> &std::path::Path {
        &self.inner.options.cache_dir
    }

    /// Where the model's file is (or will be) in the cache.
    pub fn path(&self, id: &str) -> Result<PathBuf, ModelError> {
        Ok(self.inner.cache.file(&self.entry(id)?.file))
    }

    /// The model's file, verified: from the cache when it is there and matches, else
    /// downloaded. Concurrent calls for one model share one download.
    pub async fn ensure(&self, id: &str) -> Result<PathBuf, ModelError> {
        let entry = self.entry(id)?.clone();
        let mut outcome = {
            let mut jobs = lock(&self.inner.jobs);
            match jobs.get(id) {
                Some(job) => job.outcome.clone(),
                None => {
                    let (done_tx, done_rx) = watch::channel(None);
                    let (cancel_tx, cancel_rx) = watch::channel(false);
                    jobs.insert(
                        id.to_owned(),
                        Job {
                            outcome: done_rx.clone(),
                            cancel: cancel_tx,
                        },
                    );
                    let inner = self.inner.clone();
                    let id = id.to_owned();
                    tokio::spawn(async move {
                        let result = inner.obtain(&id, &entry, cancel_rx).await;
                        if result.is_err() {
                            // A failure is not remembered: the next ask tries again.
                            lock(&inner.jobs).remove(&id);
                        }
                        done_tx.send_replace(Some(result));
                    });
                    done_rx
                }
            }
        };
        match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or_else(|| Err(stopped(id))),
            Err(_) => {
                lock(&self.inner.jobs).remove(id);
                Err(stopped(id))
            }
        }
    }

    /// Stops the model's download, if one runs; the partial file stays for a later resume.
    /// Returns whether there was one.
    pub fn cancel(&self, id: &str) -> bool {
        let jobs = lock(&self.inner.jobs);
        match jobs.get(id) {
            Some(job) if job.outcome.borrow().is_none() => {
                job.cancel.send_replace(true);
                true
            }
            _ => false,
        }
    }

    /// What the cache holds, without reading it.
    pub fn cached(&self, id: &str) -> Result<Cached, ModelError> {
        let entry = self.entry(id)?;
        let cache = &self.inner.cache;
        if let Ok(meta) = std::fs::metadata(cache.file(&entry.file)) {
            return Ok(Cached::Present(meta.len()));
        }
        let partial = cache.partial(id, &entry.file, entry.archive_member.is_some());
        Ok(match std::fs::metadata(partial) {
            Ok(meta) => Cached::Partial(meta.len()),
            Err(_) => Cached::Missing,
        })
    }

    /// Checks the cached file's SHA-256; a file that does not match is deleted.
    pub async fn verify(&self, id: &str) -> Result<Verified, ModelError> {
        let entry = self.entry(id)?.clone();
        let path = self.inner.cache.file(&entry.file);
        if !path.exists() {
            return Ok(Verified::Missing);
        }
        let mut tracker = Tracker::new(&self.inner, id);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        tracker.bytes(size, Some(size));
        tracker.state(ModelState::Verifying);
        match self.inner.check_cached(id, &entry, &path).await {
            Ok(verified @ Verified::Good { .. }) => {
                if let Verified::Good { sha256, trust } = &verified {
                    tracker.ready(sha256.clone(), *trust);
                }
                Ok(verified)
            }
            Ok(verified) => {
                // A finished job must not keep answering with the deleted file.
                let mut jobs = lock(&self.inner.jobs);
                if jobs.get(id).is_some_and(|j| j.outcome.borrow().is_some()) {
                    jobs.remove(id);
                }
                drop(jobs);
                if let Verified::Deleted { expected, actual } = &verified {
                    tracker.fail(&format!(
                        "the cached file's SHA-256 is {actual}, expected {expected}; it was deleted"
                    ));
                }
                Ok(verified)
            }
            Err(e) => {
                tracker.fail(&e.to_string());
                Err(e)
            }
        }
    }

    /// Deletes the model's file, partial download and pin. Returns the bytes freed.
    pub fn clear(&self, id: &str) -> Result<u64, ModelError> {
        let entry = self.entry(id)?;
        {
            let mut jobs = lock(&self.inner.jobs);
            if jobs.get(id).is_some_and(|j| j.outcome.borrow().is_none()) {
                return Err(ModelError::Busy(id.to_owned()));
            }
            jobs.remove(id);
        }
        let cache = &self.inner.cache;
        let mut freed = 0;
        for path in [
            cache.file(&entry.file),
            cache.partial(id, &entry.file, entry.archive_member.is_some()),
        ] {
            if let Ok(meta) = std::fs::metadata(&path) {
                std::fs::remove_file(&path)
                    .map_err(|e| ModelError::io(id, format!("deleting {}", path.display()), &e))?;
                freed += meta.len();
            }
        }
        cache
            .set_pin(id, None)
            .map_err(|e| ModelError::io(id, "updating pins.json", &e))?;
        Ok(freed)
    }

    fn entry(&self, id: &str) -> Result<&ModelEntry, ModelError> {
        self.inner
            .entries
            .get(id)
            .ok_or_else(|| ModelError::Unknown(id.to_owned()))
    }
}

fn stopped(id: &str) -> ModelError {
    ModelError::Download {
        id: id.to_owned(),
        reason: "the download task stopped unexpectedly".to_owned(),
    }
}

/// Builds a model's status and reports changes: state changes at once, progress at most
/// once per `progress_every`.
struct Tracker<'a> {
    inner: &'a Inner,
    status: ModelStatus,
    meter: RateMeter,
    last_report: Option<Instant>,
}

impl<'a> Tracker<'a> {
    fn new(inner: &'a Inner, id: &str) -> Tracker<'a> {
        Tracker {
            inner,
            status: ModelStatus {
                id: id.to_owned(),
                state: ModelState::Pending,
                bytes_done: 0,
                bytes_total: None,
                error: None,
                rate_bytes_per_s: None,
                eta_s: None,
                sha256: None,
                trust: None,
            },
            meter: RateMeter::new(Duration::from_secs(3)),
            last_report: None,
        }
    }

    fn report(&mut self) {
        self.last_report = Some(Instant::now());
        self.inner.sink.model_status(self.status.clone());
    }

    fn state(&mut self, state: ModelState) {
        self.status.state = state;
        if state != ModelState::Downloading {
            self.status.rate_bytes_per_s = None;
            self.status.eta_s = None;
        }
        self.report();
    }

    fn bytes(&mut self, done: u64, total: Option<u64>) {
        self.status.bytes_done = done;
        self.status.bytes_total = total;
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        let now = Instant::now();
        self.meter.record(now, done);
        self.bytes(done, total);
        self.status.rate_bytes_per_s = self.meter.rate();
        self.status.eta_s = self.meter.eta(total);
        let due = self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= self.inner.options.progress_every);
        if due || total == Some(done) {
            self.report();
        }
    }

    fn ready(&mut self, sha256: String, trust: Trust) {
        self.status.sha256 = Some(sha256);
        self.status.trust = Some(trust.as_str().to_owned());
        self.status.error = None;
        self.state(ModelState::Ready);
    }

    fn fail(&mut self, error: &str) {
        self.status.error = Some(error.to_owned());
        self.state(ModelState::Failed);
    }
}

impl Inner {
    async fn obtain(
        &self,
        id: &str,
        entry: &ModelEntry,
        cancel: watch::Receiver<bool>,
    ) -> Result<PathBuf, ModelError> {
        let mut tracker = Tracker::new(self, id);
        tracker.bytes(0, entry.bytes);
        tracker.report();
        let result = self.obtain_tracked(id, entry, cancel, &mut tracker).await;
        if let Err(e) = &result {
            tracker.fail(&e.to_string());
        }
        result
    }

    async fn obtain_tracked(
        &self,
        id: &str,
        entry: &ModelEntry,
        mut cancel: watch::Receiver<bool>,
        tracker: &mut Tracker<'_>,
    ) -> Result<PathBuf, ModelError> {
        let dir = self.cache.models_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| ModelError::io(id, format!("creating {}", dir.display()), &e))?;
        let path = self.cache.file(&entry.file);

        // Another process (the CLI, the other server) may be fetching the same model into
        // this folder: take turns on a lock file.
        let _lock = self.lock_model(id, &mut cancel, tracker).await?;

        if path.exists() {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            tracker.bytes(size, Some(size));
            tracker.state(ModelState::Verifying);
            match self.check_cached(id, entry, &path).await? {
                Verified::Good { sha256, trust } => {
                    tracker.ready(sha256, trust);
                    return Ok(path);
                }
                Verified::Deleted { expected, actual } => tracing::warn!(
                    model = id,
                    expected,
                    actual,
                    "the cached file did not match its checksum and was deleted; downloading it again"
                ),
                Verified::Missing => {}
            }
        }

        let archive = entry.archive_member.is_some();
        let partial = self.cache.partial(id, &entry.file, archive);
        let have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        // An archive needs room for itself and for what comes out of it.
        let room_for = |remaining: u64, total: u64| remaining + if archive { total } else { 0 };
        if let Some(total) = entry.bytes {
            self.check_space(id, room_for(total.saturating_sub(have), total))?;
        }

        tracker.bytes(have, entry.bytes);
        tracker.state(ModelState::Downloading);
        let check_space = |remaining: u64| {
            let total = entry.bytes.unwrap_or(remaining);
            self.check_space(id, room_for(remaining, total))
        };
        let result = http::download(
            &self.client,
            http::Target {
                urls: entry.urls.clone(),
                partial: &partial,
                expected: entry.bytes,
                policy: self.options.retry,
            },
            &mut |done, total| tracker.progress(done, total),
            &check_space,
            &mut cancel,
        )
        .await;
        let http::Downloaded { bytes, sha256 } = match result {
            Ok(done) => done,
            Err(Stop::Cancelled) => return Err(ModelError::Cancelled(id.to_owned())),
            Err(Stop::Failed(reason)) => {
                return Err(ModelError::Download {
                    id: id.to_owned(),
                    reason,
                });
            }
            Err(Stop::Io(context, e)) => return Err(ModelError::io(id, context, &e)),
            Err(Stop::NoSpace(e)) => return Err(e),
        };

        tracker.bytes(bytes, Some(bytes));
        tracker.state(ModelState::Verifying);
        // Hashed while it was written: no second pass over a multi-gigabyte file.
        let actual = sha256;
        let pinned = self.cache.pin(id);
        let (expected, trust, why) = match (&entry.sha256, &pinned) {
            (Some(sha), _) => (Some(sha.clone()), Trust::Pinned, "from the configuration"),
            (None, Some(pin)) => {
                let earlier = if archive {
                    pin.source_sha256.clone()
                } else {
                    Some(pin.sha256.clone())
                };
                (earlier, Trust::FirstUse, "pinned at the first download")
            }
            (None, None) => (None, Trust::FirstUse, ""),
        };
        if let Some(expected) = expected
            && expected != actual
        {
            remove(&partial);
            return Err(ModelError::Checksum {
                id: id.to_owned(),
                expected,
                actual,
                why,
            });
        }

        match &entry.archive_member {
            Some(pattern) => {
                let staging = dir.join(format!("{}.extracting", entry.file));
                let (archive_path, out, pattern) =
                    (partial.clone(), staging.clone(), pattern.clone());
                let extracted = tokio::task::spawn_blocking(move || {
                    crate::archive::extract(&archive_path, &pattern, &out)
                })
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e)));
                if let Err(e) = extracted {
                    remove(&staging);
                    remove(&partial);
                    return Err(ModelError::Archive {
                        id: id.to_owned(),
                        reason: e.to_string(),
                    });
                }
                let file_sha = hash(id, &staging).await?;
                rename(id, &staging, &path)?;
                remove(&partial);
                let pin = Pin {
                    file: entry.file.clone(),
                    sha256: file_sha,
                    source_sha256: Some(actual.clone()),
                    trust,
                };
                self.cache
                    .set_pin(id, Some(pin))
                    .map_err(|e| ModelError::io(id, "updating pins.json", &e))?;
            }
            None => {
                rename(id, &partial, &path)?;
                if trust == Trust::FirstUse {
                    let pin = Pin {
                        file: entry.file.clone(),
                        sha256: actual.clone(),
                        source_sha256: None,
                        trust,
                    };
                    self.cache
                        .set_pin(id, Some(pin))
                        .map_err(|e| ModelError::io(id, "updating pins.json", &e))?;
                }
            }
        }
        tracker.ready(actual, trust);
        Ok(path)
    }

    /// Compares a cached file with what it must be; a mismatch is deleted (with its pin).
    async fn check_cached(
        &self,
        id: &str,
        entry: &ModelEntry,
        path: &Path,
    ) -> Result<Verified, ModelError> {
        let actual = hash(id, path).await?;
        let pin = self.cache.pin(id).filter(|p| p.file == entry.file);
        let verdict = if entry.archive_member.is_some() {
            // Only the archive's checksum is configured; the extracted file is checked
            // against what was recorded when it was extracted from a verified archive.
            match pin {
                Some(p)
                    if p.sha256 == actual
                        && (entry.sha256.is_none() || p.source_sha256 == entry.sha256) =>
                {
                    Ok(Verified::Good {
                        sha256: p.source_sha256.unwrap_or_else(|| actual.clone()),
                        trust: p.trust,
                    })
                }
                Some(p) => Err(p.sha256),
                None => Err("(no record of its archive)".to_owned()),
            }
        } else {
            match (&entry.sha256, pin) {
                (Some(expected), _) if *expected == actual => Ok(Verified::Good {
                    sha256: actual.clone(),
                    trust: Trust::Pinned,
                }),
                (Some(expected), _) => Err(expected.clone()),
                (None, Some(p)) if p.sha256 == actual => Ok(Verified::Good {
                    sha256: actual.clone(),
                    trust: Trust::FirstUse,
                }),
                (None, Some(p)) => Err(p.sha256),
                // A file put there by hand (or by anyone who can write to the cache, a
                // pod's shared volume) has nothing to be checked against: it is not trusted.
                // The download that replaces it becomes the pin.
                (None, None) => Err("(no checksum configured and none pinned)".to_owned()),
            }
        };
        match verdict {
            Ok(good) => Ok(good),
            Err(expected) => {
                remove(path);
                let _ = self.cache.set_pin(id, None);
                Ok(Verified::Deleted { expected, actual })
            }
        }
    }

    fn check_space(&self, id: &str, need: u64) -> Result<(), ModelError> {
        let dir = self.cache.models_dir();
        match (self.options.free_space)(&dir) {
            Ok(available) if available < need => Err(ModelError::NoSpace {
                id: id.to_owned(),
                dir,
                need,
                available,
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                // Not knowing is no reason to refuse; a full disk still fails the write.
                tracing::warn!(
                    model = id,
                    "cannot read the free space of {}: {e}",
                    dir.display()
                );
                Ok(())
            }
        }
    }

    /// An exclusive lock on `.locks/<id>.lock`, waiting (cancellably) while another process
    /// holds it. Lock files stay: deleting one under a waiter would let two in at once.
    async fn lock_model(
        &self,
        id: &str,
        cancel: &mut watch::Receiver<bool>,
        tracker: &mut Tracker<'_>,
    ) -> Result<std::fs::File, ModelError> {
        let locks = self.cache.models_dir().join(".locks");
        std::fs::create_dir_all(&locks)
            .map_err(|e| ModelError::io(id, format!("creating {}", locks.display()), &e))?;
        let path = locks.join(format!("{id}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ModelError::io(id, format!("opening {}", path.display()), &e))?;
        let mut told = false;
        loop {
            match FileExt::try_lock_exclusive(&file) {
                Ok(true) => return Ok(file),
                Ok(false) => {}
                Err(e) => {
                    return Err(ModelError::io(
                        id,
                        format!("locking {}", path.display()),
                        &e,
                    ));
                }
            }
            if !told {
                told = true;
                tracker.status.error =
                    Some("waiting for another program that is downloading it".to_owned());
                tracker.report();
                tracker.status.error = None;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = http::cancelled(cancel) => return Err(ModelError::Cancelled(id.to_owned())),
            }
        }
    }
}

async fn hash(id: &str, path: &Path) -> Result<String, ModelError> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || sha256_file(&owned))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
        .map_err(|e| ModelError::io(id, format!("reading {}", path.display()), &e))
}

fn rename(id: &str, from: &Path, to: &Path) -> Result<(), ModelError> {
    std::fs::rename(from, to).map_err(|e| {
        ModelError::io(
            id,
            format!("moving {} to {}", from.display(), to.display()),
            &e,
        )
    })
}

/// Deletes a file that must not be used; one already gone is fine.
fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!("cannot delete {}: {e}", path.display());
    }
}

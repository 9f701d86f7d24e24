//! `studio models list|fetch|verify|clear`: the model cache from the terminal, with progress
//! bars while downloading.

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use studio_models::cache::{CACHE_ENV, human_bytes};
use studio_models::{Cached, ManagerOptions, ModelManager, StatusSink, Verified};
use studio_proto::api::{ModelState, ModelStatus};
use studio_proto::config::{Config, FACE_MODEL_IDS, ModelEntry, ModelRole};

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: ModelsAction,
}

#[derive(Subcommand, Debug)]
enum ModelsAction {
    /// Show this platform's configured models and what the cache holds of each.
    List,
    /// Download models: those named, or every required one. Interrupted downloads resume.
    Fetch {
        /// Model ids from the configuration's `models`.
        ids: Vec<String>,
        /// Every model for this platform, not only the required ones.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Check cached files against their SHA-256; a file that does not match is deleted.
    Verify {
        /// Model ids; every cached model when none are named.
        ids: Vec<String>,
    },
    /// Delete cached files, partial downloads and pins.
    Clear {
        /// Model ids; every model when none are named.
        ids: Vec<String>,
    },
}

/// The cache this computer's servers use, this platform's entries, and a manager over them
/// that draws progress bars.
fn open_cache(
    config: &Config,
) -> anyhow::Result<(ModelManager, BTreeMap<String, ModelEntry>, PathBuf)> {
    let cache_dir = studio_models::resolve_cache_dir(config.servers.cache_dir.as_deref())
        .with_context(|| {
            format!("no cache folder could be found: set {CACHE_ENV} or servers.cache_dir")
        })?;
    let entries: BTreeMap<String, ModelEntry> = config
        .models
        .iter()
        .filter(|(_, e)| e.for_this_platform())
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect();
    let manager = ModelManager::new(
        entries.clone(),
        ManagerOptions::new(cache_dir.clone()),
        Arc::new(Bars::new()),
    )?;
    Ok((manager, entries, cache_dir))
}

/// Before a run on this computer's servers wears a face: the face models must be in the
/// cache. When some are not, either fetch them here with progress (`fetch`, the person
/// accepted their licence with `--fetch-models`), or stop with what is missing, its licence,
/// and the exact command that fetches it.
pub async fn ensure_face_models(config: &Config, fetch: bool) -> anyhow::Result<()> {
    let (manager, entries, _) = open_cache(config)?;
    let mut missing = Vec::new();
    for id in FACE_MODEL_IDS {
        let Some(entry) = entries.get(id) else {
            bail!(
                "the face swap needs model {id:?}, which the configuration does not list for \
                 this platform"
            );
        };
        if !matches!(manager.cached(id)?, Cached::Present(_)) {
            missing.push((id, entry));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let total: u64 = missing.iter().filter_map(|(_, e)| e.bytes).sum();
    let list = missing
        .iter()
        .map(|(id, e)| match e.bytes {
            Some(bytes) => format!("{id} ({})", human_bytes(bytes)),
            None => (*id).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut licences: Vec<&str> = missing.iter().map(|(_, e)| e.license.as_str()).collect();
    licences.dedup();
    let ids: Vec<&str> = missing.iter().map(|(id, _)| *id).collect();
    if !fetch {
        bail!(
            "the face swap needs {} model file(s) that are not downloaded yet: {list}, {} in all.\n\
             Licence: {}.\n\
             Fetch them with:\n  studio models fetch {}\n\
             or run again with --fetch-models.",
            missing.len(),
            human_bytes(total),
            licences.join("; "),
            ids.join(" ")
        );
    }
    eprintln!(
        "fetching the face models: {list}, {} in all (licence: {})",
        human_bytes(total),
        licences.join("; ")
    );
    fetch_ids(&manager, ids.into_iter().map(str::to_owned).collect()).await
}

/// A face mask's optional model (`id`: the occlusion model, the face parser) before a local
/// headless run with the mask on (`mask`: its name, for messages): fetched here with progress
/// when `fetch` is set and it is missing; otherwise a missing model is told (the run goes on,
/// the face pasted whole, until the model is there).
pub async fn ensure_mask_model(
    config: &Config,
    id: &str,
    mask: &str,
    fetch: bool,
) -> anyhow::Result<()> {
    let (manager, entries, _) = open_cache(config)?;
    let Some(entry) = entries.get(id) else {
        eprintln!(
            "the {mask} needs model {id:?}, which the configuration does not list for this \
             platform: the {mask} is off"
        );
        return Ok(());
    };
    if matches!(manager.cached(id)?, Cached::Present(_)) {
        return Ok(());
    }
    let size = entry.bytes.map(human_bytes).unwrap_or_default();
    if !fetch {
        eprintln!(
            "the {mask} needs {id} ({size}, licence: {}), which is not downloaded yet: \
             the {mask} is off until it is. Fetch it with:\n  studio models fetch {id}\n\
             or run again with --fetch-models.",
            entry.license
        );
        return Ok(());
    }
    eprintln!(
        "fetching the {mask}'s model: {id} ({size}, licence: {})",
        entry.license
    );
    fetch_ids(&manager, vec![id.to_owned()]).await
}

/// A chosen swapper's model and converter before a local headless run with `--swapper`:
/// fetched here with progress when `fetch` is set and missing; otherwise a missing one is told
/// (the run goes on with the default swapper until they are there).
pub async fn ensure_swapper_models(
    config: &Config,
    swapper: &str,
    fetch: bool,
) -> anyhow::Result<()> {
    let converter = studio_proto::config::swapper_converter(swapper).map_err(anyhow::Error::msg)?;
    let (manager, entries, _) = open_cache(config)?;
    let mut missing = Vec::new();
    for id in std::iter::once(swapper).chain(converter) {
        let Some(entry) = entries.get(id) else {
            anyhow::bail!("the swapper needs model {id:?}, which the configuration does not list");
        };
        if !matches!(manager.cached(id)?, Cached::Present(_)) {
            let size = entry.bytes.map(human_bytes).unwrap_or_default();
            missing.push((
                id.to_owned(),
                format!("{id} ({size}, licence: {})", entry.license),
            ));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let said: Vec<&str> = missing.iter().map(|(_, s)| s.as_str()).collect();
    let ids: Vec<String> = missing.iter().map(|(id, _)| id.clone()).collect();
    if !fetch {
        eprintln!(
            "the swapper needs {}, not downloaded yet: the default swapper runs until it is. \
             Fetch it with:\n  studio models fetch {}\nor run again with --fetch-models.",
            said.join(", "),
            ids.join(" ")
        );
        return Ok(());
    }
    eprintln!("fetching the swapper: {}", said.join(", "));
    fetch_ids(&manager, ids).await
}

pub async fn run(config: &Config, args: ModelsArgs) -> anyhow::Result<()> {
    let (manager, entries, cache_dir) = open_cache(config)?;
    match args.action {
        ModelsAction::List => list(&manager, &entries, &cache_dir),
        ModelsAction::Fetch { ids, all } => {
            let ids = if ids.is_empty() {
                entries
                    .iter()
                    .filter(|(_, e)| all || e.required)
                    .map(|(id, _)| id.clone())
                    .collect()
            } else {
                known(&entries, ids)?
            };
            fetch_ids(&manager, ids).await
        }
        ModelsAction::Verify { ids } => {
            let ids = if ids.is_empty() {
                entries.keys().cloned().collect()
            } else {
                known(&entries, ids)?
            };
            verify(&manager, ids, !entries.is_empty()).await
        }
        ModelsAction::Clear { ids } => {
            let ids = if ids.is_empty() {
                entries.keys().cloned().collect()
            } else {
                known(&entries, ids)?
            };
            let mut freed = 0;
            for id in &ids {
                freed += manager.clear(id)?;
            }
            println!(
                "cleared {} model(s), {} freed",
                ids.len(),
                human_bytes(freed)
            );
            Ok(())
        }
    }
}

/// The ids, checked against the configuration.
fn known(entries: &BTreeMap<String, ModelEntry>, ids: Vec<String>) -> anyhow::Result<Vec<String>> {
    for id in &ids {
        if !entries.contains_key(id) {
            let names: Vec<&str> = entries.keys().map(String::as_str).collect();
            bail!(
                "unknown model {id:?}; the configuration has for this platform: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
    }
    Ok(ids)
}

fn list(
    manager: &ModelManager,
    entries: &BTreeMap<String, ModelEntry>,
    cache_dir: &std::path::Path,
) -> anyhow::Result<()> {
    println!("cache: {}", cache_dir.join("models").display());
    if entries.is_empty() {
        println!("no models are configured for this platform");
        return Ok(());
    }
    println!(
        "{:<24} {:<6} {:<9} {:>10}  {:<18} license",
        "id", "role", "required", "size", "cache"
    );
    for (id, entry) in entries {
        let role = match entry.role {
            ModelRole::Only(role) => role.as_str(),
            ModelRole::Any => "any",
        };
        let size = entry.bytes.map_or_else(|| "?".to_owned(), human_bytes);
        let cached = match manager.cached(id)? {
            Cached::Missing => "missing".to_owned(),
            Cached::Present(n) => format!("cached ({})", human_bytes(n)),
            Cached::Partial(n) => match entry.bytes {
                Some(total) if total > 0 => format!("partial ({}%)", n * 100 / total),
                _ => format!("partial ({})", human_bytes(n)),
            },
        };
        let required = if entry.required { "yes" } else { "no" };
        let checksum = if entry.sha256.is_some() {
            ""
        } else {
            " (no checksum: pinned on first download)"
        };
        println!(
            "{id:<24} {role:<6} {required:<9} {size:>10}  {cached:<18} {}{checksum}",
            entry.license
        );
    }
    Ok(())
}

async fn fetch_ids(manager: &ModelManager, ids: Vec<String>) -> anyhow::Result<()> {
    if ids.is_empty() {
        println!("nothing to fetch: no required models are configured for this platform");
        return Ok(());
    }
    let all = futures_util::future::join_all(ids.iter().map(|id| manager.ensure(id)));
    tokio::pin!(all);
    let results = tokio::select! {
        results = &mut all => results,
        _ = tokio::signal::ctrl_c() => {
            for id in &ids {
                manager.cancel(id);
            }
            all.await;
            bail!("interrupted; partial downloads are kept and resume on the next fetch");
        }
    };
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if failed.is_empty() {
        println!("{} model(s) ready", ids.len());
        Ok(())
    } else {
        bail!(
            "{} of {} model(s) failed:\n  {}",
            failed.len(),
            ids.len(),
            failed.join("\n  ")
        )
    }
}

/// `configured`: whether this platform has any models, for the message when none is cached.
async fn verify(manager: &ModelManager, ids: Vec<String>, configured: bool) -> anyhow::Result<()> {
    let mut bad = 0;
    let mut checked = 0;
    for id in &ids {
        match manager.verify(id).await? {
            Verified::Missing => {}
            Verified::Good { sha256, trust } => {
                checked += 1;
                println!("{id}: ok (sha256 {sha256}, {})", trust.as_str());
            }
            Verified::Deleted { expected, actual } => {
                checked += 1;
                bad += 1;
                println!(
                    "{id}: MISMATCH: sha256 {actual}, expected {expected}; the file was deleted"
                );
            }
        }
    }
    if checked == 0 {
        println!(
            "{}",
            if configured {
                "nothing cached to verify"
            } else {
                "no models are configured for this platform"
            }
        );
    }
    if bad > 0 {
        bail!("{bad} cached file(s) did not match and were deleted; fetch them again");
    }
    Ok(())
}

/// Progress bars fed by the manager's status reports; plain lines on state changes when
/// stderr is not a terminal (logs, CI).
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    last_state: Mutex<HashMap<String, ModelState>>,
    terminal: bool,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            last_state: Mutex::new(HashMap::new()),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn bar(&self, id: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(id.to_owned())
            .or_insert_with(|| {
                let style = ProgressStyle::with_template(
                    "{prefix:<20} [{bar:30}] {bytes:>10}/{total_bytes:<10} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(style);
                bar.set_prefix(id.to_owned());
                bar
            })
            .clone()
    }
}

impl StatusSink for Bars {
    fn model_status(&self, status: ModelStatus) {
        if !self.terminal {
            let mut last = self.last_state.lock().unwrap_or_else(|p| p.into_inner());
            if last.get(&status.id) != Some(&status.state) {
                last.insert(status.id.clone(), status.state);
                match &status.error {
                    Some(error) if status.state == ModelState::Failed => {
                        eprintln!("{}: failed: {error}", status.id)
                    }
                    _ => eprintln!("{}: {}", status.id, status.state.as_str()),
                }
            }
            return;
        }
        let bar = self.bar(&status.id);
        if let Some(total) = status.bytes_total {
            bar.set_length(total);
        }
        bar.set_position(status.bytes_done);
        match status.state {
            ModelState::Downloading => {
                let rate = status
                    .rate_bytes_per_s
                    .map(|r| format!("{}/s", human_bytes(r as u64)))
                    .unwrap_or_default();
                let eta = status
                    .eta_s
                    .map(|s| format!(", {s:.0} s left"))
                    .unwrap_or_default();
                bar.set_message(format!("{rate}{eta}"));
            }
            ModelState::Ready => {
                let trust = match status.trust.as_deref() {
                    Some("first_use") => ", checksum pinned on first download",
                    _ => "",
                };
                bar.finish_with_message(format!("ready{trust}"));
            }
            ModelState::Failed => {
                bar.abandon_with_message(format!(
                    "failed: {}",
                    status.error.as_deref().unwrap_or("unknown error")
                ));
            }
            other => bar.set_message(other.as_str()),
        }
    }
}

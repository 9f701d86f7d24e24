//! A voice from a file (`studio run --voice-file VOICE.onnx`, and the window's *Add a
//! voice…*): sent to each audio server the run connects to (a restarted server has forgotten
//! it) with the RVC index lying beside it, and chosen on the audio path once the server lists
//! it ready, after the shared models it needs are fetched, so the voice is never refused for
//! being early.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use studio_client::ServerClient;
use studio_proto::Role;
use studio_proto::api::{VoiceAdded, VoiceFilePitch, VoiceFileQuery};
use studio_proto::control::Control;

use crate::controls::LiveControls;

/// How long a run waits for the voice's shared models (hundreds of MB) and its first load.
pub const READY_WAIT: Duration = Duration::from_secs(60 * 60);
const READY_POLL: Duration = Duration::from_millis(500);
const TELL_EVERY: Duration = Duration::from_secs(5);

/// What the person calls a voice file: its name without the extension.
pub fn voice_name(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A voice file and how it finds its pitch.
#[derive(Debug, Clone)]
pub struct VoiceFile {
    pub path: PathBuf,
    pub pitch: VoiceFilePitch,
}

/// Sends the voice file at `path` to the audio server behind `client`, named after the file,
/// and the RVC index found beside it, if any. A refused index leaves the voice without one:
/// the second part of the answer then says why.
pub async fn upload(
    client: &ServerClient,
    path: &Path,
    pitch: VoiceFilePitch,
) -> (Result<VoiceAdded, String>, Option<String>) {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) => return (Err(format!("{} cannot be read: {e}", path.display())), None),
    };
    let query = VoiceFileQuery {
        name: voice_name(path),
        pitch,
    };
    let added = match client.upload_voice(bytes, &query).await {
        Ok(added) => added,
        Err(e) => return (Err(e.plain()), None),
    };
    let Some(index) = index_beside(path) else {
        return (Ok(added), None);
    };
    let shown = index.display().to_string();
    let sent = match tokio::fs::read(&index).await {
        Ok(bytes) => client
            .upload_voice_index(&added.id, bytes)
            .await
            .map_err(|e| e.plain()),
        Err(e) => Err(format!("it cannot be read: {e}")),
    };
    match sent {
        Ok(with_index) => (Ok(with_index), None),
        Err(why) => (
            Ok(added),
            Some(format!("its index {shown} was not used: {why}")),
        ),
    }
}

/// The voice's RVC feature index, when exactly one lies beside it: `<name>.index`, or
/// `added_…<name>….index` as RVC's trainer names it.
pub fn index_beside(voice: &Path) -> Option<PathBuf> {
    let stem = voice.file_stem()?.to_str()?.to_owned();
    let entries = std::fs::read_dir(voice.parent()?).ok()?;
    let found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let is_index = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("index"));
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            is_index
                && (p.file_stem().and_then(|s| s.to_str()) == Some(stem.as_str())
                    || (name.starts_with("added_") && name.contains(stem.as_str())))
        })
        .collect();
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Upload `file` to the audio server behind `client`, wait until the server lists the voice
/// ready (telling what it waits for every few seconds), and choose it on the run's audio path.
pub async fn wear(
    client: &ServerClient,
    file: &VoiceFile,
    controls: &Arc<LiveControls>,
) -> anyhow::Result<String> {
    let (added, index_problem) = upload(client, &file.path, file.pitch).await;
    let added = added
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the voice in {}", file.path.display()))?;
    if let Some(problem) = index_problem {
        tracing::warn!("{}: {problem}", file.path.display());
    }
    let started = Instant::now();
    let mut told = Instant::now();
    loop {
        let list = client.voices().await.context("the audio server's voices")?;
        let Some(entry) = list.voices.into_iter().find(|v| v.id == added.id) else {
            anyhow::bail!("the audio server no longer lists the voice {}", added.id);
        };
        if entry.ready {
            break;
        }
        if entry.needs.is_empty() {
            anyhow::bail!(
                "the voice in {} does not load: {}",
                file.path.display(),
                entry.problem.as_deref().unwrap_or("no reason given")
            );
        }
        if told.elapsed() >= TELL_EVERY {
            tracing::info!(
                "the voice waits for {} to be fetched",
                entry.needs.join(" and ")
            );
            told = Instant::now();
        }
        if started.elapsed() > READY_WAIT {
            anyhow::bail!(
                "the voice's shared models were not there after {} minutes",
                READY_WAIT.as_secs() / 60
            );
        }
        tokio::time::sleep(READY_POLL).await;
    }
    controls.set(
        Role::Audio,
        Control::SetVoice {
            voice_id: added.id.clone(),
        },
    );
    Ok(added.id)
}

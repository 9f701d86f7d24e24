//! The RunPod API key: read from `RUNPOD_API_KEY` or the OS keyring, saved only to the
//! keyring. Never written to a file or a log; where no keyring service runs, say so plainly.

use crate::state::ApiKey;
use anyhow::{Context, bail};
use studio_cloud::Secret;

const SERVICE: &str = "streaming-studio";
const ACCOUNT: &str = "runpod-api-key";
/// Lets a user (or a script) supply the key without a keyring.
pub const ENV_VAR: &str = "RUNPOD_API_KEY";

fn entry() -> Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(SERVICE, ACCOUNT)
}

/// Why the keyring cannot be used, in words a person can act on.
fn explain(error: keyring::Error) -> String {
    match error {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => format!(
            "this computer has no keyring service the studio can use (on Linux: GNOME Keyring \
             or KWallet). Set the {ENV_VAR} environment variable instead."
        ),
        other => format!("the keyring refused it ({other}). Set {ENV_VAR} instead."),
    }
}

/// Where the key stands now. Blocking: call it off the UI thread.
pub fn check() -> ApiKey {
    if std::env::var(ENV_VAR).is_ok_and(|k| !k.trim().is_empty()) {
        return ApiKey::FromEnvironment;
    }
    match entry().and_then(|e| e.get_password()) {
        Ok(key) if !key.is_empty() => ApiKey::Stored,
        Ok(_) | Err(keyring::Error::NoEntry) => ApiKey::Missing,
        // No keyring to look in is the same as no key, for the person: say how to give one.
        Err(_) => ApiKey::Missing,
    }
}

/// Save the key in the keyring. Blocking.
pub fn save(key: &str) -> ApiKey {
    match entry().and_then(|e| e.set_password(key)) {
        Ok(()) => ApiKey::Stored,
        Err(e) => ApiKey::KeyringUnavailable(explain(e)),
    }
}

/// The key itself: `RUNPOD_API_KEY`, else the keyring; `None` when neither has one (a missing
/// keyring service counts as none). Blocking: call it off the UI thread.
pub fn read() -> Option<String> {
    if let Ok(key) = std::env::var(ENV_VAR)
        && !key.trim().is_empty()
    {
        return Some(key.trim().to_string());
    }
    match entry().and_then(|e| e.get_password()) {
        Ok(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
        _ => None,
    }
}

/// The RunPod key from `RUNPOD_API_KEY` or the keyring, or a message saying how to give one.
pub async fn api_key() -> anyhow::Result<Secret> {
    let key = tokio::task::spawn_blocking(read)
        .await
        .context("reading the RunPod API key")?;
    match key {
        Some(key) => Ok(Secret::new(key)),
        None => bail!(
            "cloud mode needs a RunPod API key: set {} or save the key in the window's Cloud panel (it is kept in the OS keyring, never in config files)",
            ENV_VAR
        ),
    }
}

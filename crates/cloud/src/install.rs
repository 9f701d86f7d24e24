//! This install's id, made once and kept in the app's data folder. Pod names start with
//! `{pod_name_prefix}-{install id}-`, so the next start can find and delete pods a crash left,
//! and never touches pods of another install on the same RunPod account.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Overrides the app data folder (tests, portable installs).
pub const DATA_DIR_VAR: &str = "STUDIO_DATA_DIR";
const FILE_NAME: &str = "install-id";

#[derive(Debug, thiserror::Error)]
pub enum InstallIdError {
    #[error("cannot find the app data folder; set {DATA_DIR_VAR}")]
    NoDataDir,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make an install id: {0}")]
    Random(String),
}

/// `STUDIO_DATA_DIR`, else the OS data folder for the app.
pub fn data_dir() -> Result<PathBuf, InstallIdError> {
    if let Some(dir) = std::env::var_os(DATA_DIR_VAR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "streaming-studio")
        .map(|d| d.data_dir().to_owned())
        .ok_or(InstallIdError::NoDataDir)
}

/// The id stored in `dir`, made and stored first if there is none (or it is unreadable).
pub fn install_id(dir: &Path) -> Result<String, InstallIdError> {
    let path = dir.join(FILE_NAME);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if is_valid(id) {
            return Ok(id.to_string());
        }
    }
    let mut bytes = [0u8; 5];
    getrandom::fill(&mut bytes).map_err(|e| InstallIdError::Random(e.to_string()))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let io = |source| InstallIdError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // Written aside and renamed, so a crash never leaves half an id.
    let partial = dir.join(format!("{FILE_NAME}.part"));
    let mut file = std::fs::File::create(&partial).map_err(io)?;
    file.write_all(format!("{id}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&partial, &path).map_err(io)?;
    Ok(id)
}

fn is_valid(id: &str) -> bool {
    (4..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = install_id(dir.path()).unwrap();
        assert_eq!(install_id(dir.path()).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(install_id(other.path()).unwrap(), first);
    }

    #[test]
    fn an_unreadable_id_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "not an id!\n").unwrap();
        let id = install_id(dir.path()).unwrap();
        assert!(is_valid(&id));
    }
}

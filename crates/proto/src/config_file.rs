//! Finding and reading the user's configuration file. The one piece of I/O in this crate, kept
//! here so both binaries load configuration exactly the same way.

use crate::config::{Config, ConfigError, ConfigProblem};
use std::path::{Path, PathBuf};

/// Environment variable that names the user file, like `--config`.
pub const CONFIG_ENV: &str = "STUDIO_CONFIG";

/// The user file in the OS config folder, e.g. `~/.config/streaming-studio/config.json`.
pub fn default_user_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "streaming-studio")
        .map(|dirs| dirs.config_dir().join("config.json"))
}

/// A loaded configuration and the user file it came from, if any.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The user file that was applied over the defaults.
    pub user_file: Option<PathBuf>,
}

/// Load the defaults, overridden by `explicit` (from `--config` or `STUDIO_CONFIG`) or else by
/// the OS user file when it exists. A named file that cannot be read is an error; a missing
/// OS user file is not.
pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let path = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => default_user_path().filter(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok(LoadedConfig {
            config: Config::defaults()?,
            user_file: None,
        });
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
        source_name: name.clone(),
        problems: vec![ConfigProblem {
            path: String::new(),
            reason: format!("cannot read the file: {e}"),
        }],
    })?;
    let config = Config::from_layers(Some((&name, &text)))?;
    Ok(LoadedConfig {
        config,
        user_file: Some(path),
    })
}

//! The cache folder: where it is, the names of finished and partial files, the record of
//! checksums pinned on first use, and SHA-256 of files on disk.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Environment variable that overrides the cache folder (the pod volume in the container).
pub const CACHE_ENV: &str = "STUDIO_CACHE_DIR";

/// The cache folder: `STUDIO_CACHE_DIR`, else `servers.cache_dir` from the configuration, else
/// the OS cache folder (`~/.cache/streaming-studio` on Linux). Models live in its `models`
/// sub-folder.
pub fn resolve_cache_dir(configured: Option<&str>) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = configured {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "streaming-studio").map(|d| d.cache_dir().to_owned())
}

/// How a file's expected checksum was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// The configuration names the checksum (of the file, or of the archive it came from).
    Pinned,
    /// The configuration has none: the first download's checksum was recorded.
    FirstUse,
}

impl Trust {
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Pinned => "pinned",
            Trust::FirstUse => "first_use",
        }
    }
}

/// What was recorded about a finished file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub file: String,
    /// SHA-256 of the file in the cache.
    pub sha256: String,
    /// SHA-256 of the download it was extracted from, for archives.
    #[serde(default)]
    pub source_sha256: Option<String>,
    pub trust: Trust,
}

/// The folder layout, and the pins file (`pins.json`) shared by everything in the folder.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    pins_lock: Mutex<()>,
}

impl Cache {
    pub fn new(root: PathBuf) -> Cache {
        Cache {
            root,
            pins_lock: Mutex::new(()),
        }
    }

    /// The folder the model files are in.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// A finished file.
    pub fn file(&self, file: &str) -> PathBuf {
        self.models_dir().join(file)
    }

    /// Where a download grows until it is verified. Archives download under the id, since
    /// the entry's `file` names what is extracted.
    pub fn partial(&self, id: &str, file: &str, archive: bool) -> PathBuf {
        if archive {
            self.models_dir().join(format!("{id}.archive.part"))
        } else {
            self.models_dir().join(format!("{file}.part"))
        }
    }

    fn pins_path(&self) -> PathBuf {
        self.models_dir().join("pins.json")
    }

    fn read_pins(&self) -> BTreeMap<String, Pin> {
        // A missing or unreadable pins file means nothing is pinned yet; files without a pin
        // are then checked against the configuration or downloaded afresh.
        std::fs::read(self.pins_path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn pin(&self, id: &str) -> Option<Pin> {
        let _guard = self.pins_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.read_pins().remove(id)
    }

    /// Records (or, with `None`, forgets) the pin of `id`; written atomically. The CLI and
    /// both servers share the folder, so the read-modify-write holds a file lock
    /// (`.locks/pins.lock`) as well as this process's mutex.
    pub fn set_pin(&self, id: &str, pin: Option<Pin>) -> io::Result<()> {
        let _guard = self.pins_lock.lock().unwrap_or_else(|p| p.into_inner());
        let locks = self.models_dir().join(".locks");
        std::fs::create_dir_all(&locks)?;
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(locks.join("pins.lock"))?;
        // Blocking, but held only for one small read and write.
        fs4::fs_std::FileExt::lock_exclusive(&lock_file)?;
        let mut pins = self.read_pins();
        match pin {
            Some(pin) => {
                pins.insert(id.to_owned(), pin);
            }
            None => {
                if pins.remove(id).is_none() {
                    return Ok(());
                }
            }
        }
        let text = serde_json::to_vec_pretty(&pins).map_err(io::Error::other)?;
        // A name of this process's own: two writers never share a temporary file.
        let tmp = self
            .models_dir()
            .join(format!("pins.json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.pins_path())
        // The lock is released when `lock_file` closes.
    }
}

/// Lowercase hex SHA-256 of a file. Blocking: run it off the async threads.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `1.5 GB`, `300 MB`, `12 kB`, `7 B`: sizes in messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in UNITS {
        if n as f64 >= size {
            return format!("{:.1} {unit}", n as f64 / size);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_published_vector() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").expect("write");
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&path).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn pins_survive_a_new_cache_and_can_be_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pin = Pin {
            file: "m.onnx".into(),
            sha256: "ab".repeat(32),
            source_sha256: None,
            trust: Trust::FirstUse,
        };
        Cache::new(dir.path().into())
            .set_pin("m", Some(pin.clone()))
            .expect("pin");
        let cache = Cache::new(dir.path().into());
        assert_eq!(cache.pin("m"), Some(pin));
        cache.set_pin("m", None).expect("unpin");
        assert_eq!(cache.pin("m"), None);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(7), "7 B");
        assert_eq!(human_bytes(1_500_000_000), "1.5 GB");
        assert_eq!(human_bytes(300_000_000), "300.0 MB");
    }
}

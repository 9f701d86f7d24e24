//! Where ONNX Runtime's shared library is: the configured path, `ORT_DYLIB_PATH`, beside the
//! executable, the copy the model manager fetched and checked, or the app's data folder, in
//! that order.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library the model manager downloaded, set only after its SHA-256 matched. Process-wide,
/// as the library itself is: it is loaded once per process.
static FETCHED: OnceLock<PathBuf> = OnceLock::new();

/// Offers the runtime the model manager fetched and verified to every later model load. The
/// user's own (configured, `ORT_DYLIB_PATH`, beside the executable) still comes first. The
/// first call wins; later ones are ignored.
pub fn use_fetched_runtime(path: PathBuf) {
    let _ = FETCHED.set(path);
}

/// The result of looking for `libonnxruntime`: the file found (if any) and every place tried,
/// so status can say why a backend was or was not chosen.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSearch {
    pub found: Option<PathBuf>,
    /// `"<where>: <path> (missing)"` for each place looked at, in order.
    pub tried: Vec<String>,
    /// How the library was found (`config`, `ORT_DYLIB_PATH`, `beside the executable`, ...).
    pub source: Option<&'static str>,
}

/// The library file names ONNX Runtime ships under on this system.
fn library_names() -> &'static [&'static str] {
    if cfg!(target_os = "windows") {
        &["onnxruntime.dll"]
    } else if cfg!(target_os = "macos") {
        &["libonnxruntime.dylib"]
    } else {
        &["libonnxruntime.so"]
    }
}

/// A runtime library in `dir`: the plain name first, then a versioned one
/// (`libonnxruntime.so.1.23.2`, as the Python wheel ships it).
fn library_in(dir: &Path) -> Option<PathBuf> {
    for name in library_names() {
        let plain = dir.join(name);
        if plain.is_file() {
            return Some(plain);
        }
    }
    let entries = std::fs::read_dir(dir).ok()?;
    let mut versioned: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    library_names()
                        .iter()
                        .any(|l| n.starts_with(&format!("{l}.")))
                })
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

/// Looks for ONNX Runtime. `configured` is the config's explicit path (a file or a folder).
pub fn find_onnxruntime(configured: Option<&Path>) -> RuntimeSearch {
    let mut search = RuntimeSearch::default();
    for (source, path) in candidates(configured) {
        let found = if path.is_dir() {
            library_in(&path)
        } else if path.is_file() {
            Some(path.clone())
        } else {
            None
        };
        match found {
            Some(file) => {
                search.found = Some(file);
                search.source = Some(source);
                return search;
            }
            None => search
                .tried
                .push(format!("{source}: {} (no runtime library)", path.display())),
        }
    }
    search
}

/// Where to look, in order, each with how it is named in status.
fn candidates(configured: Option<&Path>) -> Vec<(&'static str, PathBuf)> {
    let mut candidates: Vec<(&'static str, PathBuf)> = Vec::new();
    if let Some(path) = configured {
        candidates.push(("config", path.to_path_buf()));
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        candidates.push(("ORT_DYLIB_PATH", PathBuf::from(path)));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(("beside the executable", dir));
    }
    if let Some(path) = FETCHED.get() {
        candidates.push(("fetched, SHA-256 checked", path.clone()));
    }
    if let Some(dirs) = directories::ProjectDirs::from("", "", "streaming-studio") {
        candidates.push(("app data folder", dirs.data_dir().join("onnxruntime")));
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetched_runtime_comes_after_the_users_own_and_before_the_data_folder() {
        let fetched = PathBuf::from("/cache/models/libonnxruntime.so");
        use_fetched_runtime(fetched.clone());
        // A second offer does not replace the first: the library loads once per process.
        use_fetched_runtime(PathBuf::from("/elsewhere/libonnxruntime.so"));
        let order = candidates(Some(Path::new("/configured/libonnxruntime.so")));
        let names: Vec<&str> = order.iter().map(|(source, _)| *source).collect();
        let at = |name: &str| names.iter().position(|n| *n == name);
        let fetched_at = at("fetched, SHA-256 checked").expect("the fetched runtime is looked at");
        assert_eq!(order[fetched_at].1, fetched);
        assert_eq!(at("config"), Some(0));
        assert!(at("beside the executable").is_none_or(|i| i < fetched_at));
        assert!(at("ORT_DYLIB_PATH").is_none_or(|i| i < fetched_at));
        assert!(at("app data folder").is_none_or(|i| i > fetched_at));
    }
}

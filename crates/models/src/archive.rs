//! Taking one file out of a downloaded zip archive (a Python wheel), found by a pattern with at
//! most one `*`.

use std::io;
use std::path::Path;

/// Whether `name` matches `pattern`, where one `*` stands for any run of characters other
/// than `/`.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len()
                && name.starts_with(head)
                && name.ends_with(tail)
                && !name[head.len()..name.len() - tail.len()].contains('/')
        }
    }
}

/// The largest member [`extract`] writes out: a runtime library is a few hundred megabytes; a
/// member claiming more (or inflating past it) is refused rather than filling the disk.
pub const MAX_MEMBER_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Copies the first member of the zip at `archive` matching `pattern` to `out` (created or
/// replaced) and returns the member's name. Blocking. Members over [`MAX_MEMBER_BYTES`] are
/// refused whatever their header says.
pub fn extract(archive: &Path, pattern: &str, out: &Path) -> io::Result<String> {
    let file = std::fs::File::open(archive)?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_error)?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| matches(pattern, n))
        .map(str::to_owned)
        .collect();
    // Deterministic when several match (e.g. two versions): the highest name wins.
    names.sort();
    let Some(name) = names.pop() else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the archive has no member matching {pattern:?}"),
        ));
    };
    let member = zip.by_name(&name).map_err(zip_error)?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the member {name:?} is larger than {MAX_MEMBER_BYTES} bytes"),
        )
    };
    if member.size() > MAX_MEMBER_BYTES {
        return Err(too_large());
    }
    let mut target = std::fs::File::create(out)?;
    // The header's size is the archive's word; the bound holds on what actually inflates.
    let copied = io::copy(
        &mut io::Read::take(member, MAX_MEMBER_BYTES + 1),
        &mut target,
    )?;
    if copied > MAX_MEMBER_BYTES {
        drop(target);
        let _ = std::fs::remove_file(out);
        return Err(too_large());
    }
    target.sync_all()?;
    Ok(name)
}

fn zip_error(e: zip::result::ZipError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a usable zip archive: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn one_star_matches_within_a_folder() {
        let p = "onnxruntime/capi/libonnxruntime.so.*";
        assert!(matches(p, "onnxruntime/capi/libonnxruntime.so.1.22.0"));
        assert!(!matches(p, "onnxruntime/capi/libonnxruntime.so"));
        assert!(!matches(p, "onnxruntime/capi/libonnxruntime.so.1/evil"));
        assert!(!matches(p, "other/capi/libonnxruntime.so.1"));
        assert!(matches("a/b.dll", "a/b.dll"));
        assert!(!matches("a/b.dll", "a/b.dl"));
        assert!(matches("*.dll", "onnxruntime.dll"));
    }
}

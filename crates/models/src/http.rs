//! The download driver: runs a [`Fetch`] over HTTP(S) with reqwest, appending to the partial
//! file and hashing the bytes as they are written (so no second pass over the file is needed
//! to verify it), and stops when cancelled.

use crate::fetch::{Accept, Action, ContentRange, Failure, Fetch, ResponseHead, RetryPolicy};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

/// Why [`download`] stopped without the whole file.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Every mirror failed; the reason says how.
    Failed(String),
    Cancelled,
    /// Writing the partial file failed (disk full, permissions, ...).
    Io(String, std::io::Error),
    /// The free-space check refused.
    NoSpace(crate::ModelError),
}

/// Progress as `(bytes done, total if known)`, after every chunk written.
pub(crate) type Progress<'a> = &'a mut (dyn FnMut(u64, Option<u64>) + Send);

/// The free-space check, asked with the bytes still to write once the size is known.
pub(crate) type SpaceCheck<'a> = &'a (dyn Fn(u64) -> Result<(), crate::ModelError> + Sync);

/// What to download and where to.
pub(crate) struct Target<'a> {
    pub urls: Vec<String>,
    /// The partial file; what it holds is resumed.
    pub partial: &'a Path,
    /// The size the configuration promises, if any.
    pub expected: Option<u64>,
    pub policy: RetryPolicy,
}

/// A finished download: its size and lowercase hex SHA-256.
pub(crate) struct Downloaded {
    pub bytes: u64,
    pub sha256: String,
}

/// Downloads the target's URLs into its partial file.
pub(crate) async fn download(
    client: &reqwest::Client,
    target: Target<'_>,
    progress: Progress<'_>,
    check_space: SpaceCheck<'_>,
    cancel: &mut watch::Receiver<bool>,
) -> Result<Downloaded, Stop> {
    let Target {
        urls,
        partial,
        expected,
        policy,
    } = target;
    let have = tokio::fs::metadata(partial)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut fetch = Fetch::new(urls, have, expected, policy);
    // SHA-256 of the partial file's first `hashed` bytes.
    let mut hasher = Sha256::new();
    let mut hashed = 0u64;
    let mut action = fetch.start();
    loop {
        action = match action {
            Action::Done { bytes } => {
                if hashed != bytes {
                    // Finished without a body (the partial file was already complete).
                    (hasher, hashed) = hash_prefix(partial, bytes).await?;
                }
                let sha256 = crate::cache::hex(&hasher.finalize());
                return Ok(Downloaded {
                    bytes: hashed,
                    sha256,
                });
            }
            Action::Fail(reason) => return Err(Stop::Failed(reason)),
            Action::Wait(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => fetch.after_wait(),
                    _ = cancelled(cancel) => return Err(Stop::Cancelled),
                }
            }
            Action::Request { url, from } => {
                let mut request = client.get(&url);
                if from > 0 {
                    request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
                }
                let response = tokio::select! {
                    r = request.send() => r,
                    _ = cancelled(cancel) => return Err(Stop::Cancelled),
                };
                match response {
                    Err(e) => fetch.on_failure(Failure::Transport(describe(&e))),
                    Ok(response) => match fetch.on_response(head(&response)) {
                        Accept::Next(next) => next,
                        Accept::Body { offset, total } => {
                            if let Some(total) = total {
                                check_space(total.saturating_sub(offset)).map_err(Stop::NoSpace)?;
                            }
                            let mut file = open_at(partial, offset).await?;
                            if hashed != offset {
                                // Resuming a file from an earlier run, or starting over.
                                (hasher, hashed) = hash_prefix(partial, offset).await?;
                            }
                            let mut body = response.bytes_stream();
                            loop {
                                let chunk = tokio::select! {
                                    c = body.next() => c,
                                    _ = cancelled(cancel) => {
                                        flush(&mut file, partial).await?;
                                        return Err(Stop::Cancelled);
                                    }
                                };
                                match chunk {
                                    Some(Ok(bytes)) => {
                                        file.write_all(&bytes).await.map_err(|e| {
                                            Stop::Io(format!("writing {}", partial.display()), e)
                                        })?;
                                        hasher.update(&bytes);
                                        hashed += bytes.len() as u64;
                                        fetch.on_data(bytes.len() as u64);
                                        progress(fetch.offset(), fetch.total());
                                    }
                                    Some(Err(e)) => {
                                        flush(&mut file, partial).await?;
                                        break fetch.on_failure(Failure::Transport(describe(&e)));
                                    }
                                    None => {
                                        flush(&mut file, partial).await?;
                                        break fetch.on_body_end();
                                    }
                                }
                            }
                        }
                    },
                }
            }
        };
    }
}

/// A hasher fed with the first `len` bytes of `path` (read off the async threads).
async fn hash_prefix(path: &Path, len: u64) -> Result<(Sha256, u64), Stop> {
    let owned = path.to_owned();
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<(Sha256, u64)> {
        let mut hasher = Sha256::new();
        let mut file = std::fs::File::open(&owned)?.take(len);
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        Ok((hasher, done))
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match read {
        Ok((hasher, done)) if done == len => Ok((hasher, done)),
        Ok((_, done)) => Err(Stop::Io(
            format!("reading {}", path.display()),
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("holds {done} bytes, expected {len}"),
            ),
        )),
        Err(e) => Err(Stop::Io(format!("reading {}", path.display()), e)),
    }
}

/// Resolves when `cancel` turns true; never if its sender is gone.
pub(crate) async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn head(response: &reqwest::Response) -> ResponseHead {
    let headers = response.headers();
    let content_range = headers
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ContentRange::parse);
    let content_length = headers
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    ResponseHead {
        status: response.status().as_u16(),
        content_range,
        content_length,
    }
}

/// The partial file, cut to `offset` and positioned there.
async fn open_at(partial: &Path, offset: u64) -> Result<tokio::fs::File, Stop> {
    let io = |e| Stop::Io(format!("opening {}", partial.display()), e);
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(partial)
        .await
        .map_err(io)?;
    file.set_len(offset).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io)?;
    Ok(file)
}

async fn flush(file: &mut tokio::fs::File, partial: &Path) -> Result<(), Stop> {
    file.flush()
        .await
        .map_err(|e| Stop::Io(format!("writing {}", partial.display()), e))
}

/// A transport error in words, with its causes ("connection refused" is several levels down).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the connection broke off".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    if !last.is_empty() {
        text.push_str(": ");
        text.push_str(&last);
    }
    text
}

//! Y4M (YUV4MPEG2) files: the headless stand-in for a camera and a virtual camera.

use crate::error::MediaError;
use crate::source::{FrameRate, VideoFormat, VideoSource};
use crate::video::I420Image;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The y4m crate's own limit on the header line.
const MAX_HEADER: u64 = 1024;
const MAGIC: &[u8] = b"YUV4MPEG2 ";
/// `C` tag values whose frames are 8-bit 4:2:0, i.e. plain I420 bytes.
const SUPPORTED_COLOURSPACES: [&str; 4] = ["420", "420jpeg", "420paldv", "420mpeg2"];

/// Reads 4:2:0 Y4M files (`C420`, `C420jpeg`, `C420paldv`, `C420mpeg2`, or no `C`); other
/// colour spaces are an error naming the one found.
pub struct Y4mReader {
    path: PathBuf,
    format: VideoFormat,
    decoder: y4m::Decoder<CountingReader<BufReader<File>>>,
    /// Bytes the decoder has pulled since the current frame started; tells a clean end of file
    /// (nothing read) from a truncated frame, which the y4m crate reports the same way.
    consumed: Arc<AtomicU64>,
    frames: u64,
}

/// Counts the bytes read through it into a counter shared with the [`Y4mReader`], since the
/// decoder owns the reader and offers no way back to it.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Y4mReader {
    pub fn open(path: &Path) -> Result<Y4mReader, MediaError> {
        let io_err = |source| MediaError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bad = |reason: String| MediaError::BadFile {
            path: path.to_path_buf(),
            reason,
        };

        let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
        // Check the header ourselves first: the y4m crate's errors do not say what is wrong.
        let mut header = Vec::new();
        (&mut reader)
            .take(MAX_HEADER)
            .read_until(b'\n', &mut header)
            .map_err(io_err)?;
        let format = parse_header(&header).map_err(bad)?;
        reader.rewind().map_err(io_err)?;

        let consumed = Arc::new(AtomicU64::new(0));
        let counting = CountingReader {
            inner: reader,
            count: consumed.clone(),
        };
        let decoder = y4m::Decoder::new(counting).map_err(|e| match e {
            y4m::Error::IoError(source) => io_err(source),
            other => bad(format!("bad Y4M header: {other}")),
        })?;
        Ok(Y4mReader {
            path: path.to_path_buf(),
            format,
            decoder,
            consumed,
            frames: 0,
        })
    }

    fn bad(&self, reason: String) -> MediaError {
        MediaError::BadFile {
            path: self.path.clone(),
            reason,
        }
    }
}

/// Size and rate from a Y4M header line, or why the file cannot be read as I420.
fn parse_header(line: &[u8]) -> Result<VideoFormat, String> {
    if line.is_empty() {
        return Err("empty file, not a Y4M file".into());
    }
    let Some(params) = line.strip_prefix(MAGIC) else {
        return Err("not a Y4M file (it does not start with `YUV4MPEG2`)".into());
    };
    let Some(params) = params.strip_suffix(b"\n") else {
        return Err(format!(
            "not a Y4M file (no end to the header line in the first {MAX_HEADER} bytes)"
        ));
    };
    let params = String::from_utf8_lossy(params);
    let (mut width, mut height) = (None, None);
    let mut rate = FrameRate { num: 25, den: 1 };
    for tag in params.split(' ').filter(|t| !t.is_empty()) {
        let mut chars = tag.chars();
        let (key, value) = (chars.next(), chars.as_str());
        match key {
            Some('W') => width = value.parse::<u32>().ok().filter(|&w| w > 0),
            Some('H') => height = value.parse::<u32>().ok().filter(|&h| h > 0),
            Some('F') => {
                rate = value
                    .split_once(':')
                    .and_then(|(n, d)| {
                        Some(FrameRate {
                            num: n.parse().ok()?,
                            den: d.parse().ok()?,
                        })
                    })
                    .filter(|r| r.num > 0 && r.den > 0)
                    .ok_or_else(|| format!("unusable frame rate `{tag}` (expected e.g. F30:1)"))?;
            }
            Some('C') if !SUPPORTED_COLOURSPACES.contains(&value) => {
                return Err(format!(
                    "unsupported colour space `{tag}`: only 8-bit 4:2:0 (C420, C420jpeg, \
                     C420paldv, C420mpeg2, or no C tag) is supported"
                ));
            }
            _ => {}
        }
    }
    match (width, height) {
        (Some(width), Some(height)) => Ok(VideoFormat {
            width,
            height,
            rate,
        }),
        _ => Err("the Y4M header has no valid width (W) and height (H)".into()),
    }
}

impl VideoSource for Y4mReader {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_image(&mut self) -> Result<Option<I420Image>, MediaError> {
        self.consumed.store(0, Ordering::Relaxed);
        let frame = match self.decoder.read_frame() {
            Ok(frame) => frame,
            Err(y4m::Error::EOF) if self.consumed.load(Ordering::Relaxed) == 0 => return Ok(None),
            Err(y4m::Error::EOF) => {
                return Err(self.bad(format!(
                    "truncated: the file ends partway through frame {} (numbered from 0)",
                    self.frames
                )));
            }
            Err(y4m::Error::IoError(source)) => {
                return Err(MediaError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
            Err(other) => {
                return Err(self.bad(format!(
                    "frame {} (numbered from 0): bad frame header, expected `FRAME` ({other})",
                    self.frames
                )));
            }
        };
        let planes = [
            frame.get_y_plane(),
            frame.get_u_plane(),
            frame.get_v_plane(),
        ];
        let mut data = Vec::with_capacity(planes.iter().map(|p| p.len()).sum());
        for plane in planes {
            data.extend_from_slice(plane);
        }
        let image = I420Image::from_data(self.format.width, self.format.height, data)?;
        self.frames += 1;
        Ok(Some(image))
    }
}

/// Writes I420 frames as a `C420jpeg` Y4M file.
pub struct Y4mWriter {
    path: PathBuf,
    format: VideoFormat,
    encoder: y4m::Encoder<SharedWriter>,
    /// The same buffered file the encoder writes to, so `finish` can flush it and see errors:
    /// the y4m encoder never gives its writer back.
    file: Arc<Mutex<BufWriter<File>>>,
    frames: u64,
}

struct SharedWriter(Arc<Mutex<BufWriter<File>>>);

impl SharedWriter {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut file = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("Y4M writer poisoned by an earlier panic"))?;
        f(&mut file)
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.with(|f| f.write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.with(|f| f.write_all(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.with(|f| f.flush())
    }
}

impl Y4mWriter {
    pub fn create(path: &Path, format: VideoFormat) -> Result<Y4mWriter, MediaError> {
        let VideoFormat {
            width,
            height,
            rate,
        } = format;
        if width == 0 || height == 0 || rate.num == 0 || rate.den == 0 {
            return Err(MediaError::BadFormat(format!(
                "cannot write Y4M {width}x{height} at {}:{} fps",
                rate.num, rate.den
            )));
        }
        let io_err = |source| MediaError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = Arc::new(Mutex::new(BufWriter::new(
            File::create(path).map_err(io_err)?,
        )));
        let ratio = y4m::Ratio::new(rate.num as usize, rate.den as usize);
        let encoder = y4m::encode(width as usize, height as usize, ratio)
            .with_colorspace(y4m::Colorspace::C420jpeg)
            .write_header(SharedWriter(file.clone()))
            .map_err(|e| y4m_write_error(path, e))?;
        Ok(Y4mWriter {
            path: path.to_path_buf(),
            format,
            encoder,
            file,
            frames: 0,
        })
    }

    /// The image must have the file's size.
    pub fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        let VideoFormat { width, height, .. } = self.format;
        if (image.width(), image.height()) != (width, height) {
            return Err(MediaError::BadFormat(format!(
                "{}: the Y4M file is {width}x{height} but the image is {}x{}",
                self.path.display(),
                image.width(),
                image.height()
            )));
        }
        let (y, u, v) = image.planes();
        self.encoder
            .write_frame(&y4m::Frame::new([y, u, v], None))
            .map_err(|e| y4m_write_error(&self.path, e))?;
        self.frames += 1;
        Ok(())
    }

    /// Flush and close; returns the frames written.
    pub fn finish(self) -> Result<u64, MediaError> {
        let io_err = |source| MediaError::Io {
            path: self.path.clone(),
            source,
        };
        drop(self.encoder);
        let file = Arc::try_unwrap(self.file)
            .map_err(|_| io_err(std::io::Error::other("Y4M file still shared")))?
            .into_inner()
            .map_err(|_| {
                io_err(std::io::Error::other(
                    "Y4M writer poisoned by an earlier panic",
                ))
            })?;
        file.into_inner().map_err(|e| io_err(e.into_error()))?;
        Ok(self.frames)
    }
}

fn y4m_write_error(path: &Path, error: y4m::Error) -> MediaError {
    match error {
        y4m::Error::IoError(source) => MediaError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => MediaError::BadFile {
            path: path.to_path_buf(),
            reason: format!("cannot write Y4M: {other}"),
        },
    }
}

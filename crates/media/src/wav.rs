//! WAV files: the headless stand-in for a microphone and a virtual microphone.

use crate::error::MediaError;
use crate::source::AudioSource;
use std::fs::File;
use std::io::{BufReader, BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

/// Reads PCM 16/24/32-bit integer or 32-bit float WAV files as f32 in [-1, 1].
///
/// As an [`AudioSource`] it yields mono: several channels are averaged.
pub struct WavReader {
    path: PathBuf,
    reader: hound::WavReader<BufReader<File>>,
    spec: hound::WavSpec,
    /// Multiplier taking integer samples to [-1, 1]: `1 / 2^(bits-1)`, exact in f32.
    scale: f32,
    /// Interleaved samples of the block being read; reused between blocks of multi-channel
    /// files, handed out as the block itself for mono ones.
    scratch: Vec<f32>,
}

impl WavReader {
    pub fn open(path: &Path) -> Result<WavReader, MediaError> {
        let file = File::open(path).map_err(|source| MediaError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = hound::WavReader::new(BufReader::new(file)).map_err(|e| match e {
            hound::Error::IoError(source) if is_short_read(&source) => MediaError::BadFile {
                path: path.to_path_buf(),
                reason: "not a WAV file (it ends before a complete WAV header)".into(),
            },
            other => wav_error(path, other),
        })?;
        let spec = reader.spec();
        let scale = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => 1.0,
            (hound::SampleFormat::Int, bits @ 8..=32) => 1.0 / (1u64 << (bits - 1)) as f32,
            (format, bits) => {
                return Err(MediaError::BadFile {
                    path: path.to_path_buf(),
                    reason: format!(
                        "unsupported WAV sample format: {bits}-bit {}; use 16/24/32-bit \
                         integer or 32-bit float",
                        match format {
                            hound::SampleFormat::Float => "float",
                            hound::SampleFormat::Int => "integer",
                        }
                    ),
                });
            }
        };
        Ok(WavReader {
            path: path.to_path_buf(),
            reader,
            spec,
            scale,
            scratch: Vec::new(),
        })
    }

    pub fn channels(&self) -> u16 {
        self.spec.channels
    }

    /// Read up to `n` interleaved samples into `scratch` as f32.
    fn read_interleaved(&mut self, n: usize) -> Result<(), MediaError> {
        self.scratch.clear();
        let result = match self.spec.sample_format {
            hound::SampleFormat::Float => self
                .reader
                .samples::<f32>()
                .take(n)
                .try_for_each(|s| s.map(|s| self.scratch.push(s))),
            hound::SampleFormat::Int => {
                let scale = self.scale;
                self.reader
                    .samples::<i32>()
                    .take(n)
                    .try_for_each(|s| s.map(|s| self.scratch.push(s as f32 * scale)))
            }
        };
        result.map_err(|e| wav_error(&self.path, e))
    }
}

impl AudioSource for WavReader {
    fn sample_rate(&self) -> u32 {
        self.spec.sample_rate
    }

    fn read(&mut self, n: usize) -> Result<Option<Vec<f32>>, MediaError> {
        let channels = usize::from(self.spec.channels.max(1));
        self.read_interleaved(n.saturating_mul(channels))?;
        if self.scratch.is_empty() && n > 0 {
            return Ok(None);
        }
        if channels == 1 {
            return Ok(Some(std::mem::take(&mut self.scratch)));
        }
        // A trailing partial frame (a file cut mid-frame) is dropped.
        let inv = 1.0 / channels as f32;
        let mono = self
            .scratch
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * inv)
            .collect();
        Ok(Some(mono))
    }
}

/// Writes mono 32-bit float WAV, so f32 samples round-trip exactly.
pub struct WavWriter {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    samples: u64,
}

impl WavWriter {
    pub fn create(path: &Path, sample_rate: u32) -> Result<WavWriter, MediaError> {
        if sample_rate == 0 {
            return Err(MediaError::BadFormat(
                "cannot write a WAV file at 0 Hz".into(),
            ));
        }
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let file = File::create(path).map_err(|source| MediaError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let writer =
            hound::WavWriter::new(BufWriter::new(file), spec).map_err(|e| wav_error(path, e))?;
        Ok(WavWriter {
            path: path.to_path_buf(),
            writer,
            samples: 0,
        })
    }

    pub fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        for &s in samples {
            self.writer
                .write_sample(s)
                .map_err(|e| wav_error(&self.path, e))?;
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Flush and close; returns the samples written.
    pub fn finish(self) -> Result<u64, MediaError> {
        self.writer
            .finalize()
            .map_err(|e| wav_error(&self.path, e))?;
        Ok(self.samples)
    }
}

/// A hound error as ours: I/O stays I/O, the rest says why the file is unusable.
fn wav_error(path: &Path, error: hound::Error) -> MediaError {
    let reason = match error {
        hound::Error::IoError(source) if is_short_read(&source) => {
            "truncated: the file ends before the audio data its header declares".to_string()
        }
        hound::Error::IoError(source) => {
            return MediaError::Io {
                path: path.to_path_buf(),
                source,
            };
        }
        hound::Error::FormatError(why) => format!("not a WAV file we can read ({why})"),
        hound::Error::Unsupported => {
            "unsupported WAV format: use PCM 16/24/32-bit integer or 32-bit float".to_string()
        }
        other => format!("WAV error: {other}"),
    };
    MediaError::BadFile {
        path: path.to_path_buf(),
        reason,
    }
}

/// Whether hound hit the end of the file mid-read. It reports that as a plain `Other` error
/// with this message rather than `UnexpectedEof`.
fn is_short_read(error: &std::io::Error) -> bool {
    error.kind() == ErrorKind::UnexpectedEof
        || (error.kind() == ErrorKind::Other && error.to_string() == "Failed to read enough bytes.")
}

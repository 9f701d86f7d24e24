//! WAV files: exact f32 round trips, integer scaling, and the rate check in `open_audio`.

use studio_media::MediaError;
use studio_media::input::{AudioInput, open_audio};
use studio_media::source::AudioSource;
use studio_media::wav::{WavReader, WavWriter};

fn read_all(source: &mut dyn AudioSource, block: usize) -> Vec<f32> {
    let mut all = Vec::new();
    while let Some(samples) = source.read(block).unwrap() {
        assert!(samples.len() <= block);
        all.extend(samples);
    }
    all
}

fn write_int(path: &std::path::Path, rate: u32, channels: u16, bits: u16, samples: &[i32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

#[test]
fn f32_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.wav");
    let samples: Vec<f32> = (0..10_007)
        .map(|i| ((i as f32) * 0.013).sin() * 0.9 + 1e-7 * i as f32)
        .chain([1.0, -1.0, 0.0, -0.0, f32::MIN_POSITIVE, 0.123_456_79])
        .collect();
    let mut writer = WavWriter::create(&path, 48_000).unwrap();
    writer.write(&samples[..5000]).unwrap();
    writer.write(&samples[5000..]).unwrap();
    assert_eq!(writer.finish().unwrap(), samples.len() as u64);

    let mut reader = WavReader::open(&path).unwrap();
    assert_eq!(reader.channels(), 1);
    assert_eq!(reader.sample_rate(), 48_000);
    let back = read_all(&mut reader, 960);
    assert_eq!(back.len(), samples.len());
    for (i, (a, b)) in samples.iter().zip(&back).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "sample {i}");
    }
}

#[test]
fn sixteen_bit_scales_by_32768() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s16.wav");
    write_int(&path, 48_000, 1, 16, &[0, 16384, -16384, 32767, -32768, 1]);
    let mut reader = WavReader::open(&path).unwrap();
    let got = read_all(&mut reader, 4);
    assert_eq!(
        got,
        [0.0, 0.5, -0.5, 32767.0 / 32768.0, -1.0, 1.0 / 32768.0]
    );
}

#[test]
fn twenty_four_bit_scales_to_unit_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s24.wav");
    write_int(&path, 48_000, 1, 24, &[4_194_304, -8_388_608]);
    let mut reader = WavReader::open(&path).unwrap();
    assert_eq!(read_all(&mut reader, 10), [0.5, -1.0]);
}

#[test]
fn stereo_is_averaged_to_mono() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stereo.wav");
    write_int(
        &path,
        48_000,
        2,
        16,
        &[16384, 0, -16384, -16384, 8192, 24576],
    );
    let mut reader = WavReader::open(&path).unwrap();
    assert_eq!(reader.channels(), 2);
    assert_eq!(read_all(&mut reader, 2), [0.25, -0.5, 0.5]);

    let mut source = open_audio(&AudioInput::File(path), 48_000).unwrap();
    assert_eq!(source.sample_rate(), 48_000);
    assert_eq!(read_all(source.as_mut(), 8), [0.25, -0.5, 0.5]);
}

#[test]
fn rate_mismatch_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.wav");
    write_int(&path, 44_100, 1, 16, &[0; 100]);
    let err = open_audio(&AudioInput::File(path), 48_000).err().unwrap();
    assert!(matches!(err, MediaError::BadFile { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cd.wav"), "{text}");
    assert!(text.contains("44100 Hz"), "{text}");
    assert!(text.contains("48000 Hz"), "{text}");
    assert!(text.contains("sox"), "{text}");
}

#[test]
fn garbage_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.wav");
    std::fs::write(&path, b"this is certainly not a RIFF file, it is text").unwrap();
    let err = WavReader::open(&path).err().unwrap();
    assert!(matches!(err, MediaError::BadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("not a WAV file"), "{err}");

    std::fs::write(&path, b"RI").unwrap();
    let err = WavReader::open(&path).err().unwrap();
    assert!(err.to_string().contains("not a WAV file"), "{err}");

    let err = WavReader::open(&dir.path().join("none.wav")).err().unwrap();
    assert!(matches!(err, MediaError::Io { .. }), "{err:?}");
}

#[test]
fn truncated_data_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wav");
    write_int(&path, 48_000, 1, 16, &[100; 1000]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 501]).unwrap();
    let mut reader = WavReader::open(&path).unwrap();
    let mut err = None;
    for _ in 0..10 {
        match reader.read(300) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let text = err.expect("truncated data should be reported").to_string();
    assert!(text.contains("truncated"), "{text}");
}

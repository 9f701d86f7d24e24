//! Y4M files: what we write reads back identically, and broken files say what is wrong.

use std::path::Path;
use studio_media::source::{FrameRate, VideoFormat, VideoSource};
use studio_media::synthetic::{TestPattern, read_frame_number};
use studio_media::y4m::{Y4mReader, Y4mWriter};
use studio_media::{I420Image, MediaError};

fn format(width: u32, height: u32, num: u32, den: u32) -> VideoFormat {
    VideoFormat {
        width,
        height,
        rate: FrameRate { num, den },
    }
}

fn error_text(path: &Path) -> String {
    match Y4mReader::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => {
            assert!(matches!(e, MediaError::BadFile { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn frames_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.y4m");
    for fmt in [format(64, 48, 30000, 1001), format(33, 17, 25, 1)] {
        let mut pattern = TestPattern::new(fmt);
        let frames: Vec<I420Image> = (0..5)
            .map(|_| pattern.next_image().unwrap().unwrap())
            .collect();

        let mut writer = Y4mWriter::create(&path, fmt).unwrap();
        for frame in &frames {
            writer.write(frame).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), 5);

        let header = std::fs::read(&path).unwrap();
        let header =
            String::from_utf8_lossy(&header[..header.iter().position(|&b| b == b'\n').unwrap()])
                .into_owned();
        assert!(header.starts_with("YUV4MPEG2 "), "{header}");
        assert!(header.contains("C420jpeg"), "{header}");

        let mut reader = Y4mReader::open(&path).unwrap();
        assert_eq!(reader.format(), fmt);
        for (i, expected) in frames.iter().enumerate() {
            let got = reader.next_image().unwrap().unwrap();
            assert_eq!(&got, expected, "frame {i}");
        }
        assert!(reader.next_image().unwrap().is_none());
        assert!(reader.next_image().unwrap().is_none());
    }
}

#[test]
fn reads_pattern_frame_numbers_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pattern.y4m");
    let fmt = format(1280, 720, 30, 1);
    let mut pattern = TestPattern::new(fmt);
    let mut writer = Y4mWriter::create(&path, fmt).unwrap();
    for _ in 0..3 {
        writer
            .write(&pattern.next_image().unwrap().unwrap())
            .unwrap();
    }
    writer.finish().unwrap();
    let mut reader = Y4mReader::open(&path).unwrap();
    for n in 0..3 {
        let image = reader.next_image().unwrap().unwrap();
        assert_eq!(read_frame_number(&image), Some(n));
    }
}

#[test]
fn accepts_other_420_tags_and_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    for tag in ["", " C420", " C420paldv", " C420mpeg2", " C420jpeg"] {
        let path = dir.path().join("tag.y4m");
        let mut bytes = format!("YUV4MPEG2 W4 H2 F24:1{tag}\nFRAME\n").into_bytes();
        bytes.extend(0..12u8);
        std::fs::write(&path, bytes).unwrap();
        let mut reader = Y4mReader::open(&path).unwrap();
        assert_eq!(reader.format(), format(4, 2, 24, 1), "{tag:?}");
        let image = reader.next_image().unwrap().unwrap();
        assert_eq!(image.data(), (0..12u8).collect::<Vec<_>>());
        assert!(reader.next_image().unwrap().is_none());
    }
}

#[test]
fn garbage_is_not_a_y4m_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.y4m");
    std::fs::write(&path, b"RIFF\x00\x01 this is not video at all\n\x00\x00").unwrap();
    let text = error_text(&path);
    assert!(text.contains("not a Y4M file"), "{text}");
    assert!(text.contains("garbage.y4m"), "{text}");

    std::fs::write(&path, b"").unwrap();
    assert!(error_text(&path).contains("not a Y4M file"));
}

#[test]
fn other_colour_spaces_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c444.y4m");
    let mut bytes = b"YUV4MPEG2 W4 H2 F30:1 C444\nFRAME\n".to_vec();
    bytes.extend([0u8; 24]);
    std::fs::write(&path, bytes).unwrap();
    let text = error_text(&path);
    assert!(text.contains("unsupported colour space"), "{text}");
    assert!(text.contains("C444"), "{text}");
    assert!(text.contains("4:2:0"), "{text}");

    std::fs::write(&path, b"YUV4MPEG2 W4 H2 F30:1 C411\n").unwrap();
    assert!(error_text(&path).contains("C411"));
}

#[test]
fn missing_size_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nosize.y4m");
    std::fs::write(&path, b"YUV4MPEG2 F30:1 C420\n").unwrap();
    let text = error_text(&path);
    assert!(text.contains("width (W)"), "{text}");
}

#[test]
fn truncated_frame_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.y4m");
    let mut bytes = b"YUV4MPEG2 W4 H2 F30:1 C420jpeg\nFRAME\n".to_vec();
    bytes.extend([16u8; 12]);
    bytes.extend(b"FRAME\n");
    bytes.extend([16u8; 7]);
    std::fs::write(&path, bytes).unwrap();
    let mut reader = Y4mReader::open(&path).unwrap();
    assert!(reader.next_image().unwrap().is_some());
    let err = reader.next_image().unwrap_err();
    assert!(matches!(err, MediaError::BadFile { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("truncated"), "{text}");
    assert!(text.contains("frame 1"), "{text}");
}

#[test]
fn bad_frame_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.y4m");
    let mut bytes = b"YUV4MPEG2 W4 H2 F30:1\nFRAMX\n".to_vec();
    bytes.extend([16u8; 12]);
    std::fs::write(&path, bytes).unwrap();
    let mut reader = Y4mReader::open(&path).unwrap();
    let text = reader.next_image().unwrap_err().to_string();
    assert!(text.contains("FRAME"), "{text}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.y4m");
    let err = Y4mReader::open(&path).err().unwrap();
    assert!(matches!(err, MediaError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nowhere.y4m"));
}

#[test]
fn writer_rejects_wrong_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.y4m");
    let mut writer = Y4mWriter::create(&path, format(64, 48, 30, 1)).unwrap();
    let err = writer.write(&I420Image::black(32, 24)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("64x48") && text.contains("32x24"), "{text}");
    writer.write(&I420Image::black(64, 48)).unwrap();
    assert_eq!(writer.finish().unwrap(), 1);
}

#[test]
fn odd_bytes_in_the_header_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.y4m");
    std::fs::write(&path, b"YUV4MPEG2 \xff\xfe W4 H2 \xc3\xa9x F0:0\n").unwrap();
    let text = error_text(&path);
    assert!(text.contains("frame rate"), "{text}");
}

//! Input specs: what `--video-in` / `--audio-in` accept, and what they open.

use std::path::PathBuf;
use studio_media::I420Image;
use studio_media::MediaError;
use studio_media::input::{AudioInput, VideoInput, open_audio, open_video};
use studio_media::source::{FrameRate, VideoFormat};
use studio_media::synthetic::read_frame_number;
use studio_media::y4m::Y4mWriter;

const FORMAT: VideoFormat = VideoFormat {
    width: 320,
    height: 240,
    rate: FrameRate { num: 30, den: 1 },
};

#[test]
fn video_specs_parse() {
    assert_eq!(VideoInput::parse("test").unwrap(), VideoInput::Test);
    assert_eq!(VideoInput::parse("sync").unwrap(), VideoInput::Sync);
    for path in ["clip.y4m", "/tmp/a b/Clip.Y4M", "./x.y4M"] {
        assert_eq!(
            VideoInput::parse(path).unwrap(),
            VideoInput::File(PathBuf::from(path))
        );
    }
    for bad in ["", "camera", "clip.mp4", "y4m", "clip.y4m.bak", "Test"] {
        let err = VideoInput::parse(bad).unwrap_err();
        assert!(matches!(err, MediaError::BadSpec(_)), "{bad}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("test") && text.contains("sync") && text.contains(".y4m"),
            "{text}"
        );
    }
}

#[test]
fn audio_specs_parse() {
    assert_eq!(
        AudioInput::parse("tone:440").unwrap(),
        AudioInput::Tone(440.0)
    );
    assert_eq!(
        AudioInput::parse("tone:0.5").unwrap(),
        AudioInput::Tone(0.5)
    );
    assert_eq!(AudioInput::parse("sync").unwrap(), AudioInput::Sync);
    for path in ["voice.wav", "/x/VOICE.WAV"] {
        assert_eq!(
            AudioInput::parse(path).unwrap(),
            AudioInput::File(PathBuf::from(path))
        );
    }
    for bad in [
        "tone:", "tone:abc", "tone:-5", "tone:0", "tone:inf", "tone:NaN",
    ] {
        let text = AudioInput::parse(bad).unwrap_err().to_string();
        assert!(text.contains("tone:440"), "{bad}: {text}");
    }
    for bad in ["", "microphone", "voice.mp3", "tone"] {
        let err = AudioInput::parse(bad).unwrap_err();
        assert!(matches!(err, MediaError::BadSpec(_)), "{bad}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("tone:") && text.contains("sync") && text.contains(".wav"),
            "{text}"
        );
    }
}

#[test]
fn open_video_opens_each_kind() {
    let mut test = open_video(&VideoInput::Test, FORMAT).unwrap();
    assert_eq!(test.format(), FORMAT);
    let image = test.next_image().unwrap().unwrap();
    assert_eq!(read_frame_number(&image), Some(0));

    let mut sync = open_video(&VideoInput::Sync, FORMAT).unwrap();
    assert_eq!(sync.next_image().unwrap().unwrap().planes().0[0], 235);

    // A file keeps its own format.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.y4m");
    let own = VideoFormat {
        width: 64,
        height: 48,
        rate: FrameRate { num: 25, den: 1 },
    };
    let mut writer = Y4mWriter::create(&path, own).unwrap();
    writer.write(&I420Image::black(64, 48)).unwrap();
    writer.finish().unwrap();
    let mut file = open_video(&VideoInput::File(path), FORMAT).unwrap();
    assert_eq!(file.format(), own);
    assert_eq!(
        file.next_image().unwrap().unwrap(),
        I420Image::black(64, 48)
    );
    assert!(file.next_image().unwrap().is_none());

    let missing = open_video(&VideoInput::File(dir.path().join("no.y4m")), FORMAT);
    assert!(matches!(missing.err().unwrap(), MediaError::Io { .. }));
}

#[test]
fn open_audio_opens_each_kind() {
    let mut tone = open_audio(&AudioInput::Tone(440.0), 48_000).unwrap();
    assert_eq!(tone.sample_rate(), 48_000);
    assert_eq!(tone.read(480).unwrap().unwrap().len(), 480);

    let mut click = open_audio(&AudioInput::Sync, 16_000).unwrap();
    assert_eq!(click.sample_rate(), 16_000);
    let block = click.read(200).unwrap().unwrap();
    assert!(block[..160].iter().all(|&s| s != 0.0));
    assert!(block[160..].iter().all(|&s| s == 0.0));
}

#[test]
fn tones_at_or_above_nyquist_are_rejected() {
    for hz in [24_000.0, 30_000.0] {
        let err = open_audio(&AudioInput::Tone(hz), 48_000).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("24000"), "{text}");
    }
    assert!(open_audio(&AudioInput::Tone(23_999.0), 48_000).is_ok());
}

#[test]
fn microphone_specs_parse() {
    assert_eq!(
        AudioInput::parse("mic").unwrap(),
        AudioInput::Microphone(None)
    );
    assert_eq!(
        AudioInput::parse("mic:USB Audio").unwrap(),
        AudioInput::Microphone(Some("USB Audio".into()))
    );
    assert_eq!(
        AudioInput::parse("mic:").unwrap(),
        AudioInput::Microphone(None)
    );
}

#[test]
fn devices_are_refused_with_what_to_use_instead() {
    // Media opens no devices; a program that does goes through `studio-devices`.
    let camera = open_video(&VideoInput::Camera("/dev/video0".into()), FORMAT)
        .err()
        .unwrap()
        .to_string();
    assert!(
        camera.contains("/dev/video0") && camera.contains(".y4m"),
        "{camera}"
    );
    let mic = open_audio(&AudioInput::Microphone(None), 48_000)
        .err()
        .unwrap()
        .to_string();
    assert!(mic.contains("microphone") && mic.contains(".wav"), "{mic}");
}

#[test]
fn camera_specs_parse() {
    assert_eq!(
        VideoInput::parse("camera:0").unwrap(),
        VideoInput::Camera("/dev/video0".into())
    );
    assert_eq!(
        VideoInput::parse("camera:/dev/video2").unwrap(),
        VideoInput::Camera("/dev/video2".into())
    );
    assert!(VideoInput::parse("camera:").is_err());
}

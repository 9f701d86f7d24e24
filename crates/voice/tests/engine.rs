//! The engine as the server runs it: talk gate, live voice changes, errors that change nothing.

mod common;

use common::*;
use studio_media::engine::{AudioProcessor, AudioSetting};
use studio_media::{AudioBlock, Timestamp};
use studio_voice::{Catalog, VoiceEngine};

fn engine() -> VoiceEngine {
    let config = studio_proto::config::Config::defaults().unwrap();
    VoiceEngine::new(Catalog::new(config.voices, Default::default()), 150, 200)
}

fn blocks(signal: &[f32]) -> Vec<AudioBlock> {
    signal
        .chunks(960)
        .enumerate()
        .map(|(i, c)| AudioBlock {
            seq: i as u64,
            capture: Timestamp(i as u64 * 20_000),
            sample_rate: 48000,
            samples: c.to_vec(),
        })
        .collect()
}

fn set_voice(e: &mut VoiceEngine, id: &str) -> Result<(), String> {
    e.apply(&AudioSetting::Voice(id.into()))
}

#[test]
fn talk_off_gives_exact_silence_and_converts_nothing() {
    let mut e = engine();
    set_voice(&mut e, "dsp:pitch=12").unwrap();
    e.apply(&AudioSetting::Talk(false)).unwrap();
    for b in blocks(&sine(220.0, 0.5, 48000)) {
        let (seq, capture, len) = (b.seq, b.capture, b.samples.len());
        let out = e.process(b);
        assert_eq!(
            (out.seq, out.capture, out.samples.len()),
            (seq, capture, len)
        );
        assert!(out.samples.iter().all(|&v| v == 0.0));
    }
    assert_eq!(e.converted_blocks(), 0);
}

#[test]
fn talking_again_converts_from_the_preroll_and_silence_returns_after_the_hang() {
    let mut e = engine();
    set_voice(&mut e, "dsp:pitch=12").unwrap();
    e.apply(&AudioSetting::Talk(false)).unwrap();
    let input = blocks(&sine(220.0, 0.5, 48000 * 3));
    let mut outs = Vec::new();
    for (i, b) in input.into_iter().enumerate() {
        match i {
            50 => e.apply(&AudioSetting::Talk(true)).unwrap(),
            100 => e.apply(&AudioSetting::Talk(false)).unwrap(),
            _ => {}
        }
        outs.push(e.process(b).samples);
    }
    assert!(outs[..50].iter().flatten().all(|&v| v == 0.0));
    // Converted while talking (and for the 200 ms hang = 10 blocks after release).
    assert!(outs[60..100].iter().flatten().any(|&v| v.abs() > 0.1));
    assert_eq!(e.converted_blocks(), 60);
    assert!(outs[111..].iter().flatten().all(|&v| v == 0.0));
}

#[test]
fn an_unknown_voice_is_refused_and_the_previous_voice_stays() {
    let mut e = engine();
    set_voice(&mut e, "robot").unwrap();
    let err = set_voice(&mut e, "no-such-voice").unwrap_err();
    assert!(
        err.contains("unknown voice \"no-such-voice\"") && err.contains("robot"),
        "{err}"
    );
    assert_eq!(e.voice_id(), "robot");
    let err = set_voice(&mut e, "dsp:pitch=99").unwrap_err();
    assert!(
        err.contains("pitch must be a number of semitones from -24 to 24"),
        "{err}"
    );
    assert_eq!(e.voice_id(), "robot");
}

#[test]
fn voices_change_live_between_blocks() {
    let mut e = engine();
    let input = blocks(&sine(220.0, 0.5, 48000 * 2));
    let mut out = Vec::new();
    for (i, b) in input.into_iter().enumerate() {
        if i == 50 {
            set_voice(&mut e, "dsp:pitch=12").unwrap();
        }
        out.extend(e.process(b).samples);
    }
    let before = dominant_frequency(&out[9600..43200], 150.0, 600.0);
    let after = dominant_frequency(&out[57600..91200], 150.0, 600.0);
    assert!((before - 220.0).abs() < 2.2, "{before}");
    assert!((after - 440.0).abs() < 4.4, "{after}");
}

#[test]
fn the_own_voice_key_passes_the_voice_unconverted_and_conversion_resumes_after() {
    let mut e = engine();
    set_voice(&mut e, "dsp:pitch=12").unwrap();
    // Talk off: without the own-voice key, silence.
    e.apply(&AudioSetting::Talk(false)).unwrap();
    let input = blocks(&sine(220.0, 0.5, 48000 * 3));
    let mut outs = Vec::new();
    for (i, b) in input.iter().cloned().enumerate() {
        match i {
            20 => e.apply(&AudioSetting::PassThrough(true)).unwrap(),
            60 => {
                e.apply(&AudioSetting::PassThrough(false)).unwrap();
                e.apply(&AudioSetting::Talk(true)).unwrap();
            }
            _ => {}
        }
        outs.push(e.process(b).samples);
    }
    assert!(outs[..20].iter().flatten().all(|&v| v == 0.0));
    // Held: exactly what was captured, whatever the voice and the talk key say.
    for i in 20..60 {
        assert_eq!(outs[i], input[i].samples, "block {i}");
    }
    assert_eq!(e.converted_blocks(), 90, "converted again once released");
    // Converted (an octave up), not the input.
    assert!(
        outs[80..]
            .iter()
            .zip(&input[80..])
            .any(|(o, i)| o != &i.samples)
    );
}

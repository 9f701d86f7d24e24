//! The window's Start with real devices: on a private PulseAudio daemon, the studio behind the
//! window creates "Streaming Studio Microphone", carries silence into it while nobody talks,
//! the processed voice while the talk key is held, and removes it when stopped. The daemon is
//! this process's sound server (as the desktop's is for the window), so this file holds one
//! test alone.

#![cfg(target_os = "linux")]

mod common;
mod pulse;

use pulse::{read_raw_f32, record, rms, share_at};
use std::time::Duration;
use studio_app::service::{Studio, StudioOptions};
use studio_app::state::{Command, Microphone, Phase, RunDevices, Snapshot};
use studio_proto::config::Config;

const CONFIG: &str = r#"{"video": {"width": 160, "height": 120}}"#;
const TONE_HZ: f64 = 440.0;
const RATE: f64 = 48_000.0;

/// The studio and its runtime; stopping the run when dropped keeps a failed test from waiting
/// forever on the capture threads.
struct Rig {
    runtime: tokio::runtime::Runtime,
    studio: Studio,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.runtime
            .block_on(self.studio.stop_and_wait(Duration::from_secs(20)));
    }
}

fn wait_for(studio: &Studio, what: &str, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    common::wait_for_snapshot(studio, Duration::from_secs(60), what, done)
}

#[test]
fn start_opens_the_virtual_microphone_and_the_talk_key_opens_the_voice() {
    // This process's sound server, with the person's headphones as the default output.
    let daemon = pulse::sound_server_with_headphones();
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, CONFIG).unwrap();
    let config = Config::from_layers(Some(("test config", CONFIG))).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let studio = Studio::start(
        runtime.handle(),
        StudioOptions {
            manager: Ok(common::local_servers(Some(config_file), &config)),
            config,
            devices: RunDevices {
                microphone: Microphone::TestTone,
                virtual_camera: false,
                virtual_microphone: true,
                // Hear yourself on the default output: the headphones below.
                monitor: Some(String::new()),
            },
            global_talk_key: false,
            choices_file: None,
        },
        || {},
    );
    let rig = Rig { runtime, studio };
    let studio = &rig.studio;

    studio.send(Command::Start);
    let running = wait_for(studio, "the run", |s| s.phase == Phase::Running);
    assert!(
        running.devices.problems.is_empty(),
        "{:?}",
        running.devices.problems
    );
    assert_eq!(running.devices.chosen.monitor.as_deref(), Some(""));
    let listed = common::wait_until(Duration::from_secs(10), || {
        daemon
            .pactl(&["list", "short", "sources"])
            .is_some_and(|s| s.contains("streaming_studio_microphone"))
    });
    assert!(listed, "call apps would not see the microphone");

    // One recorder throughout, as a call app would hold the microphone: first what goes out
    // while nobody talks, then the voice once the talk key is held.
    let path = dir.path().join("recorded.raw");
    let mut recorder = record(&daemon, "streaming_studio_microphone", &path);
    let recorded_samples = || std::fs::metadata(&path).map_or(0, |m| m.len() as usize / 4);
    assert!(
        common::wait_until(Duration::from_secs(20), || recorded_samples() >= 48_000),
        "the microphone delivers sound to a recorder"
    );
    let at_talk = recorded_samples();
    studio.send(Command::Talk(true));
    wait_for(studio, "talking", |s| s.talking);
    // Meanwhile on the headphones: the same voice, to hear oneself.
    let heard_path = dir.path().join("headphones.raw");
    let mut headphones = record(&daemon, "headphones.monitor", &heard_path);
    let enough = common::wait_until(Duration::from_secs(20), || {
        recorded_samples() >= at_talk + 2 * 48_000
            && std::fs::metadata(&heard_path).map_or(0, |m| m.len()) >= 4 * 48_000
    });
    for recording in [&mut recorder, &mut headphones] {
        let _ = recording.kill();
        let _ = recording.wait();
    }
    assert!(enough, "the recording went on");
    let heard = read_raw_f32(&heard_path);
    let heard = &heard[heard.len().saturating_sub(24_000)..];
    assert!(
        rms(heard) > 0.05,
        "the voice plays on the headphones: {}",
        rms(heard)
    );
    assert!(
        share_at(heard, TONE_HZ) > 0.9,
        "and it is the voice: {}",
        share_at(heard, TONE_HZ)
    );
    let recorded = read_raw_f32(&path);

    let quiet = &recorded[..at_talk];
    assert!(
        rms(quiet) < 1e-3,
        "silence while nobody talks: {}",
        rms(quiet)
    );
    let onset = recorded[at_talk..]
        .iter()
        .position(|s| s.abs() > 1e-3)
        .map(|i| i as f64 / RATE);
    let talking = &recorded[recorded.len() - 48_000..];
    let share = share_at(talking, TONE_HZ);
    println!(
        "voice heard {onset:?} s after the talk key (recorder's delay included); rms {:.3}, \
         {:.1}% of the power at {TONE_HZ} Hz",
        rms(talking),
        share * 100.0
    );
    assert!(rms(talking) > 0.05, "the voice is heard: {}", rms(talking));
    assert!(share > 0.9, "and it is the microphone's tone: {share}");
    let onset = onset.unwrap_or(f64::INFINITY);
    assert!(
        onset < 0.5,
        "the voice follows the key within half a second, not after a queue: {onset} s"
    );

    rig.runtime
        .block_on(studio.stop_and_wait(Duration::from_secs(20)));
    assert_eq!(studio.snapshot().phase, Phase::Idle);
    let gone = common::wait_until(Duration::from_secs(10), || {
        daemon
            .pactl(&["list", "short", "modules"])
            .is_some_and(|m| !m.contains("streaming_studio"))
    });
    assert!(gone, "the studio removes its microphone when it stops");
}

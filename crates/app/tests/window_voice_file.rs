//! A voice from a file, in the window over real servers and a private PulseAudio: an RVC v2
//! `.onnx` dropped on the window goes to the audio server at Start, which fetches the shared
//! models it needs (ContentVec and RMVPE, from a loopback file server here) and verifies them;
//! the RVC index found beside the file goes with it; the voice becomes ready, is chosen, and the person hears the converted voice on their
//! headphones (the monitor) while the talk key is held. The daemon is this process's sound
//! server, so this file holds one test alone.

#![cfg(target_os = "linux")]

mod common;
#[path = "../../voice/tests/faiss_file.rs"]
mod faiss_file;
#[path = "../../models/tests/support/file_server.rs"]
mod file_server;
mod pulse;

use common::{standin_voice_model_entries, standin_voice_models, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use file_server::FileServer;
use pulse::{read_raw_f32, record, rms, share_at};
use std::time::Duration;
use studio_app::service::{Studio, StudioOptions};
use studio_app::state::{Command, Microphone, Phase, RunDevices, VoiceFileUpload, VoiceOption};
use studio_app::window::StudioWindow;
use studio_proto::config::Config;

/// The test tone's pitch (the microphone when none is chosen).
const TONE_HZ: f64 = 440.0;

#[test]
fn a_dropped_voice_file_becomes_ready_and_is_heard_converted_on_the_headphones() {
    // This process's sound server, with the person's headphones as the default output.
    let daemon = pulse::sound_server_with_headphones();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let files = runtime.block_on(FileServer::start());
    let dir = tempfile::tempdir().unwrap();
    let models = standin_voice_model_entries(|name, bytes| {
        files.serve(name, bytes);
        files.url(name)
    });
    let json = serde_json::json!({
        "video": {"width": 160, "height": 120},
        "servers": {
            "audio": {"backend": "tract"},
            "cache_dir": dir.path().join("cache").display().to_string()
        },
        "models": models,
    })
    .to_string();
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, &json).unwrap();
    // The person's voice file, somewhere of their own.
    let voice_file = dir.path().join("Alto.onnx");
    std::fs::copy(
        standin_voice_models().join("synth_rvc_40k.onnx"),
        &voice_file,
    )
    .unwrap();
    // Its RVC index beside it, named as RVC's trainer names it.
    let (index, _) = faiss_file::random_ivf(
        &mut faiss_file::Rng(3),
        768,
        64,
        4,
        faiss_file::DirectMap::None,
    );
    std::fs::write(
        dir.path().join("added_IVF4_Flat_nprobe_1_Alto_v2.index"),
        index,
    )
    .unwrap();

    let config = Config::from_layers(Some(("test config", json.as_str()))).unwrap();
    let studio = Studio::start(
        runtime.handle(),
        StudioOptions {
            manager: Ok(common::local_servers(Some(config_file), &config)),
            config,
            devices: RunDevices {
                microphone: Microphone::TestTone,
                virtual_camera: false,
                virtual_microphone: false,
                // Hear yourself on the default output: the headphones above.
                monitor: Some(String::new()),
            },
            global_talk_key: false,
            choices_file: None,
        },
        || {},
    );
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 1400.0))
        .build_ui_state(
            |ui, window: &mut StudioWindow| window.frame(ui),
            StudioWindow::new(studio),
        );

    // Dropped on the window before Start: kept, and said when it goes.
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(common::Dropped(voice_file.clone())));
    harness.step();
    step_until(
        &mut harness,
        Duration::from_secs(10),
        "the voice file listed",
        |s| s.voice_files.len() == 1,
    );
    harness.step();
    assert!(
        harness
            .query_by_label_contains("Alto · sent to the audio server when the studio starts")
            .is_some()
    );
    harness
        .get_by_label("Accurate pitch (RMVPE, 362 MB)")
        .click();
    step_until(&mut harness, Duration::from_secs(5), "RMVPE chosen", |s| {
        s.accurate_pitch
    });
    assert!(
        files.requests("contentvec.onnx").is_empty(),
        "nothing fetched before Start"
    );

    harness.get_by_label("Start").click();
    let ready = step_until(
        &mut harness,
        Duration::from_secs(120),
        "the voice ready and chosen",
        |s| {
            let Some(id) = s.voice_files.first().and_then(|f| f.id.clone()) else {
                return false;
            };
            s.phase == Phase::Running
                && s.voice_files[0].upload == VoiceFileUpload::Added
                && s.chosen_voice.as_deref() == Some(id.as_str())
                && s.voices.iter().any(|v| {
                    matches!(v, VoiceOption::Served(e) if e.id == id && e.ready && e.convert_ms.is_some())
                })
        },
    );
    for name in ["contentvec.onnx", "rmvpe.onnx"] {
        assert_eq!(files.requests(name).len(), 1, "{name} fetched once");
    }
    assert!(ready.voice_refused.is_none(), "{:?}", ready.voice_refused);
    harness.step();
    assert!(
        harness
            .query_by_label_contains("ms per block here · index 75%")
            .is_some(),
        "the list shows what a block costs, and that the index found beside it is used: {:?} {:?}",
        ready.notice,
        ready.voices.last()
    );

    // Talking: the headphones carry the converted voice, not the microphone's tone.
    harness.state().studio().send(Command::Talk(true));
    step_until(&mut harness, Duration::from_secs(10), "talking", |s| {
        s.talking
    });
    let heard_path = dir.path().join("headphones.raw");
    let mut headphones = record(&daemon, "headphones.monitor", &heard_path);
    let enough = common::wait_until(Duration::from_secs(30), || {
        harness.step();
        std::fs::metadata(&heard_path).map_or(0, |m| m.len()) >= 4 * 3 * 48_000
    });
    let _ = headphones.kill();
    let _ = headphones.wait();
    assert!(enough, "the headphones recording went on");
    let heard = read_raw_f32(&heard_path);
    let heard = &heard[heard.len().saturating_sub(48_000)..];
    let share = share_at(heard, TONE_HZ);
    println!(
        "headphones: rms {:.4}, {:.1}% of the power at the tone's {TONE_HZ} Hz",
        rms(heard),
        share * 100.0
    );
    assert!(rms(heard) > 1e-3, "the voice plays on the headphones");
    assert!(share < 0.5, "and it is converted, not the tone: {share}");

    harness.get_by_label("Stop").click();
    step_until(&mut harness, Duration::from_secs(20), "idle", |s| {
        s.phase == Phase::Idle
    });
}

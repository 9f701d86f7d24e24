//! The window's store with voice files, without servers: a file added before Start goes to
//! the audio server once it is up (whichever of the manager's and the driver's news comes
//! first), is chosen at once but sent to the sessions only when the server lists it ready,
//! goes again to the next server after a restart, and a refusal is said and retried.

use std::path::PathBuf;
use studio_app::state::{Command, Effect, Event, Phase, RunDevices, Store, VoiceFileUpload};
use studio_proto::Role;
use studio_proto::api::{VoiceAdded, VoiceEntry, VoiceFilePitch, VoiceKind};
use studio_proto::config::Config;
use studio_proto::control::Control;
use studio_run::manager::ManagerEvent;

const ID: &str = "file-a1b2c3d4e5f6";

fn store() -> Store {
    Store::with_devices(&Config::defaults().unwrap(), RunDevices::none())
}

fn entry(ready: bool) -> VoiceEntry {
    VoiceEntry {
        id: ID.into(),
        name: "Alto".into(),
        kind: VoiceKind::Neural,
        latency_ms: 130.0,
        block_ms: 100.0,
        context_ms: 300.0,
        crossfade_ms: 20.0,
        ready,
        problem: (!ready).then(|| "waiting for contentvec_768".into()),
        convert_ms: ready.then_some(40.0),
        needs: if ready {
            Vec::new()
        } else {
            vec!["contentvec_768".into()]
        },
        index_rate: None,
    }
}

/// Start, with the audio server up: the driver's client first, then the manager's news.
fn start(store: &mut Store) -> Vec<Effect> {
    store.command(Command::Start);
    let mut effects = store.apply(Event::ServerUp(Role::Audio, true));
    effects.extend(store.apply(Event::Manager(ManagerEvent::Ready {
        role: Role::Audio,
        pid: 7,
        url: "http://127.0.0.1:1".into(),
    })));
    for role in Role::ALL {
        store.apply(Event::Session(role, true));
    }
    assert_eq!(store.snapshot().phase, Phase::Running);
    effects
}

fn set_voice(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Control(Role::Audio, Control::SetVoice { voice_id }) => Some(voice_id.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_voice_file_is_sent_at_start_chosen_and_used_once_ready() {
    let mut store = store();
    let path = PathBuf::from("/voices/Alto.onnx");
    assert!(store.command(Command::AddVoice(path.clone())).is_empty());
    store.command(Command::AccuratePitch(true));
    assert_eq!(
        store.snapshot().voice_files[0].upload,
        VoiceFileUpload::NotSent
    );

    let effects = start(&mut store);
    assert!(
        effects.contains(&Effect::UploadVoice {
            path: path.clone(),
            pitch: VoiceFilePitch::Rmvpe,
        }),
        "{effects:?}"
    );
    assert_eq!(
        store.snapshot().voice_files[0].upload,
        VoiceFileUpload::Sending
    );

    // Taken, still waiting for its model: chosen, but not sent to the sessions yet.
    let effects = store.apply(Event::VoiceUploaded {
        path: path.clone(),
        index_problem: None,
        result: Ok(VoiceAdded {
            id: ID.into(),
            entry: entry(false),
        }),
    });
    assert!(set_voice(&effects).is_empty(), "{effects:?}");
    let snapshot = store.snapshot();
    assert_eq!(snapshot.chosen_voice.as_deref(), Some(ID));
    assert_eq!(snapshot.voice_files[0].upload, VoiceFileUpload::Added);
    // While it settles, each audio status asks for the list again.
    let status = Box::new(studio_proto::api::ServerStatus {
        role: Role::Audio,
        version: "0.1.0".into(),
        engine: "voice".into(),
        backend: "tract".into(),
        device: "cpu".into(),
        models: Vec::new(),
        sessions: Vec::new(),
        load: Default::default(),
        uptime_s: 1.0,
    });
    let effects = store.apply(Event::Status {
        status: status.clone(),
        at: std::time::Instant::now(),
    });
    assert_eq!(effects, [Effect::FetchVoices]);

    // Ready: sent once.
    let effects = store.apply(Event::Voices(Ok(vec![entry(true)])));
    assert_eq!(set_voice(&effects), [ID]);
    let effects = store.apply(Event::Voices(Ok(vec![entry(true)])));
    assert!(set_voice(&effects).is_empty(), "sent once: {effects:?}");
    let effects = store.apply(Event::Status {
        status,
        at: std::time::Instant::now(),
    });
    assert!(effects.is_empty(), "settled: no more list requests");

    // A new run: the new server gets the file before the voice.
    store.command(Command::Stop);
    store.apply(Event::RunEnded(Ok(())));
    assert_eq!(
        store.snapshot().voice_files[0].upload,
        VoiceFileUpload::NotSent
    );
    let Some(Effect::StartRun { controls, .. }) = store.command(Command::Start).into_iter().next()
    else {
        panic!("no start");
    };
    assert!(
        !controls
            .iter()
            .any(|(_, c)| matches!(c, Control::SetVoice { .. })),
        "the voice waits for its file: {controls:?}"
    );
}

#[test]
fn a_refused_or_wrong_file_is_said_and_adding_it_again_retries() {
    let mut store = store();
    store.command(Command::AddVoice(PathBuf::from("/voices/notes.txt")));
    let snapshot = store.snapshot();
    assert!(snapshot.voice_files.is_empty());
    let notice = snapshot.notice.expect("a notice");
    assert!(
        notice.is_error && notice.text.contains(".onnx"),
        "{notice:?}"
    );

    let path = PathBuf::from("/voices/Broken.ONNX");
    start(&mut store);
    let effects = store.command(Command::AddVoice(path.clone()));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::UploadVoice {
                pitch: VoiceFilePitch::Yin,
                ..
            }]
        ),
        "{effects:?}"
    );
    store.apply(Event::VoiceUploaded {
        path: path.clone(),
        index_problem: None,
        result: Err("this is not an RVC v2 voice the studio can use: no sampling rate".into()),
    });
    let snapshot = store.snapshot();
    assert!(matches!(
        snapshot.voice_files[0].upload,
        VoiceFileUpload::Failed(_)
    ));
    assert!(
        snapshot
            .notice
            .unwrap()
            .text
            .contains("would not take Broken")
    );
    assert_eq!(snapshot.chosen_voice, None);
    let effects = store.command(Command::AddVoice(path));
    assert_eq!(effects.len(), 1, "tried again: {effects:?}");

    // Dropped files: an .onnx is a voice.
    let effects = store.command(Command::Dropped(vec![PathBuf::from("/voices/Tenor.onnx")]));
    assert_eq!(effects.len(), 1, "{effects:?}");
    assert_eq!(store.snapshot().voice_files.len(), 2);
}

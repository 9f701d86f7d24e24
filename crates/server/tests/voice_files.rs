//! Voices from files on a real audio server: an RVC v2 `.onnx` sent to `POST /v1/voices` is
//! listed at once as waiting for its shared models, which the server fetches (from a loopback
//! file server here) and verifies; the voice then loads, shows its cost per block, and
//! converts a session's audio. Files that are not voices, or too large, are refused and leave
//! nothing behind.

mod common;
#[path = "../../voice/tests/faiss_file.rs"]
mod faiss_file;
#[path = "../../models/tests/support/file_server.rs"]
mod file_server;
#[path = "../../run/tests/support/mod.rs"]
mod run_support;

use common::{Server, tone};
use file_server::FileServer;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use studio_client::ServerClient;
use studio_proto::api::{VoiceEntry, VoiceFilePitch, VoiceFileQuery, VoiceList, error_code};
use studio_proto::control::Control;
use studio_transport::SessionEvent;

const TOKEN: &str = "voice-files-test-token-0123456789";

fn standin(name: &str) -> PathBuf {
    run_support::standin_voice_models().join(name)
}

/// An audio server whose shared voice models are the stand-ins, served by `files`.
fn start_audio(dir: &Path, files: &FileServer, limits: serde_json::Value) -> Server {
    start_audio_with(dir, files, limits, serde_json::json!({}))
}

fn start_audio_with(
    dir: &Path,
    files: &FileServer,
    limits: serde_json::Value,
    voices: serde_json::Value,
) -> Server {
    let models = run_support::standin_voice_model_entries(|name, bytes| {
        files.serve(name, bytes);
        files.url(name)
    });
    let config = dir.join("config.json");
    let json = serde_json::json!({
        "servers": {"audio": {"backend": "tract"}, "cache_dir": dir.join("cache").display().to_string()},
        "models": models,
        "limits": limits,
        "voices": voices,
    });
    std::fs::write(&config, json.to_string()).unwrap();
    let mut command = common::command(&["--role", "audio", "--port", "0", "--config"], TOKEN);
    command
        .arg(&config)
        .env_remove("STUDIO_CACHE_DIR")
        .env_remove("STUDIO_CONFIG");
    common::spawn(command)
}

async fn voice(client: &ServerClient, id: &str) -> Option<VoiceEntry> {
    let list: VoiceList = client.voices().await.unwrap();
    list.voices.into_iter().find(|v| v.id == id)
}

/// Voice `id` once it is ready and loaded (its cost per block measured), within a minute.
async fn loaded(client: &ServerClient, id: &str) -> VoiceEntry {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let entry = voice(client, id).await.expect("the voice is listed");
        if entry.ready && entry.convert_ms.is_some() {
            return entry;
        }
        assert!(Instant::now() < deadline, "never ready: {entry:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_voice_file_waits_for_its_shared_models_then_converts_a_session() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_audio(dir.path(), &files, serde_json::json!({}));
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let file = std::fs::read(standin("synth_rvc_40k.onnx")).unwrap();
    let query = VoiceFileQuery {
        name: "Alto".into(),
        pitch: VoiceFilePitch::Rmvpe,
    };

    let added = client.upload_voice(file.clone(), &query).await.unwrap();
    assert!(added.id.starts_with("file-"), "{}", added.id);
    assert_eq!(added.entry.name, "Alto");
    assert!(!added.entry.ready, "{:?}", added.entry);
    assert_eq!(added.entry.needs, ["contentvec_768", "rmvpe"]);

    // Ready once the shared models are fetched, with what one block cost when it loaded.
    let ready = loaded(&client, &added.id).await;
    assert!(
        ready.needs.is_empty() && ready.problem.is_none(),
        "{ready:?}"
    );
    assert!(ready.convert_ms.is_some_and(|ms| ms > 0.0), "{ready:?}");
    for name in ["contentvec.onnx", "rmvpe.onnx"] {
        assert_eq!(files.requests(name).len(), 1, "{name}");
    }

    // The same file again is the same voice, and nothing is fetched twice.
    let again = client.upload_voice(file, &query).await.unwrap();
    assert_eq!(again.id, added.id);
    assert!(again.entry.ready, "{:?}", again.entry);
    assert_eq!(files.requests("contentvec.onnx").len(), 1);

    // A session wearing it gets converted audio back: not the tone it sent.
    let (_, mut session) = client.open_raw_session().await.unwrap();
    session.sender.send_control(Control::SetVoice {
        voice_id: added.id.clone(),
    });
    let mut changed = 0;
    let mut seq = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while changed < 5 {
        assert!(Instant::now() < deadline, "no converted audio came back");
        session.sender.send_audio(tone(seq));
        seq += 1;
        match tokio::time::timeout(Duration::from_secs(20), session.events.recv()).await {
            Ok(Some(SessionEvent::ControlAck(ack))) => {
                assert_eq!(ack.error, None, "the voice was refused")
            }
            Ok(Some(SessionEvent::Audio(back))) => {
                let sent = tone(back.seq).samples;
                if back.samples.iter().any(|v| *v != 0.0) && back.samples != sent {
                    changed += 1;
                }
            }
            Ok(Some(_)) => {}
            other => panic!("the session ended: {other:?}"),
        }
    }
    let status = client.status().await.unwrap();
    assert!(status.sessions.iter().any(|s| s.converted_blocks > 0));
}

#[tokio::test]
async fn files_that_are_not_voices_or_too_large_are_refused_and_leave_nothing() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_audio(
        dir.path(),
        &files,
        serde_json::json!({"voice_file_bytes": 300_000}),
    );
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let query = VoiceFileQuery {
        name: "Face".into(),
        pitch: VoiceFilePitch::Yin,
    };
    let voices_folder = dir.path().join("cache/voices");
    let leftovers = || {
        std::fs::read_dir(&voices_folder)
            .map(|d| d.count())
            .unwrap_or(0)
    };

    // An ONNX model that is not a synthesizer: the reason names the inputs it lacks.
    let contentvec = std::fs::read(standin("contentvec.onnx")).unwrap();
    let refused = client.upload_voice(contentvec, &query).await.unwrap_err();
    assert_eq!(refused.code(), Some(error_code::VOICE_INVALID), "{refused}");
    assert!(refused.plain().contains("RVC"), "{}", refused.plain());
    // Not ONNX at all.
    let refused = client
        .upload_voice(b"not a model".to_vec(), &query)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(error_code::VOICE_INVALID), "{refused}");
    // Over `limits.voice_file_bytes`: the answer says which limit.
    let refused = client
        .upload_voice(vec![7u8; 400_000], &query)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("voice_too_large"), "{refused}");
    assert!(refused.plain().contains("limits.voice_file_bytes"));
    assert_eq!(leftovers(), 0, "refused files stay nowhere");

    let list: VoiceList = client.voices().await.unwrap();
    assert!(list.voices.iter().all(|v| !v.id.starts_with("file-")));
    // Nothing was fetched for a refused file.
    assert!(files.requests("contentvec.onnx").is_empty());
    // The server is still fine.
    client.health().await.unwrap();
}

#[tokio::test]
async fn a_voice_file_takes_an_rvc_index_and_a_wrong_one_is_refused() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_audio(dir.path(), &files, serde_json::json!({}));
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let query = VoiceFileQuery {
        name: "Alto".into(),
        pitch: VoiceFilePitch::Yin,
    };
    let synth = std::fs::read(standin("synth_wokada_48k.onnx")).unwrap();
    let added = client.upload_voice(synth, &query).await.unwrap();
    assert_eq!(added.entry.index_rate, None);

    let mut rng = faiss_file::Rng(7);
    // An index of 256-d vectors belongs to an RVC v1 voice: refused by what it holds.
    let (v1, _) = faiss_file::random_ivf(&mut rng, 256, 40, 2, faiss_file::DirectMap::None);
    let refused = client.upload_voice_index(&added.id, v1).await.unwrap_err();
    assert_eq!(refused.code(), Some(error_code::VOICE_INVALID), "{refused}");
    assert!(refused.plain().contains("768"), "{}", refused.plain());
    let refused = client
        .upload_voice_index(&added.id, b"IwPQ not this kind".to_vec())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(error_code::VOICE_INVALID), "{refused}");
    let refused = client
        .upload_voice_index("file-000000000000", b"x".to_vec())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("not_found"), "{refused}");
    let kept = std::fs::read_dir(dir.path().join("cache/voices"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "index"))
        })
        .count();
    assert_eq!(kept, 0, "refused indexes are not kept");

    let (index, _) = faiss_file::random_ivf(&mut rng, 768, 64, 4, faiss_file::DirectMap::None);
    let with_index = client.upload_voice_index(&added.id, index).await.unwrap();
    assert_eq!(with_index.id, added.id);
    assert_eq!(with_index.entry.index_rate, Some(0.75));
    // Ready with it once the shared model is there, and loaded with it.
    let entry = loaded(&client, &added.id).await;
    assert_eq!(entry.index_rate, Some(0.75), "loaded with its index");
}

#[tokio::test]
async fn a_configured_voice_names_the_shared_models_by_id_and_gets_them() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let synth = standin("synth_rvc_40k.onnx").display().to_string();
    let server = start_audio_with(
        dir.path(),
        &files,
        serde_json::json!({}),
        serde_json::json!({"alto": {
            "name": "Alto", "kind": "neural", "model": synth,
            "embedder": "contentvec_768", "pitch": "rmvpe", "pitch_model": "rmvpe"
        }}),
    );
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    loaded(&client, "alto").await;
    for name in ["contentvec.onnx", "rmvpe.onnx"] {
        assert_eq!(files.requests(name).len(), 1, "{name} fetched once");
    }
}

//! The audio server's voice engine over a real session: the voice list, the talk gate seen
//! from outside, and refused settings that change nothing.

use std::time::Duration;
use studio_client::ServerClient;
use studio_proto::api::{SessionStatus, VoiceList};
use studio_proto::control::{Control, ControlAck};
use studio_transport::SessionEvent;

mod common;

use common::{Server, tone};
use studio_media::AudioBlock;

const TOKEN: &str = "voice-test-token-0123456789";

fn start_audio() -> Server {
    let mut command = common::command(&["--role", "audio", "--port", "0"], TOKEN);
    command.env_remove("STUDIO_CONFIG");
    common::spawn(command)
}

async fn next_event(events: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("session still open")
}

async fn next_ack(events: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> ControlAck {
    match next_event(events).await {
        SessionEvent::ControlAck(ack) => ack,
        other => panic!("expected an ack, got {other:?}"),
    }
}

/// The server's status of the session `id`.
async fn session_status(client: &ServerClient, id: &str) -> SessionStatus {
    let status = client.status().await.unwrap();
    status.sessions.into_iter().find(|s| s.id == id).unwrap()
}

async fn next_audio(events: &mut tokio::sync::mpsc::Receiver<SessionEvent>) -> AudioBlock {
    match next_event(events).await {
        SessionEvent::Audio(block) => block,
        other => panic!("expected audio, got {other:?}"),
    }
}

#[tokio::test]
async fn voices_are_listed_with_kind_latency_and_readiness() {
    let server = start_audio();
    let list: VoiceList =
        common::get_json(&reqwest::Client::new(), &server.url, "/v1/voices", TOKEN).await;
    let ids: Vec<&str> = list.voices.iter().map(|v| v.id.as_str()).collect();
    for id in ["none", "deeper", "higher", "robot", "radio"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for v in &list.voices {
        assert_eq!(v.kind, studio_proto::api::VoiceKind::Dsp);
        assert!(v.ready && v.latency_ms <= 20.0, "{v:?}");
    }
    let status = ServerClient::new(&server.url, TOKEN)
        .unwrap()
        .status()
        .await
        .unwrap();
    assert_eq!(status.engine, "voice");
    assert!(status.backend == "ort" || status.backend == "tract");
}

#[tokio::test]
async fn talk_never_returns_exact_silence_and_converts_no_block() {
    let server = start_audio();
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let (offer, mut session) = client.open_raw_session().await.unwrap();
    session.sender.send_control(Control::SetVoice {
        voice_id: "dsp:pitch=12".into(),
    });
    session.sender.send_control(Control::Talk { active: false });
    for _ in 0..2 {
        assert_eq!(next_ack(&mut session.events).await.error, None);
    }
    for seq in 0..50 {
        session.sender.send_audio(tone(seq));
    }
    for seq in 0..50 {
        let back = next_audio(&mut session.events).await;
        assert_eq!((back.seq, back.samples.len()), (seq, 960));
        assert!(
            back.samples.iter().all(|&v| v == 0.0),
            "block {seq} is not silent"
        );
    }
    let entry = session_status(&client, &offer.id).await;
    assert_eq!(entry.samples_out, 50 * 960);
    assert_eq!(entry.converted_blocks, 0);
    assert_eq!(entry.settings.talk, Some(false));
}

#[tokio::test]
async fn the_own_voice_control_returns_the_voice_as_sent_and_the_status_says_so() {
    let server = start_audio();
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let (offer, mut session) = client.open_raw_session().await.unwrap();
    session.sender.send_control(Control::SetVoice {
        voice_id: "dsp:pitch=12".into(),
    });
    session.sender.send_control(Control::Talk { active: false });
    session
        .sender
        .send_control(Control::PassThrough { active: true });
    for _ in 0..3 {
        assert_eq!(next_ack(&mut session.events).await.error, None);
    }
    for seq in 0..20 {
        session.sender.send_audio(tone(seq));
    }
    for seq in 0..20 {
        let back = next_audio(&mut session.events).await;
        assert_eq!(back.samples, tone(seq).samples, "block {seq} changed");
    }
    let entry = session_status(&client, &offer.id).await;
    assert_eq!(entry.settings.pass_through, Some(true));
    assert_eq!(entry.converted_blocks, 0);
}

#[tokio::test]
async fn an_unknown_voice_is_refused_in_the_ack_and_the_previous_voice_stays() {
    let server = start_audio();
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let (offer, mut session) = client.open_raw_session().await.unwrap();
    session.sender.send_control(Control::SetVoice {
        voice_id: "deeper".into(),
    });
    let bad = session.sender.send_control(Control::SetVoice {
        voice_id: "nope".into(),
    });
    let mut errors = Vec::new();
    for _ in 0..2 {
        let ack = next_ack(&mut session.events).await;
        errors.push((ack.seq, ack.error));
    }
    assert_eq!(errors[0].1, None);
    assert_eq!(errors[1].0, bad);
    let message = errors[1].1.clone().expect("an error for the unknown voice");
    assert!(message.contains("unknown voice \"nope\""), "{message}");
    session.sender.send_audio(tone(0));
    assert!(matches!(
        next_event(&mut session.events).await,
        SessionEvent::Audio(_)
    ));
    let entry = session_status(&client, &offer.id).await;
    assert_eq!(entry.settings.voice_id.as_deref(), Some("deeper"));
    assert_eq!(entry.converted_blocks, 1);
}

#[tokio::test]
async fn a_voice_shift_is_taken_within_its_range_and_refused_beyond_it() {
    let server = start_audio();
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let (offer, mut session) = client.open_raw_session().await.unwrap();
    session.sender.send_control(Control::SetVoice {
        voice_id: "deeper".into(),
    });
    session.sender.send_control(Control::VoiceShift {
        key: 5.0,
        formant: 0.5,
    });
    let too_far = session.sender.send_control(Control::VoiceShift {
        key: 30.0,
        formant: 0.0,
    });
    let too_much_formant = session.sender.send_control(Control::VoiceShift {
        key: 0.0,
        formant: 2.5,
    });
    let mut acks = Vec::new();
    for _ in 0..4 {
        acks.push(next_ack(&mut session.events).await);
    }
    assert_eq!(
        (acks[0].error.as_ref(), acks[1].error.as_ref()),
        (None, None)
    );
    assert_eq!(acks[2].seq, too_far);
    let message = acks[2].error.clone().expect("a refusal for key 30");
    assert!(
        message.contains("key must be") && message.contains("30"),
        "{message}"
    );
    assert_eq!(acks[3].seq, too_much_formant);
    let message = acks[3].error.clone().expect("a refusal for formant 2.5");
    assert!(message.contains("formant must be"), "{message}");
    // The shift taken stays; the voice still converts.
    session.sender.send_audio(tone(0));
    assert!(matches!(
        next_event(&mut session.events).await,
        SessionEvent::Audio(_)
    ));
    let entry = session_status(&client, &offer.id).await;
    assert_eq!(entry.settings.voice_shift, Some((5.0, 0.5)));
}

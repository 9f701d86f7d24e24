//! Live settings for a run: the latest face, voice and talk state per path. A change goes to
//! the open session at once and is replayed to every new session, so a restarted server picks
//! up where the old one was. The session's answers are matched to what was sent, so a refusal
//! names the setting it refuses, and a refused setting is not replayed.

use std::collections::{BTreeMap, VecDeque};
use std::mem::discriminant;
use std::sync::{Mutex, MutexGuard};
use studio_proto::Role;
use studio_proto::control::{Control, ControlAck};
use studio_transport::SessionSender;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many sent controls wait for their answer at most; a server answers each in order, so
/// only a server that stopped answering reaches it (the oldest are then forgotten).
const UNANSWERED_LIMIT: usize = 64;

#[derive(Default)]
struct PathControls {
    /// The latest control of each kind, in the order the kinds were first set.
    settings: Vec<Control>,
    session: Option<SessionSender>,
    /// Sent to the open session and not answered yet, by sequence number.
    unanswered: VecDeque<(u64, Control)>,
}

impl PathControls {
    fn send(&mut self, control: Control) {
        let Some(session) = self.session.as_ref().filter(|s| s.is_open()) else {
            return;
        };
        let seq = session.send_control(control.clone());
        if self.unanswered.len() == UNANSWERED_LIMIT {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back((seq, control));
    }
}

/// Shared by whoever changes settings (the CLI, the window) and the run's session links.
#[derive(Default)]
pub struct LiveControls {
    paths: Mutex<BTreeMap<Role, PathControls>>,
}

impl LiveControls {
    pub fn new() -> LiveControls {
        LiveControls::default()
    }

    /// Change a setting on `role`'s path: sent now if a session is open, and remembered.
    pub fn set(&self, role: Role, control: Control) {
        let mut paths = lock(&self.paths);
        let path = paths.entry(role).or_default();
        match path
            .settings
            .iter_mut()
            .find(|c| discriminant(*c) == discriminant(&control))
        {
            Some(existing) => *existing = control.clone(),
            None => path.settings.push(control.clone()),
        }
        path.send(control);
    }

    /// The open session on `role`'s path answered: the control it answers, if it is one
    /// sent here. A refused control is forgotten unless a newer one of its kind replaced it,
    /// so a new session is not sent it again.
    pub(crate) fn answered(&self, role: Role, ack: &ControlAck) -> Option<Control> {
        let mut paths = lock(&self.paths);
        let path = paths.get_mut(&role)?;
        // Answers come in order: anything older was answered or lost with its session.
        while path
            .unanswered
            .front()
            .is_some_and(|(seq, _)| *seq < ack.seq)
        {
            path.unanswered.pop_front();
        }
        let (_, control) = path
            .unanswered
            .pop_front()
            .filter(|(seq, _)| *seq == ack.seq)?;
        if ack.error.is_some() {
            path.settings.retain(|c| c != &control);
        }
        Some(control)
    }

    /// The settings in force on `role`'s path.
    pub fn current(&self, role: Role) -> Vec<Control> {
        lock(&self.paths)
            .get(&role)
            .map(|p| p.settings.clone())
            .unwrap_or_default()
    }

    /// A new session opened on `role`'s path: give it every setting in force.
    pub fn attach(&self, role: Role, session: SessionSender) {
        let mut paths = lock(&self.paths);
        let path = paths.entry(role).or_default();
        path.session = Some(session);
        path.unanswered.clear();
        for control in path.settings.clone() {
            path.send(control);
        }
    }

    pub fn detach(&self, role: Role) {
        if let Some(path) = lock(&self.paths).get_mut(&role) {
            path.session = None;
            path.unanswered.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use studio_transport::{RawListener, SessionHandle, Work};

    async fn next_control(inbox: &studio_transport::Mailbox) -> Control {
        match tokio::time::timeout(Duration::from_secs(5), inbox.next()).await {
            Ok(Some(Work::Control { control, .. })) => control,
            other => panic!("expected a control, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn settings_are_replayed_to_a_new_session_latest_of_each_kind() {
        let controls = LiveControls::new();
        controls.set(
            Role::Audio,
            Control::SetVoice {
                voice_id: "a".into(),
            },
        );
        controls.set(Role::Audio, Control::Talk { active: true });
        controls.set(
            Role::Audio,
            Control::SetVoice {
                voice_id: "b".into(),
            },
        );

        let listener = RawListener::bind().await.unwrap();
        let (address, key) = (listener.address().to_string(), listener.key().to_string());
        let accept = tokio::spawn(listener.accept(Duration::from_secs(5)));
        let session = SessionHandle::connect_raw(&address, &key).await.unwrap();
        let server = accept.await.unwrap().unwrap();

        controls.attach(Role::Audio, session.sender.clone());
        assert_eq!(
            next_control(&server.inbox).await,
            Control::SetVoice {
                voice_id: "b".into()
            }
        );
        assert_eq!(
            next_control(&server.inbox).await,
            Control::Talk { active: true }
        );

        // A change while attached goes out at once; other paths are untouched.
        controls.set(Role::Audio, Control::Talk { active: false });
        assert_eq!(
            next_control(&server.inbox).await,
            Control::Talk { active: false }
        );
        assert!(controls.current(Role::Video).is_empty());
    }

    #[tokio::test]
    async fn answers_name_what_they_answer_and_a_refused_setting_is_not_replayed() {
        let controls = LiveControls::new();
        let listener = RawListener::bind().await.unwrap();
        let (address, key) = (listener.address().to_string(), listener.key().to_string());
        let accept = tokio::spawn(listener.accept(Duration::from_secs(5)));
        let session = SessionHandle::connect_raw(&address, &key).await.unwrap();
        let server = accept.await.unwrap().unwrap();
        controls.attach(Role::Audio, session.sender.clone());

        let voice = |id: &str| Control::SetVoice {
            voice_id: id.into(),
        };
        controls.set(Role::Audio, voice("robot"));
        controls.set(Role::Audio, voice("ghost"));
        let mut seqs = Vec::new();
        for _ in 0..2 {
            match tokio::time::timeout(Duration::from_secs(5), server.inbox.next()).await {
                Ok(Some(Work::Control { seq, .. })) => seqs.push(seq),
                other => panic!("expected a control, got {other:?}"),
            }
        }
        let taken = ControlAck {
            seq: seqs[0],
            error: None,
        };
        assert_eq!(controls.answered(Role::Audio, &taken), Some(voice("robot")));
        let refused = ControlAck {
            seq: seqs[1],
            error: Some("unknown voice".into()),
        };
        assert_eq!(
            controls.answered(Role::Audio, &refused),
            Some(voice("ghost"))
        );
        assert_eq!(
            controls.answered(Role::Audio, &refused),
            None,
            "answered once"
        );
        assert!(
            controls.current(Role::Audio).is_empty(),
            "the refused voice is not sent to the next session"
        );
    }
}

//! Live settings for a run: the latest face, voice and talk state per path. A change goes to
//! the open session at once and is replayed to every new session, so a restarted server picks
//! up where the old one was.

use std::collections::BTreeMap;
use std::mem::discriminant;
use std::sync::{Mutex, MutexGuard};
use studio_proto::Role;
use studio_proto::control::Control;
use studio_transport::SessionSender;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct PathControls {
    /// The latest control of each kind, in the order the kinds were first set.
    settings: Vec<Control>,
    session: Option<SessionSender>,
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
        if let Some(session) = path.session.as_ref().filter(|s| s.is_open()) {
            session.send_control(control);
        }
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
        for control in &path.settings {
            session.send_control(control.clone());
        }
        path.session = Some(session);
    }

    pub fn detach(&self, role: Role) {
        if let Some(path) = lock(&self.paths).get_mut(&role) {
            path.session = None;
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
}

//! The global talk key: pressed and released anywhere on the desktop, read passively (other
//! programs still get the key), and turned into `Control::Talk { active }` on the audio path,
//! where the voice engine's talk gate acts on it.
//!
//! [`TalkKeyState`] is the sans-IO part (key events in, talk changes out, auto-repeat and
//! duplicate events ignored). Three drivers feed it: rdev on X11, Windows and macOS; on
//! Wayland, where no program may watch other windows' keys, the desktop portal's global
//! shortcuts ([`portal`]) and, where the desktop has none, the kernel's evdev
//! devices.

mod key;
pub mod portal;

pub use key::{KeyEvent, TalkKey, TalkKeyState};

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use studio_proto::Role;
use studio_proto::control::Control;
use studio_run::controls::LiveControls;

/// Apply talk-key events to the audio path until the sender side closes.
pub fn apply_events(events: mpsc::Receiver<KeyEvent>, controls: Arc<LiveControls>) {
    let mut state = TalkKeyState::default();
    for event in events {
        if let Some(active) = state.on_event(event) {
            tracing::debug!(active, "talk key");
            controls.set(Role::Audio, Control::Talk { active });
        }
    }
}

/// `EV_KEY` in `<linux/input-event-codes.h>`.
const EV_KEY: u16 = 1;
/// `sizeof(struct input_event)` on 64-bit Linux: a timeval (16 bytes), type, code, value.
const INPUT_EVENT_SIZE: usize = 24;

/// Read `struct input_event`s from an evdev device (or anything that reads like one) and send
/// the talk key's presses and releases; auto-repeat (value 2) is dropped. Returns when the
/// reader ends or the receiver is gone.
pub fn read_evdev(
    mut reader: impl Read,
    code: u16,
    events: &mpsc::Sender<KeyEvent>,
) -> std::io::Result<()> {
    let mut buffer = [0u8; INPUT_EVENT_SIZE * 16];
    let mut filled = 0;
    loop {
        let n = reader.read(&mut buffer[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let whole = filled / INPUT_EVENT_SIZE * INPUT_EVENT_SIZE;
        for event in buffer[..whole].chunks_exact(INPUT_EVENT_SIZE) {
            let kind = u16::from_ne_bytes([event[16], event[17]]);
            let key = u16::from_ne_bytes([event[18], event[19]]);
            let value = i32::from_ne_bytes([event[20], event[21], event[22], event[23]]);
            if kind != EV_KEY || key != code {
                continue;
            }
            let event = match value {
                1 => KeyEvent::Pressed,
                0 => KeyEvent::Released,
                _ => continue,
            };
            if events.send(event).is_err() {
                return Ok(());
            }
        }
        buffer.copy_within(whole..filled, 0);
        filled -= whole;
    }
}

/// Watch every input device in `dir` (normally `/dev/input`) we may read, each on a thread of
/// its own. Fails with the fix when none can be read.
pub fn start_evdev(
    dir: &Path,
    key: TalkKey,
    events: mpsc::Sender<KeyEvent>,
) -> anyhow::Result<usize> {
    let mut watched = 0;
    let mut denied = 0;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("event") {
            continue;
        }
        match std::fs::File::open(entry.path()) {
            Ok(file) => {
                let events = events.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("talk key {name}"))
                    .spawn(move || {
                        let _ = read_evdev(file, key.evdev_code, &events);
                    });
                if spawned.is_ok() {
                    watched += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied += 1,
            Err(_) => {}
        }
    }
    if watched == 0 {
        anyhow::bail!(
            "the talk key cannot be read: {} keyboard device(s) are not readable by this user. \
             Add yourself to the input group (`sudo usermod -aG input $USER`), then log out and \
             back in",
            denied
        );
    }
    Ok(watched)
}

/// Listen through rdev (X11, Windows, macOS): passive, so the key still reaches other
/// programs. rdev's listener never returns; its thread lives as long as the process.
pub fn start_rdev(key: TalkKey, events: mpsc::Sender<KeyEvent>) -> anyhow::Result<()> {
    let wanted = rdev_key(key).ok_or_else(|| anyhow::anyhow!("{} has no rdev name", key.name))?;
    std::thread::Builder::new()
        .name("talk key".into())
        .spawn(move || {
            let result = rdev::listen(move |event| {
                let mapped = match event.event_type {
                    rdev::EventType::KeyPress(k) if k == wanted => Some(KeyEvent::Pressed),
                    rdev::EventType::KeyRelease(k) if k == wanted => Some(KeyEvent::Released),
                    _ => None,
                };
                if let Some(mapped) = mapped {
                    let _ = events.send(mapped);
                }
            });
            if let Err(e) = result {
                tracing::warn!("the talk key listener stopped: {e:?}");
            }
        })?;
    Ok(())
}

fn rdev_key(key: TalkKey) -> Option<rdev::Key> {
    use rdev::Key as K;
    let letters = [
        K::KeyA,
        K::KeyB,
        K::KeyC,
        K::KeyD,
        K::KeyE,
        K::KeyF,
        K::KeyG,
        K::KeyH,
        K::KeyI,
        K::KeyJ,
        K::KeyK,
        K::KeyL,
        K::KeyM,
        K::KeyN,
        K::KeyO,
        K::KeyP,
        K::KeyQ,
        K::KeyR,
        K::KeyS,
        K::KeyT,
        K::KeyU,
        K::KeyV,
        K::KeyW,
        K::KeyX,
        K::KeyY,
        K::KeyZ,
    ];
    if key.name.len() == 1 {
        let index = key.name.as_bytes()[0].checked_sub(b'A')? as usize;
        return letters.get(index).copied();
    }
    Some(match key.name {
        "Space" => K::Space,
        "Tab" => K::Tab,
        "CapsLock" => K::CapsLock,
        "Backquote" => K::BackQuote,
        "LeftShift" => K::ShiftLeft,
        "RightShift" => K::ShiftRight,
        "LeftCtrl" => K::ControlLeft,
        "RightCtrl" => K::ControlRight,
        "LeftAlt" => K::Alt,
        "RightAlt" => K::AltGr,
        "LeftMeta" => K::MetaLeft,
        "RightMeta" => K::MetaRight,
        "ScrollLock" => K::ScrollLock,
        "Pause" => K::Pause,
        "Insert" => K::Insert,
        "Home" => K::Home,
        "End" => K::End,
        "PageUp" => K::PageUp,
        "PageDown" => K::PageDown,
        "F1" => K::F1,
        "F2" => K::F2,
        "F3" => K::F3,
        "F4" => K::F4,
        "F5" => K::F5,
        "F6" => K::F6,
        "F7" => K::F7,
        "F8" => K::F8,
        "F9" => K::F9,
        "F10" => K::F10,
        "F11" => K::F11,
        "F12" => K::F12,
        _ => return None,
    })
}

/// How long the desktop portal may take to open a shortcut session before evdev is used.
#[cfg(target_os = "linux")]
const PORTAL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// On Wayland: the desktop portal's global shortcut when the desktop offers one, else evdev.
/// If the user later declines the portal's shortcut, evdev takes over. Returns the driver.
#[cfg(target_os = "linux")]
pub fn start_wayland(
    portal: Option<zbus::Connection>,
    input_dir: &Path,
    key: TalkKey,
    events: mpsc::Sender<KeyEvent>,
) -> anyhow::Result<&'static str> {
    if let Some(connection) = portal {
        let (fallback_dir, fallback_events) = (input_dir.to_path_buf(), events.clone());
        let started = portal::start(
            connection,
            key,
            events.clone(),
            PORTAL_PATIENCE,
            move |error| {
                tracing::warn!("talk key: {error}; reading the keyboard devices instead");
                if let Err(e) = start_evdev(&fallback_dir, key, fallback_events) {
                    tracing::warn!("{e:#}");
                }
            },
        );
        match started {
            Ok(()) => return Ok("portal"),
            Err(e) => tracing::info!("talk key: {e}; reading the keyboard devices instead"),
        }
    }
    start_evdev(input_dir, key, events)?;
    Ok("evdev")
}

/// Start the talk key for this desktop and feed `controls`: under Wayland (or with no display
/// at all) the desktop portal's global shortcut, else evdev; rdev otherwise. Returns which
/// driver runs.
pub fn start(key_name: &str, controls: Arc<LiveControls>) -> anyhow::Result<&'static str> {
    let (driver, rx) = start_events(key_name)?;
    std::thread::Builder::new()
        .name("talk state".into())
        .spawn(move || apply_events(rx, controls))?;
    Ok(driver)
}

/// Start the talk key for this desktop (as [`start`] chooses) and hand out its presses and
/// releases. Returns which driver runs.
pub fn start_events(key_name: &str) -> anyhow::Result<(&'static str, mpsc::Receiver<KeyEvent>)> {
    let key = TalkKey::parse(key_name).map_err(anyhow::Error::msg)?;
    let (tx, rx) = mpsc::channel();
    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some()
        || std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland");
    let display = std::env::var_os("DISPLAY").is_some();
    #[cfg(target_os = "linux")]
    let driver = if wayland || !display {
        let portal = portal::session_bus()
            .map_err(|e| tracing::info!("talk key: {e}"))
            .ok();
        start_wayland(portal, Path::new("/dev/input"), key, tx)?
    } else {
        start_rdev(key, tx)?;
        "rdev"
    };
    #[cfg(not(target_os = "linux"))]
    let driver = {
        let _ = (wayland, display);
        start_rdev(key, tx)?;
        "rdev"
    };
    Ok((driver, rx))
}

#[cfg(test)]
mod tests {
    use super::key::KEYS;
    use super::*;

    fn input_event(kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut raw = vec![0u8; 16];
        raw.extend(kind.to_ne_bytes());
        raw.extend(code.to_ne_bytes());
        raw.extend(value.to_ne_bytes());
        raw
    }

    #[test]
    fn key_names_parse_case_insensitively_and_unknown_ones_list_the_choices() {
        assert_eq!(TalkKey::parse("space").unwrap().evdev_code, 57);
        assert_eq!(TalkKey::parse("F12").unwrap().evdev_code, 88);
        assert_eq!(TalkKey::parse("rightctrl").unwrap().name, "RightCtrl");
        assert_eq!(TalkKey::parse("ControlRight").unwrap().name, "RightCtrl");
        let error = TalkKey::parse("Hyper").unwrap_err();
        assert!(
            error.contains("talk.key") && error.contains("CapsLock"),
            "{error}"
        );
        for (name, _) in KEYS {
            let key = TalkKey::parse(name).unwrap();
            assert!(rdev_key(key).is_some(), "{name} has an rdev key");
        }
    }

    #[test]
    fn repeats_and_duplicates_do_not_toggle_talking() {
        let mut state = TalkKeyState::default();
        assert_eq!(state.on_event(KeyEvent::Pressed), Some(true));
        assert_eq!(state.on_event(KeyEvent::Pressed), None);
        assert_eq!(state.on_event(KeyEvent::Released), Some(false));
        assert_eq!(state.on_event(KeyEvent::Released), None);
    }

    #[test]
    fn evdev_events_of_the_key_become_press_and_release_and_repeats_are_dropped() {
        let mut stream = Vec::new();
        stream.extend(input_event(4, 4, 57)); // EV_MSC scan code: ignored
        stream.extend(input_event(EV_KEY, 57, 1)); // Space down
        stream.extend(input_event(EV_KEY, 57, 2)); // auto-repeat
        stream.extend(input_event(EV_KEY, 30, 1)); // another key
        stream.extend(input_event(0, 0, 0)); // EV_SYN
        stream.extend(input_event(EV_KEY, 57, 0)); // Space up
        // Delivered in awkward pieces, as a pipe may.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = 7.min(self.0.len() - self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let (tx, rx) = mpsc::channel();
        read_evdev(Trickle(stream, 0), 57, &tx).unwrap();
        drop(tx);
        let events: Vec<KeyEvent> = rx.iter().collect();
        assert_eq!(events, [KeyEvent::Pressed, KeyEvent::Released]);
    }

    #[tokio::test]
    async fn key_presses_reach_the_audio_server_as_talk_controls() {
        use std::time::Duration;
        use studio_transport::{RawListener, SessionHandle, Work};
        let listener = RawListener::bind().await.unwrap();
        let (address, key) = (listener.address().to_string(), listener.key().to_string());
        let accept = tokio::spawn(listener.accept(Duration::from_secs(5)));
        let session = SessionHandle::connect_raw(&address, &key).await.unwrap();
        let server = accept.await.unwrap().unwrap();
        let controls = Arc::new(LiveControls::new());
        controls.attach(Role::Audio, session.sender.clone());

        let (tx, rx) = mpsc::channel();
        let applier = std::thread::spawn({
            let controls = controls.clone();
            move || apply_events(rx, controls)
        });
        for event in [KeyEvent::Pressed, KeyEvent::Pressed, KeyEvent::Released] {
            tx.send(event).unwrap();
        }
        drop(tx);
        applier.join().unwrap();
        for expected in [true, false] {
            match tokio::time::timeout(Duration::from_secs(5), server.inbox.next()).await {
                Ok(Some(Work::Control { control, .. })) => {
                    assert_eq!(control, Control::Talk { active: expected })
                }
                other => panic!("expected a talk control, got {other:?}"),
            }
        }
        assert_eq!(
            controls.current(Role::Audio),
            [Control::Talk { active: false }]
        );
    }

    #[test]
    fn no_readable_input_device_says_how_to_get_access() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::channel();
        let error = start_evdev(dir.path(), TalkKey::parse("Space").unwrap(), tx)
            .unwrap_err()
            .to_string();
        assert!(error.contains("usermod -aG input"), "{error}");
    }
}

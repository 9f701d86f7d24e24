//! The Wayland talk key through the desktop portal, against a fake GlobalShortcuts portal on a
//! private D-Bus bus (a real `dbus-daemon` started by the test): the studio opens a session,
//! binds the key with the configured trigger, and turns the portal's Activated/Deactivated
//! signals into presses and releases; without a portal, or when the user declines the key,
//! the keyboard devices (evdev) take over.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use studio_app::doctor::talk_key_fact;
use studio_app::talk::portal::{PORTAL_PATH, PORTAL_SERVICE, version};
use studio_app::talk::{KeyEvent, TalkKey, start_wayland};
use zbus::Connection;
use zbus::message::Header;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

/// A private bus, gone with the test.
struct Bus {
    daemon: Child,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package `dbus`; .ci/run installs it)");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Bus {
            daemon,
            address: line.trim().to_string(),
        }
    }

    fn connect(&self) -> Connection {
        async_io::block_on(
            zbus::connection::Builder::address(self.address.as_str())
                .unwrap()
                .build(),
        )
        .unwrap()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// What the fake portal was asked to bind, `(shortcut id, preferred trigger)`, and the
/// sessions it opened.
#[derive(Clone, Default)]
struct Seen {
    binds: Arc<Mutex<Vec<(String, String)>>>,
    sessions: Arc<Mutex<Vec<String>>>,
}

/// GlobalShortcuts as xdg-desktop-portal implements it: each call returns a request path
/// and answers with that request's `Response` signal.
struct FakePortal {
    seen: Seen,
    /// The bind's response code: 0 granted, 1 the user cancelled.
    bind_answer: u32,
}

fn sender_part(header: &Header<'_>) -> String {
    header
        .sender()
        .unwrap()
        .trim_start_matches(':')
        .replace('.', "_")
}

fn option(options: &HashMap<String, OwnedValue>, name: &str) -> String {
    String::try_from(options[name].clone()).unwrap()
}

async fn respond(
    connection: &Connection,
    path: &str,
    code: u32,
    results: HashMap<&str, Value<'_>>,
) {
    connection
        .emit_signal(
            None::<()>,
            path,
            "org.freedesktop.portal.Request",
            "Response",
            &(code, results),
        )
        .await
        .unwrap();
}

#[zbus::interface(name = "org.freedesktop.portal.GlobalShortcuts")]
impl FakePortal {
    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }

    async fn create_session(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let sender = sender_part(&header);
        let request = format!(
            "{PORTAL_PATH}/request/{sender}/{}",
            option(&options, "handle_token")
        );
        let session = format!(
            "{PORTAL_PATH}/session/{sender}/{}",
            option(&options, "session_handle_token")
        );
        self.seen.sessions.lock().unwrap().push(session.clone());
        // The portal sends the session handle as a string.
        respond(
            connection,
            &request,
            0,
            HashMap::from([("session_handle", Value::from(session))]),
        )
        .await;
        OwnedObjectPath::try_from(request).unwrap()
    }

    async fn bind_shortcuts(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _session_handle: OwnedObjectPath,
        shortcuts: Vec<(String, HashMap<String, OwnedValue>)>,
        _parent_window: String,
        options: HashMap<String, OwnedValue>,
    ) -> OwnedObjectPath {
        let request = format!(
            "{PORTAL_PATH}/request/{}/{}",
            sender_part(&header),
            option(&options, "handle_token")
        );
        let mut bound = Vec::new();
        for (id, properties) in &shortcuts {
            self.seen
                .binds
                .lock()
                .unwrap()
                .push((id.clone(), option(properties, "preferred_trigger")));
            let trigger =
                HashMap::from([("trigger_description".to_string(), Value::from("Right Ctrl"))]);
            bound.push((id.clone(), trigger));
        }
        respond(
            connection,
            &request,
            self.bind_answer,
            HashMap::from([("shortcuts", Value::new(bound))]),
        )
        .await;
        OwnedObjectPath::try_from(request).unwrap()
    }
}

fn serve_portal(bus: &Bus, bind_answer: u32) -> (Connection, Seen) {
    let seen = Seen::default();
    let portal = FakePortal {
        seen: seen.clone(),
        bind_answer,
    };
    let connection = async_io::block_on(
        zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .name(PORTAL_SERVICE)
            .unwrap()
            .serve_at(PORTAL_PATH, portal)
            .unwrap()
            .build(),
    )
    .unwrap();
    (connection, seen)
}

fn key_event_bytes(code: u16, value: i32) -> Vec<u8> {
    let mut raw = vec![0u8; 16];
    raw.extend(1u16.to_ne_bytes()); // EV_KEY
    raw.extend(code.to_ne_bytes());
    raw.extend(value.to_ne_bytes());
    raw
}

fn next_event(rx: &mpsc::Receiver<KeyEvent>) -> Option<KeyEvent> {
    rx.recv_timeout(Duration::from_secs(5)).ok()
}

fn emit(portal: &Connection, session: &str, name: &str, id: &str) {
    async_io::block_on(portal.emit_signal(
        None::<()>,
        PORTAL_PATH,
        "org.freedesktop.portal.GlobalShortcuts",
        name,
        &(
            ObjectPath::try_from(session).unwrap(),
            id,
            0u64,
            HashMap::<&str, Value<'_>>::new(),
        ),
    ))
    .unwrap();
}

#[test]
fn the_portal_binds_the_talk_key_and_its_signals_become_presses_and_releases() {
    let bus = Bus::start();
    let (portal, seen) = serve_portal(&bus, 0);
    let client = bus.connect();
    let empty_input = tempfile::tempdir().unwrap();
    let key = TalkKey::parse("RightCtrl").unwrap();
    let (tx, rx) = mpsc::channel();
    let driver = start_wayland(Some(client.clone()), empty_input.path(), key, tx).unwrap();
    assert_eq!(driver, "portal");
    // The bind happens on the portal thread after the session opened.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.binds.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        *seen.binds.lock().unwrap(),
        [("talk".to_string(), "Control_R".to_string())]
    );
    let session = seen.sessions.lock().unwrap()[0].clone();
    // The client subscribed to the portal's signals before it opened the session.
    emit(&portal, &session, "Activated", "some-other-shortcut");
    // Quick taps: every press arrives before its release.
    for _ in 0..20 {
        emit(&portal, &session, "Activated", "talk");
        emit(&portal, &session, "Deactivated", "talk");
    }
    for _ in 0..20 {
        assert_eq!(next_event(&rx), Some(KeyEvent::Pressed));
        assert_eq!(next_event(&rx), Some(KeyEvent::Released));
    }
    // Another session's shortcut is not ours.
    emit(
        &portal,
        &format!("{PORTAL_PATH}/session/1_999/other"),
        "Activated",
        "talk",
    );
    assert_eq!(rx.recv_timeout(Duration::from_millis(300)).ok(), None);
}

#[test]
fn without_a_portal_the_keyboard_devices_are_read() {
    let bus = Bus::start();
    let client = bus.connect();
    let input = tempfile::tempdir().unwrap();
    write_press(input.path());
    let (tx, rx) = mpsc::channel();
    let driver = start_wayland(
        Some(client),
        input.path(),
        TalkKey::parse("Space").unwrap(),
        tx,
    )
    .unwrap();
    assert_eq!(driver, "evdev");
    assert_eq!(next_event(&rx), Some(KeyEvent::Pressed));
}

#[test]
fn a_declined_shortcut_falls_back_to_the_keyboard_devices() {
    let bus = Bus::start();
    let (_portal, seen) = serve_portal(&bus, 1);
    let client = bus.connect();
    let input = tempfile::tempdir().unwrap();
    write_press(input.path());
    let (tx, rx) = mpsc::channel();
    let driver = start_wayland(
        Some(client),
        input.path(),
        TalkKey::parse("Space").unwrap(),
        tx,
    )
    .unwrap();
    assert_eq!(driver, "portal", "the session opened");
    assert_eq!(
        next_event(&rx),
        Some(KeyEvent::Pressed),
        "evdev took over after the user declined"
    );
    assert_eq!(seen.binds.lock().unwrap()[0].1, "space");
}

/// A keyboard device that has one press of Space waiting.
fn write_press(dir: &Path) {
    std::fs::write(dir.join("event0"), key_event_bytes(57, 1)).unwrap();
}

#[test]
fn the_doctor_names_the_portal_when_the_desktop_has_one_and_the_fix_when_nothing_works() {
    let bus = Bus::start();
    let client = bus.connect();
    let none = version(&client, Duration::from_secs(2));
    assert!(none.is_err(), "no portal on the bus yet: {none:?}");
    let fact = talk_key_fact(none, (0, 3)).unwrap_err();
    assert!(fact.0.contains("3 keyboard device(s)"), "{}", fact.0);
    assert!(fact.1.contains("usermod -aG input"), "{}", fact.1);
    assert!(
        talk_key_fact(version(&client, Duration::from_secs(2)), (2, 0))
            .unwrap()
            .contains("2 keyboard device(s)")
    );

    let (_portal, _) = serve_portal(&bus, 0);
    let found = version(&client, Duration::from_secs(2)).unwrap();
    assert_eq!(found, 1);
    let fact = talk_key_fact(Ok(found), (0, 3)).unwrap();
    assert!(fact.contains("GlobalShortcuts v1"), "{fact}");
}

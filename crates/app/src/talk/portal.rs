//! The talk key on Wayland through the desktop portal's GlobalShortcuts interface
//! (xdg-desktop-portal): the studio asks the desktop for a "talk" shortcut with the configured
//! key as its preferred trigger, and the desktop reports when it is pressed and released. No
//! access to keyboard devices is needed; the desktop may ask the user to confirm the key once.
//!
//! Every portal call answers with a request object whose `Response` signal carries the
//! result; we subscribe to it at its predictable path before calling, so no answer is missed.

use super::key::{KeyEvent, TalkKey};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;
use zbus::Connection;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

/// The id of our one shortcut.
pub const SHORTCUT_ID: &str = "talk";
pub const PORTAL_SERVICE: &str = "org.freedesktop.portal.Desktop";
pub const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";

#[zbus::proxy(
    interface = "org.freedesktop.portal.GlobalShortcuts",
    default_service = "org.freedesktop.portal.Desktop",
    default_path = "/org/freedesktop/portal/desktop",
    gen_blocking = false
)]
trait GlobalShortcuts {
    fn create_session(&self, options: HashMap<&str, Value<'_>>) -> zbus::Result<OwnedObjectPath>;

    fn bind_shortcuts(
        &self,
        session_handle: &ObjectPath<'_>,
        shortcuts: &[(&str, HashMap<&str, Value<'_>>)],
        parent_window: &str,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<OwnedObjectPath>;

    #[zbus(signal)]
    fn activated(
        &self,
        session_handle: ObjectPath<'_>,
        shortcut_id: &str,
        timestamp: u64,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    fn deactivated(
        &self,
        session_handle: ObjectPath<'_>,
        shortcut_id: &str,
        timestamp: u64,
        options: HashMap<&str, Value<'_>>,
    ) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.freedesktop.portal.Request",
    default_service = "org.freedesktop.portal.Desktop",
    gen_blocking = false
)]
trait Request {
    #[zbus(signal)]
    fn response(&self, response: u32, results: HashMap<String, OwnedValue>) -> zbus::Result<()>;
}

/// Why the portal could not give us the talk key.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("the desktop portal offers no global shortcuts here ({0})")]
    Unsupported(String),
    #[error("the talk key was not confirmed in the desktop's shortcut dialog")]
    Cancelled,
    #[error("the desktop portal refused the talk key: {0}")]
    Refused(String),
    #[error("the desktop portal did not answer within {0:?}")]
    NoAnswer(Duration),
    #[error("the desktop portal connection failed: {0}")]
    Bus(#[from] zbus::Error),
}

/// The key as the XDG shortcuts specification writes a trigger (an xkb keysym name).
pub fn preferred_trigger(key: TalkKey) -> String {
    let keysym = match key.name {
        "Space" => "space",
        "Backquote" => "grave",
        "CapsLock" => "Caps_Lock",
        "LeftShift" => "Shift_L",
        "RightShift" => "Shift_R",
        "LeftCtrl" => "Control_L",
        "RightCtrl" => "Control_R",
        "LeftAlt" => "Alt_L",
        "RightAlt" => "Alt_R",
        "LeftMeta" => "Super_L",
        "RightMeta" => "Super_R",
        "ScrollLock" => "Scroll_Lock",
        "PageUp" => "Page_Up",
        "PageDown" => "Page_Down",
        letter if letter.len() == 1 => return letter.to_ascii_lowercase(),
        other => other, // Tab, Pause, Insert, Home, End, F1..F12 are their own keysyms.
    };
    keysym.to_string()
}

/// A portal shortcut signal as a talk-key event: only ours counts.
pub fn key_event(shortcut_id: &str, activated: bool) -> Option<KeyEvent> {
    (shortcut_id == SHORTCUT_ID).then_some(if activated {
        KeyEvent::Pressed
    } else {
        KeyEvent::Released
    })
}

/// A fresh token for a request or session path (unique within this process).
fn token(kind: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "studio_{kind}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where the portal puts the request object for `token` (the portal documents this path).
fn request_path(connection: &Connection, token: &str) -> Result<OwnedObjectPath, PortalError> {
    let sender = connection
        .unique_name()
        .map(|n| n.trim_start_matches(':').replace('.', "_"))
        .ok_or_else(|| PortalError::Unsupported("no name on the session bus".into()))?;
    OwnedObjectPath::try_from(format!("{PORTAL_PATH}/request/{sender}/{token}"))
        .map_err(|e| PortalError::Bus(e.into()))
}

/// Call a portal method that answers through a request object and wait for its results.
async fn call<F>(
    connection: &Connection,
    patience: Option<Duration>,
    call: impl FnOnce(String) -> F,
) -> Result<HashMap<String, OwnedValue>, PortalError>
where
    F: std::future::Future<Output = zbus::Result<OwnedObjectPath>>,
{
    let handle_token = token("request");
    let path = request_path(connection, &handle_token)?;
    let request = RequestProxy::builder(connection)
        .path(path.clone())?
        .build()
        .await?;
    let mut responses = request.receive_response().await?;
    let returned = call(handle_token).await.map_err(unsupported)?;
    if returned != path {
        // Portals before version 0.9 chose their own request path: follow that one.
        let request = RequestProxy::builder(connection)
            .path(returned)?
            .build()
            .await?;
        responses = request.receive_response().await?;
    }
    let next = responses.next();
    let response = match patience {
        Some(limit) => {
            let timer = async_io::Timer::after(limit);
            match futures_util::future::select(std::pin::pin!(next), timer).await {
                futures_util::future::Either::Left((response, _)) => response,
                futures_util::future::Either::Right(_) => return Err(PortalError::NoAnswer(limit)),
            }
        }
        None => next.await,
    }
    .ok_or_else(|| PortalError::Refused("the request vanished".into()))?;
    let args = response.args()?;
    match args.response {
        0 => Ok(args.results),
        1 => Err(PortalError::Cancelled),
        code => Err(PortalError::Refused(format!("response code {code}"))),
    }
}

/// A missing portal or interface reads as "not supported here", not as a bus failure.
fn unsupported(error: zbus::Error) -> PortalError {
    match &error {
        zbus::Error::MethodError(name, message, _) => PortalError::Unsupported(format!(
            "{}{}",
            name.as_str(),
            message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        _ => PortalError::Bus(error),
    }
}

/// Open a session, bind the talk key and forward its presses and releases until the receiver
/// is gone or the bus connection ends. `session_open` runs once the portal opened the session
/// (held to `patience`); the bind after it may wait on the desktop's confirmation dialog.
async fn run(
    connection: &Connection,
    key: TalkKey,
    patience: Duration,
    events: &mpsc::Sender<KeyEvent>,
    session_open: impl FnOnce(),
) -> Result<(), PortalError> {
    let portal = GlobalShortcutsProxy::new(connection).await?;
    // Subscribed before binding, so a press right after the bind is not missed; one stream
    // for both signals, so a quick press and release arrive in the order they happened.
    let signals = portal.inner().receive_all_signals().await?;
    let session_token = token("session");
    let results = call(connection, Some(patience), |handle_token| {
        let portal = portal.clone();
        async move {
            let options = HashMap::from([
                ("handle_token", Value::from(handle_token)),
                ("session_handle_token", Value::from(session_token)),
            ]);
            portal.create_session(options).await
        }
    })
    .await?;
    let session: OwnedObjectPath = match results.get("session_handle").map(|v| &**v) {
        Some(Value::Str(s)) => OwnedObjectPath::try_from(s.as_str())
            .map_err(|e| PortalError::Refused(format!("a malformed session handle: {e}")))?,
        Some(Value::ObjectPath(p)) => p.clone().into(),
        _ => return Err(PortalError::Refused("no session handle".into())),
    };
    session_open();
    let trigger = preferred_trigger(key);
    let bound = call(connection, None, |handle_token| {
        let (portal, session) = (portal.clone(), session.clone());
        async move {
            let shortcut = HashMap::from([
                ("description", Value::from("Talk (Streaming Studio)")),
                ("preferred_trigger", Value::from(trigger)),
            ]);
            portal
                .bind_shortcuts(
                    &session.as_ref(),
                    &[(SHORTCUT_ID, shortcut)],
                    "",
                    HashMap::from([("handle_token", Value::from(handle_token))]),
                )
                .await
        }
    })
    .await?;
    let ours = bound
        .get("shortcuts")
        .and_then(|v| <Vec<(String, HashMap<String, OwnedValue>)>>::try_from(v.clone()).ok())
        .is_some_and(|list| list.iter().any(|(id, _)| id == SHORTCUT_ID));
    if !ours {
        return Err(PortalError::Refused(
            "the talk shortcut is not among those the desktop bound".into(),
        ));
    }
    let session = &session;
    let mut presses = std::pin::pin!(signals.filter_map(|message| async move {
        let header = message.header();
        let activated = match header.member()?.as_str() {
            "Activated" => true,
            "Deactivated" => false,
            _ => return None,
        };
        let (handle, id, _, _): (OwnedObjectPath, String, u64, HashMap<String, OwnedValue>) =
            message.body().deserialize().ok()?;
        (handle == *session)
            .then(|| key_event(&id, activated))
            .flatten()
    }));
    while let Some(event) = presses.next().await {
        if events.send(event).is_err() {
            break;
        }
    }
    Ok(())
}

/// Start the portal talk key on a thread of its own. Returns once the portal opened a session
/// (or failed to within `patience`), leaving the thread binding the key (the desktop may ask
/// the user) and forwarding it. A later failure, such as the user declining the key, goes to
/// `on_failure`, which can start another driver.
pub fn start(
    connection: Connection,
    key: TalkKey,
    events: mpsc::Sender<KeyEvent>,
    patience: Duration,
    on_failure: impl FnOnce(PortalError) + Send + 'static,
) -> Result<(), PortalError> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), PortalError>>();
    std::thread::Builder::new()
        .name("talk key portal".into())
        .spawn(move || {
            let ready = std::cell::Cell::new(Some(ready_tx));
            let outcome = async_io::block_on(run(&connection, key, patience, &events, || {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }));
            if let Err(e) = outcome {
                match ready.take() {
                    Some(ready) => {
                        let _ = ready.send(Err(e));
                    }
                    None => on_failure(e),
                }
            }
        })
        .map_err(|e| PortalError::Refused(format!("cannot start its thread: {e}")))?;
    ready_rx
        .recv_timeout(patience + Duration::from_secs(1))
        .map_err(|_| PortalError::NoAnswer(patience))?
}

/// The desktop portal's GlobalShortcuts version: whether the desktop offers global shortcuts
/// at all (for `studio doctor`).
pub fn version(connection: &Connection, patience: Duration) -> Result<u32, PortalError> {
    async_io::block_on(async {
        let properties = zbus::fdo::PropertiesProxy::builder(connection)
            .destination(PORTAL_SERVICE)?
            .path(PORTAL_PATH)?
            .build()
            .await?;
        let interface =
            zbus::names::InterfaceName::from_static_str("org.freedesktop.portal.GlobalShortcuts")
                .map_err(zbus::Error::from)?;
        let get = properties.get(interface, "version");
        let value = match futures_util::future::select(
            std::pin::pin!(get),
            async_io::Timer::after(patience),
        )
        .await
        {
            futures_util::future::Either::Left((value, _)) => value,
            futures_util::future::Either::Right(_) => return Err(PortalError::NoAnswer(patience)),
        }
        .map_err(|e| unsupported(e.into()))?;
        u32::try_from(value).map_err(|e| PortalError::Refused(format!("a version that is {e}")))
    })
}

/// Connect to the session bus (where the desktop portal lives).
pub fn session_bus() -> Result<Connection, PortalError> {
    Ok(async_io::block_on(Connection::session())?)
}

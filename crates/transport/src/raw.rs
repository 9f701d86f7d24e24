//! The same-host raw transport: uncompressed frames and audio blocks over a loopback TCP socket,
//! so a local session costs a memory copy, not a codec. The server end waits for one
//! connection that presents the session's one-time key; the app end gets a sender for its
//! capture threads and a stream of events for what comes back.

use crate::TransportError;
use crate::mailbox::{Mailbox, Work};
use crate::wire::{self, Message};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use studio_media::{AudioBlock, VideoFrame};
use studio_proto::control::{Control, ControlAck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Frames that may wait for the socket on the way back before the engine slows down; small,
/// so latency stays low and the inbox drops stale video instead.
const OUTGOING_DEPTH: usize = 4;
const READ_CHUNK: usize = 256 * 1024;

/// A fresh random key, hex encoded.
pub fn random_key() -> Result<String, TransportError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| TransportError::Io {
        what: "the system's random source".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compare secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The server end before its connection arrives.
pub struct RawListener {
    listener: TcpListener,
    address: SocketAddr,
    key: String,
}

impl RawListener {
    /// Listen on a free loopback port with a fresh key.
    pub async fn bind() -> Result<RawListener, TransportError> {
        let listener =
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| TransportError::Io {
                    what: "a loopback port for the session".into(),
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| TransportError::Io {
            what: "the session's loopback port".into(),
            source,
        })?;
        Ok(RawListener {
            listener,
            address,
            key: random_key()?,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Wait for the app's connection. Connections that do not start with the right key are
    /// closed and the wait goes on, until `timeout`. Each connection's key is read on its
    /// own (at most [`MAX_PENDING_HELLOS`] at once, each within [`HELLO_TIMEOUT`]), so a
    /// connection that sends nothing cannot hold the door shut for the app.
    pub async fn accept(self, timeout: Duration) -> Result<ServerConnection, TransportError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut hellos = tokio::task::JoinSet::new();
        loop {
            let room = hellos.len() < MAX_PENDING_HELLOS;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(TransportError::Timeout(format!(
                        "no connection to the session at {} within {timeout:?}",
                        self.address
                    )));
                }
                accepted = self.listener.accept(), if room => match accepted {
                    Ok((stream, peer)) => {
                        hellos.spawn(hello(stream, peer, self.key.clone()));
                    }
                    Err(source) => {
                        return Err(TransportError::Io {
                            what: format!("session socket {}", self.address),
                            source,
                        });
                    }
                },
                Some(done) = hellos.join_next() => {
                    if let Ok(Some((read, write, buf))) = done {
                        return Ok(ServerConnection::start(read, write, buf));
                    }
                }
            }
        }
    }
}

/// Connections whose key is being read at once; more wait in the backlog.
pub const MAX_PENDING_HELLOS: usize = 8;
/// How long a new connection has to present its key.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads a connection's key; the connection's halves when it is the right one.
async fn hello(
    stream: TcpStream,
    peer: SocketAddr,
    key: String,
) -> Option<(OwnedReadHalf, OwnedWriteHalf, BytesMut)> {
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.into_split();
    let mut buf = BytesMut::with_capacity(wire::MAX_HELLO_BYTES);
    let presented = tokio::time::timeout(HELLO_TIMEOUT, async {
        loop {
            if let Some(presented) = wire::decode_hello(&mut buf)? {
                return Ok(presented);
            }
            let n = read
                .read_buf(&mut buf)
                .await
                .map_err(|source| TransportError::Io {
                    what: "the session socket".into(),
                    source,
                })?;
            if n == 0 {
                return Err(TransportError::Protocol(
                    "the connection closed before its key".into(),
                ));
            }
        }
    })
    .await;
    match presented {
        Ok(Ok(presented)) if secrets_equal(&presented, &key) => Some((read, write, buf)),
        Ok(Ok(_)) => {
            tracing::warn!(%peer, "closed a session connection with the wrong key");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(%peer, "closed a session connection: {e}");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, "closed a session connection that sent no key within {HELLO_TIMEOUT:?}");
            None
        }
    }
}

/// Read one message, `Ok(None)` on a clean end of stream.
async fn read_message(
    read: &mut OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<Option<Message>, TransportError> {
    loop {
        if let Some(message) = wire::decode(buf)? {
            return Ok(Some(message));
        }
        buf.reserve(READ_CHUNK);
        let n = read
            .read_buf(buf)
            .await
            .map_err(|source| TransportError::Io {
                what: "the session socket".into(),
                source,
            })?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(TransportError::Protocol(
                    "the connection closed in the middle of a message".into(),
                ))
            };
        }
    }
}

async fn write_message(
    write: &mut OwnedWriteHalf,
    message: &Message,
    buf: &mut BytesMut,
) -> Result<(), TransportError> {
    buf.clear();
    wire::encode(message, buf);
    write
        .write_all(buf)
        .await
        .map_err(|source| TransportError::Io {
            what: "the session socket".into(),
            source,
        })
}

/// The server end of an open session: what the app sends lands in `inbox`; what the engine
/// produces goes into `outgoing`. Dropping every `outgoing` sender ends the session.
pub struct ServerConnection {
    pub inbox: Arc<Mailbox>,
    pub outgoing: mpsc::Sender<Message>,
    /// Reads what the app sends; aborted by [`Self::close`].
    reader: JoinHandle<()>,
    /// Sends results back; `None` when the reader does both (a WebRTC peer).
    writer: Option<JoinHandle<()>>,
}

impl ServerConnection {
    fn start(mut read: OwnedReadHalf, mut write: OwnedWriteHalf, mut buf: BytesMut) -> Self {
        let inbox = Arc::new(Mailbox::new());
        let reader_inbox = inbox.clone();
        let reader = tokio::spawn(async move {
            loop {
                match read_message(&mut read, &mut buf).await {
                    Ok(Some(Message::Video(frame))) => {
                        reader_inbox.put_video(frame);
                    }
                    Ok(Some(Message::Audio(block))) => reader_inbox.put_audio(block),
                    Ok(Some(Message::Control { seq, control })) => {
                        reader_inbox.put_control(seq, control)
                    }
                    Ok(Some(other)) => {
                        tracing::warn!("unexpected {} message from the app", other.kind());
                        break;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("session closed: {e}");
                        break;
                    }
                }
            }
            reader_inbox.close();
        });
        let (outgoing, mut rx) = mpsc::channel::<Message>(OUTGOING_DEPTH);
        let writer_inbox = inbox.clone();
        let writer = tokio::spawn(async move {
            let mut buf = BytesMut::new();
            while let Some(message) = rx.recv().await {
                if let Err(e) = write_message(&mut write, &message, &mut buf).await {
                    tracing::warn!("session closed while sending: {e}");
                    break;
                }
            }
            let _ = write.shutdown().await;
            writer_inbox.close();
        });
        ServerConnection {
            inbox,
            outgoing,
            reader,
            writer: Some(writer),
        }
    }

    /// A connection served by one task that both receives and sends (a WebRTC peer).
    pub(crate) fn from_task(
        inbox: Arc<Mailbox>,
        outgoing: mpsc::Sender<Message>,
        task: JoinHandle<()>,
    ) -> Self {
        ServerConnection {
            inbox,
            outgoing,
            reader: task,
            writer: None,
        }
    }

    /// True once the app has gone or the session was closed.
    pub fn is_finished(&self) -> bool {
        self.reader.is_finished() || self.writer.as_ref().is_some_and(|w| w.is_finished())
    }

    /// Stop reading now; what the engine already produced may still be sent.
    pub fn close(&self) {
        self.reader.abort();
        self.inbox.close();
    }

    /// Stop now, both ways: the socket is dropped and a sender waiting for room on
    /// `outgoing` gets an error at once, so the engine's thread never waits on an app that
    /// stopped reading.
    pub fn abort(&self) {
        self.close();
        if let Some(writer) = &self.writer {
            writer.abort();
        }
    }
}

impl Drop for ServerConnection {
    fn drop(&mut self) {
        self.reader.abort();
        self.inbox.close();
    }
}

/// What comes back on an app-side session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    Video(VideoFrame),
    Audio(AudioBlock),
    ControlAck(ControlAck),
    /// The session ended; nothing more will come.
    Closed {
        reason: String,
    },
}

/// The sending half of an app-side session, cheap to clone and usable from capture threads:
/// sends never block (video keeps only the newest unsent frame; audio queues).
#[derive(Clone)]
pub struct SessionSender {
    outbox: Arc<Mailbox>,
    next_control: Arc<AtomicU64>,
}

impl SessionSender {
    /// Returns `true` when an older frame that had not been sent yet was dropped for this one.
    pub fn send_video(&self, frame: VideoFrame) -> bool {
        self.outbox.put_video(frame)
    }

    pub fn send_audio(&self, block: AudioBlock) {
        self.outbox.put_audio(block)
    }

    /// Returns the sequence number that the server's [`ControlAck`] will carry.
    pub fn send_control(&self, control: Control) -> u64 {
        let seq = self.next_control.fetch_add(1, Ordering::Relaxed);
        self.outbox.put_control(seq, control);
        seq
    }

    /// False once the session has ended (the server went away or [`Self::close`] was called).
    pub fn is_open(&self) -> bool {
        !self.outbox.is_closed()
    }

    /// Send what is queued, then end the session.
    pub fn close(&self) {
        self.outbox.close()
    }
}

/// An app-side session: a sender and the stream of what comes back.
/// What a session received waits here until the app reads it: about four seconds of video and
/// audio together. Raw sessions stop reading their socket when it is full; WebRTC sessions
/// drop what arrives and count it ([`crate::webrtc::PeerStats::events_dropped`]).
pub const SESSION_EVENTS_DEPTH: usize = 256;

pub struct SessionHandle {
    pub sender: SessionSender,
    pub events: mpsc::Receiver<SessionEvent>,
}

impl SessionHandle {
    /// A handle over an outbox that some driver drains, and the events it reports.
    pub(crate) fn from_parts(
        outbox: Arc<Mailbox>,
        events: mpsc::Receiver<SessionEvent>,
    ) -> SessionHandle {
        SessionHandle {
            sender: SessionSender {
                outbox,
                next_control: Arc::new(AtomicU64::new(1)),
            },
            events,
        }
    }

    /// Connect to a raw session offered at `address` and present its key.
    pub async fn connect_raw(address: &str, key: &str) -> Result<SessionHandle, TransportError> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|source| TransportError::Io {
                what: format!("session {address}"),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let mut buf = BytesMut::new();
        write_message(
            &mut write,
            &Message::Hello {
                key: key.to_string(),
            },
            &mut buf,
        )
        .await?;

        let outbox = Arc::new(Mailbox::new());
        let (events_tx, events) = mpsc::channel(SESSION_EVENTS_DEPTH);

        let writer_outbox = outbox.clone();
        tokio::spawn(async move {
            while let Some(work) = writer_outbox.next().await {
                let message = match work {
                    Work::Control { seq, control } => Message::Control { seq, control },
                    Work::Audio(block) => Message::Audio(block),
                    Work::Video(frame) => Message::Video(frame),
                };
                if let Err(e) = write_message(&mut write, &message, &mut buf).await {
                    tracing::debug!("session send failed: {e}");
                    writer_outbox.close();
                    return;
                }
            }
            let _ = write.shutdown().await;
        });

        let reader_outbox = outbox.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(READ_CHUNK);
            let reason = loop {
                let event = match read_message(&mut read, &mut buf).await {
                    Ok(Some(Message::Video(frame))) => SessionEvent::Video(frame),
                    Ok(Some(Message::Audio(block))) => SessionEvent::Audio(block),
                    Ok(Some(Message::ControlAck(ack))) => SessionEvent::ControlAck(ack),
                    Ok(Some(other)) => {
                        break format!("unexpected {} message from the server", other.kind());
                    }
                    Ok(None) => break "the server closed the session".to_string(),
                    Err(e) => break e.to_string(),
                };
                // A full queue holds the reader back, and TCP holds the server back.
                if events_tx.send(event).await.is_err() {
                    break "nobody is listening for the session's output".to_string();
                }
            };
            reader_outbox.close();
            let _ = events_tx.send(SessionEvent::Closed { reason }).await;
        });

        Ok(SessionHandle {
            sender: SessionSender {
                outbox,
                next_control: Arc::new(AtomicU64::new(1)),
            },
            events,
        })
    }
}

//! A diagnostic delay line on a session's way back: every result is held for a fixed time
//! before it is sent, as a slow engine would. `studio run --inject-delay video=150` uses it to
//! prove that lip sync makes up for one slow path.

use std::time::Duration;
use studio_transport::wire::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A sender that delivers to `outgoing` each message `delay` after it was sent, in order.
/// Closing `outgoing` (the app went away) ends the line and makes the returned sender fail.
pub fn delay_line(outgoing: mpsc::Sender<Message>, delay: Duration) -> mpsc::Sender<Message> {
    let (tx, mut rx) = mpsc::channel::<Message>(1024);
    // Stamp on arrival in one task and wait in another, so a message waiting its turn does
    // not delay the stamping of the ones behind it.
    let (stamped_tx, mut stamped_rx) = mpsc::unbounded_channel::<(Instant, Message)>();
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if stamped_tx.send((Instant::now() + delay, message)).is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some((due, message)) = stamped_rx.recv().await {
            tokio::time::sleep_until(due).await;
            if outgoing.send(message).await.is_err() {
                break;
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_proto::control::ControlAck;

    fn ack(seq: u64) -> Message {
        Message::ControlAck(ControlAck { seq, error: None })
    }

    #[tokio::test(start_paused = true)]
    async fn each_message_is_held_for_the_delay_and_order_is_kept() {
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let line = delay_line(out_tx, Duration::from_millis(150));
        let start = Instant::now();
        line.send(ack(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        line.send(ack(2)).await.unwrap();
        let first = out_rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(150));
        let second = out_rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(190));
        assert!(matches!(
            first,
            Message::ControlAck(ControlAck { seq: 1, .. })
        ));
        assert!(matches!(
            second,
            Message::ControlAck(ControlAck { seq: 2, .. })
        ));
    }
}

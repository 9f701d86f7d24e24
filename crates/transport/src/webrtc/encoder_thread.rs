//! H.264 encoding on a thread of its own. A 720p frame takes the encoder several
//! milliseconds; on the peer's task that time held up everything else the task does (packets
//! in and out, audio, decoding), so under load frames were replaced before they were sent.
//! Here the peer hands each frame over and goes on; the newest frame wins when the encoder is
//! still busy (video never queues), and encoded frames come back on a channel.

use super::codec::{Encoded, VideoEncoder};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use studio_media::I420Image;
use tokio::sync::mpsc;

#[derive(Default)]
struct Slot {
    frame: Option<(u64, I420Image)>,
    keyframe: bool,
    bitrate: Option<u32>,
    closed: bool,
}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    /// The bitrate the encoder runs at.
    bitrate: AtomicU32,
    /// Frames replaced by a newer one before the encoder took them.
    replaced: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The encoder thread's handle; dropping it ends the thread.
pub struct EncoderThread {
    shared: Arc<Shared>,
    encoded: mpsc::UnboundedReceiver<Encoded>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EncoderThread {
    pub fn start(fps: f32) -> std::io::Result<EncoderThread> {
        let mut encoder = VideoEncoder::new(fps);
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            bitrate: AtomicU32::new(encoder.bitrate()),
            replaced: AtomicU64::new(0),
        });
        let (out, encoded) = mpsc::unbounded_channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("h264 encoder".into())
                .spawn(move || encode_until_closed(&shared, &mut encoder, &out))?
        };
        Ok(EncoderThread {
            shared,
            encoded,
            thread: Some(thread),
        })
    }

    /// Encode this frame next; one still waiting is replaced.
    pub fn submit(&self, ticks: u64, image: I420Image) {
        let mut slot = self.shared.lock();
        if slot.frame.replace((ticks, image)).is_some() {
            self.shared.replaced.fetch_add(1, Ordering::Relaxed);
        }
        drop(slot);
        self.shared.wake.notify_one();
    }

    /// The next frame the encoder takes is a keyframe.
    pub fn request_keyframe(&self) {
        self.shared.lock().keyframe = true;
    }

    /// Run at `bps` from the next frame on (see [`VideoEncoder::set_bitrate`]).
    pub fn set_bitrate(&self, bps: u32) {
        self.shared.lock().bitrate = Some(bps);
    }

    /// The bitrate the encoder runs at.
    pub fn bitrate(&self) -> u32 {
        self.shared.bitrate.load(Ordering::Relaxed)
    }

    /// Frames replaced by a newer one while the encoder was busy.
    pub fn replaced(&self) -> u64 {
        self.shared.replaced.load(Ordering::Relaxed)
    }

    /// The next encoded frame; pending forever once the thread has ended.
    pub async fn next(&mut self) -> Encoded {
        match self.encoded.recv().await {
            Some(encoded) => encoded,
            None => std::future::pending().await,
        }
    }
}

impl Drop for EncoderThread {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn encode_until_closed(
    shared: &Shared,
    encoder: &mut VideoEncoder,
    out: &mpsc::UnboundedSender<Encoded>,
) {
    loop {
        let (ticks, image, keyframe, target) = {
            let mut slot = shared.lock();
            while slot.frame.is_none() && !slot.closed {
                slot = shared.wake.wait(slot).unwrap_or_else(|p| p.into_inner());
            }
            let Some((ticks, image)) = slot.frame.take() else {
                return; // closed
            };
            (
                ticks,
                image,
                std::mem::take(&mut slot.keyframe),
                slot.bitrate.take(),
            )
        };
        if let Some(bps) = target {
            encoder.set_bitrate(bps);
            shared.bitrate.store(encoder.bitrate(), Ordering::Relaxed);
        }
        if keyframe {
            encoder.request_keyframe();
        }
        match encoder.encode(&image) {
            Ok(data) if !data.is_empty() => {
                let encoded = Encoded {
                    ticks,
                    data: data.to_vec(),
                };
                if out.send(encoded).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(shade: u8) -> I420Image {
        let mut image = I420Image::black(64, 48);
        image.planes_mut().0.fill(shade);
        image
    }

    #[tokio::test]
    async fn frames_come_back_encoded_in_order_with_their_times() {
        let mut encoder = EncoderThread::start(30.0).unwrap();
        encoder.request_keyframe();
        let mut ticks = Vec::new();
        for i in 0..5u64 {
            encoder.submit(i * 3000, frame(40 + i as u8 * 20));
            // One at a time, so none is replaced.
            let encoded = encoder.next().await;
            assert!(
                super::super::codec::contains_idr(&encoded.data) || i > 0,
                "the first is a keyframe"
            );
            ticks.push(encoded.ticks);
        }
        assert_eq!(ticks, [0, 3000, 6000, 9000, 12000]);
        assert_eq!(encoder.replaced(), 0);
    }

    #[tokio::test]
    async fn a_busy_encoder_takes_the_newest_frame() {
        let mut encoder = EncoderThread::start(30.0).unwrap();
        for i in 0..50u64 {
            encoder.submit(i, frame(i as u8));
        }
        let mut last = 0;
        while last != 49 {
            last = encoder.next().await.ticks;
        }
        assert!(
            encoder.replaced() > 0,
            "fifty frames at once cannot all be encoded"
        );
    }
}

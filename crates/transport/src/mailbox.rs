//! The queue between a socket and whoever consumes it, with the media path's rules built in:
//! control messages first, audio in order and never dropped, video never queued (a newer frame
//! replaces an unconsumed older one, and the drop is counted). Controls and audio are bounded
//! too: a peer that sends faster than the consumer takes cannot grow the queue without limit;
//! what is dropped is counted.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;
use studio_media::{AudioBlock, VideoFrame};
use studio_proto::control::Control;
use tokio::sync::Notify;

/// One item taken from a mailbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Control { seq: u64, control: Control },
    Audio(AudioBlock),
    Video(VideoFrame),
}

/// Controls waiting at most; more are refused (and counted) until the consumer catches up.
/// A client waits for each control's acknowledgement, so only a misbehaving one gets here.
pub const MAX_CONTROLS: usize = 64;

/// Audio samples waiting at most: ten seconds at 48 kHz. Beyond it the oldest blocks go (and
/// are counted): audio that late is of no use to a live stream.
pub const MAX_AUDIO_SAMPLES: usize = 480_000;

#[derive(Default)]
struct State {
    controls: VecDeque<(u64, Control)>,
    audio: VecDeque<AudioBlock>,
    audio_samples: usize,
    video: Option<VideoFrame>,
    video_dropped: u64,
    audio_dropped: u64,
    controls_dropped: u64,
    closed: bool,
}

/// A mailbox usable from async tasks (`next`) and from plain threads (`next_blocking`), so an
/// engine can run on its own thread while sockets stay on the runtime.
#[derive(Default)]
pub struct Mailbox {
    state: Mutex<State>,
    ready: Condvar,
    notify: Notify,
}

impl Mailbox {
    pub fn new() -> Mailbox {
        Mailbox::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain queues behind: still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake(&self) {
        self.ready.notify_all();
        self.notify.notify_one();
    }

    /// Queues a control, unless [`MAX_CONTROLS`] are waiting (then it is dropped and counted).
    pub fn put_control(&self, seq: u64, control: Control) {
        {
            let mut state = self.lock();
            if state.controls.len() >= MAX_CONTROLS {
                state.controls_dropped += 1;
                return;
            }
            state.controls.push_back((seq, control));
        }
        self.wake();
    }

    /// Queues an audio block; past [`MAX_AUDIO_SAMPLES`] the oldest blocks are dropped and
    /// counted.
    pub fn put_audio(&self, block: AudioBlock) {
        {
            let mut state = self.lock();
            state.audio_samples = state.audio_samples.saturating_add(block.samples.len());
            state.audio.push_back(block);
            while state.audio_samples > MAX_AUDIO_SAMPLES {
                let Some(old) = state.audio.pop_front() else {
                    state.audio_samples = 0;
                    break;
                };
                state.audio_samples = state.audio_samples.saturating_sub(old.samples.len());
                state.audio_dropped += 1;
            }
        }
        self.wake();
    }

    /// Returns `true` when an older, unconsumed frame was dropped for this one.
    pub fn put_video(&self, frame: VideoFrame) -> bool {
        let replaced = {
            let mut state = self.lock();
            let replaced = state.video.replace(frame).is_some();
            if replaced {
                state.video_dropped += 1;
            }
            replaced
        };
        self.wake();
        replaced
    }

    /// No more items will come; consumers drain what is left and then get `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Video frames replaced before they were consumed.
    pub fn video_dropped(&self) -> u64 {
        self.lock().video_dropped
    }

    /// Audio blocks dropped because the queue was full.
    pub fn audio_dropped(&self) -> u64 {
        self.lock().audio_dropped
    }

    /// Controls refused because the queue was full.
    pub fn controls_dropped(&self) -> u64 {
        self.lock().controls_dropped
    }

    /// Audio blocks waiting, for status.
    pub fn audio_queued(&self) -> usize {
        self.lock().audio.len()
    }

    fn pop(state: &mut State) -> Option<Work> {
        if let Some((seq, control)) = state.controls.pop_front() {
            return Some(Work::Control { seq, control });
        }
        if let Some(block) = state.audio.pop_front() {
            state.audio_samples = state.audio_samples.saturating_sub(block.samples.len());
            return Some(Work::Audio(block));
        }
        state.video.take().map(Work::Video)
    }

    /// The next item, or `None` once closed and drained.
    pub async fn next(&self) -> Option<Work> {
        loop {
            {
                let mut state = self.lock();
                if let Some(work) = Self::pop(&mut state) {
                    return Some(work);
                }
                if state.closed {
                    return None;
                }
            }
            // `notify_one` stores a permit when nobody waits, so a put between the check
            // above and this await is not lost.
            self.notify.notified().await;
        }
    }

    /// The next item from a plain thread; `None` once closed and drained.
    pub fn next_blocking(&self) -> Option<Work> {
        let mut state = self.lock();
        loop {
            if let Some(work) = Self::pop(&mut state) {
                return Some(work);
            }
            if state.closed {
                return None;
            }
            state = match self.ready.wait_timeout(state, Duration::from_millis(500)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_media::{I420Image, Timestamp};

    fn frame(seq: u64) -> VideoFrame {
        VideoFrame {
            seq,
            capture: Timestamp(seq),
            image: I420Image::black(4, 4),
        }
    }

    fn block(seq: u64) -> AudioBlock {
        AudioBlock {
            seq,
            capture: Timestamp(seq),
            sample_rate: 48_000,
            samples: vec![0.0; 4],
        }
    }

    #[test]
    fn video_keeps_only_the_newest_frame_and_counts_the_drop() {
        let mailbox = Mailbox::new();
        assert!(!mailbox.put_video(frame(1)));
        assert!(mailbox.put_video(frame(2)));
        mailbox.close();
        assert_eq!(mailbox.next_blocking(), Some(Work::Video(frame(2))));
        assert_eq!(mailbox.next_blocking(), None);
        assert_eq!(mailbox.video_dropped(), 1);
    }

    #[test]
    fn audio_is_never_dropped_and_controls_come_first() {
        let mailbox = Mailbox::new();
        for seq in 0..5 {
            mailbox.put_audio(block(seq));
        }
        mailbox.put_control(7, Control::Talk { active: true });
        mailbox.close();
        assert!(matches!(
            mailbox.next_blocking(),
            Some(Work::Control { seq: 7, .. })
        ));
        for seq in 0..5 {
            assert_eq!(mailbox.next_blocking(), Some(Work::Audio(block(seq))));
        }
        assert_eq!(mailbox.next_blocking(), None);
    }

    #[test]
    fn a_flood_of_audio_and_controls_stays_bounded_and_is_counted() {
        let mailbox = Mailbox::new();
        let big = |seq| AudioBlock {
            samples: vec![0.0; 48_000],
            ..block(seq)
        };
        for seq in 0..25 {
            mailbox.put_audio(big(seq));
        }
        for seq in 0..100 {
            mailbox.put_control(seq, Control::Talk { active: true });
        }
        assert_eq!(mailbox.audio_queued(), MAX_AUDIO_SAMPLES / 48_000);
        assert_eq!(mailbox.audio_dropped(), 25 - 10);
        assert_eq!(mailbox.controls_dropped(), 100 - MAX_CONTROLS as u64);
        mailbox.close();
        let mut controls = 0;
        let mut first_audio = None;
        while let Some(work) = mailbox.next_blocking() {
            match work {
                Work::Control { .. } => controls += 1,
                Work::Audio(b) => {
                    first_audio.get_or_insert(b.seq);
                }
                Work::Video(_) => {}
            }
        }
        assert_eq!(controls, MAX_CONTROLS);
        assert_eq!(first_audio, Some(15), "the oldest blocks went first");
    }

    #[tokio::test]
    async fn an_async_consumer_wakes_for_an_item_put_from_a_thread() {
        let mailbox = std::sync::Arc::new(Mailbox::new());
        let producer = mailbox.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            producer.put_audio(block(3));
        });
        let got = tokio::time::timeout(Duration::from_secs(5), mailbox.next()).await;
        assert_eq!(got.ok().flatten(), Some(Work::Audio(block(3))));
    }
}

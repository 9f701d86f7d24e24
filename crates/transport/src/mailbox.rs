//! The queue between a socket and whoever consumes it, with the media path's rules built in:
//! control messages first, audio in order and never dropped, video never queued (a newer frame
//! replaces an unconsumed older one, and the drop is counted).

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

#[derive(Default)]
struct State {
    controls: VecDeque<(u64, Control)>,
    audio: VecDeque<AudioBlock>,
    video: Option<VideoFrame>,
    video_dropped: u64,
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

    pub fn put_control(&self, seq: u64, control: Control) {
        self.lock().controls.push_back((seq, control));
        self.wake();
    }

    pub fn put_audio(&self, block: AudioBlock) {
        self.lock().audio.push_back(block);
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

    /// Audio blocks waiting, for status.
    pub fn audio_queued(&self) -> usize {
        self.lock().audio.len()
    }

    fn pop(state: &mut State) -> Option<Work> {
        if let Some((seq, control)) = state.controls.pop_front() {
            return Some(Work::Control { seq, control });
        }
        if let Some(block) = state.audio.pop_front() {
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

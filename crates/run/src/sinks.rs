//! Where processed media goes, in capture order: what a virtual camera and a virtual
//! microphone would receive. Gaps (a server restarting, a frame lost in flight) are filled so
//! the output keeps its timeline: audio with silence, video with the configured fallback.

pub use studio_media::sink::{AudioWrite, VideoWrite};
use studio_media::{AudioBlock, I420Image, MediaError, VideoFrame};
use studio_proto::config::VideoFallback;

/// Writes processed frames in sequence order; frames that never came back are replaced by
/// the fallback, and frames that come back after their slot was filled are dropped.
///
/// A frame goes to output slot `seq + shift`: the lip-sync buffer shifts a path whose
/// presentation delay grew, and the slots in between show the fallback, as a device would.
pub struct VideoSink {
    writer: Option<Box<dyn VideoWrite>>,
    fallback: VideoFallback,
    next_seq: u64,
    next_slot: u64,
    shift: u64,
    last: Option<I420Image>,
    width: u32,
    height: u32,
    /// Processed frames written.
    pub frames_out: u64,
    /// Fallback frames written in place of missing ones.
    pub frames_concealed: u64,
    /// Frames that arrived after their slot was already filled.
    pub frames_late: u64,
}

impl VideoSink {
    pub fn new(
        writer: Option<Box<dyn VideoWrite>>,
        fallback: VideoFallback,
        width: u32,
        height: u32,
    ) -> Self {
        VideoSink {
            writer,
            fallback,
            next_seq: 0,
            next_slot: 0,
            shift: 0,
            last: None,
            width,
            height,
            frames_out: 0,
            frames_concealed: 0,
            frames_late: 0,
        }
    }

    pub fn push(&mut self, frame: VideoFrame) -> Result<(), MediaError> {
        self.push_shifted(frame, 0)
    }

    /// Write `frame` at slot `seq + shift` (shifts only ever grow).
    pub fn push_shifted(&mut self, frame: VideoFrame, shift: u64) -> Result<(), MediaError> {
        if frame.seq < self.next_seq {
            self.frames_late += 1;
            return Ok(());
        }
        self.shift = self.shift.max(shift);
        self.fill_slots_until(frame.seq + self.shift)?;
        if let Some(writer) = &mut self.writer {
            writer.write(&frame.image)?;
        }
        self.frames_out += 1;
        self.next_seq = frame.seq + 1;
        self.next_slot += 1;
        self.last = Some(frame.image);
        Ok(())
    }

    /// Fill every slot before `seq` that has no frame yet.
    pub fn conceal_until(&mut self, seq: u64) -> Result<(), MediaError> {
        self.next_seq = self.next_seq.max(seq);
        self.fill_slots_until(seq + self.shift)
    }

    fn fill_slots_until(&mut self, slot: u64) -> Result<(), MediaError> {
        while self.next_slot < slot {
            let image = match (self.fallback, &self.last) {
                (VideoFallback::LastFrame, Some(last)) => last.clone(),
                _ => grey_card(self.width, self.height),
            };
            if let Some(writer) = &mut self.writer {
                writer.write(&image)?;
            }
            self.frames_concealed += 1;
            self.next_slot += 1;
        }
        Ok(())
    }

    /// Frames written in all, processed and concealed.
    pub fn frames_written(&self) -> u64 {
        self.next_slot
    }

    /// Close the output; the counts stay readable.
    pub fn finish(&mut self) -> Result<(), MediaError> {
        if let Some(writer) = self.writer.take() {
            writer.finish()?;
        }
        Ok(())
    }
}

/// Several outputs fed the same media: a file and a device, say. `None` when there are none.
pub struct Tee<W: ?Sized>(Vec<Box<W>>);

impl<W: ?Sized> Tee<W> {
    pub fn of(outputs: Vec<Box<W>>) -> Option<Box<Tee<W>>> {
        (!outputs.is_empty()).then(|| Box::new(Tee(outputs)))
    }
}

impl VideoWrite for Tee<dyn VideoWrite> {
    fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        self.0.iter_mut().try_for_each(|w| w.write(image))
    }
    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        // Finish all, then report the first failure: one bad output must not leave the
        // others unfinished.
        let results: Vec<_> = self.0.into_iter().map(|w| w.finish()).collect();
        results.into_iter().collect()
    }
}

impl AudioWrite for Tee<dyn AudioWrite> {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        self.0.iter_mut().try_for_each(|w| w.write(samples))
    }
    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        let results: Vec<_> = self.0.into_iter().map(|w| w.finish()).collect();
        results.into_iter().collect()
    }
}

/// A mid-grey frame: shown when there is no processed frame to show, never the camera's.
fn grey_card(width: u32, height: u32) -> I420Image {
    let mut image = I420Image::black(width, height);
    let (y, _, _) = image.planes_mut();
    y.fill(128);
    image
}

/// Writes processed blocks in sequence order; blocks that never came back become silence of
/// the same length, so the output's timeline matches the input's.
///
/// A block starts at sample `seq * block_samples + shift`; a shift that grew (lip sync made
/// room for a slower path) is filled with silence, as a device would play it.
pub struct AudioSink {
    writer: Option<Box<dyn AudioWrite>>,
    block_samples: usize,
    next_seq: u64,
    shift: u64,
    written: u64,
    pub samples_out: u64,
    pub samples_concealed: u64,
    pub blocks_late: u64,
}

impl AudioSink {
    pub fn new(writer: Option<Box<dyn AudioWrite>>, block_samples: usize) -> Self {
        AudioSink {
            writer,
            block_samples,
            next_seq: 0,
            shift: 0,
            written: 0,
            samples_out: 0,
            samples_concealed: 0,
            blocks_late: 0,
        }
    }

    pub fn push(&mut self, block: AudioBlock) -> Result<(), MediaError> {
        self.push_shifted(block, 0)
    }

    /// Write `block` at sample `seq * block_samples + shift` (shifts only ever grow).
    pub fn push_shifted(&mut self, block: AudioBlock, shift: u64) -> Result<(), MediaError> {
        if block.seq < self.next_seq {
            self.blocks_late += 1;
            return Ok(());
        }
        self.shift = self.shift.max(shift);
        self.fill_until(self.position(block.seq))?;
        if let Some(writer) = &mut self.writer {
            writer.write(&block.samples)?;
        }
        self.samples_out += block.samples.len() as u64;
        self.written += block.samples.len() as u64;
        self.next_seq = block.seq + 1;
        Ok(())
    }

    pub fn conceal_until(&mut self, seq: u64) -> Result<(), MediaError> {
        if self.next_seq < seq {
            self.fill_until(self.position(seq))?;
            self.next_seq = seq;
        }
        Ok(())
    }

    fn position(&self, seq: u64) -> u64 {
        seq * self.block_samples as u64 + self.shift
    }

    fn fill_until(&mut self, position: u64) -> Result<(), MediaError> {
        if position > self.written {
            let missing = (position - self.written) as usize;
            let silence = vec![0.0f32; missing.min(self.block_samples.max(1))];
            let mut left = missing;
            while left > 0 {
                let n = left.min(silence.len());
                if let Some(writer) = &mut self.writer {
                    writer.write(&silence[..n])?;
                }
                left -= n;
            }
            self.samples_concealed += missing as u64;
            self.written = position;
        }
        Ok(())
    }

    pub fn samples_written(&self) -> u64 {
        self.written
    }

    /// Close the output; the counts stay readable.
    pub fn finish(&mut self) -> Result<(), MediaError> {
        if let Some(writer) = self.writer.take() {
            writer.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_media::Timestamp;
    use studio_media::wav::WavWriter;
    use studio_media::y4m::Y4mWriter;

    fn frame(seq: u64, luma: u8) -> VideoFrame {
        let mut image = I420Image::black(8, 8);
        image.planes_mut().0.fill(luma);
        VideoFrame {
            seq,
            capture: Timestamp(seq * 33_333),
            image,
        }
    }

    fn block(seq: u64, value: f32, len: usize) -> AudioBlock {
        AudioBlock {
            seq,
            capture: Timestamp(seq * 20_000),
            sample_rate: 48_000,
            samples: vec![value; len],
        }
    }

    #[test]
    fn missing_frames_repeat_the_last_processed_frame() {
        let mut sink = VideoSink::new(None, VideoFallback::LastFrame, 8, 8);
        sink.push(frame(0, 50)).unwrap();
        sink.push(frame(3, 60)).unwrap();
        assert_eq!(sink.frames_out, 2);
        assert_eq!(sink.frames_concealed, 2);
        assert_eq!(sink.frames_written(), 4);
        assert_eq!(sink.last.as_ref().map(|i| i.planes().0[0]), Some(60));
    }

    #[test]
    fn a_frame_older_than_what_was_written_is_dropped_as_late() {
        let mut sink = VideoSink::new(None, VideoFallback::Card, 8, 8);
        sink.push(frame(2, 50)).unwrap();
        sink.push(frame(1, 50)).unwrap();
        assert_eq!(sink.frames_late, 1);
        assert_eq!(sink.frames_written(), 3);
    }

    #[test]
    fn video_gaps_go_to_a_file_as_fallback_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.y4m");
        let format = studio_media::source::VideoFormat {
            width: 8,
            height: 8,
            rate: studio_media::source::FrameRate::per_second(30),
        };
        let writer = Y4mWriter::create(&path, format).unwrap();
        let mut sink = VideoSink::new(Some(Box::new(writer)), VideoFallback::Card, 8, 8);
        sink.push(frame(1, 200)).unwrap();
        sink.finish().unwrap();
        let mut reader = studio_media::y4m::Y4mReader::open(&path).unwrap();
        use studio_media::source::VideoSource;
        let first = reader.next_image().unwrap().unwrap();
        let second = reader.next_image().unwrap().unwrap();
        assert_eq!(first.planes().0[0], 128, "the gap shows the grey card");
        assert_eq!(second.planes().0[0], 200);
        assert!(reader.next_image().unwrap().is_none());
    }

    #[test]
    fn missing_audio_becomes_silence_of_the_same_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let writer = WavWriter::create(&path, 48_000).unwrap();
        let mut sink = AudioSink::new(Some(Box::new(writer)), 4);
        sink.push(block(0, 0.5, 4)).unwrap();
        sink.push(block(2, 0.25, 4)).unwrap();
        sink.conceal_until(4).unwrap();
        assert_eq!(sink.samples_out, 8);
        assert_eq!(sink.samples_concealed, 8);
        sink.finish().unwrap();
        let mut reader = studio_media::wav::WavReader::open(&path).unwrap();
        use studio_media::source::AudioSource;
        let samples = reader.read(100).unwrap().unwrap();
        assert_eq!(
            samples,
            [
                0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0
            ]
        );
    }

    #[test]
    fn a_grown_shift_moves_later_frames_and_fills_the_slots_between() {
        let mut sink = VideoSink::new(None, VideoFallback::LastFrame, 8, 8);
        sink.push_shifted(frame(0, 50), 0).unwrap();
        sink.push_shifted(frame(1, 60), 2).unwrap();
        sink.conceal_until(3).unwrap();
        // Slots: frame 0, two repeats of it, frame 1, then frame 2's slot concealed.
        assert_eq!(sink.frames_out, 2);
        assert_eq!(sink.frames_concealed, 3);
        assert_eq!(sink.frames_written(), 5);
    }

    #[test]
    fn a_grown_audio_shift_inserts_exactly_that_much_silence() {
        let mut sink = AudioSink::new(None, 4);
        sink.push_shifted(block(0, 0.5, 4), 0).unwrap();
        sink.push_shifted(block(1, 0.5, 4), 3).unwrap();
        assert_eq!(sink.samples_concealed, 3);
        assert_eq!(sink.samples_written(), 11);
        // A short last block is not padded.
        sink.push_shifted(block(2, 0.5, 2), 3).unwrap();
        sink.conceal_until(3).unwrap();
        assert_eq!(sink.samples_written(), 13);
    }
}

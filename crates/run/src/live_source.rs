//! A camera that can be switched while a run goes on: the run keeps one size and pace, the
//! new source is opened at the next frame, scaled to that size if it differs, and a file
//! starts again when it ends (a window's camera never "ends").

use studio_devices::inputs::open_video;
use studio_media::health::CameraHealth;
use studio_media::input::VideoInput;
use studio_media::source::{VideoFormat, VideoSource};
use studio_media::{I420Image, MediaError};
use tokio::sync::watch;

pub struct SwitchingVideoSource {
    current: Box<dyn VideoSource>,
    input: VideoInput,
    requests: watch::Receiver<VideoInput>,
    /// The run's format: every image leaves at this size.
    format: VideoFormat,
    on_error: Box<dyn FnMut(String) + Send>,
}

impl SwitchingVideoSource {
    /// `current` was opened from `input`; later values of `requests` replace it.
    pub fn new(
        current: Box<dyn VideoSource>,
        input: VideoInput,
        mut requests: watch::Receiver<VideoInput>,
        on_error: impl FnMut(String) + Send + 'static,
    ) -> SwitchingVideoSource {
        let format = current.format();
        requests.mark_unchanged();
        SwitchingVideoSource {
            current,
            input,
            requests,
            format,
            on_error: Box::new(on_error),
        }
    }

    fn open(&self, input: &VideoInput) -> Result<Box<dyn VideoSource>, MediaError> {
        open_video(input, self.format)
    }

    fn switch_if_asked(&mut self) {
        if !self.requests.has_changed().unwrap_or(false) {
            return;
        }
        let wanted = self.requests.borrow_and_update().clone();
        if wanted == self.input {
            return;
        }
        match self.open(&wanted) {
            Ok(source) => {
                self.current = source;
                self.input = wanted;
            }
            Err(e) => (self.on_error)(format!("the camera stays as it was: {e}")),
        }
    }
}

impl VideoSource for SwitchingVideoSource {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn camera_health(&self) -> Option<CameraHealth> {
        self.current.camera_health()
    }

    fn next_image(&mut self) -> Result<Option<I420Image>, MediaError> {
        self.switch_if_asked();
        let image = match self.current.next_image()? {
            Some(image) => image,
            None => {
                // A file ended: play it again from the start.
                self.current = self.open(&self.input)?;
                match self.current.next_image()? {
                    Some(image) => image,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(fit(image, self.format.width, self.format.height)))
    }
}

/// Scale an image to `width`×`height` (nearest neighbour: a preview-grade resize that keeps
/// the run's size fixed; sources of the run's own size pass through untouched).
pub fn fit(image: I420Image, width: u32, height: u32) -> I420Image {
    if image.width() == width && image.height() == height {
        return image;
    }
    let mut out = I420Image::black(width, height);
    let (src_w, src_h) = (image.width() as usize, image.height() as usize);
    let (src_cw, src_ch) = (
        image.chroma_width() as usize,
        image.chroma_height() as usize,
    );
    let (dst_cw, dst_ch) = (out.chroma_width() as usize, out.chroma_height() as usize);
    let (sy, su, sv) = image.planes();
    let (dy, du, dv) = out.planes_mut();
    scale_plane(sy, src_w, src_h, dy, width as usize, height as usize);
    scale_plane(su, src_cw, src_ch, du, dst_cw, dst_ch);
    scale_plane(sv, src_cw, src_ch, dv, dst_cw, dst_ch);
    out
}

fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    if sw == 0 || sh == 0 || dw == 0 {
        return;
    }
    for (y, row) in dst.chunks_exact_mut(dw).take(dh).enumerate() {
        let src_row = &src[(y * sh / dh.max(1)) * sw..][..sw];
        for (x, pixel) in row.iter_mut().enumerate() {
            *pixel = src_row[x * sw / dw];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_media::source::FrameRate;
    use studio_media::synthetic::read_frame_number;
    use studio_media::y4m::Y4mWriter;

    fn format(width: u32, height: u32) -> VideoFormat {
        VideoFormat {
            width,
            height,
            rate: FrameRate::per_second(30),
        }
    }

    #[test]
    fn switching_to_a_file_of_another_size_keeps_the_run_size_and_loops_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.y4m");
        let mut writer = Y4mWriter::create(&path, format(320, 240)).unwrap();
        for shade in [40u8, 200] {
            let mut image = I420Image::black(320, 240);
            image.planes_mut().0.fill(shade);
            writer.write(&image).unwrap();
        }
        writer.finish().unwrap();

        let run = format(640, 360);
        let (tx, rx) = watch::channel(VideoInput::Test);
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = errors.clone();
        let mut source = SwitchingVideoSource::new(
            open_video(&VideoInput::Test, run).unwrap(),
            VideoInput::Test,
            rx,
            move |e| seen.lock().unwrap().push(e),
        );
        let first = source.next_image().unwrap().unwrap();
        assert_eq!(read_frame_number(&first), Some(0));

        tx.send_replace(VideoInput::File(path));
        let lumas: Vec<u8> = (0..5)
            .map(|_| {
                let image = source.next_image().unwrap().unwrap();
                assert_eq!((image.width(), image.height()), (640, 360));
                image.planes().0[640 * 100 + 100]
            })
            .collect();
        assert_eq!(lumas, [40, 200, 40, 200, 40]);

        // A camera that cannot open is reported and changes nothing.
        tx.send_replace(VideoInput::File(dir.path().join("missing.y4m")));
        let image = source.next_image().unwrap().unwrap();
        assert_eq!(image.planes().0[640 * 100 + 100], 200);
        assert_eq!(errors.lock().unwrap().len(), 1);
    }
}

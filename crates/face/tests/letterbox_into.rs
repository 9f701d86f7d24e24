//! The detector's letterbox written into a reused buffer (its bound input): the same values
//! as a fresh letterbox, frame after frame, whether the frame's size stays (only the picture
//! rewritten) or changes (the black border written again).

use studio_face::detect::{letterbox_blob_i420, letterbox_i420_into};
use studio_media::{I420Image, RgbImage};

/// A picture with detail in every channel, different for each `seed`.
fn textured(w: u32, h: u32, seed: u32) -> I420Image {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let v = x.wrapping_mul(7) ^ y.wrapping_mul(13) ^ seed.wrapping_mul(31);
            data.extend_from_slice(&[v as u8, (v >> 3) as u8 ^ 0x5a, (x + y + seed) as u8]);
        }
    }
    RgbImage::from_data(w, h, data).unwrap().to_i420()
}

#[test]
fn a_reused_buffer_holds_what_a_fresh_letterbox_holds() {
    let mut blob = vec![f32::NAN; 3 * 640 * 640];
    let mut written = None;
    // 1280×720 takes the half-size path, 1024×600 and 480×640 the resize; sizes change and
    // repeat, so both the border rewrite and the picture-only rewrite are checked.
    let frames = [
        (1280, 720, 1),
        (1280, 720, 2),
        (1024, 600, 3),
        (1024, 600, 4),
        (480, 640, 5),
        (1280, 720, 6),
        (1280, 720, 7),
    ];
    for (w, h, seed) in frames {
        let image = textured(w, h, seed);
        let lb = letterbox_i420_into(&image, 640, 640, &mut blob, written).unwrap();
        let (want, want_lb) = letterbox_blob_i420(&image, 640, 640).unwrap();
        assert_eq!(lb, want_lb);
        assert!(
            blob == want,
            "{w}x{h} frame {seed}: the reused buffer differs"
        );
        written = Some(lb);
    }
}

#[test]
fn a_buffer_of_the_wrong_size_is_refused() {
    let image = textured(64, 48, 0);
    let mut blob = vec![0.0; 3 * 640 * 640 - 1];
    let err = letterbox_i420_into(&image, 640, 640, &mut blob, None).unwrap_err();
    assert!(err.to_string().contains("1228799"), "{err}");
}

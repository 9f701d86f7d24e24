//! Synthetic sources: the test pattern carries its frame number, and the sync flash and
//! click land exactly on second boundaries.

use studio_media::I420Image;
use studio_media::source::{AudioSource, FrameRate, VideoFormat, VideoSource};
use studio_media::synthetic::{SyncClick, SyncFlash, TestPattern, Tone, read_frame_number};

fn format(width: u32, height: u32, fps: u32) -> VideoFormat {
    VideoFormat {
        width,
        height,
        rate: FrameRate::per_second(fps),
    }
}

#[test]
fn pattern_frame_numbers_read_back_at_many_sizes() {
    for (w, h) in [
        (1280, 720),
        (64, 48),
        (640, 480),
        (1920, 1080),
        (3840, 2160),
        (65, 49),
        (321, 241),
        (100, 16),
    ] {
        let fmt = format(w, h, 30);
        let mut pattern = TestPattern::new(fmt);
        assert_eq!(pattern.format(), fmt);
        let frames = if w > 2000 { 3 } else { 40 };
        let mut previous: Option<I420Image> = None;
        for n in 0..frames {
            let image = pattern.next_image().unwrap().unwrap();
            assert_eq!((image.width(), image.height()), (w, h));
            assert_eq!(read_frame_number(&image), Some(n), "{w}x{h} frame {n}");
            if let Some(previous) = &previous {
                assert_ne!(
                    previous.planes().0,
                    image.planes().0,
                    "{w}x{h} frame {n} did not move"
                );
            }
            previous = Some(image);
        }
    }
}

#[test]
fn pattern_moves_outside_the_number_cells() {
    // Frames differ below the cell rows too, so a frozen picture with a live counter is seen.
    let mut pattern = TestPattern::new(format(640, 480, 30));
    let a = pattern.next_image().unwrap().unwrap();
    let b = pattern.next_image().unwrap().unwrap();
    let below = 100 * 640;
    assert_ne!(a.planes().0[below..], b.planes().0[below..]);
    assert_ne!(a.planes().1, b.planes().1);
}

#[test]
fn pattern_number_survives_rgb_round_trip_and_noise() {
    let mut pattern = TestPattern::new(format(1280, 720, 30));
    for _ in 0..4 {
        pattern.next_image().unwrap();
    }
    let image = pattern.next_image().unwrap().unwrap();
    let round_trip = image.to_rgb().to_i420();
    assert_eq!(read_frame_number(&round_trip), Some(4));

    // Mild lossy coding: every luma sample off by up to ±40.
    let mut noisy = image.clone();
    let (y, _, _) = noisy.planes_mut();
    let mut state = 0x2545_f491u32;
    for v in y.iter_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *v = (i32::from(*v) + (state % 81) as i32 - 40).clamp(0, 255) as u8;
    }
    assert_eq!(read_frame_number(&noisy), Some(4));
}

#[test]
fn large_frame_numbers_read_back() {
    // Past 16 bits, on the smallest supported frame.
    let mut pattern = TestPattern::new(format(64, 48, 30));
    let mut last = None;
    for n in 0..70_000u64 {
        let image = pattern.next_image().unwrap().unwrap();
        if n % 9_973 == 0 || n == 65_535 || n == 65_536 {
            assert_eq!(read_frame_number(&image), Some(n));
        }
        last = Some(image);
    }
    assert_eq!(read_frame_number(&last.unwrap()), Some(69_999));
}

#[test]
fn other_images_have_no_frame_number() {
    for (w, h) in [(1280, 720), (64, 48)] {
        assert_eq!(read_frame_number(&I420Image::black(w, h)), None);
        let mut grey = I420Image::black(w, h);
        grey.planes_mut().0.fill(128);
        assert_eq!(read_frame_number(&grey), None);
        let mut white = I420Image::black(w, h);
        white.planes_mut().0.fill(235);
        assert_eq!(read_frame_number(&white), None);
        // A sync flash frame is not a pattern frame either.
        let mut flash = SyncFlash::new(format(w, h, 30));
        assert_eq!(
            read_frame_number(&flash.next_image().unwrap().unwrap()),
            None
        );
    }
    // Too small for the cells.
    let mut tiny = TestPattern::new(format(8, 4, 30));
    assert_eq!(
        read_frame_number(&tiny.next_image().unwrap().unwrap()),
        None
    );
}

#[test]
fn sync_flash_is_white_on_the_first_frame_of_each_second() {
    let mut flash = SyncFlash::new(format(64, 48, 30));
    for k in 0..91 {
        let image = flash.next_image().unwrap().unwrap();
        let (y, u, v) = image.planes();
        let expected = if k % 30 == 0 { 235 } else { 16 };
        assert!(y.iter().all(|&l| l == expected), "frame {k}");
        assert!(u.iter().chain(v).all(|&c| c == 128), "frame {k}");
    }

    // 30000/1001 rounds to 30.
    let ntsc = VideoFormat {
        width: 16,
        height: 16,
        rate: FrameRate {
            num: 30000,
            den: 1001,
        },
    };
    let mut flash = SyncFlash::new(ntsc);
    let white: Vec<usize> = (0..61)
        .filter(|_| flash.next_image().unwrap().unwrap().planes().0[0] == 235)
        .collect();
    assert_eq!(white, [0, 30, 60]);
}

fn read_in_blocks(source: &mut dyn AudioSource, total: usize, sizes: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(total);
    for &size in sizes.iter().cycle() {
        if out.len() >= total {
            break;
        }
        let block = source.read(size).unwrap().unwrap();
        assert_eq!(block.len(), size);
        out.extend(block);
    }
    out.truncate(total);
    out
}

#[test]
fn sync_click_bursts_exactly_at_each_second() {
    for sizes in [
        &[960usize][..],
        &[479, 1, 7, 1013, 333],
        &[48_000],
        &[100_000],
    ] {
        let mut click = SyncClick::new(48_000);
        assert_eq!(click.sample_rate(), 48_000);
        let samples = read_in_blocks(&mut click, 3 * 48_000, sizes);
        for (i, &s) in samples.iter().enumerate() {
            let in_burst = i % 48_000 < 480;
            if in_burst {
                assert!(
                    s != 0.0 && s.abs() <= 0.8 + 1e-6,
                    "{sizes:?}: sample {i} = {s}"
                );
            } else {
                assert_eq!(s, 0.0, "{sizes:?}: sample {i}");
            }
        }
        let peak = samples[..480].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.79, "peak {peak}");
        // Every second's burst is the same.
        assert_eq!(samples[..480], samples[48_000..48_480]);
    }
}

fn zero_crossings(samples: &[f32]) -> usize {
    samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count()
}

#[test]
fn tone_has_its_frequency_and_amplitude() {
    let mut tone = Tone::new(440.0, 48_000);
    assert_eq!(tone.sample_rate(), 48_000);
    let samples = read_in_blocks(&mut tone, 48_000, &[960, 17, 4801]);
    let crossings = zero_crossings(&samples);
    assert!(
        (878..=882).contains(&crossings),
        "{crossings} zero crossings"
    );
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!((0.49..=0.5).contains(&peak), "peak {peak}");
}

#[test]
fn tone_phase_is_continuous_across_reads() {
    let mut whole = Tone::new(1000.0, 48_000);
    let reference = whole.read(10_000).unwrap().unwrap();
    let mut pieces = Tone::new(1000.0, 48_000);
    let split = read_in_blocks(&mut pieces, 10_000, &[1, 959, 3, 480]);
    assert_eq!(reference, split);
}

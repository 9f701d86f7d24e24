//! Golden vectors from RVC's own real-time code (`infer/rtrvc.py`, made by
//! `tools/golden/rvc_realtime_golden.py`): four consecutive blocks of the default neural
//! voice's geometry, with the networks replaced by fixed outputs. What the reference gave its
//! synthesizer — pitch, coarse pitch and features — must come out of this engine's steps.

use serde_json::Value;
use std::path::PathBuf;
use studio_voice::index::FeatureIndex;
use studio_voice::neural::{coarse_pitch, repeat_to_frames};
use studio_voice::pitch_track::{PitchTrack, extractor_samples, fill_unvoiced};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Golden {
    index: Value,
}

impl Golden {
    fn load() -> Golden {
        let text = std::fs::read_to_string(golden_dir().join("rtrvc.json")).unwrap();
        Golden {
            index: serde_json::from_str(&text).unwrap(),
        }
    }

    fn number(&self, key: &str) -> f64 {
        self.index[key].as_f64().unwrap()
    }

    fn shape(&self, name: &str) -> Vec<usize> {
        self.index["files"][name]["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect()
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        let file = self.index["files"][name]["file"].as_str().unwrap();
        std::fs::read(golden_dir().join(file)).unwrap()
    }

    fn f32s(&self, name: &str) -> Vec<f32> {
        assert_eq!(self.index["files"][name]["dtype"], "float32");
        self.bytes(name)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn i64s(&self, name: &str) -> Vec<i64> {
        assert_eq!(self.index["files"][name]["dtype"], "int64");
        self.bytes(name)
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
}

#[test]
fn the_coarse_pitch_is_rvcs_get_f0_post() {
    let g = Golden::load();
    let f0 = g.f32s("post_f0");
    let coarse = g.i64s("post_coarse");
    assert_eq!(f0.len(), coarse.len());
    for (f, want) in f0.iter().zip(&coarse) {
        assert_eq!(coarse_pitch(*f), *want, "f0 {f} Hz");
    }
}

#[test]
fn the_pitch_across_blocks_is_rvcs_cache_of_interpolated_estimates() {
    let g = Golden::load();
    let block = g.number("block_16k") as usize;
    let key_ratio = 2f32.powf(g.number("key") as f32 / 12.0);
    let estimates = g.f32s("rmvpe_f0");
    let [blocks, per_segment] = g.shape("rmvpe_f0")[..] else {
        panic!("rmvpe_f0 shape")
    };
    let want_pitchf = g.f32s("pitchf");
    let want_pitch = g.i64s("pitch");
    let frames = g.shape("pitchf")[1];
    // The estimator saw RVC's segment: as long as this engine asks for.
    for samples in g.index["extractor_samples"].as_array().unwrap() {
        assert_eq!(
            samples.as_u64().unwrap() as usize,
            extractor_samples(block, true)
        );
        assert_eq!(per_segment, extractor_samples(block, true) / 160 + 1);
    }
    let mut track = PitchTrack::default();
    for b in 0..blocks {
        let mut f0 = estimates[b * per_segment..(b + 1) * per_segment].to_vec();
        fill_unvoiced(&mut f0);
        for f in &mut f0 {
            *f *= key_ratio;
        }
        track.resize(frames);
        track.push(&f0, block / 160);
        let got = track.window();
        let want = &want_pitchf[b * frames..(b + 1) * frames];
        for (i, (a, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - w).abs() <= 1e-4 * w.abs().max(1.0),
                "block {b} frame {i}: {a} vs {w}"
            );
        }
        let coarse: Vec<i64> = got.iter().map(|&f| coarse_pitch(f)).collect();
        // Frames the reference's cache never wrote (the first blocks' context) keep its
        // initial 0, a row of the pitch embedding training never uses; here they are
        // unvoiced (1), as an estimate of silence is. Every other frame is the same.
        let want: Vec<i64> = want_pitch[b * frames..(b + 1) * frames]
            .iter()
            .map(|&c| c.max(1))
            .collect();
        assert_eq!(coarse, want, "block {b}");
    }
}

#[test]
fn the_features_are_rvcs_index_mix_repeated_to_frames() {
    let g = Golden::load();
    let stored = g.f32s("stored");
    let d = g.shape("stored")[1];
    let index = FeatureIndex::from_vectors(d, stored).unwrap();
    let hubert = g.f32s("hubert");
    let [blocks, t, _] = g.shape("hubert")[..] else {
        panic!("hubert shape")
    };
    let want = g.f32s("feats");
    let frames = g.shape("feats")[1];
    let skip = g.number("skip_head") as usize / 2;
    let rate = g.number("index_rate") as f32;
    let mut worst = 0.0f32;
    for b in 0..blocks {
        let mut vectors = hubert[b * t * d..(b + 1) * t * d].to_vec();
        index.mix(&mut vectors[skip * d..], rate, 1);
        let feats = repeat_to_frames(&vectors, d, frames);
        let want = &want[b * frames * d..(b + 1) * frames * d];
        assert_eq!(feats.len(), want.len());
        for (a, w) in feats.iter().zip(want) {
            worst = worst.max((a - w).abs());
        }
    }
    // The weights are 1/distance², normalised: f32 sums in a different order.
    assert!(worst < 1e-5, "features differ by {worst}");
}

//! `studio-server bench audio`: real-time factor and latency of each voice, measured on this
//! machine through the same engine sessions use (the app's `studio bench audio` runs this).

use anyhow::Context;
use serde::Serialize;
use std::time::Instant;
use studio_infer::ModelOptions;
use studio_media::engine::{AudioProcessor, AudioSetting};
use studio_media::{AudioBlock, Timestamp};
use studio_proto::config::Config;
use studio_proto::voices::{AUTO_BLOCKS_MS, NeuralVoice, VoiceKind};
use studio_voice::catalog::neural_sizes;
use studio_voice::neural::{Decoder, NeuralConverter, StageMs};
use studio_voice::{Catalog, VoiceEngine};

/// One voice's figures.
#[derive(Debug, Serialize)]
pub struct VoiceBench {
    pub voice: String,
    pub kind: String,
    /// The method's own delay.
    pub algorithmic_ms: f64,
    /// Processing time per 20 ms block: mean, 95th percentile and worst (a neural voice
    /// converts a whole block at once, so one call in several carries the work).
    pub processing_ms_mean: f64,
    pub processing_ms_p95: f64,
    pub processing_ms_max: f64,
    /// Processing time / audio time: below 1 keeps up with real time on one core.
    pub rtf: f64,
    /// Algorithmic delay plus the worst processing burst: what a listener waits.
    pub latency_ms: f64,
    /// Inference backend for neural voices.
    pub backend: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub seconds: f64,
    pub block_ms: f64,
    pub voices: Vec<VoiceBench>,
    /// Each neural voice's stages per block, at each automatic block size and its own, with the decoder
    /// on the newest frames and (the baseline, in the same run) on the whole window.
    pub neural_stages: Vec<StageBench>,
}

/// One neural voice's cost per converted window at one block size.
#[derive(Debug, Serialize)]
pub struct StageBench {
    pub voice: String,
    pub block_ms: u32,
    /// `newest` (what sessions run) or `whole` (the decoder over the whole window).
    pub decoder: &'static str,
    /// Milliseconds per window, by stage.
    pub stages: StageMs,
    /// Conversion time per block / block duration: the share of one core's (or device's)
    /// time the voice takes.
    pub rtf: f64,
}

/// Windows timed per block size and decoder (after one warm-up window).
const STAGE_WINDOWS: usize = 8;

/// The stages of `voice` at each of [`AUTO_BLOCKS_MS`] and its own block, both decoders, on
/// the test signal.
fn neural_stages(
    id: &str,
    voice: &NeuralVoice,
    options: &ModelOptions,
    signal: &[f32],
) -> anyhow::Result<Vec<StageBench>> {
    let sizes_for = |block_ms: u32| {
        let mut v = voice.clone();
        v.block_ms = block_ms;
        neural_sizes(&v)
    };
    let mut blocks = AUTO_BLOCKS_MS.to_vec();
    if !blocks.contains(&voice.block_ms) {
        blocks.push(voice.block_ms);
    }
    let largest = blocks.iter().copied().max().unwrap_or(voice.block_ms);
    let mut rows = Vec::new();
    for (decoder, name) in [(Decoder::Newest, "newest"), (Decoder::Whole, "whole")] {
        let mut converter = NeuralConverter::load_with(voice, options, sizes_for(largest), decoder)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading voice {id}"))?;
        for &block_ms in &blocks {
            let sizes = sizes_for(block_ms);
            let windows: Vec<&[f32]> = signal
                .windows(sizes.window())
                .step_by(sizes.block)
                .take(STAGE_WINDOWS + 1)
                .collect();
            for (i, window) in windows.iter().enumerate() {
                if i == 1 {
                    converter.take_stage_ms();
                }
                converter
                    .try_convert(window, sizes)
                    .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            }
            let stages = converter.take_stage_ms().per_window();
            rows.push(StageBench {
                voice: id.to_string(),
                block_ms,
                decoder: name,
                rtf: stages.total() / f64::from(block_ms),
                stages,
            });
        }
    }
    Ok(rows)
}

/// A voiced test signal: a vowel-like harmonic series whose pitch glides 110–220 Hz.
fn test_signal(samples: usize) -> Vec<f32> {
    let mut phase = 0.0f64;
    (0..samples)
        .map(|i| {
            let t = i as f64 / 48000.0;
            let f0 = 165.0 + 55.0 * (2.0 * std::f64::consts::PI * 0.5 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / 48000.0;
            (1..=20)
                .map(|h| {
                    let f = h as f64 * f0;
                    // Formants near 700, 1200, 2600 Hz.
                    let env = [700.0f64, 1200.0, 2600.0]
                        .iter()
                        .map(|c| (-((f - c) / 150.0).powi(2)).exp())
                        .sum::<f64>()
                        + 0.05;
                    (phase * h as f64).sin() * env * 0.1
                })
                .sum::<f64>() as f32
        })
        .collect()
}

/// Blocks left out of the figures at the start of each voice.
const WARM_UP_BLOCKS: usize = 5;

pub fn run(config: &Config, voices: &[String], seconds: f64) -> anyhow::Result<BenchReport> {
    let factory = crate::engine::EngineFactory::new(studio_proto::Role::Audio, config);
    let catalog: &Catalog = factory.catalog();
    let ids: Vec<String> = if voices.is_empty() {
        catalog
            .entries()
            .into_iter()
            .filter(|e| e.ready)
            .map(|e| e.id)
            .collect()
    } else {
        voices.to_vec()
    };
    let block = 960;
    let signal = test_signal((seconds * 48000.0) as usize);
    let mut results = Vec::new();
    let mut neural = Vec::new();
    for id in ids {
        let config = catalog.resolve(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let entry = studio_voice::catalog::entry(&id, &config);
        if let VoiceKind::Neural(voice) = &config.kind {
            eprintln!("bench: {id} stages per block ...");
            neural.extend(neural_stages(&id, voice, catalog.options(), &signal)?);
        }
        eprintln!("bench: {id} ({}) ...", entry.kind.as_str());
        let mut engine = VoiceEngine::new(catalog.clone(), 0, 0);
        engine
            .apply(&AudioSetting::Voice(id.clone()))
            .map_err(|e| anyhow::anyhow!(e))
            .with_context(|| format!("loading voice {id}"))?;
        let mut times = Vec::new();
        for (seq, chunk) in signal.chunks_exact(block).enumerate() {
            let b = AudioBlock {
                seq: seq as u64,
                capture: Timestamp(0),
                sample_rate: 48000,
                samples: chunk.to_vec(),
            };
            let started = Instant::now();
            let out = engine.process(b);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(out);
        }
        // The first blocks pay one-off costs (allocation, FFT and plan set-up).
        let times: Vec<f64> = times.into_iter().skip(WARM_UP_BLOCKS).collect();
        let total: f64 = times.iter().sum();
        let audio_ms = times.len() as f64 * 20.0;
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let p95 = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
        let max = sorted.last().copied().unwrap_or(0.0);
        let algorithmic = engine.latency_samples() as f64 / 48.0;
        results.push(VoiceBench {
            voice: id,
            kind: entry.kind.as_str().into(),
            algorithmic_ms: algorithmic,
            processing_ms_mean: total / times.len() as f64,
            processing_ms_p95: p95,
            processing_ms_max: max,
            rtf: total / audio_ms,
            latency_ms: algorithmic + max,
            backend: engine
                .backend()
                .map(|b| format!("{} ({}, {})", b.backend, b.provider, b.device)),
        });
    }
    Ok(BenchReport {
        seconds,
        block_ms: 20.0,
        voices: results,
        neural_stages: neural,
    })
}

pub fn print_table(report: &BenchReport) {
    println!(
        "{:<28} {:<7} {:>10} {:>10} {:>10} {:>10} {:>8} {:>11}  backend",
        "voice", "kind", "algo ms", "mean ms", "p95 ms", "max ms", "RTF", "latency ms"
    );
    for v in &report.voices {
        println!(
            "{:<28} {:<7} {:>10.1} {:>10.3} {:>10.3} {:>10.1} {:>8.4} {:>11.1}  {}",
            v.voice,
            v.kind,
            v.algorithmic_ms,
            v.processing_ms_mean,
            v.processing_ms_p95,
            v.processing_ms_max,
            v.rtf,
            v.latency_ms,
            v.backend.as_deref().unwrap_or("-")
        );
    }
    if report.neural_stages.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<28} {:>6} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "neural voice (ms/block)",
        "block",
        "decoder",
        "resample",
        "features",
        "index",
        "pitch",
        "synth",
        "total",
        "RTF"
    );
    for row in &report.neural_stages {
        let s = &row.stages;
        println!(
            "{:<28} {:>6} {:<8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7.3}",
            row.voice,
            row.block_ms,
            row.decoder,
            s.resample,
            s.features,
            s.index,
            s.pitch,
            s.synth,
            s.total(),
            row.rtf
        );
    }
}

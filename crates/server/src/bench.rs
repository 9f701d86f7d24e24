//! `studio-server bench audio`: real-time factor and latency of each voice, measured on this
//! machine through the same engine sessions use (the app's `studio bench audio` runs this).

use anyhow::Context;
use serde::Serialize;
use std::time::Instant;
use studio_media::engine::{AudioProcessor, AudioSetting};
use studio_media::{AudioBlock, Timestamp};
use studio_proto::config::Config;
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
    for id in ids {
        let entry = catalog
            .resolve(&id)
            .map(|c| studio_voice::catalog::entry(&id, &c))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
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
}

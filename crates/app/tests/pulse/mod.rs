//! A private PulseAudio daemon for the sound-device tests, and recording from it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A daemon of our own as this process's sound server (its variables set in the
/// environment), with "headphones" (a null sink, 48 kHz) as the default output. Call it
/// first, from a test file that holds one test alone.
pub fn sound_server_with_headphones() -> PulseDaemon {
    let daemon = PulseDaemon::start();
    for (name, value) in daemon.env() {
        // SAFETY: the caller's test is alone in its process and calls this before any
        // thread of its own reads the environment.
        unsafe { std::env::set_var(name, value) };
    }
    daemon
        .pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=headphones",
            "rate=48000",
        ])
        .expect("the headphones sink");
    daemon
        .pactl(&["set-default-sink", "headphones"])
        .expect("the default output");
    daemon
}

/// A PulseAudio daemon of our own: private runtime folder and socket, no system daemon, no
/// D-Bus. Stopped when dropped.
pub struct PulseDaemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl PulseDaemon {
    pub fn start() -> PulseDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "-L",
            ])
            .arg(format!(
                "module-native-protocol-unix auth-anonymous=1 socket={}",
                socket.display()
            ))
            .envs(Self::env_for(dir.path()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio is installed (Debian: apt install pulseaudio pulseaudio-utils)");
        let daemon = PulseDaemon { child, dir };
        assert!(
            super::common::wait_until(Duration::from_secs(10), || {
                daemon.pactl(&["info"]).is_some()
            }),
            "the test's PulseAudio daemon did not come up"
        );
        daemon
    }

    pub fn env_for(dir: &Path) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("XDG_RUNTIME_DIR", dir.to_path_buf()),
            ("HOME", dir.to_path_buf()),
            (
                "PULSE_SERVER",
                PathBuf::from(format!("unix:{}", dir.join("native").display())),
            ),
        ]
    }

    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        Self::env_for(self.dir.path())
    }

    pub fn pactl(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("pactl")
            .args(args)
            .envs(self.env())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for PulseDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_raw_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Record `source` with parec into a file until stopped.
pub fn record(daemon: &PulseDaemon, source: &str, to: &Path) -> Child {
    Command::new("parec")
        .arg(format!("--device={source}"))
        .args(["--format=float32le", "--rate=48000", "--channels=1"])
        // Without a latency PulseAudio hands a recorder its samples in seconds-long pieces.
        .arg("--latency-msec=20")
        .envs(daemon.env())
        .stdout(std::fs::File::create(to).unwrap())
        .spawn()
        .expect("parec (pulseaudio-utils)")
}

/// The recording's root-mean-square level.
pub fn rms(samples: &[f32]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

/// The share of the signal's power at `hz` (Goertzel over whole periods).
pub fn share_at(samples: &[f32], hz: f64) -> f64 {
    let period = 48_000.0 / hz;
    let n = ((samples.len() as f64 / period).floor() * period) as usize;
    let (mut re, mut im) = (0.0, 0.0);
    for (i, s) in samples[..n].iter().enumerate() {
        let phase = std::f64::consts::TAU * hz * i as f64 / 48_000.0;
        re += f64::from(*s) * phase.cos();
        im += f64::from(*s) * phase.sin();
    }
    // A sine of amplitude A has power A²/2, and |X|² = (A·n/2)² over whole periods.
    let at = 2.0 * (re * re + im * im) / (n as f64 * n as f64);
    let total = samples[..n]
        .iter()
        .map(|s| f64::from(*s).powi(2))
        .sum::<f64>()
        / n as f64;
    at / total.max(1e-12)
}

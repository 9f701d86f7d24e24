//! What the server's integration tests share: a real `studio-server` process that is killed
//! when the test ends, and the address it announced on its first line.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use studio_proto::api::Listening;

/// A running server process.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub listening: Listening,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `studio-server` with `args` and `token`, before any test-specific environment.
pub fn command(args: &[&str], token: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-server"));
    command.args(args).env("STUDIO_TOKEN", token);
    command
}

/// Start `command` and wait for its first line, the address it listens on.
pub fn spawn(mut command: Command) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start studio-server");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let listening: Listening = serde_json::from_str(&first).expect("first line is JSON");
    Server {
        url: format!("http://{}", listening.listening),
        child,
        listening,
    }
}

/// `GET {url}{path}` with the bearer `token`, its JSON body decoded.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    token: &str,
) -> T {
    http.get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Block `seq` of a 220 Hz tone at half scale: 20 ms at 48 kHz, captured at 20 ms steps.
pub fn tone(seq: u64) -> studio_media::AudioBlock {
    studio_media::AudioBlock {
        seq,
        capture: studio_media::Timestamp(seq * 20_000),
        sample_rate: 48_000,
        samples: (0..960)
            .map(|i| {
                (2.0 * std::f32::consts::PI * 220.0 * (seq * 960 + i) as f32 / 48000.0).sin() * 0.5
            })
            .collect(),
    }
}

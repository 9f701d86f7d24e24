//! The soak: a long headless run whose servers are killed on a schedule, beside a server
//! whose sessions open and close all the while. Threads, file descriptors and memory must
//! level off, the output timeline must have no hole, and the report must count every gap.
//!
//! Ignored in the default test run (it lasts ten minutes). `.ci/run` runs it bounded:
//! `SOAK_SECONDS=90 SOAK_KILL_EVERY_SECONDS=30 cargo test --workspace --test soak -- --ignored`.

#![cfg(target_os = "linux")]

mod common;

use common::{children, signal, start_server, studio, wait_for_server};
use serde_json::Value;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use studio_client::ServerClient;
use studio_media::{I420Image, Timestamp, VideoFrame};

/// Threads, open descriptors and resident memory of one process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    threads: u64,
    fds: u64,
    rss_kib: u64,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        Usage {
            threads: field("Threads:"),
            fds,
            rss_kib: field("VmRSS:"),
        }
    }

    /// The studio, the servers it runs now (summed), and the churned server.
    fn of_tree(app: u32, churned: u32) -> (Usage, Usage, Usage) {
        let mut servers = Usage::default();
        for (pid, cmd) in children(app) {
            if cmd.contains("studio-server") {
                let u = Usage::of(pid);
                servers.threads += u.threads;
                servers.fds += u.fds;
                servers.rss_kib += u.rss_kib;
            }
        }
        (Usage::of(app), servers, Usage::of(churned))
    }
}

/// Threads and descriptors at `end` at most `slack` above `start`; memory at `end` within a
/// quarter (and 16 MiB) of `middle`'s.
fn levels_off(what: &str, start: Usage, middle: Usage, end: Usage, slack: (u64, u64)) {
    assert!(
        end.threads <= start.threads + slack.0,
        "{what}: threads {} -> {}",
        start.threads,
        end.threads
    );
    assert!(
        end.fds <= start.fds + slack.1,
        "{what}: descriptors {} -> {}",
        start.fds,
        end.fds
    );
    assert!(
        end.rss_kib <= middle.rss_kib + middle.rss_kib / 4 + 16 * 1024,
        "{what}: memory {} KiB at the middle, {} KiB at the end",
        middle.rss_kib,
        end.rss_kib
    );
}

fn seconds_from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

const CHURN_TOKEN: &str = "soak-churn-token";

/// Open a session, send a few frames, close it; again until `stop`. Returns sessions opened.
fn churn(
    url: String,
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = ServerClient::new(&url, CHURN_TOKEN).unwrap();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (offer, handle) = client.open_raw_session().await.unwrap();
                opened.fetch_add(1, Ordering::Relaxed);
                for _ in 0..5 {
                    handle.sender.send_video(VideoFrame {
                        seq,
                        capture: Timestamp(seq * 33_333),
                        image: I420Image::black(64, 48),
                    });
                    seq += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                handle.sender.close();
                client.close_session(&offer.id).await.unwrap();
            }
        });
    })
}

#[test]
#[ignore = "a soak: ten minutes by default; .ci/run runs a bounded one"]
fn a_long_run_with_killed_servers_levels_off_and_keeps_its_timeline() {
    let seconds = seconds_from_env("SOAK_SECONDS", 600);
    // A video server of its own, killed when the test ends.
    let churn_server = start_server(&["--role", "video", "--port", "0"], CHURN_TOKEN, |c| {
        c.stdin(Stdio::piped())
    });
    let churn_pid = churn_server.child.id();
    let stop_churn = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let churning = churn(churn_server.url.clone(), stop_churn.clone(), opened.clone());
    let kill_every = seconds_from_env("SOAK_KILL_EVERY_SECONDS", 60);
    // The last kill leaves time for the replacement to come up before the run ends.
    let kills: Vec<u64> = (1..)
        .map(|k| k * kill_every)
        .take_while(|t| t + 10 <= seconds)
        .collect();
    assert!(!kills.is_empty(), "SOAK_SECONDS leaves room for one kill");

    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let app = studio()
        .args(["run", "--headless", "--video-in", "test", "--audio-in"])
        .arg("tone:440")
        .arg("--seconds")
        .arg(seconds.to_string())
        // The outputs are written whole (every frame and sample has its slot) and thrown away.
        .args(["--video-out", "/dev/null", "--audio-out", "/dev/null"])
        .arg("--report")
        .arg(&report_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let app_pid = app.id();
    let _guard = KillOnDrop(app_pid);
    let started = Instant::now();
    let mut video = wait_for_server(app_pid, "video", None, Duration::from_secs(30));
    let mut audio = wait_for_server(app_pid, "audio", None, Duration::from_secs(30));

    let sleep_until = |t: Duration| {
        if let Some(left) = t.checked_sub(started.elapsed()) {
            std::thread::sleep(left);
        }
    };
    // Start figures once both sessions run; middle and end figures on the same clock.
    sleep_until(Duration::from_secs(5));
    let mut figures = vec![("start", 5, Usage::of_tree(app_pid, churn_pid))];
    let middle = seconds / 2;
    let end = seconds.saturating_sub(3);
    let mut middle_taken = false;
    for (i, at) in kills.iter().enumerate() {
        if !middle_taken && *at > middle {
            sleep_until(Duration::from_secs(middle));
            figures.push(("middle", middle, Usage::of_tree(app_pid, churn_pid)));
            middle_taken = true;
        }
        sleep_until(Duration::from_secs(*at));
        // Alternate the roles, so both restarts and both gaps are exercised.
        if i % 2 == 0 {
            signal(video, libc::SIGKILL);
            video = wait_for_server(app_pid, "video", Some(video), Duration::from_secs(15));
        } else {
            signal(audio, libc::SIGKILL);
            audio = wait_for_server(app_pid, "audio", Some(audio), Duration::from_secs(15));
        }
    }
    if !middle_taken {
        sleep_until(Duration::from_secs(middle));
        figures.push(("middle", middle, Usage::of_tree(app_pid, churn_pid)));
    }
    sleep_until(Duration::from_secs(end));
    figures.push(("end", end, Usage::of_tree(app_pid, churn_pid)));

    let output = app.wait_with_output().unwrap();
    stop_churn.store(true, Ordering::Relaxed);
    churning
        .join()
        .expect("sessions opened and closed without an error");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    println!(
        "soak: {seconds} s, a server killed every {kill_every} s ({} kills)",
        kills.len()
    );
    println!(
        "{:<7} {:>5} | studio: threads fds rss_kib | its servers: threads fds rss_kib | churned server: threads fds rss_kib",
        "when", "at_s"
    );
    for (when, at, (studio_usage, servers, churned)) in &figures {
        println!(
            "{when:<7} {at:>5} | {:>7} {:>3} {:>7} | {:>7} {:>3} {:>7} | {:>7} {:>3} {:>7}",
            studio_usage.threads,
            studio_usage.fds,
            studio_usage.rss_kib,
            servers.threads,
            servers.fds,
            servers.rss_kib,
            churned.threads,
            churned.fds,
            churned.rss_kib
        );
    }
    let opened = opened.load(Ordering::Relaxed);
    println!("sessions opened and closed on the churned server: {opened}");

    // Level off: from the middle to the end nothing grows beyond noise, and nothing has
    // grown without bound since the start.
    let (_, _, (start_app, start_servers, start_churned)) = figures[0];
    let (_, _, (middle_app, _, middle_churned)) = figures[1];
    let (_, _, (end_app, end_servers, end_churned)) = figures[2];
    // The studio itself: no more threads or descriptors than at the start, memory flat from
    // the middle on.
    levels_off("studio", start_app, middle_app, end_app, (4, 8));
    // Replacement servers are fresh processes: the same size as the first ones, not more.
    levels_off(
        "its servers",
        start_servers,
        end_servers,
        end_servers,
        (8, 16),
    );
    // Hundreds of sessions came and went: each one's thread, sockets and buffers went too.
    assert!(opened >= seconds, "only {opened} sessions in {seconds} s");
    levels_off(
        "churned server",
        start_churned,
        middle_churned,
        end_churned,
        (4, 8),
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let killed = kills.len() as u64;
    assert_eq!(report["restarts"], killed, "every kill restarted a server");
    let gaps = report["gaps"].as_array().unwrap();
    assert_eq!(gaps.len() as u64, killed, "every kill counted as one gap");
    for gap in gaps {
        let ms = gap["duration_ms"].as_f64().expect("every gap closed");
        assert!(ms > 0.0 && ms < 10_000.0, "a gap of {ms} ms");
    }
    let video_report = &report["video"];
    let frames = seconds * 30;
    assert_eq!(video_report["frames_in"], frames);
    // Every captured frame has its slot, and nothing else is added but the lead-in that lip
    // sync puts before the first frame when it holds video back behind slower audio (under a
    // second here).
    let written = video_report["frames_written"].as_u64().unwrap();
    assert!(
        (frames..=frames + 30).contains(&written),
        "no hole in the video: {written} slots for {frames} frames"
    );
    let audio_report = &report["audio"];
    let samples = seconds * 48_000;
    assert_eq!(audio_report["samples_in"], samples);
    assert_eq!(
        audio_report["samples_written"], samples,
        "no hole in the audio"
    );
    println!(
        "gaps (ms): {:?}; frames concealed {}, samples concealed {}",
        gaps.iter()
            .map(|g| g["duration_ms"].as_f64().unwrap_or(0.0).round())
            .collect::<Vec<_>>(),
        video_report["frames_concealed"],
        audio_report["samples_concealed"]
    );
}

/// A studio left running by a failed assertion is killed (its servers follow it).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if common::alive(self.0) {
            signal(self.0, libc::SIGKILL);
        }
    }
}

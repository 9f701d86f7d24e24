//! Detection ahead of the swap: one session's detector runs on its own thread on a frame that
//! was already swapped with the faces being followed, and its faces are taken up by a later
//! frame. At most one detection is in flight (a newer frame never queues behind it), and the
//! thread ends with the session.

use crate::Detection;
use crate::detect::Letterbox;
use crate::models::Detector;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use studio_media::I420Image;

/// What the detector reads: the frame as it came, or its letterbox made elsewhere (the device
/// graphs).
pub enum Input {
    Frame(I420Image),
    Letterboxed(Vec<f32>, Letterbox),
}

/// One frame to detect on.
pub struct Job {
    pub input: Input,
    /// The session's face epoch when the frame was sent: a result from an older epoch (the
    /// faces were reset since) is dropped.
    pub epoch: u64,
}

/// The detector's answer for one [`Job`].
pub struct Found {
    pub faces: Result<Vec<Detection>, String>,
    pub epoch: u64,
    /// Time the worker spent on the frame (the letterbox, network and decoding), not counting
    /// any wait for the detector another session held.
    pub spent: Duration,
    /// Of `spent`, the time inside the network.
    pub network: Duration,
}

/// A session's detection worker.
pub struct DetectAhead {
    /// Dropped first on drop, which ends the worker's loop.
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Found>,
    worker: Option<JoinHandle<()>>,
    /// Jobs sent and answers taken: their difference is what is in flight (0 or 1).
    sent: u64,
    taken: u64,
    /// The most jobs ever in flight at once.
    peak: u64,
}

impl DetectAhead {
    /// Start the worker on the engine's shared `detector`.
    pub fn start(detector: Arc<Mutex<Detector>>) -> std::io::Result<DetectAhead> {
        // One job waits at most, and none does while one is in flight (`send` checks), so the
        // channels never hold more than one of each.
        let (jobs, inbox) = sync_channel::<Job>(1);
        let (outbox, results) = sync_channel::<Found>(1);
        let worker = std::thread::Builder::new()
            .name("face-detect-ahead".into())
            .spawn(move || {
                while let Ok(job) = inbox.recv() {
                    let mut d = detector.lock().unwrap_or_else(PoisonError::into_inner);
                    let t = Instant::now();
                    let before = d.run_time;
                    let faces = match job.input {
                        Input::Frame(image) => d.detect_i420(&image),
                        Input::Letterboxed(blob, placement) => d.detect_blob(blob, &placement),
                    };
                    let network = d.run_time.saturating_sub(before);
                    drop(d);
                    let found = Found {
                        faces: faces.map_err(|e| format!("detecting ahead: {e}")),
                        epoch: job.epoch,
                        spent: t.elapsed(),
                        network,
                    };
                    if outbox.send(found).is_err() {
                        break;
                    }
                }
            })?;
        Ok(DetectAhead {
            jobs: Some(jobs),
            results,
            worker: Some(worker),
            sent: 0,
            taken: 0,
            peak: 0,
        })
    }

    /// Whether a detection is in flight (sent, its answer not taken yet).
    pub fn busy(&self) -> bool {
        self.sent > self.taken
    }

    /// The most detections that were ever in flight at once.
    pub fn peak_in_flight(&self) -> u64 {
        self.peak
    }

    /// Send `job` unless one is in flight; whether it was sent. `Err` when the worker ended.
    pub fn send(&mut self, job: Job) -> Result<bool, String> {
        if self.busy() {
            return Ok(false);
        }
        let Some(jobs) = self.jobs.as_ref() else {
            return Err("the detection worker has ended".into());
        };
        jobs.try_send(job)
            .map_err(|_| "the detection worker has ended".to_string())?;
        self.sent += 1;
        self.peak = self.peak.max(self.sent - self.taken);
        Ok(true)
    }

    /// The answer in flight if it is there, without waiting.
    pub fn try_take(&mut self) -> Result<Option<Found>, String> {
        if !self.busy() {
            return Ok(None);
        }
        match self.results.try_recv() {
            Ok(found) => {
                self.taken += 1;
                Ok(Some(found))
            }
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => {
                self.taken = self.sent;
                Err("the detection worker ended with a detection in flight".into())
            }
        }
    }

    /// The answer in flight, waiting for it; `None` when none is in flight.
    pub fn wait(&mut self) -> Result<Option<Found>, String> {
        if !self.busy() {
            return Ok(None);
        }
        let found = self.results.recv();
        self.taken += 1;
        found
            .map(Some)
            .map_err(|_| "the detection worker ended with a detection in flight".into())
    }
}

impl Drop for DetectAhead {
    fn drop(&mut self) {
        // Closing the job channel ends the loop once the detection in flight (if any) is
        // done; its answer is dropped with the receiver.
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            // A worker that panicked has nothing left to clean up.
            let _ = worker.join();
        }
    }
}

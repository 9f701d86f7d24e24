//! The Linux virtual microphone: a PulseAudio/PipeWire null sink that the studio plays into,
//! and a source remapped from its monitor, named "Streaming Studio Microphone", that call apps
//! list like any microphone. Both are created with `pactl` when the studio starts and removed
//! when it stops; leftovers of a studio that was killed are removed at the next start.

use crate::error::DeviceError;
use crate::runner::CommandRunner;
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use studio_media::error::MediaError;
use studio_media::sink::AudioWrite;

/// What call apps show.
pub const MICROPHONE_DESCRIPTION: &str = "Streaming Studio Microphone";
/// The source's name, for recorders and `pactl`.
pub const SOURCE_NAME: &str = "streaming_studio_microphone";
/// The null sink's name is this plus the owning process id, so leftovers can be told apart.
const SINK_PREFIX: &str = "streaming_studio_sink_";

const FIX_NO_SERVER: &str = "Install and start a sound server: on Debian or Ubuntu, \
    `sudo apt install pipewire-pulse` (or `pulseaudio`), then log out and back in";

/// The two `pactl` modules that make up the virtual microphone, while they exist.
pub struct PulseMicrophone<R: CommandRunner> {
    runner: R,
    sink_name: String,
    sink_module: Option<u32>,
    source_module: Option<u32>,
}

/// A module the studio loaded: its index and the process that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OurModule {
    index: u32,
    owner: u32,
    is_source: bool,
}

/// Our modules in `pactl list short modules` output.
fn our_modules(listing: &str) -> Vec<OurModule> {
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let index = fields.next()?.trim().parse::<u32>().ok()?;
            let name = fields.next()?.trim();
            let args = fields.next().unwrap_or("");
            let is_source = match name {
                "module-null-sink" => false,
                "module-remap-source" => true,
                _ => return None,
            };
            let at = args.find(SINK_PREFIX)? + SINK_PREFIX.len();
            let digits: String = args[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let owner = digits.parse().ok()?;
            Some(OurModule {
                index,
                owner,
                is_source,
            })
        })
        .collect()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl<R: CommandRunner> PulseMicrophone<R> {
    /// Create the sink and the source for process `pid`. `alive` tells whether another
    /// process still runs, so a live studio's microphone is never taken away.
    pub fn create(
        mut runner: R,
        sample_rate: u32,
        pid: u32,
        alive: impl Fn(u32) -> bool,
    ) -> Result<PulseMicrophone<R>, DeviceError> {
        runner
            .run("pactl", &args(&["info"]))
            .map_err(|e| DeviceError::Unavailable {
                problem: format!("No PulseAudio or PipeWire sound server answered ({e})"),
                fix: FIX_NO_SERVER.into(),
            })?;
        let listing = runner.run("pactl", &args(&["list", "short", "modules"]))?;
        let mut modules = our_modules(&listing);
        // Sources first, so no sink is removed from under its source.
        modules.sort_by_key(|m| !m.is_source);
        for module in modules {
            if module.owner != pid && alive(module.owner) {
                return Err(DeviceError::Unavailable {
                    problem: format!(
                        "The {MICROPHONE_DESCRIPTION} is in use by another studio (process {})",
                        module.owner
                    ),
                    fix: "Close the other Streaming Studio first".into(),
                });
            }
            tracing_free_unload(&mut runner, module.index);
        }
        let sink_name = format!("{SINK_PREFIX}{pid}");
        let sink_output = runner.run(
            "pactl",
            &[
                "load-module".to_string(),
                "module-null-sink".to_string(),
                format!("sink_name={sink_name}"),
                format!("rate={sample_rate}"),
                "channels=1".to_string(),
                "format=float32le".to_string(),
                // The modarg value in single quotes, the property value in double quotes.
                "sink_properties='device.description=\"Streaming Studio Microphone Input\"'"
                    .to_string(),
            ],
        )?;
        let sink_module = parse_index(&sink_output)?;
        let mut microphone = PulseMicrophone {
            runner,
            sink_name,
            sink_module: Some(sink_module),
            source_module: None,
        };
        let source_output = microphone.runner.run(
            "pactl",
            &[
                "load-module".to_string(),
                "module-remap-source".to_string(),
                format!("master={}.monitor", microphone.sink_name),
                format!("source_name={SOURCE_NAME}"),
                "channels=1".to_string(),
                format!("source_properties='device.description=\"{MICROPHONE_DESCRIPTION}\"'"),
            ],
        )?;
        // On an error here `microphone` drops and unloads the sink.
        microphone.source_module = Some(parse_index(&source_output)?);
        Ok(microphone)
    }

    /// The sink to play into.
    pub fn sink_name(&self) -> &str {
        &self.sink_name
    }

    /// Remove the source, then the sink. Idempotent.
    pub fn remove(&mut self) -> Result<(), DeviceError> {
        let mut first_error = None;
        for module in [self.source_module.take(), self.sink_module.take()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = self
                .runner
                .run("pactl", &["unload-module".to_string(), module.to_string()])
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl<R: CommandRunner> Drop for PulseMicrophone<R> {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// Unload a leftover module; one that vanished meanwhile is no problem.
fn tracing_free_unload(runner: &mut impl CommandRunner, index: u32) {
    let _ = runner.run("pactl", &["unload-module".to_string(), index.to_string()]);
}

fn parse_index(output: &str) -> Result<u32, DeviceError> {
    output
        .trim()
        .parse()
        .map_err(|_| DeviceError::Format(format!("pactl load-module printed {output:?}")))
}

/// Most audio held for `pacat` beyond what its pipe takes: a device plays in real time, so
/// anything queued past this is latency, and newer blocks are dropped instead.
const MAX_PENDING_SECONDS: f64 = 0.06;
/// The pipe to `pacat`, shrunk from the kernel's 64 KiB (a third of a second of audio) so a
/// slow start of the sound server cannot leave that much delay behind.
#[cfg(target_os = "linux")]
const PIPE_BYTES: libc::c_int = 16 * 1024;

/// Plays mono f32 samples into a sink through `pacat`, which speaks whatever sound server
/// runs (PulseAudio, or PipeWire through pipewire-pulse). Writes never block the caller:
/// while `pacat` does not keep up (it is still connecting, or the server stalls) blocks are
/// dropped and counted, so the voice in the call never lags the picture.
pub struct PulsePlayback {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Bytes accepted but not yet taken by the pipe, whole samples in order.
    pending: std::collections::VecDeque<u8>,
    max_pending: usize,
    /// Samples dropped because `pacat` was behind.
    pub samples_dropped: u64,
}

impl PulsePlayback {
    pub fn start(sink: &str, sample_rate: u32) -> Result<PulsePlayback, DeviceError> {
        let mut child = Command::new("pacat")
            .args([
                "--playback",
                &format!("--device={sink}"),
                "--format=float32le",
                &format!("--rate={sample_rate}"),
                "--channels=1",
                // Small, so what plays follows the lip-sync buffer closely.
                "--latency-msec=50",
                "--client-name=Streaming Studio",
                "--stream-name=processed voice",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| DeviceError::Unavailable {
                problem: format!("cannot run pacat: {e}"),
                fix: "Install the sound server's tools: `sudo apt install pulseaudio-utils`".into(),
            })?;
        let stdin = child.stdin.take();
        #[cfg(target_os = "linux")]
        if let Some(pipe) = &stdin {
            use std::os::fd::AsRawFd;
            // SAFETY: fcntl on a pipe descriptor we own; failure leaves it as it was.
            unsafe {
                libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES);
                let flags = libc::fcntl(pipe.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(pipe.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Ok(PulsePlayback {
            child,
            stdin,
            pending: std::collections::VecDeque::new(),
            max_pending: (f64::from(sample_rate) * MAX_PENDING_SECONDS) as usize * 4,
            samples_dropped: 0,
        })
    }

    /// Hand the pipe what it takes now; the rest stays pending.
    fn flush(&mut self) -> Result<(), MediaError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(());
        };
        while !self.pending.is_empty() {
            let (front, _) = self.pending.as_slices();
            match stdin.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(DeviceError::Io {
                        device: "the virtual microphone (pacat)".into(),
                        source,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }
}

impl AudioWrite for PulsePlayback {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        if self.stdin.is_none() {
            return Ok(());
        }
        self.flush()?;
        // Whole blocks are dropped, never parts of a sample: the stream stays aligned.
        if self.pending.len() + samples.len() * 4 > self.max_pending {
            self.samples_dropped += samples.len() as u64;
            return Ok(());
        }
        self.pending
            .extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        self.flush()
    }

    fn finish(mut self: Box<Self>) -> Result<(), MediaError> {
        // End of input: what is pending goes out, then pacat plays what it holds and exits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while !self.pending.is_empty() && std::time::Instant::now() < deadline {
            self.flush()?;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if self.samples_dropped > 0 {
            tracing::info!(
                "the virtual microphone dropped {} samples while the sound server was behind",
                self.samples_dropped
            );
        }
        drop(self.stdin.take());
        let status = self.child.wait().map_err(|source| DeviceError::Io {
            device: "pacat".into(),
            source,
        })?;
        if !status.success() {
            return Err(DeviceError::Command {
                command: "pacat --playback".into(),
                message: status.to_string(),
            }
            .into());
        }
        Ok(())
    }
}

impl Drop for PulsePlayback {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The virtual microphone as a sink: plays into the null sink, and removes both modules when
/// the run finishes.
pub struct VirtualMicrophone<R: CommandRunner> {
    playback: Option<PulsePlayback>,
    microphone: PulseMicrophone<R>,
}

impl<R: CommandRunner> VirtualMicrophone<R> {
    pub fn open(
        runner: R,
        sample_rate: u32,
        alive: impl Fn(u32) -> bool,
    ) -> Result<VirtualMicrophone<R>, DeviceError> {
        let microphone = PulseMicrophone::create(runner, sample_rate, std::process::id(), alive)?;
        let playback = PulsePlayback::start(microphone.sink_name(), sample_rate)?;
        Ok(VirtualMicrophone {
            playback: Some(playback),
            microphone,
        })
    }
}

impl<R: CommandRunner + 'static> AudioWrite for VirtualMicrophone<R> {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        match self.playback.as_mut() {
            Some(playback) => playback.write(samples),
            None => Ok(()),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<(), MediaError> {
        let played = match self.playback.take() {
            Some(playback) => Box::new(playback).finish(),
            None => Ok(()),
        };
        let removed = self.microphone.remove();
        played?;
        removed?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every command and answers from a script.
    #[derive(Default)]
    struct Script {
        calls: Vec<String>,
        modules: String,
        fail_info: bool,
        next_index: u32,
    }

    impl CommandRunner for &mut Script {
        fn run(&mut self, program: &str, args: &[String]) -> Result<String, DeviceError> {
            let line = format!("{program} {}", args.join(" "));
            self.calls.push(line.clone());
            match args.first().map(String::as_str) {
                Some("info") if self.fail_info => Err(DeviceError::Command {
                    command: line,
                    message: "Connection refused".into(),
                }),
                Some("list") => Ok(self.modules.clone()),
                Some("load-module") => {
                    self.next_index += 1;
                    Ok(format!("{}\n", 20 + self.next_index))
                }
                _ => Ok(String::new()),
            }
        }
    }

    #[test]
    fn creates_a_null_sink_and_a_named_source_and_removes_them_in_reverse() {
        let mut script = Script::default();
        {
            let mut mic = PulseMicrophone::create(&mut script, 48_000, 77, |_| false).unwrap();
            assert_eq!(mic.sink_name(), "streaming_studio_sink_77");
            mic.remove().unwrap();
            mic.remove().unwrap();
        }
        let calls = &script.calls;
        assert_eq!(calls[0], "pactl info");
        assert!(calls[2].starts_with(
            "pactl load-module module-null-sink sink_name=streaming_studio_sink_77 rate=48000"
        ));
        assert_eq!(
            calls[3],
            "pactl load-module module-remap-source master=streaming_studio_sink_77.monitor \
             source_name=streaming_studio_microphone channels=1 \
             source_properties='device.description=\"Streaming Studio Microphone\"'"
        );
        assert_eq!(
            calls[4..],
            ["pactl unload-module 22", "pactl unload-module 21"]
        );
    }

    #[test]
    fn dropping_it_removes_the_modules_too() {
        let mut script = Script::default();
        drop(PulseMicrophone::create(&mut script, 48_000, 5, |_| false).unwrap());
        assert_eq!(
            script.calls[4..],
            ["pactl unload-module 22", "pactl unload-module 21"]
        );
    }

    #[test]
    fn leftovers_of_a_dead_studio_are_removed_but_a_live_ones_are_not_touched() {
        let leftovers = "0\tmodule-native-protocol-unix\t\t\n\
             8\tmodule-null-sink\tsink_name=streaming_studio_sink_900 rate=48000\t\n\
             9\tmodule-remap-source\tmaster=streaming_studio_sink_900.monitor source_name=streaming_studio_microphone\t\n";
        let mut script = Script {
            modules: leftovers.into(),
            ..Script::default()
        };
        drop(PulseMicrophone::create(&mut script, 48_000, 5, |_| false).unwrap());
        assert_eq!(
            script.calls[2..4],
            ["pactl unload-module 9", "pactl unload-module 8"],
            "source first"
        );

        let mut script = Script {
            modules: leftovers.into(),
            ..Script::default()
        };
        let error = PulseMicrophone::create(&mut script, 48_000, 5, |pid| pid == 900)
            .err()
            .unwrap();
        assert!(error.to_string().contains("another studio"), "{error}");
        assert!(!script.calls.iter().any(|c| c.contains("unload")));
    }

    #[test]
    fn no_sound_server_says_how_to_get_one() {
        let mut script = Script {
            fail_info: true,
            ..Script::default()
        };
        let error = PulseMicrophone::create(&mut script, 48_000, 5, |_| false)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("No PulseAudio or PipeWire"), "{error}");
        assert!(error.contains("apt install pipewire-pulse"), "{error}");
        assert_eq!(script.calls.len(), 1, "nothing was created");
    }
}

//! `studio doctor` and `studio devices`: what this computer offers the studio — GPU and
//! driver, ONNX Runtime, cameras, microphones, the virtual camera and microphone, the model
//! hosts — each as ok or a problem with a fix a non-technical person can follow.
//!
//! Facts are gathered from the system first ([`Facts::gather`]); turning them into checks
//! ([`checks`]) is a pure function, tested on made-up facts.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use studio_devices::DeviceInfo;
use studio_proto::config::Config;

/// How long a model host may take to answer.
const HOST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `nvidia-smi` may take.
const SMI_TIMEOUT: Duration = Duration::from_secs(5);

/// One line of the doctor's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable identifier: `gpu`, `onnxruntime`, `cameras`, `microphones`, `virtual_camera`,
    /// `virtual_microphone`, `model_hosts`, `talk_key`.
    pub id: &'static str,
    pub title: &'static str,
    /// `ok` or `problem`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// What to do about a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(id: &'static str, title: &'static str, detail: impl Into<String>) -> Check {
        Check {
            id,
            title,
            status: "ok",
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(
        id: &'static str,
        title: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            id,
            title,
            status: "problem",
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The virtual camera as found on this system.
#[derive(Debug, Clone, PartialEq)]
pub enum VirtualCameraFact {
    /// Loopback devices found (Linux).
    Found(Vec<String>),
    /// None; the reason with its fix.
    Missing { problem: String, fix: String },
    /// This operating system has none yet.
    Unsupported(&'static str),
}

/// What the doctor looks at, gathered from the system (or made up in tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// `nvidia-smi` output (`name, driver, memory` per GPU), or why it could not run.
    pub gpu: Result<Vec<String>, String>,
    /// Where ONNX Runtime was found, and the execution-provider libraries beside it.
    pub onnxruntime: Option<(PathBuf, Vec<String>)>,
    pub cameras: Result<Vec<DeviceInfo>, String>,
    pub microphones: Result<Vec<DeviceInfo>, String>,
    pub virtual_camera: VirtualCameraFact,
    /// The virtual microphone: `Ok(how)` or `Err((problem, fix))`.
    pub virtual_microphone: Result<String, (String, String)>,
    /// Each model host with whether it answered (and the error when not).
    pub hosts: Vec<(String, Result<(), String>)>,
    /// How the global talk key will be read: `Ok(how)` or `Err((problem, fix))`.
    pub talk_key: Result<String, (String, String)>,
}

/// Turn facts into checks, in a fixed order.
pub fn checks(facts: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match &facts.gpu {
        Ok(gpus) if !gpus.is_empty() => Check::ok("gpu", "GPU and driver", gpus.join("; ")),
        Ok(_) => Check::problem(
            "gpu",
            "GPU and driver",
            "nvidia-smi found no NVIDIA GPU",
            "Use cloud mode (a RunPod GPU) instead, or check that the graphics card is seated and \
             its driver installed",
        ),
        Err(e) => Check::problem(
            "gpu",
            "GPU and driver",
            format!("no NVIDIA driver answered ({e})"),
            "For local GPU mode install the NVIDIA driver (Ubuntu: `sudo ubuntu-drivers install`; \
             Windows: nvidia.com/drivers) and restart; without one, use cloud mode",
        ),
    });
    out.push(match &facts.onnxruntime {
        Some((path, providers)) => Check::ok(
            "onnxruntime",
            "ONNX Runtime",
            format!(
                "{} (execution providers: {})",
                path.display(),
                if providers.is_empty() {
                    "CPU".to_string()
                } else {
                    format!("CPU, {}", providers.join(", "))
                }
            ),
        ),
        None => Check::problem(
            "onnxruntime",
            "ONNX Runtime",
            "not found: neither ORT_DYLIB_PATH nor a copy beside the studio",
            "Reinstall the studio (it ships ONNX Runtime), or set ORT_DYLIB_PATH to the \
             onnxruntime library; the servers fall back to the slower built-in engine meanwhile",
        ),
    });
    out.push(device_check(
        "cameras",
        "Cameras",
        &facts.cameras,
        "No camera found",
        "Plug in a camera (or enable it in the system settings) and close apps that may hold it",
    ));
    out.push(device_check(
        "microphones",
        "Microphones",
        &facts.microphones,
        "No microphone found",
        "Plug in a microphone or headset, or enable it in the sound settings",
    ));
    out.push(match &facts.virtual_camera {
        VirtualCameraFact::Found(devices) => Check::ok(
            "virtual_camera",
            "Virtual camera",
            format!("ready: {}", devices.join(", ")),
        ),
        VirtualCameraFact::Missing { problem, fix } => {
            Check::problem("virtual_camera", "Virtual camera", problem, fix)
        }
        VirtualCameraFact::Unsupported(what) => Check::problem(
            "virtual_camera",
            "Virtual camera",
            *what,
            "Meanwhile share the studio's preview window in the call instead of a camera",
        ),
    });
    out.push(match &facts.virtual_microphone {
        Ok(how) => Check::ok("virtual_microphone", "Virtual microphone", how.clone()),
        Err((problem, fix)) => {
            Check::problem("virtual_microphone", "Virtual microphone", problem, fix)
        }
    });
    let unreachable: Vec<String> = facts
        .hosts
        .iter()
        .filter_map(|(host, r)| r.as_ref().err().map(|e| format!("{host} ({e})")))
        .collect();
    out.push(if facts.hosts.is_empty() {
        Check::ok(
            "model_hosts",
            "Model hosts",
            "no model downloads configured",
        )
    } else if unreachable.is_empty() {
        Check::ok(
            "model_hosts",
            "Model hosts",
            format!(
                "reachable: {}",
                facts
                    .hosts
                    .iter()
                    .map(|(h, _)| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        Check::problem(
            "model_hosts",
            "Model hosts",
            format!("not reachable: {}", unreachable.join(", ")),
            "Check the internet connection (and any firewall or proxy); models already \
             downloaded keep working",
        )
    });
    out.push(match &facts.talk_key {
        Ok(how) => Check::ok("talk_key", "Talk key", how.clone()),
        Err((problem, fix)) => Check::problem("talk_key", "Talk key", problem, fix),
    });
    out
}

fn device_check(
    id: &'static str,
    title: &'static str,
    found: &Result<Vec<DeviceInfo>, String>,
    none: &str,
    fix: &str,
) -> Check {
    match found {
        Ok(devices) if !devices.is_empty() => Check::ok(
            id,
            title,
            devices
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Ok(_) => Check::problem(id, title, none, fix),
        Err(e) => Check::problem(id, title, format!("{none}: {e}"), fix),
    }
}

impl Facts {
    /// Look at this computer. Slow parts (hosts, nvidia-smi) are bounded by short timeouts.
    pub async fn gather(config: &Config) -> Facts {
        let hosts = model_hosts(config);
        let reach = tokio::spawn(reach_hosts(hosts));
        let talk = tokio::task::spawn_blocking(talk_key);
        let local = tokio::task::spawn_blocking(|| {
            (
                nvidia_smi(),
                find_onnxruntime(),
                cameras(),
                studio_devices::sound::microphones().map_err(|e| e.to_string()),
                virtual_camera(),
                virtual_microphone(),
            )
        });
        let (gpu, onnxruntime, cameras, microphones, virtual_camera, virtual_microphone) =
            match local.await {
                Ok(found) => found,
                Err(e) => {
                    let e = e.to_string();
                    (
                        Err(e.clone()),
                        None,
                        Err(e.clone()),
                        Err(e.clone()),
                        VirtualCameraFact::Missing {
                            problem: e.clone(),
                            fix: String::new(),
                        },
                        Err((e, String::new())),
                    )
                }
            };
        Facts {
            gpu,
            onnxruntime,
            cameras,
            microphones,
            virtual_camera,
            virtual_microphone,
            hosts: reach.await.unwrap_or_default(),
            talk_key: talk
                .await
                .unwrap_or_else(|e| Err((e.to_string(), "Run `studio doctor` again".into()))),
        }
    }
}

/// `studio doctor [--json]`: print the checks; fails (exit status 1) when any has a problem.
pub async fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let checks = checks(&Facts::gather(config).await);
    if json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for check in &checks {
            let mark = if check.status == "ok" {
                "ok     "
            } else {
                "PROBLEM"
            };
            println!("{mark} {}: {}", check.title, check.detail);
            if let Some(fix) = &check.fix {
                println!("        fix: {fix}");
            }
        }
    }
    let problems = checks.iter().filter(|c| c.status != "ok").count();
    if problems > 0 {
        anyhow::bail!("{problems} of {} checks found a problem", checks.len());
    }
    Ok(())
}

/// `studio devices [--json]`.
pub fn print_devices(json: bool) -> anyhow::Result<()> {
    let devices = list_devices();
    if json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else if devices.is_empty() {
        println!("no cameras, microphones or virtual devices found (`studio doctor` says why)");
    } else {
        for device in &devices {
            println!("{:<19} {:<40} {}", device.kind, device.spec, device.name);
        }
    }
    Ok(())
}

/// Every device the studio can use, for `studio devices`.
pub fn list_devices() -> Vec<DeviceInfo> {
    let mut all = Vec::new();
    all.extend(cameras().unwrap_or_default());
    all.extend(studio_devices::sound::microphones().unwrap_or_default());
    all.extend(studio_devices::sound::speakers().unwrap_or_default());
    if let VirtualCameraFact::Found(devices) = virtual_camera() {
        all.extend(devices.into_iter().map(|d| DeviceInfo {
            kind: "virtual-camera",
            spec: format!("v4l2:{}", d.split(' ').next().unwrap_or(&d)),
            name: d,
        }));
    }
    if virtual_microphone().is_ok() {
        all.push(DeviceInfo {
            kind: "virtual-microphone",
            spec: "pulse".into(),
            name: studio_devices::pulse::MICROPHONE_DESCRIPTION.into(),
        });
    }
    all
}

fn nvidia_smi() -> Result<Vec<String>, String> {
    let mut child = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,driver_version,memory.total",
            "--format=csv,noheader",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "nvidia-smi is not installed".to_string()
            } else {
                e.to_string()
            }
        })?;
    let deadline = std::time::Instant::now() + SMI_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut text = String::new();
                if let Some(mut out) = child.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut out, &mut text);
                }
                if !status.success() {
                    return Err(format!("nvidia-smi failed ({status})"));
                }
                return Ok(parse_nvidia_smi(&text));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("nvidia-smi did not answer in time".into());
            }
        }
    }
}

/// `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader` output,
/// one GPU a line, as `name, driver X, memory`.
fn parse_nvidia_smi(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            match f.as_slice() {
                [name, driver, memory] => format!("{name}, driver {driver}, {memory}"),
                _ => l.trim().to_string(),
            }
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// ONNX Runtime's library names on each system.
fn onnxruntime_names() -> &'static [&'static str] {
    if cfg!(windows) {
        &["onnxruntime.dll"]
    } else if cfg!(target_os = "macos") {
        &["libonnxruntime.dylib"]
    } else {
        &["libonnxruntime.so"]
    }
}

/// `ORT_DYLIB_PATH`, else a library beside the executable; with the provider libraries next
/// to it.
fn find_onnxruntime() -> Option<(PathBuf, Vec<String>)> {
    let from_env = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let beside = || {
        let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
        find_library_in(&dir, onnxruntime_names())
    };
    let path = from_env.or_else(beside)?;
    let providers = path
        .parent()
        .map(execution_providers_in)
        .unwrap_or_default();
    Some((path, providers))
}

/// A file in `dir` whose name starts with one of `names` (versioned `.so.1.20.0` included).
fn find_library_in(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| names.iter().any(|want| n.starts_with(want)))
        })
        .collect();
    entries.sort();
    entries.into_iter().next()
}

fn execution_providers_in(dir: &Path) -> Vec<String> {
    let known = [
        ("onnxruntime_providers_cuda", "CUDA"),
        ("onnxruntime_providers_tensorrt", "TensorRT"),
        ("onnxruntime_providers_rocm", "ROCm"),
        ("DirectML", "DirectML"),
    ];
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    known
        .iter()
        .filter(|(file, _)| names.iter().any(|n| n.contains(file)))
        .map(|(_, label)| label.to_string())
        .collect()
}

#[cfg(target_os = "linux")]
pub fn cameras() -> Result<Vec<DeviceInfo>, String> {
    use studio_devices::v4l2::{DeviceNode, find_cameras};
    Ok(find_cameras(Path::new("/dev"), DeviceNode::open)
        .into_iter()
        .map(|(path, card)| DeviceInfo {
            kind: "camera",
            spec: format!("camera:{}", path.display()),
            name: card,
        })
        .collect())
}

#[cfg(any(windows, target_os = "macos"))]
pub fn cameras() -> Result<Vec<DeviceInfo>, String> {
    #[cfg(target_os = "macos")]
    use studio_devices::avfoundation::list_cameras;
    #[cfg(windows)]
    use studio_devices::media_foundation::list_cameras;
    let names = list_cameras().map_err(|e| e.to_string())?;
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| DeviceInfo {
            kind: "camera",
            spec: format!("camera:{i}"),
            name,
        })
        .collect())
}

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
pub fn cameras() -> Result<Vec<DeviceInfo>, String> {
    Err("camera detection on this system is not built yet".into())
}

#[cfg(target_os = "linux")]
fn virtual_camera() -> VirtualCameraFact {
    use studio_devices::DeviceError;
    use studio_devices::v4l2::{
        DeviceNode, find_loopback_devices, missing_device_error, module_loaded,
    };
    let found = find_loopback_devices(Path::new("/dev"), DeviceNode::open);
    if found.is_empty() {
        match missing_device_error(module_loaded()) {
            DeviceError::Unavailable { problem, fix } => {
                VirtualCameraFact::Missing { problem, fix }
            }
            other => VirtualCameraFact::Missing {
                problem: other.to_string(),
                fix: String::new(),
            },
        }
    } else {
        VirtualCameraFact::Found(
            found
                .into_iter()
                .map(|(path, card)| format!("{} ({card})", path.display()))
                .collect(),
        )
    }
}

#[cfg(windows)]
fn virtual_camera() -> VirtualCameraFact {
    let dll = Path::new(r"C:\Program Files\obs-studio\data\obs-plugins\win-dshow")
        .join("obs-virtualcam-module64.dll");
    if dll.is_file() {
        VirtualCameraFact::Found(vec!["OBS Virtual Camera".into()])
    } else {
        VirtualCameraFact::Missing {
            problem: "OBS Virtual Camera is not installed".into(),
            fix: studio_devices::obs::INSTALL_HINT.into(),
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
fn virtual_camera() -> VirtualCameraFact {
    VirtualCameraFact::Unsupported("a virtual camera on macOS is not supported yet")
}

#[cfg(target_os = "linux")]
fn virtual_microphone() -> Result<String, (String, String)> {
    use studio_devices::runner::{CommandRunner, SystemRunner};
    match SystemRunner.run("pactl", &["info".to_string()]) {
        Ok(info) => {
            let server = info
                .lines()
                .find_map(|l| l.strip_prefix("Server Name: "))
                .unwrap_or("a sound server")
                .to_string();
            Ok(format!(
                "{server} is running: the studio creates \"{}\" while it runs",
                studio_devices::pulse::MICROPHONE_DESCRIPTION
            ))
        }
        Err(e) => Err((
            format!("no PulseAudio or PipeWire sound server answered ({e})"),
            "Install and start one: on Debian or Ubuntu `sudo apt install pipewire-pulse \
             pulseaudio-utils`, then log out and back in"
                .into(),
        )),
    }
}

#[cfg(not(target_os = "linux"))]
fn virtual_microphone() -> Result<String, (String, String)> {
    let (wanted, fix) = if cfg!(windows) {
        (
            "CABLE Input",
            "Install VB-Cable (vb-audio.com/Cable), restart, then choose \"CABLE Output\" as the \
             microphone in the call app",
        )
    } else {
        (
            "BlackHole",
            "Install BlackHole 2ch (existential.audio/blackhole), then choose \"BlackHole 2ch\" \
             as the microphone in the call app",
        )
    };
    let speakers = studio_devices::sound::speakers().unwrap_or_default();
    match speakers.iter().find(|d| d.name.contains(wanted)) {
        Some(device) => Ok(format!(
            "{} found: run with --audio-out \"device:{}\"",
            device.name, device.name
        )),
        None => Err((format!("{wanted} is not installed"), fix.into())),
    }
}

/// The hosts models are downloaded from, and the cloud API's.
fn model_hosts(config: &Config) -> Vec<String> {
    let urls: Vec<&String> = config.models.values().flat_map(|m| &m.urls).collect();
    let mut hosts: Vec<String> = urls
        .iter()
        .filter_map(|u| reqwest::Url::parse(u).ok())
        .filter_map(|u| Some(format!("{}://{}", u.scheme(), u.host_str()?)))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

async fn reach_hosts(hosts: Vec<String>) -> Vec<(String, Result<(), String>)> {
    let client = match reqwest::Client::builder().timeout(HOST_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => return hosts.into_iter().map(|h| (h, Err(e.to_string()))).collect(),
    };
    let checks = hosts.into_iter().map(|host| {
        let client = client.clone();
        async move {
            // Any HTTP answer means the host is reachable.
            let result = client.head(&host).send().await.map(|_| ()).map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {} s", HOST_TIMEOUT.as_secs())
                } else {
                    e.to_string()
                }
            });
            (host, result)
        }
    });
    futures_util::future::join_all(checks).await
}

/// How the talk key will be read here: the desktop portal or evdev on Wayland (or with no
/// display), rdev elsewhere.
#[cfg(target_os = "linux")]
fn talk_key() -> Result<String, (String, String)> {
    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some()
        || std::env::var("XDG_SESSION_TYPE").is_ok_and(|t| t == "wayland");
    if std::env::var_os("DISPLAY").is_some() && !wayland {
        return Ok("X11 keyboard events (read passively)".into());
    }
    let portal = crate::talk::portal::session_bus()
        .and_then(|bus| crate::talk::portal::version(&bus, Duration::from_secs(2)));
    talk_key_fact(portal, readable_input_devices(Path::new("/dev/input")))
}

#[cfg(not(target_os = "linux"))]
fn talk_key() -> Result<String, (String, String)> {
    Ok(if cfg!(target_os = "macos") {
        "keyboard events through rdev (macOS asks once for Input Monitoring permission)".into()
    } else {
        "keyboard events through rdev (read passively)".into()
    })
}

/// Keyboard devices this user may read, and how many were refused.
#[cfg(target_os = "linux")]
fn readable_input_devices(dir: &Path) -> (usize, usize) {
    let (mut readable, mut denied) = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().starts_with("event") {
            continue;
        }
        match std::fs::File::open(entry.path()) {
            Ok(_) => readable += 1,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied += 1,
            Err(_) => {}
        }
    }
    (readable, denied)
}

/// The talk-key check from what was found: the portal's GlobalShortcuts version (or why
/// not) and `(readable, denied)` keyboard devices.
#[cfg(target_os = "linux")]
pub fn talk_key_fact(
    portal: Result<u32, crate::talk::portal::PortalError>,
    (readable, denied): (usize, usize),
) -> Result<String, (String, String)> {
    match portal {
        Ok(version) => Ok(format!(
            "the desktop's global shortcut (portal GlobalShortcuts v{version}); the desktop may \
             ask once to confirm the key"
        )),
        Err(_) if readable > 0 => Ok(format!(
            "no desktop shortcut portal; reading {readable} keyboard device(s) directly"
        )),
        Err(e) => Err((
            format!(
                "{e}, and {} keyboard device(s) are not readable by this user",
                denied
            ),
            "Add yourself to the input group (`sudo usermod -aG input $USER`), then log out \
             and back in; or use a desktop whose portal offers global shortcuts (KDE Plasma \
             5.27+, GNOME 48+)"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Facts {
        let device = |kind, name: &str| DeviceInfo {
            kind,
            spec: String::new(),
            name: name.into(),
        };
        Facts {
            gpu: Ok(vec![
                "NVIDIA GeForce RTX 4090, driver 550.54, 24564 MiB".into(),
            ]),
            onnxruntime: Some((
                "/opt/studio/libonnxruntime.so.1.20.0".into(),
                vec!["CUDA".into()],
            )),
            cameras: Ok(vec![device("camera", "HD Webcam")]),
            microphones: Ok(vec![device("microphone", "USB Mic")]),
            virtual_camera: VirtualCameraFact::Found(vec!["/dev/video10 (Studio)".into()]),
            virtual_microphone: Ok("PulseAudio is running".into()),
            hosts: vec![("https://models.example".into(), Ok(()))],
            talk_key: Ok("the desktop's global shortcut".into()),
        }
    }

    #[test]
    fn a_healthy_computer_gets_eight_oks_in_order() {
        let checks = checks(&healthy());
        let ids: Vec<_> = checks.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            [
                "gpu",
                "onnxruntime",
                "cameras",
                "microphones",
                "virtual_camera",
                "virtual_microphone",
                "model_hosts",
                "talk_key"
            ]
        );
        assert!(checks.iter().all(|c| c.status == "ok" && c.fix.is_none()));
        assert!(checks[1].detail.contains("CPU, CUDA"));
    }

    #[test]
    fn every_problem_comes_with_a_fix() {
        let facts = Facts {
            gpu: Err("nvidia-smi is not installed".into()),
            onnxruntime: None,
            cameras: Ok(vec![]),
            microphones: Err("the sound system did not answer".into()),
            virtual_camera: VirtualCameraFact::Missing {
                problem: "No virtual camera".into(),
                fix: "sudo apt install v4l2loopback-dkms".into(),
            },
            virtual_microphone: Err(("no sound server".into(), "install pipewire".into())),
            hosts: vec![
                ("https://a.example".into(), Ok(())),
                (
                    "https://b.example".into(),
                    Err("no answer within 3 s".into()),
                ),
            ],
            talk_key: Err(("no portal".into(), "join the input group".into())),
        };
        let checks = checks(&facts);
        assert!(checks.iter().all(|c| c.status == "problem"));
        assert!(
            checks
                .iter()
                .all(|c| c.fix.as_deref().is_some_and(|f| !f.is_empty()))
        );
        assert!(checks[6].detail.contains("b.example"));
        assert!(!checks[6].detail.contains("a.example"));
        assert!(checks[0].fix.as_deref().unwrap().contains("cloud mode"));
    }

    #[test]
    fn nvidia_smi_output_reads_as_name_driver_and_memory() {
        // Captured from an H100 machine with the same query.
        let text = "NVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB\n";
        assert_eq!(
            parse_nvidia_smi(text),
            ["NVIDIA H100 80GB HBM3, driver 580.159.04, 81559 MiB"]
        );
        assert!(parse_nvidia_smi("\n").is_empty());
    }

    #[test]
    fn model_hosts_come_from_the_model_urls() {
        let entry = |urls: &str| {
            format!(
                r#"{{"role": "video", "required": false, "file": "m.onnx", "urls": {urls}, "sha256": null, "bytes": null, "license": "MIT"}}"#
            )
        };
        let user = format!(
            r#"{{"models": {{"swapper": {}, "det": {}}}}}"#,
            entry(r#"["https://a.example/x.onnx", "https://b.example/y"]"#),
            entry(r#"["https://a.example/z"]"#),
        );
        let config = Config::from_layers(Some(("user.json", &user))).unwrap();
        let hosts = model_hosts(&config);
        assert!(
            hosts.contains(&"https://a.example".to_string()),
            "{hosts:?}"
        );
        assert!(
            hosts.contains(&"https://b.example".to_string()),
            "{hosts:?}"
        );
        assert_eq!(
            hosts
                .iter()
                .filter(|h| h.as_str() == "https://a.example")
                .count(),
            1,
            "each host once"
        );
    }

    #[test]
    fn onnxruntime_and_its_providers_are_found_in_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "libonnxruntime.so.1.20.0",
            "libonnxruntime_providers_cuda.so",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found = find_library_in(dir.path(), &["libonnxruntime.so"]).unwrap();
        assert!(found.ends_with("libonnxruntime.so.1.20.0"));
        assert_eq!(execution_providers_in(dir.path()), ["CUDA"]);
    }
}

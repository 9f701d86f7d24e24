//! Opening the window: check for a display, start the studio's driver, run eframe, and stop
//! both servers cleanly when the window closes.

use crate::service::{Studio, StudioOptions};
use crate::window::StudioWindow;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use studio_proto::config_file::LoadedConfig;
use studio_run::manager::ManagerOptions;

/// How long closing the window waits for the servers to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no window can open here, if that is already clear before trying.
pub fn missing_display() -> Option<String> {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return None;
    }
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        None
    } else {
        Some("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)".into())
    }
}

fn headless_hint(reason: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot open the window: {reason}. To run without a window, use `studio run --headless` \
         (see `studio run --help`)."
    )
}

/// Open the studio's window and return when it is closed and both servers have stopped.
pub fn open_window(
    runtime: &tokio::runtime::Runtime,
    loaded: &LoadedConfig,
    manager: anyhow::Result<ManagerOptions>,
) -> anyhow::Result<()> {
    if let Some(reason) = missing_display() {
        return Err(headless_hint(&reason));
    }
    let options = StudioOptions {
        config: loaded.config.clone(),
        manager: manager.map_err(|e| format!("{e:#}")),
        // The window is how people use the studio: their microphone in, the virtual camera
        // and microphone out, the talk key wherever they are.
        devices: crate::state::RunDevices::everyday(),
        global_talk_key: true,
        choices_file: crate::choices::default_path(),
    };
    let started: Arc<Mutex<Option<Studio>>> = Arc::default();
    let keep = started.clone();
    let handle = runtime.handle().clone();
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Streaming Studio")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([1000.0, 640.0]),
        ..Default::default()
    };
    let result = eframe::run_native(
        "Streaming Studio",
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let studio = Studio::start(&handle, options, move || ctx.request_repaint());
            if let Ok(mut slot) = keep.lock() {
                *slot = Some(studio.clone());
            }
            Ok(Box::new(StudioWindow::new(studio)))
        }),
    );
    let studio = started.lock().ok().and_then(|mut s| s.take());
    if let Some(studio) = studio {
        runtime.block_on(studio.stop_and_wait(SHUTDOWN_TIMEOUT));
    }
    result.map_err(|e| headless_hint(&e.to_string()))
}

//! The studio's window: a calm black, white and grey layout drawn from a [`Snapshot`]. Every
//! widget reads the snapshot and returns [`Command`]s; the only state kept here is what the
//! person is typing and the textures already uploaded.

use crate::service::Studio;
use crate::state::{
    ApiKey, Camera, Command, FaceBox, FaceImage, FaceModelsOffer, FaceUpload, Microphone, Mode,
    Notice, Phase, PickKind, Process, ServerCard, Snapshot, Thumbnail, VoiceFileUpload,
    VoiceOption,
};
use egui::{
    Align, Color32, ColorImage, CornerRadius, FontId, Frame, Layout, Margin, RichText, Sense,
    Stroke, TextureHandle, TextureOptions, Ui, Vec2,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use studio_media::{I420Image, VideoFrame};
use studio_models::cache::human_bytes;
use studio_proto::Role;
use studio_proto::api::{ModelState, VoiceKind};
use studio_proto::control::EnhanceEvery;

/// Previews are converted at this width at most: plenty for a window, cheap per frame.
const PREVIEW_WIDTH: u32 = 480;

const BACKGROUND: Color32 = Color32::from_gray(12);
const PANEL: Color32 = Color32::from_gray(20);
const CARD: Color32 = Color32::from_gray(28);
const LINE: Color32 = Color32::from_gray(52);
const MUTED: Color32 = Color32::from_gray(150);
const TEXT: Color32 = Color32::from_gray(225);
const STRONG: Color32 = Color32::from_gray(250);

/// The black, white and grey look, applied once to the context.
pub fn apply_theme(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|style| {
        let v = &mut style.visuals;
        *v = egui::Visuals::dark();
        // The root and the top bar are the darkest; side panels set their own fill.
        v.panel_fill = BACKGROUND;
        v.window_fill = PANEL;
        v.extreme_bg_color = Color32::from_gray(8);
        v.faint_bg_color = CARD;
        v.override_text_color = Some(TEXT);
        v.hyperlink_color = STRONG;
        v.selection.bg_fill = Color32::from_gray(70);
        v.selection.stroke = Stroke::new(1.0, STRONG);
        v.widgets.noninteractive.bg_stroke = Stroke::new(1.0, LINE);
        v.widgets.inactive.weak_bg_fill = Color32::from_gray(38);
        v.widgets.inactive.bg_fill = Color32::from_gray(38);
        v.widgets.hovered.weak_bg_fill = Color32::from_gray(55);
        v.widgets.hovered.bg_fill = Color32::from_gray(55);
        v.widgets.active.weak_bg_fill = Color32::from_gray(75);
        v.widgets.active.bg_fill = Color32::from_gray(75);
        for w in [
            &mut v.widgets.inactive,
            &mut v.widgets.hovered,
            &mut v.widgets.active,
            &mut v.widgets.open,
        ] {
            w.corner_radius = CornerRadius::same(6);
        }
        style.spacing.item_spacing = Vec2::new(8.0, 7.0);
        style.spacing.button_padding = Vec2::new(10.0, 5.0);
    });
}

/// What the window keeps between frames: text being typed, uploaded textures.
#[derive(Default)]
pub struct View {
    pub face_path: String,
    pub video_path: String,
    pub api_key: String,
    thumbnails: HashMap<PathBuf, TextureHandle>,
    camera: Option<(u64, TextureHandle)>,
    processed: Option<(u64, TextureHandle)>,
    talk_key_down: bool,
    talk_button_down: bool,
    /// The microphone's level as sent (dBFS) while a run goes on.
    pub input_level_db: Option<f32>,
}

impl View {
    /// Show these frames as the two previews (skipped when the same frame is shown already).
    pub fn set_previews(
        &mut self,
        ctx: &egui::Context,
        camera: Option<&VideoFrame>,
        processed: Option<&VideoFrame>,
    ) {
        update_preview(ctx, &mut self.camera, "camera", camera);
        update_preview(ctx, &mut self.processed, "processed", processed);
    }

    pub fn clear_previews(&mut self) {
        self.camera = None;
        self.processed = None;
    }
}

fn update_preview(
    ctx: &egui::Context,
    slot: &mut Option<(u64, TextureHandle)>,
    name: &str,
    frame: Option<&VideoFrame>,
) {
    let Some(frame) = frame else { return };
    if slot.as_ref().is_some_and(|(seq, _)| *seq == frame.seq) {
        return;
    }
    let image = preview_image(&frame.image, PREVIEW_WIDTH);
    match slot {
        Some((seq, texture)) => {
            texture.set(image, TextureOptions::LINEAR);
            *seq = frame.seq;
        }
        None => {
            *slot = Some((
                frame.seq,
                ctx.load_texture(name, image, TextureOptions::LINEAR),
            ))
        }
    }
}

/// An I420 image as RGBA at most `max_width` wide (whole-pixel steps, BT.601 limited range).
pub fn preview_image(image: &I420Image, max_width: u32) -> ColorImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 {
        return ColorImage::new([1, 1], vec![Color32::BLACK]);
    }
    let step = w.div_ceil(max_width.max(1) as usize).max(1);
    let (out_w, out_h) = (w / step, h / step);
    let cw = image.chroma_width() as usize;
    let (yp, up, vp) = image.planes();
    let mut pixels = Vec::with_capacity(out_w * out_h);
    for oy in 0..out_h {
        let y = oy * step;
        for ox in 0..out_w {
            let x = ox * step;
            let luma = (f32::from(yp[y * w + x]) - 16.0) * 1.164;
            let u = f32::from(up[(y / 2) * cw + x / 2]) - 128.0;
            let v = f32::from(vp[(y / 2) * cw + x / 2]) - 128.0;
            let r = luma + 1.596 * v;
            let g = luma - 0.392 * u - 0.813 * v;
            let b = luma + 2.017 * u;
            let c = |x: f32| x.round().clamp(0.0, 255.0) as u8;
            pixels.push(Color32::from_rgb(c(r), c(g), c(b)));
        }
    }
    ColorImage::new([out_w, out_h], pixels)
}

/// The whole window, for one frame. Returns what the person asked for.
pub fn show(ui: &mut Ui, snapshot: &Snapshot, view: &mut View) -> Vec<Command> {
    let mut commands = Vec::new();
    let ctx = ui.ctx().clone();
    talk_key(&ctx, snapshot, view, &mut commands);
    // Files dropped anywhere on the window: the store tells faces from videos.
    let dropped: Vec<PathBuf> = ctx.input(|i| {
        i.raw
            .dropped_files
            .iter()
            .map(|f| f.path().to_path_buf())
            .collect()
    });
    if !dropped.is_empty() {
        commands.push(Command::Dropped(dropped));
    }
    // One dark ground under everything, margins included.
    ctx.layer_painter(egui::LayerId::background()).rect_filled(
        ctx.content_rect(),
        CornerRadius::ZERO,
        BACKGROUND,
    );

    egui::Panel::top("top")
        .frame(
            Frame::new()
                .fill(BACKGROUND)
                .inner_margin(Margin::symmetric(16, 12)),
        )
        .show(ui, |ui| top_bar(ui, snapshot, &mut commands));
    if let Some(notice) = &snapshot.notice {
        egui::Panel::top("notice")
            .frame(
                Frame::new()
                    .fill(BACKGROUND)
                    .inner_margin(Margin::symmetric(16, 0)),
            )
            .show(ui, |ui| notice_bar(ui, notice, &mut commands));
    }
    egui::Panel::left("controls")
        .exact_size(320.0)
        .resizable(false)
        .frame(Frame::new().fill(PANEL).inner_margin(Margin::same(14)))
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("controls_scroll")
                .show(ui, |ui| controls(ui, snapshot, view, &mut commands));
        });
    egui::Panel::right("servers")
        .exact_size(330.0)
        .resizable(false)
        .frame(Frame::new().fill(PANEL).inner_margin(Margin::same(14)))
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("servers_scroll")
                .show(ui, |ui| {
                    for role in Role::ALL {
                        server_card(ui, snapshot.server(role));
                        ui.add_space(10.0);
                    }
                    if snapshot.mode == Mode::Cloud {
                        cloud_panel(ui, snapshot, view, &mut commands);
                    }
                });
        });
    egui::CentralPanel::default()
        .frame(Frame::new().fill(BACKGROUND).inner_margin(Margin::same(16)))
        .show(ui, |ui| previews(ui, snapshot, view));
    commands
}

/// The configured talk key, held while the window has focus and nothing is being typed.
fn talk_key(
    ctx: &egui::Context,
    snapshot: &Snapshot,
    view: &mut View,
    commands: &mut Vec<Command>,
) {
    let Some(key) = egui::Key::from_name(&snapshot.talk_key) else {
        return;
    };
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let down = ctx.input(|i| i.key_down(key));
    if down != view.talk_key_down {
        view.talk_key_down = down;
        commands.push(Command::Talk(down));
    }
}

fn top_bar(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.label(
            RichText::new("Streaming Studio")
                .font(FontId::proportional(20.0))
                .color(STRONG),
        );
        ui.add_space(18.0);
        let idle = snapshot.can_start();
        ui.add_enabled_ui(idle, |ui| {
            for (mode, label) in [(Mode::LocalGpu, "Local GPU"), (Mode::Cloud, "Cloud")] {
                if ui.selectable_label(snapshot.mode == mode, label).clicked()
                    && snapshot.mode != mode
                {
                    commands.push(Command::SetMode(mode));
                }
            }
        });
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let (label, command, enabled) = match snapshot.phase {
                Phase::Idle => ("Start", Command::Start, true),
                Phase::Starting | Phase::Running => ("Stop", Command::Stop, true),
                Phase::Stopping => ("Stopping…", Command::Stop, false),
            };
            let button = egui::Button::new(RichText::new(label).size(16.0).color(STRONG))
                .min_size(Vec2::new(110.0, 34.0))
                .stroke(Stroke::new(1.0, Color32::from_gray(120)));
            if ui.add_enabled(enabled, button).clicked() {
                commands.push(command);
            }
            ui.add_space(12.0);
            ui.label(RichText::new(phase_text(snapshot)).color(MUTED));
        });
    });
}

fn phase_text(snapshot: &Snapshot) -> String {
    match snapshot.phase {
        Phase::Idle => match snapshot.mode {
            Mode::LocalGpu => "Ready. Start runs both servers on this computer.".into(),
            Mode::Cloud => "Cloud mode".into(),
        },
        Phase::Starting => {
            let failed = snapshot
                .servers
                .iter()
                .flat_map(|c| &c.models)
                .any(|m| m.state == ModelState::Failed);
            if failed {
                return "Waiting: a model could not be fetched".into();
            }
            let downloading = snapshot
                .servers
                .iter()
                .flat_map(|c| &c.models)
                .filter(|m| m.state != ModelState::Ready)
                .count();
            if downloading > 0 {
                format!("Starting: getting {downloading} model(s) ready…")
            } else {
                "Starting the servers…".into()
            }
        }
        Phase::Running => "Running".into(),
        Phase::Stopping => "Stopping both servers…".into(),
    }
}

fn notice_bar(ui: &mut Ui, notice: &Notice, commands: &mut Vec<Command>) {
    let stroke = if notice.is_error {
        Stroke::new(1.0, Color32::from_gray(200))
    } else {
        Stroke::new(1.0, LINE)
    };
    Frame::new()
        .fill(CARD)
        .stroke(stroke)
        .corner_radius(CornerRadius::same(6))
        .inner_margin(Margin::symmetric(12, 8))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                let text = RichText::new(&notice.text).color(STRONG);
                ui.add(egui::Label::new(if notice.is_error { text.strong() } else { text }).wrap());
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if ui.small_button("Dismiss").clicked() {
                        commands.push(Command::DismissNotice);
                    }
                });
            });
        });
    ui.add_space(8.0);
}

/// A titled block with a quiet frame.
fn section(ui: &mut Ui, title: &str, add: impl FnOnce(&mut Ui)) {
    Frame::new()
        .fill(CARD)
        .stroke(Stroke::new(1.0, LINE))
        .corner_radius(CornerRadius::same(8))
        .inner_margin(Margin::same(12))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(title).size(15.0).color(STRONG));
            ui.add_space(2.0);
            add(ui);
        });
    ui.add_space(10.0);
}

fn muted(ui: &mut Ui, text: impl Into<String>) {
    ui.add(egui::Label::new(RichText::new(text.into()).color(MUTED).size(12.5)).wrap());
}

fn controls(ui: &mut Ui, snapshot: &Snapshot, view: &mut View, commands: &mut Vec<Command>) {
    section(ui, "Camera", |ui| {
        if ui
            .radio(snapshot.camera == Camera::TestPattern, "Test pattern")
            .clicked()
        {
            commands.push(Command::SetCamera(Camera::TestPattern));
        }
        let is_file = matches!(snapshot.camera, Camera::VideoFile(_));
        if ui.radio(is_file, "Video file…").clicked() {
            commands.push(if view.video_path.trim().is_empty() {
                Command::Pick(PickKind::Video)
            } else {
                Command::SetCamera(Camera::VideoFile(PathBuf::from(view.video_path.trim())))
            });
        }
        let label = ui.label(RichText::new("Video file (Y4M)").color(MUTED).size(12.5));
        ui.horizontal(|ui| {
            let field = ui.add(
                egui::TextEdit::singleline(&mut view.video_path)
                    .hint_text("/path/to/clip.y4m")
                    .desired_width(ui.available_width() - 52.0),
            );
            let field = field.labelled_by(label.id);
            let submitted = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Use").clicked() || submitted) && !view.video_path.trim().is_empty() {
                commands.push(Command::SetCamera(Camera::VideoFile(PathBuf::from(
                    view.video_path.trim(),
                ))));
            }
        });
        if let Camera::VideoFile(path) = &snapshot.camera {
            muted(ui, format!("Playing {}", path.display()));
        }
        for (spec, name) in &snapshot.devices.cameras {
            let chosen = matches!(&snapshot.camera, Camera::Device { spec: s, .. } if s == spec);
            if ui.radio(chosen, name).clicked() && !chosen {
                commands.push(Command::SetCamera(Camera::Device {
                    spec: spec.clone(),
                    name: name.clone(),
                }));
            }
        }
        if snapshot.devices.cameras.is_empty() {
            muted(ui, "No camera found: plug one in, then look again.");
        }
        if ui.small_button("Look for devices").clicked() {
            commands.push(Command::RefreshDevices);
        }
        if let Some(state) = &snapshot.devices.camera_state {
            ui.add(egui::Label::new(RichText::new(state).color(STRONG)).wrap());
        }
        if let Some(error) = &snapshot.camera_error {
            ui.add(egui::Label::new(RichText::new(error).color(STRONG)).wrap());
        }
    });

    section(ui, "Microphone", |ui| {
        microphone_picker(ui, snapshot, commands);
        levels(ui, snapshot, view, commands);
        monitor_picker(ui, snapshot, commands);
    });

    section(ui, "Target face", |ui| {
        face_picker(ui, snapshot, view, commands)
    });
    section(ui, "Voice", |ui| voice_picker(ui, snapshot, commands));
    section(ui, "Quality", |ui| quality(ui, snapshot, commands));
    section(ui, "Talk key", |ui| {
        let (state, hint) = if snapshot.talking {
            ("Talking", "Your converted voice goes out now.")
        } else {
            ("Muted", "The virtual microphone carries silence.")
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(state).color(STRONG).strong());
            ui.label(RichText::new(format!("· hold {}", snapshot.talk_key)).color(MUTED));
        });
        muted(ui, hint);
        let hold = ui.add(
            egui::Button::new("Hold to talk")
                .sense(Sense::click_and_drag())
                .min_size(Vec2::new(120.0, 28.0)),
        );
        let held = hold.is_pointer_button_down_on();
        // Only the button's own press and release: the talk key may be held elsewhere.
        if held != view.talk_button_down && !view.talk_key_down {
            commands.push(Command::Talk(held));
        }
        view.talk_button_down = held;
        let own = ui.add(
            egui::Button::new("Hold for your own voice")
                .sense(Sense::click_and_drag())
                .min_size(Vec2::new(120.0, 28.0)),
        );
        let own_held = own.is_pointer_button_down_on();
        if own_held != snapshot.own_voice {
            commands.push(Command::OwnVoice(own_held));
        }
        if let Some(problem) = &snapshot.talk_key_problem {
            muted(
                ui,
                format!("The key works while this window is in front only: {problem}"),
            );
        }
    });
    section(ui, "In your call app", |ui| {
        call_devices(ui, snapshot, commands)
    });
}

/// Hear yourself: the processed voice on headphones or speakers too, chosen before Start.
fn monitor_picker(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    let chosen = &snapshot.devices.chosen.monitor;
    ui.add_enabled_ui(snapshot.can_start(), |ui| {
        let mut on = chosen.is_some();
        if ui.checkbox(&mut on, "Hear yourself").changed() {
            commands.push(Command::UseMonitor(on.then(String::new)));
        }
        let Some(current) = chosen else {
            return;
        };
        let shown = if current.is_empty() {
            "Default output"
        } else {
            current.as_str()
        };
        let label = ui.label(RichText::new("Hear it on").color(MUTED).size(12.5));
        egui::ComboBox::from_id_salt("monitor output")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(current.is_empty(), "Default output")
                    .clicked()
                {
                    commands.push(Command::UseMonitor(Some(String::new())));
                }
                for speaker in &snapshot.devices.speakers {
                    if ui.selectable_label(current == speaker, speaker).clicked() {
                        commands.push(Command::UseMonitor(Some(speaker.clone())));
                    }
                }
            })
            .response
            .labelled_by(label.id);
    });
}

/// A muted label over `slider`, which takes it as its name; whether the value changed.
fn labelled_slider(ui: &mut Ui, label: &str, slider: egui::Slider<'_>) -> bool {
    let label = ui.label(RichText::new(label).color(MUTED).size(12.5));
    ui.add(slider).labelled_by(label.id).changed()
}

/// The input level meter and the two gains.
fn levels(ui: &mut Ui, snapshot: &Snapshot, view: &View, commands: &mut Vec<Command>) {
    let (low, high) = studio_run::levels::GAIN_RANGE_DB;
    if let Some(db) = view.input_level_db {
        // −60 dBFS (or less) to full scale across the bar.
        let fraction = ((db + 60.0) / 60.0).clamp(0.0, 1.0);
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_height(6.0)
                .fill(STRONG)
                .text(RichText::new(format!("input {db:.0} dBFS")).size(11.0)),
        );
    }
    let mut input_db = snapshot.input_gain_db;
    let mut output_db = snapshot.output_gain_db;
    let gain = |db| egui::Slider::new(db, low..=high).suffix(" dB");
    let input = labelled_slider(ui, "Microphone gain", gain(&mut input_db));
    let output = labelled_slider(ui, "Voice out gain", gain(&mut output_db));
    if input || output {
        commands.push(Command::SetGains {
            input_db,
            output_db,
        });
    }
}

fn microphone_picker(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    let chosen = &snapshot.devices.chosen.microphone;
    let idle = snapshot.can_start();
    let mut choices = vec![Microphone::Default];
    choices.extend(
        snapshot
            .devices
            .microphones
            .iter()
            .map(|name| Microphone::Named(name.clone())),
    );
    choices.push(Microphone::TestTone);
    // A list that can be long (every sound card's inputs): a drop-down keeps it one line.
    let label = ui.label(
        RichText::new("Your voice comes from")
            .color(MUTED)
            .size(12.5),
    );
    ui.add_enabled_ui(idle, |ui| {
        egui::ComboBox::from_id_salt("microphone")
            .selected_text(chosen.label())
            .width(ui.available_width() - 8.0)
            .show_ui(ui, |ui| {
                for choice in choices {
                    let label = choice.label();
                    if ui.selectable_label(*chosen == choice, label).clicked() && *chosen != choice
                    {
                        commands.push(Command::ChooseMicrophone(choice));
                    }
                }
            })
            .response
            .labelled_by(label.id);
    });
    if !idle {
        muted(ui, "Stop the studio to change the microphone.");
    }
}

fn call_devices(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    let chosen = &snapshot.devices.chosen;
    let idle = snapshot.can_start();
    ui.add_enabled_ui(idle, |ui| {
        toggle(
            ui,
            chosen.virtual_camera,
            "Virtual camera",
            Command::UseVirtualCamera,
            commands,
        );
        toggle(
            ui,
            chosen.virtual_microphone,
            "Virtual microphone",
            Command::UseVirtualMicrophone,
            commands,
        );
    });
    muted(ui, CALL_HINT);
    for problem in &snapshot.devices.problems {
        ui.add(egui::Label::new(RichText::new(problem).color(STRONG)).wrap());
    }
}

/// Where to find the studio in a call app, per system.
const CALL_HINT: &str = if cfg!(windows) {
    "In Zoom, Meet, Teams or Discord choose \"OBS Virtual Camera\" and \"CABLE Output\"."
} else if cfg!(target_os = "macos") {
    "In Zoom, Meet, Teams or Discord choose \"BlackHole 2ch\" as the microphone."
} else {
    "In Zoom, Meet, Teams or Discord choose the studio's camera and \"Streaming Studio \
     Microphone\"."
};

fn face_picker(ui: &mut Ui, snapshot: &Snapshot, view: &mut View, commands: &mut Vec<Command>) {
    if ui
        .radio(snapshot.chosen_face.is_none(), "No face swap")
        .clicked()
        && snapshot.chosen_face.is_some()
    {
        commands.push(Command::ChooseFace(None));
    }
    for (i, face) in snapshot.faces.iter().enumerate() {
        let chosen = snapshot.chosen_face == Some(i);
        ui.horizontal(|ui| {
            let size = Vec2::splat(72.0);
            match &face.image {
                FaceImage::Loaded(thumbnail) => {
                    let texture = view.thumbnails.entry(face.path.clone()).or_insert_with(|| {
                        let image = ColorImage::from_rgba_unmultiplied(
                            [thumbnail.width as usize, thumbnail.height as usize],
                            &thumbnail.rgba,
                        );
                        ui.ctx().load_texture(
                            format!("face:{}", face.path.display()),
                            image,
                            TextureOptions::LINEAR,
                        )
                    });
                    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
                    let scale =
                        (size.x / thumbnail.width as f32).min(size.y / thumbnail.height as f32);
                    let shown = Vec2::new(thumbnail.width as f32, thumbnail.height as f32) * scale;
                    let image_rect = egui::Rect::from_center_size(rect.center(), shown);
                    ui.painter().image(
                        texture.id(),
                        image_rect,
                        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        Color32::WHITE,
                    );
                    if let FaceUpload::Detected { face_box, .. } = &face.upload {
                        ui.painter().rect_stroke(
                            face_outline(image_rect, thumbnail, face_box),
                            CornerRadius::ZERO,
                            Stroke::new(1.5, STRONG),
                            egui::StrokeKind::Middle,
                        );
                    }
                    if chosen {
                        ui.painter().rect_stroke(
                            rect,
                            CornerRadius::same(4),
                            Stroke::new(1.0, STRONG),
                            egui::StrokeKind::Outside,
                        );
                    }
                }
                _ => {
                    ui.allocate_exact_size(size, Sense::hover());
                }
            }
            ui.vertical(|ui| {
                if ui.radio(chosen, face.name()).clicked() {
                    commands.push(Command::ChooseFace(Some(i)));
                }
                let status = match (&face.image, &face.upload, &face.refused) {
                    (FaceImage::Loading, ..) => "Reading the image…".to_string(),
                    (FaceImage::Unreadable(e), ..) => e.clone(),
                    (_, _, Some(reason)) => {
                        format!("The video server would not use this face: {reason}")
                    }
                    (_, FaceUpload::NotSent, _) => "Sent to the video server when it runs.".into(),
                    (_, FaceUpload::Sending, _) => "Finding the face…".into(),
                    (_, FaceUpload::Detected { .. }, _) => "Face found.".into(),
                    (_, FaceUpload::Failed(e), _) => e.clone(),
                    (_, FaceUpload::NeedsModels(_), _) => {
                        "Waiting for the face models (below).".into()
                    }
                };
                let failed = matches!(face.image, FaceImage::Unreadable(_))
                    || matches!(face.upload, FaceUpload::Failed(_))
                    || face.refused.is_some();
                let text = RichText::new(status).size(12.5);
                ui.add(
                    egui::Label::new(if failed {
                        text.color(STRONG)
                    } else {
                        text.color(MUTED)
                    })
                    .wrap(),
                );
            });
        });
    }
    if let Some(offer) = &snapshot.face_models {
        face_models_offer(ui, snapshot, offer, commands);
    }
    let label = ui.label(
        RichText::new("Image file (PNG or JPEG)")
            .color(MUTED)
            .size(12.5),
    );
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut view.face_path)
                .hint_text("/path/to/face.jpg")
                .desired_width(ui.available_width() - 52.0),
        );
        let field = field.labelled_by(label.id);
        let submitted = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Add").clicked() || submitted) && !view.face_path.trim().is_empty() {
            commands.push(Command::AddFace(PathBuf::from(view.face_path.trim())));
            view.face_path.clear();
        }
    });
    if ui.button("Choose a face photo…").clicked() {
        commands.push(Command::Pick(PickKind::Face));
    }
    muted(ui, "Or drop photos on the window.");
    toggle(
        ui,
        snapshot.all_faces,
        "Swap every face in the picture",
        Command::AllFaces,
        commands,
    );
    people(ui, snapshot, commands);
}

/// Face mapping: who in the picture wears which of the faces, a row each, chosen from the
/// faces above (a person is added as a face photo too).
fn people(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    if snapshot.faces.len() < 2 {
        return;
    }
    ui.add_space(6.0);
    ui.label(
        RichText::new("People in my picture")
            .color(MUTED)
            .size(12.5),
    );
    let name = |i: usize| snapshot.faces.get(i).map(|f| f.name()).unwrap_or_default();
    let pick = |ui: &mut Ui,
                salt: (usize, &str),
                current: usize,
                set: &dyn Fn(usize) -> Command,
                commands: &mut Vec<Command>| {
        egui::ComboBox::from_id_salt(salt)
            .selected_text(name(current))
            .width(96.0)
            .show_ui(ui, |ui| {
                for (i, face) in snapshot.faces.iter().enumerate() {
                    if ui.selectable_label(i == current, face.name()).clicked() && i != current {
                        commands.push(set(i));
                    }
                }
            });
    };
    for (row, r) in snapshot.people.iter().enumerate() {
        ui.horizontal(|ui| {
            let (person, wears) = (r.person, r.wears);
            pick(
                ui,
                (row, "person"),
                person,
                &|i| Command::SetPerson {
                    row,
                    person: i,
                    wears,
                },
                commands,
            );
            ui.label(RichText::new("wears").color(MUTED).size(12.5));
            pick(
                ui,
                (row, "wears"),
                wears,
                &|i| Command::SetPerson {
                    row,
                    person,
                    wears: i,
                },
                commands,
            );
            if ui.small_button("Remove").clicked() {
                commands.push(Command::RemovePerson(row));
            }
        });
    }
    if snapshot.people.len() < studio_proto::control::MAX_PEOPLE
        && ui.button("Add a person").clicked()
    {
        commands.push(Command::AddPerson);
    }
    if snapshot.people.is_empty() {
        muted(
            ui,
            "Add a photo of each person as a face above, then say which face they wear.",
        );
    }
}

/// Which swapper runs (inswapper 128 by default), how much detail the swapped face gets for
/// its cost (the pixel boost, ×1 by default), the face enhancer and the masks.
fn quality(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    let label = ui.label(RichText::new("Swapper").color(MUTED).size(12.5));
    egui::ComboBox::from_id_salt("swapper")
        .selected_text(swapper_name(&snapshot.swapper))
        .width(ui.available_width() - 8.0)
        .show_ui(ui, |ui| {
            for choice in &snapshot.swappers {
                let chosen = snapshot.swapper == choice.id;
                if ui
                    .selectable_label(chosen, swapper_name(&choice.id))
                    .clicked()
                    && !chosen
                {
                    commands.push(Command::ChooseSwapper(choice.id.clone()));
                }
            }
        })
        .response
        .labelled_by(label.id);
    // The default's licence is the face models' (offered with them).
    if let Some(choice) = snapshot
        .swappers
        .iter()
        .find(|c| c.id == snapshot.swapper && c.id != studio_proto::config::DEFAULT_SWAPPER)
    {
        muted(
            ui,
            format!(
                "Fetched by the video server when chosen. Licence: {}",
                choice.license
            ),
        );
    }
    ui.horizontal(|ui| {
        ui.label(RichText::new("Pixel boost").color(MUTED).size(12.5));
        for factor in studio_proto::control::PIXEL_BOOSTS {
            let chosen = snapshot.pixel_boost == factor;
            if ui.selectable_label(chosen, format!("×{factor}")).clicked() && !chosen {
                commands.push(Command::PixelBoost(factor));
            }
        }
    });
    muted(
        ui,
        "More detail in the face: ×2 and ×4 run the swapper 4 and 16 times a frame.",
    );
    ui.add_space(6.0);
    enhancer_picker(ui, snapshot, commands);
    ui.add_space(6.0);
    toggle(
        ui,
        snapshot.keep_mouth,
        "Keep my own mouth (natural speech)",
        Command::KeepMouth,
        commands,
    );
    toggle(
        ui,
        snapshot.match_colours,
        "Match the room's light",
        Command::MatchColours,
        commands,
    );
    toggle(
        ui,
        snapshot.keep_occluders,
        "Keep what is in front of my face",
        Command::KeepOccluders,
        commands,
    );
    toggle(
        ui,
        snapshot.keep_hair,
        "Keep my own hair and ears",
        Command::KeepHair,
        commands,
    );
}

/// A swapper's name for people.
fn swapper_name(id: &str) -> String {
    match id {
        "inswapper_128" => "InSwapper 128".into(),
        "inswapper_128_fp16" => "InSwapper 128 (half precision)".into(),
        "hyperswap_1a_256" => "HyperSwap 1A 256".into(),
        "hyperswap_1b_256" => "HyperSwap 1B 256".into(),
        "hyperswap_1c_256" => "HyperSwap 1C 256".into(),
        "simswap_unofficial_512" => "SimSwap 512".into(),
        other => other.into(),
    }
}

/// The face enhancer (off, GFPGAN 1.4, GPEN-BFR 256 or 512) and its strength.
fn enhancer_picker(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    const CHOICES: [(Option<&str>, &str); 4] = [
        (None, "Off"),
        (Some("gfpgan_1.4"), "GFPGAN 1.4"),
        (Some("gpen_bfr_256"), "GPEN-BFR 256 (faster)"),
        (Some("gpen_bfr_512"), "GPEN-BFR 512"),
    ];
    let chosen = snapshot.enhancer.as_deref();
    let shown = CHOICES
        .iter()
        .find(|(id, _)| *id == chosen)
        .map_or("Off", |(_, name)| name);
    let label = ui.label(RichText::new("Face enhancer").color(MUTED).size(12.5));
    egui::ComboBox::from_id_salt("face enhancer")
        .selected_text(shown)
        .show_ui(ui, |ui| {
            for (id, name) in CHOICES {
                if ui.selectable_label(id == chosen, name).clicked() && id != chosen {
                    commands.push(Command::Enhancer(id.map(str::to_string)));
                }
            }
        })
        .response
        .labelled_by(label.id);
    if chosen.is_some() {
        let mut strength = snapshot.enhance_strength;
        let slider = egui::Slider::new(&mut strength, 0..=100).suffix(" %");
        if labelled_slider(ui, "Enhancer strength", slider) {
            commands.push(Command::EnhanceStrength(strength));
        }
        enhancer_rate(ui, snapshot, commands);
        muted(
            ui,
            "Restores detail in the swapped face at a network run per face and frame; \
             running it less often reuses its last answer in between.",
        );
    }
}

/// How often the enhancer runs: automatic (as often as the frames keep up with the camera)
/// or every N frames, with the server's word on the automatic rate while a session runs.
fn enhancer_rate(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    let name = |every: EnhanceEvery| match every {
        EnhanceEvery::Auto => "Automatic".to_string(),
        EnhanceEvery::Frames(1) => "Every frame".to_string(),
        EnhanceEvery::Frames(2) => "Every 2nd frame".to_string(),
        EnhanceEvery::Frames(3) => "Every 3rd frame".to_string(),
        EnhanceEvery::Frames(n) => format!("Every {n}th frame"),
    };
    let chosen = snapshot.enhance_every;
    let label = ui.label(RichText::new("Enhancer runs").color(MUTED).size(12.5));
    egui::ComboBox::from_id_salt("enhancer rate")
        .selected_text(name(chosen))
        .show_ui(ui, |ui| {
            let fixed = (1..=crate::state::MAX_ENHANCE_EVERY).map(EnhanceEvery::Frames);
            for every in std::iter::once(EnhanceEvery::Auto).chain(fixed) {
                if ui.selectable_label(every == chosen, name(every)).clicked() && every != chosen {
                    commands.push(Command::EnhanceEvery(every));
                }
            }
        })
        .response
        .labelled_by(label.id);
    let pace = snapshot
        .servers
        .iter()
        .find(|card| card.role == Role::Video)
        .and_then(|card| card.enhancer.as_ref());
    if let Some(text) = pace.and_then(crate::state::enhancer_pace_text) {
        muted(ui, text);
    }
}

/// A checkbox showing `on`; a click asks for the other state through `command`.
fn toggle(
    ui: &mut Ui,
    on: bool,
    label: &str,
    command: fn(bool) -> Command,
    commands: &mut Vec<Command>,
) {
    let mut value = on;
    if ui.checkbox(&mut value, label).changed() {
        commands.push(command(value));
    }
}

/// What the face swap needs before it can start, with one button that fetches it.
fn face_models_offer(
    ui: &mut Ui,
    snapshot: &Snapshot,
    offer: &FaceModelsOffer,
    commands: &mut Vec<Command>,
) {
    Frame::group(ui.style()).show(ui, |ui| {
        let files = offer
            .files
            .iter()
            .map(|f| match f.bytes {
                Some(bytes) => format!("{} ({})", f.id, human_bytes(bytes)),
                None => f.id.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let total = offer
            .total_bytes()
            .map(|b| format!(", {} in all", human_bytes(b)))
            .unwrap_or_default();
        ui.add(
            egui::Label::new(
                RichText::new(format!(
                    "The face swap needs {} model files: {files}{total}.",
                    offer.files.len()
                ))
                .color(TEXT),
            )
            .wrap(),
        );
        ui.add(
            egui::Label::new(
                RichText::new(format!("Licence: {}.", offer.licenses().join("; ")))
                    .color(MUTED)
                    .size(12.5),
            )
            .wrap(),
        );
        if offer.fetching {
            let card = snapshot.server(Role::Video);
            let (done, total) = offer.files.iter().fold((0u64, 0u64), |(d, t), f| {
                let model = card.models.iter().find(|m| m.id == f.id);
                let size = f.bytes.or(model.and_then(|m| m.bytes_total)).unwrap_or(0);
                let got = model.map_or(0, |m| match m.fraction() {
                    Some(x) => (size as f64 * f64::from(x)) as u64,
                    None => m.bytes_done,
                });
                (d.saturating_add(got.min(size)), t.saturating_add(size))
            });
            let fraction = if total > 0 {
                (done as f64 / total as f64) as f32
            } else {
                0.0
            };
            muted(ui, "Fetching the face models…");
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_height(6.0)
                    .fill(STRONG),
            );
        } else if ui.button("Fetch face models").clicked() {
            commands.push(Command::FetchFaceModels);
        }
    });
}

fn voice_picker(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    if let Some(message) = &snapshot.voices_message {
        muted(ui, format!("The audio server has no voice list: {message}"));
    }
    if snapshot.voices.is_empty() && snapshot.voices_message.is_none() {
        muted(ui, "Voices are listed once the audio server runs.");
    }
    voice_list(ui, snapshot, commands);
    voice_shift(ui, snapshot, commands);
    voice_files(ui, snapshot, commands);
}

/// How far the voice's pitch (whole semitones, an octave either way) and timbre (RVC's ±2)
/// move, for every voice.
fn voice_shift(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    let (mut key, mut formant) = snapshot.voice_shift;
    let semitones = |value, range: f32, step| {
        egui::Slider::new(value, -range..=range)
            .step_by(step)
            .suffix(" st")
    };
    let pitch = labelled_slider(ui, "Voice pitch", semitones(&mut key, 12.0, 1.0));
    let timbre = labelled_slider(ui, "Voice timbre", semitones(&mut formant, 2.0, 0.1));
    // Each slider moves its own value: the other's may not have come back from the store
    // yet when both move within a frame or two.
    if pitch {
        commands.push(Command::ShiftVoiceKey(key));
    }
    if timbre {
        commands.push(Command::ShiftVoiceFormant(formant));
    }
}

/// Where a voice stands, in a few words: ready with its delay and its cost here, or what it
/// waits for (with the download's progress from the audio server's card).
fn voice_readiness(snapshot: &Snapshot, voice: &VoiceOption) -> String {
    let VoiceOption::Served(entry) = voice else {
        return String::new();
    };
    if entry.ready {
        let index = entry
            .index_rate
            .map(|rate| format!(" · index {:.0}%", rate * 100.0))
            .unwrap_or_default();
        return match entry.convert_ms {
            Some(ms) if entry.kind == VoiceKind::Neural => format!(
                "ready · {:.0} ms delay · {ms:.0} ms per block here{index}",
                entry.latency_ms
            ),
            _ => format!("ready{index}"),
        };
    }
    if entry.needs.is_empty() {
        return "not ready".into();
    }
    let card = snapshot.server(Role::Audio);
    let waits: Vec<String> = entry
        .needs
        .iter()
        .map(|id| match card.models.iter().find(|m| &m.id == id) {
            Some(m) if m.state == ModelState::Failed => format!("{id} failed"),
            Some(m) => match m.fraction() {
                Some(f) => format!("{id} {:.0}%", f * 100.0),
                None => format!("{id} {}", m.state.as_str()),
            },
            None => id.clone(),
        })
        .collect();
    format!("fetching {}", waits.join(", "))
}

/// Voice files the audio server does not list yet, and the ways to add one.
fn voice_files(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    for file in &snapshot.voice_files {
        let words = match &file.upload {
            VoiceFileUpload::NotSent => "sent to the audio server when the studio starts".into(),
            VoiceFileUpload::Sending => "sending to the audio server…".into(),
            VoiceFileUpload::Added => continue,
            VoiceFileUpload::Failed(reason) => format!("not taken: {reason}"),
        };
        ui.add(
            egui::Label::new(
                RichText::new(format!("{} · {words}", file.name()))
                    .color(MUTED)
                    .size(12.5),
            )
            .wrap(),
        );
    }
    if ui.button("Add a voice…").clicked() {
        commands.push(Command::Pick(PickKind::Voice));
    }
    muted(ui, "RVC v2 voices (.onnx); or drop one here.");
    toggle(
        ui,
        snapshot.accurate_pitch,
        "Accurate pitch (RMVPE, 362 MB)",
        Command::AccuratePitch,
        commands,
    );
}

fn voice_list(ui: &mut Ui, snapshot: &Snapshot, commands: &mut Vec<Command>) {
    for (kind, title) in [
        (VoiceKind::Dsp, "Effects (DSP)"),
        (VoiceKind::Neural, "Neural voices"),
    ] {
        let voices: Vec<_> = snapshot
            .voices
            .iter()
            .filter(|v| v.kind() == kind)
            .collect();
        if voices.is_empty() {
            continue;
        }
        ui.label(RichText::new(title).color(MUTED).size(12.5));
        for voice in voices {
            ui.horizontal(|ui| {
                let chosen = snapshot.chosen_voice.as_deref() == Some(voice.id());
                if ui.radio(chosen, voice.name()).clicked() && !chosen {
                    commands.push(Command::ChooseVoice(voice.id().to_string()));
                }
                let readiness = voice_readiness(snapshot, voice);
                ui.label(RichText::new(readiness).color(MUTED).size(12.0));
            });
            // Where it was chosen: why the audio server would not take it.
            if let Some(refusal) = snapshot
                .voice_refused
                .as_ref()
                .filter(|r| r.id == voice.id())
            {
                ui.add(
                    egui::Label::new(
                        RichText::new(format!(
                            "The audio server would not use {}: {}",
                            voice.name(),
                            refusal.reason
                        ))
                        .size(12.5)
                        .color(STRONG),
                    )
                    .wrap(),
                );
            }
        }
    }
}

/// Where the face box falls on a thumbnail drawn in `image_rect`: the box's corners
/// (`[x1, y1, x2, y2]` in the original image's pixels) scaled to the thumbnail as shown.
pub fn face_outline(image_rect: egui::Rect, thumbnail: &Thumbnail, face: &FaceBox) -> egui::Rect {
    let sx = image_rect.width() / thumbnail.image_width.max(1) as f32;
    let sy = image_rect.height() / thumbnail.image_height.max(1) as f32;
    egui::Rect::from_min_max(
        image_rect.min + Vec2::new(face.x1 * sx, face.y1 * sy),
        image_rect.min + Vec2::new(face.x2 * sx, face.y2 * sy),
    )
}

/// A model's state in the words of the server card.
fn model_state_label(state: ModelState) -> &'static str {
    match state {
        ModelState::Pending => "waiting",
        ModelState::Downloading => "downloading",
        ModelState::Verifying => "checking",
        ModelState::Loading => "loading",
        ModelState::Ready => "ready",
        ModelState::Failed => "failed",
    }
}

fn process_text(card: &ServerCard) -> String {
    match &card.process {
        Process::NotRunning => "Not running".into(),
        Process::Starting => "Starting…".into(),
        Process::Ready { pid } if card.session_open => format!("Running (process {pid})"),
        Process::Ready { pid } => format!("Ready (process {pid})"),
        Process::Restarting { after, reason } if reason.is_empty() => {
            format!("Restarting in {:.1} s", after.as_secs_f64())
        }
        Process::Restarting { after, reason } => {
            format!(
                "Stopped ({reason}); restarting in {:.1} s",
                after.as_secs_f64()
            )
        }
        Process::Failed(error) => format!("Could not start: {error}"),
    }
}

fn server_card(ui: &mut Ui, card: &ServerCard) {
    let title = match card.role {
        Role::Video => "Video server · face swap",
        Role::Audio => "Audio server · voice",
    };
    section(ui, title, |ui| {
        ui.add(egui::Label::new(RichText::new(process_text(card)).color(TEXT)).wrap());
        if let (Some(engine), Some(backend), Some(device)) =
            (&card.engine, &card.backend, &card.device)
        {
            muted(
                ui,
                format!("Engine {engine} · backend {backend} · device {device}"),
            );
        }
        for model in &card.models {
            ui.add_space(2.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new(&model.id).size(12.5));
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    ui.label(
                        RichText::new(model_state_label(model.state))
                            .size(12.5)
                            .color(if model.state == ModelState::Failed {
                                STRONG
                            } else {
                                MUTED
                            }),
                    );
                });
            });
            let fraction = model.fraction().unwrap_or(0.0);
            let bytes = match model.bytes_total {
                Some(total) => format!("{} of {}", megabytes(model.bytes_done), megabytes(total)),
                None => megabytes(model.bytes_done),
            };
            ui.add(egui::ProgressBar::new(fraction).desired_height(6.0).fill(
                if model.state == ModelState::Failed {
                    Color32::from_gray(90)
                } else {
                    Color32::from_gray(200)
                },
            ));
            match (&model.error, model.state) {
                (Some(error), _) => muted(ui, error.clone()),
                (None, ModelState::Downloading | ModelState::Failed) => muted(ui, bytes),
                _ => {}
            }
        }
        let rate_unit = match card.role {
            Role::Video => "fps",
            Role::Audio => "blocks/s",
        };
        let figure = |v: Option<f64>, unit: &str, digits: usize| match v {
            Some(v) => format!("{v:.digits$} {unit}"),
            None => "–".into(),
        };
        ui.add_space(2.0);
        ui.horizontal(|ui| {
            stat(ui, "rate", &figure(card.rate_per_s, rate_unit, 1));
            stat(ui, "latency", &figure(card.latency_ms, "ms", 1));
            stat(ui, "processing", &figure(card.process_ms, "ms", 2));
        });
    });
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn stat(ui: &mut Ui, name: &str, value: &str) {
    ui.vertical(|ui| {
        ui.label(RichText::new(name).size(11.0).color(MUTED));
        ui.label(RichText::new(value).size(13.0).color(STRONG));
    });
    ui.add_space(6.0);
}

fn cloud_panel(ui: &mut Ui, snapshot: &Snapshot, view: &mut View, commands: &mut Vec<Command>) {
    let cloud = &snapshot.cloud;
    section(ui, "Cloud (RunPod)", |ui| {
        let key_text = match &cloud.api_key {
            ApiKey::NotChecked => "Checking for a RunPod API key…".to_string(),
            ApiKey::Missing => "Cloud mode needs a RunPod API key.".into(),
            ApiKey::Stored => "API key saved in this computer's keyring.".into(),
            ApiKey::FromEnvironment => "API key taken from RUNPOD_API_KEY.".into(),
            ApiKey::KeyringUnavailable(why) => format!("The key cannot be saved: {why}"),
        };
        ui.add(egui::Label::new(RichText::new(key_text).color(TEXT)).wrap());
        let label = ui.label(RichText::new("RunPod API key").color(MUTED).size(12.5));
        ui.horizontal(|ui| {
            let field = ui.add(
                egui::TextEdit::singleline(&mut view.api_key)
                    .password(true)
                    .hint_text("paste the key")
                    .desired_width(ui.available_width() - 56.0),
            );
            field.labelled_by(label.id);
            if ui.button("Save").clicked() {
                commands.push(Command::SaveApiKey(studio_cloud::Secret::new(
                    std::mem::take(&mut view.api_key),
                )));
            }
        });
        ui.add_space(4.0);
        ui.label(RichText::new("GPU, first choice").color(MUTED).size(12.5));
        let selected = cloud
            .gpu_types
            .get(cloud.gpu_choice)
            .cloned()
            .unwrap_or_default();
        egui::ComboBox::from_id_salt("gpu")
            .selected_text(selected)
            .width(ui.available_width() - 8.0)
            .show_ui(ui, |ui| {
                for (i, gpu) in cloud.gpu_types.iter().enumerate() {
                    if ui.selectable_label(i == cloud.gpu_choice, gpu).clicked() {
                        commands.push(Command::ChooseGpu(i));
                    }
                }
            });
        ui.horizontal(|ui| {
            let mut cap = cloud.max_hourly_usd;
            let label = ui.label("Price cap, $ per hour");
            let drag = ui
                .add(
                    egui::DragValue::new(&mut cap)
                        .range(0.1..=20.0)
                        .speed(0.05)
                        .fixed_decimals(2),
                )
                .labelled_by(label.id);
            if drag.changed() {
                commands.push(Command::SetPriceCap(cap));
            }
        });
        muted(ui, cost_line(cloud.price.as_ref()));
        muted(
            ui,
            "Starting cloud servers arrives in a later version; Local GPU works now.",
        );
    });
}

/// The price before the pods exist, then what RunPod bills for them (`cost`).
fn cost_line(price: Option<&studio_cloud::Price>) -> String {
    match price {
        None => "Running cost: no pod is running.".into(),
        Some(studio_cloud::Price::Quoted { hourly_usd, gpu }) => {
            format!("Price: ${hourly_usd:.2} per hour for both pods on {gpu}.")
        }
        Some(studio_cloud::Price::Running { hourly_usd }) => {
            format!("Running cost: ${hourly_usd:.2} per hour for both pods.")
        }
    }
}

fn previews(ui: &mut Ui, snapshot: &Snapshot, view: &View) {
    let gap = 14.0;
    let width = ((ui.available_width() - gap) / 2.0).max(80.0);
    let height = width * 9.0 / 16.0;
    ui.horizontal_top(|ui| {
        for (title, slot, caption) in [
            ("Camera", &view.camera, snapshot.camera.label()),
            ("Processed", &view.processed, processed_caption(snapshot)),
        ] {
            ui.vertical(|ui| {
                ui.set_width(width);
                ui.label(RichText::new(title).size(15.0).color(STRONG));
                let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
                ui.painter()
                    .rect_filled(rect, CornerRadius::same(8), Color32::from_gray(4));
                ui.painter().rect_stroke(
                    rect,
                    CornerRadius::same(8),
                    Stroke::new(1.0, LINE),
                    egui::StrokeKind::Inside,
                );
                match slot {
                    Some((_, texture)) if snapshot.phase != Phase::Idle => {
                        ui.painter().image(
                            texture.id(),
                            rect.shrink(1.0),
                            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                            Color32::WHITE,
                        );
                    }
                    _ => {
                        let empty = match snapshot.phase {
                            Phase::Idle => "Press Start to see the picture here",
                            Phase::Stopping => "Stopping…",
                            _ => "Waiting for the first frame…",
                        };
                        ui.painter().text(
                            rect.center(),
                            egui::Align2::CENTER_CENTER,
                            empty,
                            FontId::proportional(14.0),
                            MUTED,
                        );
                    }
                }
                muted(ui, caption);
            });
            ui.add_space(gap);
        }
    });
}

fn processed_caption(snapshot: &Snapshot) -> String {
    let face = snapshot
        .chosen_face
        .and_then(|i| snapshot.faces.get(i))
        .map(|f| f.name())
        .unwrap_or_else(|| "no face swap".into());
    let voice = snapshot
        .chosen_voice
        .as_ref()
        .and_then(|id| snapshot.voices.iter().find(|v| v.id() == id))
        .map(|v| v.name().to_string())
        .unwrap_or_else(|| "own voice".into());
    format!("Face: {face} · Voice: {voice}")
}

/// The eframe app: a [`Studio`] and its [`View`].
pub struct StudioWindow {
    studio: Studio,
    view: View,
    themed: bool,
}

impl StudioWindow {
    pub fn new(studio: Studio) -> StudioWindow {
        StudioWindow {
            studio,
            view: View::default(),
            themed: false,
        }
    }

    pub fn studio(&self) -> &Studio {
        &self.studio
    }

    /// One frame: fresh previews, the snapshot drawn, commands sent.
    pub fn frame(&mut self, ui: &mut Ui) {
        if !self.themed {
            apply_theme(ui.ctx());
            self.themed = true;
        }
        match self.studio.previews() {
            Some(previews) => {
                let camera: Option<Arc<VideoFrame>> = previews.camera.borrow().clone();
                let processed: Option<Arc<VideoFrame>> = previews.processed.borrow().clone();
                self.view
                    .set_previews(ui.ctx(), camera.as_deref(), processed.as_deref());
            }
            None => self.view.clear_previews(),
        }
        self.view.input_level_db = self.studio.previews().map(|_| self.studio.input_level_db());
        let snapshot = self.studio.snapshot();
        for command in show(ui, &snapshot, &mut self.view) {
            self.studio.send(command);
        }
    }
}

impl eframe::App for StudioWindow {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        BACKGROUND.to_normalized_gamma_f32()
    }
}

//! What the person chose in the window (mode, camera, microphone, virtual devices, faces,
//! voice, gains), remembered between runs in the app data folder and given back at the next start as
//! the commands that make them, each checked again: a file that is gone is said so and left
//! out, never fatal.

use crate::state::{Camera, Command, Microphone, Mode, PersonRow, Snapshot};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use studio_proto::control::MAX_PEOPLE;

/// The file's name in the app data folder.
pub const FILE_NAME: &str = "choices.json";
/// At most this many faces, and as many voice files, are remembered (the newest); a longer
/// list is cut.
pub const MAX_FACES: usize = 32;

/// `choices.json` in the app data folder, where this system has one.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "streaming-studio").map(|d| d.data_dir().join(FILE_NAME))
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Choices {
    pub cloud: bool,
    pub camera: CameraChoice,
    pub microphone: MicrophoneChoice,
    pub virtual_camera: bool,
    pub virtual_microphone: bool,
    /// Hear yourself on this output (`""`: the default one).
    pub monitor: Option<String>,
    pub faces: Vec<PathBuf>,
    /// Index into `faces`; `None` is no face swap.
    pub chosen_face: Option<usize>,
    /// Face mapping's rows, as indices into `faces`.
    pub people: Vec<PersonRow>,
    pub keep_mouth: bool,
    /// `None` in files from before the choice existed: on.
    pub match_colours: Option<bool>,
    pub keep_occluders: bool,
    pub keep_hair: bool,
    pub all_faces: bool,
    /// `None` in files from before the choice existed: 1.
    pub pixel_boost: Option<u32>,
    /// `None` in files from before the choice existed: the default swapper.
    pub swapper: Option<String>,
    /// The face enhancer's `models` id; `None` is off.
    pub enhancer: Option<String>,
    /// `None` in files from before the choice existed: the default.
    pub enhance_strength: Option<u8>,
    /// `None` in files from before the choice existed: automatic. A number, as earlier
    /// files hold it, reads as that many frames.
    pub enhance_every: Option<studio_proto::control::EnhanceEvery>,
    pub voice: Option<String>,
    /// Voices added from files, sent to the audio server at each start.
    pub voice_files: Vec<PathBuf>,
    pub accurate_pitch: bool,
    /// Semitones every voice's pitch and timbre are moved by.
    pub voice_key: f32,
    pub voice_formant: f32,
    pub input_gain_db: f32,
    pub output_gain_db: f32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CameraChoice {
    #[default]
    TestPattern,
    VideoFile {
        path: PathBuf,
    },
    Device {
        spec: String,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MicrophoneChoice {
    TestTone,
    #[default]
    Default,
    Named {
        name: String,
    },
}

impl Choices {
    /// What the window shows as chosen now.
    pub fn of(snapshot: &Snapshot) -> Choices {
        let skip = snapshot.faces.len().saturating_sub(MAX_FACES);
        Choices {
            cloud: snapshot.mode == Mode::Cloud,
            camera: match &snapshot.camera {
                Camera::TestPattern => CameraChoice::TestPattern,
                Camera::VideoFile(path) => CameraChoice::VideoFile { path: path.clone() },
                Camera::Device { spec, name } => CameraChoice::Device {
                    spec: spec.clone(),
                    name: name.clone(),
                },
            },
            microphone: match &snapshot.devices.chosen.microphone {
                Microphone::TestTone => MicrophoneChoice::TestTone,
                Microphone::Default => MicrophoneChoice::Default,
                Microphone::Named(name) => MicrophoneChoice::Named { name: name.clone() },
            },
            virtual_camera: snapshot.devices.chosen.virtual_camera,
            virtual_microphone: snapshot.devices.chosen.virtual_microphone,
            monitor: snapshot.devices.chosen.monitor.clone(),
            faces: snapshot.faces[skip..]
                .iter()
                .map(|f| f.path.clone())
                .collect(),
            chosen_face: snapshot.chosen_face.and_then(|i| i.checked_sub(skip)),
            people: snapshot
                .people
                .iter()
                .filter_map(|r| {
                    Some(PersonRow {
                        person: r.person.checked_sub(skip)?,
                        wears: r.wears.checked_sub(skip)?,
                    })
                })
                .collect(),
            keep_mouth: snapshot.keep_mouth,
            match_colours: Some(snapshot.match_colours),
            keep_occluders: snapshot.keep_occluders,
            keep_hair: snapshot.keep_hair,
            all_faces: snapshot.all_faces,
            pixel_boost: Some(snapshot.pixel_boost),
            swapper: Some(snapshot.swapper.clone()),
            enhancer: snapshot.enhancer.clone(),
            enhance_strength: Some(snapshot.enhance_strength),
            enhance_every: Some(snapshot.enhance_every),
            voice: snapshot.chosen_voice.clone(),
            voice_files: snapshot.voice_files
                [snapshot.voice_files.len().saturating_sub(MAX_FACES)..]
                .iter()
                .map(|f| f.path.clone())
                .collect(),
            accurate_pitch: snapshot.accurate_pitch,
            voice_key: snapshot.voice_shift.0,
            voice_formant: snapshot.voice_shift.1,
            input_gain_db: snapshot.input_gain_db,
            output_gain_db: snapshot.output_gain_db,
        }
    }

    /// The commands that choose all this again, and what could not be taken back (a face or a
    /// video file that is no longer there), in words for the window.
    pub fn restore(&self) -> (Vec<Command>, Vec<String>) {
        let mut commands = Vec::new();
        let mut gone = Vec::new();
        if self.cloud {
            commands.push(Command::SetMode(Mode::Cloud));
        }
        match &self.camera {
            CameraChoice::TestPattern => {}
            CameraChoice::VideoFile { path } if !path.is_file() => gone.push(format!(
                "The video file {} is no longer there; the test pattern is used instead.",
                path.display()
            )),
            CameraChoice::VideoFile { path } => {
                commands.push(Command::SetCamera(Camera::VideoFile(path.clone())))
            }
            CameraChoice::Device { spec, name } => {
                commands.push(Command::SetCamera(Camera::Device {
                    spec: spec.clone(),
                    name: name.clone(),
                }))
            }
        }
        commands.push(Command::ChooseMicrophone(match &self.microphone {
            MicrophoneChoice::TestTone => Microphone::TestTone,
            MicrophoneChoice::Default => Microphone::Default,
            MicrophoneChoice::Named { name } => Microphone::Named(name.clone()),
        }));
        commands.push(Command::UseVirtualCamera(self.virtual_camera));
        commands.push(Command::UseVirtualMicrophone(self.virtual_microphone));
        commands.push(Command::UseMonitor(self.monitor.clone()));
        // Faces are added in order; each `AddFace` also chooses it, so the remembered choice
        // is made last.
        let mut kept = Vec::new();
        for (i, path) in self.faces.iter().take(MAX_FACES).enumerate() {
            if path.is_file() {
                commands.push(Command::AddFace(path.clone()));
                kept.push(i);
            } else {
                gone.push(format!(
                    "The face {} is no longer there; it was left out.",
                    path.display()
                ));
            }
        }
        if !kept.is_empty() {
            let chosen = self
                .chosen_face
                .and_then(|c| kept.iter().position(|&k| k == c));
            commands.push(Command::ChooseFace(chosen));
            // Rows whose faces are both still there, in the faces' new places.
            let now = |i: usize| kept.iter().position(|&k| k == i);
            let mut rows = 0;
            for row in self.people.iter().take(MAX_PEOPLE) {
                if let (Some(person), Some(wears)) = (now(row.person), now(row.wears)) {
                    commands.push(Command::AddPerson);
                    commands.push(Command::SetPerson {
                        row: rows,
                        person,
                        wears,
                    });
                    rows += 1;
                }
            }
        }
        commands.push(Command::KeepMouth(self.keep_mouth));
        commands.push(Command::MatchColours(self.match_colours.unwrap_or(true)));
        commands.push(Command::KeepOccluders(self.keep_occluders));
        commands.push(Command::KeepHair(self.keep_hair));
        commands.push(Command::AllFaces(self.all_faces));
        commands.push(Command::PixelBoost(self.pixel_boost.unwrap_or(1)));
        if let Some(swapper) = &self.swapper {
            commands.push(Command::ChooseSwapper(swapper.clone()));
        }
        commands.push(Command::Enhancer(self.enhancer.clone()));
        commands.push(Command::EnhanceStrength(
            self.enhance_strength
                .unwrap_or(crate::state::DEFAULT_ENHANCE_STRENGTH),
        ));
        commands.push(Command::EnhanceEvery(
            self.enhance_every.unwrap_or_default(),
        ));
        commands.push(Command::AccuratePitch(self.accurate_pitch));
        commands.push(Command::ShiftVoice {
            key: self.voice_key,
            formant: self.voice_formant,
        });
        for path in self.voice_files.iter().take(MAX_FACES) {
            if path.is_file() {
                commands.push(Command::AddVoice(path.clone()));
            } else {
                gone.push(format!(
                    "The voice file {} is no longer there; it was left out.",
                    path.display()
                ));
            }
        }
        // After the files, so the remembered voice wins over the last file added.
        if let Some(voice) = &self.voice {
            commands.push(Command::ChooseVoice(voice.clone()));
        }
        commands.push(Command::SetGains {
            input_db: self.input_gain_db,
            output_db: self.output_gain_db,
        });
        (commands, gone)
    }

    /// Read `path`; `None` when there is no such file yet (the first start).
    pub fn load(path: &Path) -> anyhow::Result<Option<Choices>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("reading {}", path.display()))
    }

    /// Write `path` whole or not at all (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).context("encoding the choices")?;
        let temporary = path.with_extension("json.part");
        std::fs::write(&temporary, text)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{FaceImage, RunDevices, Store};
    use studio_proto::config::Config;

    fn config() -> Config {
        Config::from_layers(Some((
            "test",
            r#"{"voices": {"robot": {"name": "Robot", "kind": "dsp"}}}"#,
        )))
        .unwrap()
    }

    /// A store that received `commands`, with every face image read.
    fn store_after(commands: Vec<Command>) -> Store {
        let mut store = Store::with_devices(&config(), RunDevices::none());
        for command in commands {
            store.command(command);
        }
        store
    }

    #[test]
    fn choices_come_back_as_they_were_and_a_vanished_face_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, clip, voice) = (
            dir.path().join("a.png"),
            dir.path().join("b.png"),
            dir.path().join("clip.y4m"),
            dir.path().join("Alto.onnx"),
        );
        for file in [&a, &b, &clip, &voice] {
            std::fs::write(file, b"x").unwrap();
        }
        let before = store_after(vec![
            Command::SetMode(Mode::Cloud),
            Command::SetCamera(Camera::VideoFile(clip.clone())),
            Command::ChooseMicrophone(Microphone::Named("USB Mic".into())),
            Command::UseVirtualCamera(true),
            Command::UseVirtualMicrophone(true),
            Command::UseMonitor(Some("Headphones".into())),
            Command::AddFace(a.clone()),
            Command::AddFace(b.clone()),
            Command::ChooseFace(Some(0)),
            Command::AddPerson,
            Command::AddVoice(voice.clone()),
            Command::AccuratePitch(true),
            Command::KeepMouth(true),
            Command::MatchColours(false),
            Command::ShiftVoice {
                key: 7.0,
                formant: -1.0,
            },
            Command::KeepOccluders(true),
            Command::AllFaces(true),
            Command::KeepHair(true),
            Command::PixelBoost(4),
            Command::ChooseSwapper("hyperswap_1b_256".into()),
            Command::Enhancer(Some("gpen_bfr_256".into())),
            Command::EnhanceStrength(55),
            Command::EnhanceEvery(studio_proto::control::EnhanceEvery::Frames(2)),
            Command::ChooseVoice("robot".into()),
            Command::SetGains {
                input_db: 3.5,
                output_db: -6.0,
            },
        ])
        .snapshot();
        let choices = Choices::of(&before);
        assert_eq!(choices.faces, [a.clone(), b.clone()]);
        assert_eq!(choices.chosen_face, Some(0));
        assert_eq!(
            choices.people,
            [PersonRow {
                person: 0,
                wears: 1
            }]
        );
        assert_eq!(choices.voice_files, std::slice::from_ref(&voice));
        assert!(choices.accurate_pitch && choices.keep_mouth && choices.keep_occluders);
        assert!(choices.all_faces && choices.keep_hair);
        assert_eq!(choices.enhancer.as_deref(), Some("gpen_bfr_256"));
        assert_eq!(choices.enhance_strength, Some(55));
        assert_eq!(
            choices.enhance_every,
            Some(studio_proto::control::EnhanceEvery::Frames(2))
        );
        assert_eq!(choices.match_colours, Some(false));
        assert_eq!(choices.pixel_boost, Some(4));
        assert_eq!(choices.swapper.as_deref(), Some("hyperswap_1b_256"));
        assert_eq!((choices.voice_key, choices.voice_formant), (7.0, -1.0));
        assert_eq!((choices.input_gain_db, choices.output_gain_db), (3.5, -6.0));

        let file = dir.path().join("data").join(FILE_NAME);
        choices.save(&file).unwrap();
        let loaded = Choices::load(&file).unwrap().unwrap();
        assert_eq!(loaded, choices);

        let (commands, gone) = loaded.restore();
        assert!(gone.is_empty(), "{gone:?}");
        let after = store_after(commands).snapshot();
        assert_eq!(Choices::of(&after), choices);
        assert_eq!(after.mode, Mode::Cloud);
        assert_eq!(after.camera, Camera::VideoFile(clip));

        // The remembered voice wins over the voice file added back.
        assert_eq!(after.chosen_voice.as_deref(), Some("robot"));

        // A face and the voice file moved away: the others come back, the choice follows
        // its face.
        std::fs::remove_file(&a).unwrap();
        std::fs::remove_file(&voice).unwrap();
        let (commands, gone) = loaded.restore();
        assert_eq!(gone.len(), 2);
        assert!(gone[0].contains("a.png") && gone[0].contains("no longer there"));
        assert!(gone[1].contains("Alto.onnx"), "{gone:?}");
        let after = store_after(commands).snapshot();
        assert!(after.voice_files.is_empty());
        let paths: Vec<_> = after.faces.iter().map(|f| f.path.clone()).collect();
        assert_eq!(paths, [b]);
        assert!(
            after.people.is_empty(),
            "the row of the face that went goes too"
        );
        assert_eq!(
            after.chosen_face, None,
            "the chosen face is the one that went"
        );
        assert!(matches!(after.faces[0].image, FaceImage::Loading));
    }

    #[test]
    fn no_file_is_no_choices_and_a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        assert_eq!(Choices::load(&file).unwrap(), None);
        std::fs::write(&file, "{not json").unwrap();
        let error = format!("{:#}", Choices::load(&file).unwrap_err());
        assert!(error.contains(FILE_NAME), "{error}");
    }
}

//! Loading `config.json` defaults, merging a user file over them, and reporting every problem
//! in a malformed file as `path: reason`.

use studio_proto::Role;
use studio_proto::config::{
    Backend, Config, ConfigError, ConfigProblem, ModelKind, ModelRole, VideoFallback,
    is_secret_key_name,
};

const USER: &str = "user.json";

use studio_proto::voices::{PitchMethod, VoiceKind};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_layers(Some((USER, text)))
}

/// The problems of a user file that must fail, as `path: reason` lines.
fn problems(text: &str) -> Vec<String> {
    let err = load(text).expect_err("this user file should be refused");
    assert_eq!(err.source_name, USER);
    err.problems.iter().map(ToString::to_string).collect()
}

/// The single problem of a user file that must fail with exactly one.
fn only_problem(text: &str) -> String {
    let list = problems(text);
    assert_eq!(list.len(), 1, "expected one problem, got {list:#?}");
    list.into_iter().next().unwrap_or_default()
}

// --- loading and merging ---------------------------------------------------------------------

#[test]
fn defaults_have_the_documented_values() {
    let c = Config::defaults().expect("the repository's config.json is valid");
    assert_eq!(
        (c.video.width, c.video.height, c.video.fps),
        (1280, 720, 30)
    );
    assert_eq!(c.video.fallback, VideoFallback::LastFrame);
    assert_eq!(c.audio.sample_rate, 48000);
    assert_eq!(c.audio.channels, 1);
    assert_eq!(c.audio.frame_ms, 20);
    assert_eq!(c.audio.block_samples(), 960);
    assert_eq!(c.talk.key, "Space");
    assert_eq!((c.talk.hang_ms, c.talk.preroll_ms), (200, 150));
    assert_eq!(c.servers.restart.initial_backoff_ms, 250);
    assert_eq!(c.servers.restart.max_backoff_ms, 8000);
    assert_eq!(c.servers.restart.start_timeout_ms, 20000);
    for role in studio_proto::Role::ALL {
        let s = c.servers.role(role);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.port, 0);
        assert_eq!(s.backend, Backend::Auto);
        assert_eq!(s.device, "auto");
    }
    // The defaults carry the ONNX Runtime library (one wheel per platform), the three face
    // models and the voices' shared models, all fetched on demand and pinned to a checksum;
    // several mirrors per face model.
    assert_eq!(
        c.models.keys().collect::<Vec<_>>(),
        [
            "bisenet_resnet_34",
            "contentvec_768",
            "crossface_simswap",
            "det_10g",
            "gfpgan_1.4",
            "gpen_bfr_256",
            "gpen_bfr_512",
            "hyperswap_1a_256",
            "hyperswap_1b_256",
            "hyperswap_1c_256",
            "inswapper_128",
            "inswapper_128_fp16",
            "onnxruntime-linux-x86_64",
            "onnxruntime-macos-aarch64",
            "onnxruntime-windows-x86_64",
            "rmvpe",
            "simswap_unofficial_512",
            "w600k_r50",
            "xseg_1"
        ]
    );
    for (id, m) in &c.models {
        assert!(!m.required, "{id}");
        assert!(m.sha256.is_some() && m.bytes.is_some(), "{id}");
        if id.starts_with("onnxruntime-") {
            assert_eq!(m.kind, ModelKind::OnnxRuntime);
            assert!(m.archive_member.is_some());
            assert!(m.urls[0].starts_with("https://files.pythonhosted.org/"));
        } else {
            assert_eq!(m.kind, ModelKind::Model);
            assert!(m.urls.len() >= 2, "{id} has one URL");
            // The face models' licence is the one the window asks the person to accept; the
            // other swappers (and their converters) each say the terms they come under.
            let face = studio_proto::config::FACE_MODEL_IDS.contains(&id.as_str());
            let swapper = studio_proto::config::SWAPPER_MODELS
                .iter()
                .any(|(s, c)| s == id || *c == Some(id.as_str()));
            if swapper {
                assert!(
                    m.license.contains("research") || m.license.contains("non-commercial"),
                    "{id}"
                );
                assert!(
                    m.urls[0].starts_with("https://github.com/facefusion/facefusion-assets/"),
                    "{id}"
                );
            } else {
                assert_eq!(m.license.contains("non-commercial"), face, "{id}");
            }
        }
    }
    assert_eq!(c.face.detect_every, 3);
    for id in ["deeper", "higher", "robot", "radio"] {
        assert!(c.voices.contains_key(id), "preset {id} missing");
    }
    let r = &c.cloud.runpod;
    assert_eq!(r.cloud_type, studio_proto::config::CloudType::Secure);
    assert_eq!(r.max_lifetime_hours, 12);
    assert_eq!(r.min_cuda_version, "12.4");
    assert_eq!((r.http_port, r.ice_tcp_port), (8000, 70000));
    assert_eq!(r.gpu_types.len(), 4);
    assert_eq!(r.gpu_types[0], "NVIDIA GeForce RTX 4090");
    assert_eq!(r.max_hourly_usd, 1.5);
    assert!(r.proxy_url_template.contains("{pod_id}"));
}

#[test]
fn the_default_pod_image_is_the_one_built_from_this_version() {
    // A moving tag would let a pod run a server older or newer than the studio that drives it.
    let defaults = Config::from_layers(None).unwrap();
    let image = &defaults.cloud.runpod.server_image;
    let tag = image.rsplit_once(':').map(|(_, tag)| tag);
    assert_eq!(tag, Some(env!("CARGO_PKG_VERSION")), "{image}");
}

#[test]
fn an_empty_user_object_gives_the_defaults() {
    let defaults = Config::defaults().expect("defaults");
    assert_eq!(load("{}").expect("empty object is valid"), defaults);
    assert_eq!(load(" \n{ }\n").expect("whitespace is fine"), defaults);
}

#[test]
fn overriding_one_nested_key_keeps_its_siblings() {
    let defaults = Config::defaults().expect("defaults");
    let c = load(r#"{"video": {"fps": 60}, "servers": {"audio": {"port": 9001}}}"#)
        .expect("valid override");
    assert_eq!(c.video.fps, 60);
    assert_eq!((c.video.width, c.video.height), (1280, 720));
    assert_eq!(c.video.fallback, VideoFallback::LastFrame);
    assert_eq!(c.servers.audio.port, 9001);
    assert_eq!(c.servers.audio.host, "127.0.0.1");
    assert_eq!(c.servers.video, defaults.servers.video);
    assert_eq!(c.audio, defaults.audio);
    assert_eq!(c.cloud, defaults.cloud);
}

#[test]
fn arrays_replace_the_default_instead_of_merging() {
    let c = load(r#"{"cloud": {"runpod": {"gpu_types": ["NVIDIA L4"]}}}"#).expect("valid");
    assert_eq!(c.cloud.runpod.gpu_types, vec!["NVIDIA L4".to_owned()]);
    assert_eq!(c.cloud.runpod.http_port, 8000);
}

/// A complete, valid model entry as JSON text, with `sha256` given.
const SWAPPER: &str = r#"{
    "role": "video", "required": true, "file": "inswapper_128.onnx",
    "urls": ["https://a.example/inswapper_128.onnx", "https://b.example/m.onnx"],
    "sha256": "E4A3F08C753CB72D04E10AA0F7DBE3DEEBBF39567D4EAD6DCE08E98AA49E16AF",
    "bytes": 554253681, "license": "non-commercial research"
}"#;

#[test]
fn models_and_voices_entries_are_added_by_id() {
    let c = load(&format!(
        r#"{{
            "models": {{"inswapper": {SWAPPER}}},
            "voices": {{"alto": {{"name": "Alto", "kind": "neural", "model": "rvc-alto.onnx",
                                "embedder": "contentvec.onnx", "key": 3, "formant": -1.5}},
                       "tenor": {{"name": "Tenor", "kind": "neural", "model": "t.onnx",
                                "embedder": "contentvec.onnx", "block_ms": "auto",
                                "silence_db": -50}},
                       "deeper": {{"name": "Bass", "kind": "dsp", "pitch": -3}}}}
        }}"#
    ))
    .expect("valid");
    let m = c.models.get("inswapper").expect("the entry is there");
    assert_eq!(m.role, ModelRole::Only(Role::Video));
    assert!(m.required);
    assert_eq!(m.kind, ModelKind::Model);
    assert_eq!(m.file, "inswapper_128.onnx");
    assert_eq!(m.urls.len(), 2);
    assert_eq!(
        m.sha256.as_deref(),
        Some("e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af"),
        "hex is kept lowercase"
    );
    assert_eq!(m.bytes, Some(554253681));
    assert_eq!(m.archive_member, None);
    assert_eq!(m.platform, None);
    assert!(m.serves(Role::Video) && !m.serves(Role::Audio));
    let defaults = Config::defaults().unwrap().voices.len();
    assert_eq!(c.voices.len(), defaults + 2);
    // A user entry replaces the preset with the same id as a whole.
    let deeper = &c.voices["deeper"];
    assert_eq!(deeper.name, "Bass");
    match &deeper.kind {
        VoiceKind::Dsp(v) => assert_eq!((v.pitch, v.formant), (-3.0, 0.0)),
        other => panic!("expected a DSP voice, got {other:?}"),
    }
    match &c.voices["alto"].kind {
        VoiceKind::Neural(v) => {
            assert_eq!((v.key, v.block_ms, v.context_ms), (3.0, 100, 300));
            assert_eq!(v.formant, -1.5);
            assert_eq!(v.pitch, PitchMethod::Yin);
            assert_eq!(v.index, None);
            assert!(!v.auto_block);
            assert_eq!(v.silence_db, None, "converts everything unless told");
        }
        other => panic!("expected a neural voice, got {other:?}"),
    }
    // "auto": the block is chosen when the voice loads.
    match &c.voices["tenor"].kind {
        VoiceKind::Neural(v) => {
            assert!(v.auto_block && v.block_ms == 100);
            assert_eq!(v.silence_db, Some(-50.0));
        }
        other => panic!("expected a neural voice, got {other:?}"),
    }
}

#[test]
fn a_neural_voice_takes_an_index_with_its_rate() {
    let c = load(
        r#"{"voices": {
            "a": {"name": "A", "kind": "neural", "model": "a.onnx", "embedder": "c.onnx",
                  "index": "added_IVF256_Flat_nprobe_1_a_v2.index"},
            "b": {"name": "B", "kind": "neural", "model": "b.onnx", "embedder": "c.onnx",
                  "index": "b.index", "index_rate": 0.3}
        }}"#,
    )
    .expect("valid");
    let neural = |id: &str| match &c.voices[id].kind {
        VoiceKind::Neural(v) => v.clone(),
        other => panic!("expected a neural voice, got {other:?}"),
    };
    let a = neural("a");
    assert_eq!(
        a.index.as_deref(),
        Some("added_IVF256_Flat_nprobe_1_a_v2.index")
    );
    assert_eq!(a.index_rate, 0.75, "RVC WebUI's default");
    assert_eq!(
        (neural("b").index.as_deref(), neural("b").index_rate),
        (Some("b.index"), 0.3)
    );
    assert_eq!(
        problems(
            r#"{"voices": {
                "a": {"name": "A", "kind": "neural", "model": "a.onnx", "embedder": "c.onnx",
                      "index": "a.index", "index_rate": 1.5, "formant": 3},
                "b": {"name": "B", "kind": "neural", "model": "b.onnx", "embedder": "c.onnx",
                      "index_rate": 0.5}
            }}"#
        ),
        [
            "voices.a.formant: expected a number from -2 to 2, got 3",
            "voices.a.index_rate: expected a number from 0 to 1, got 1.5",
            "voices.b.index_rate: set without an index (add \"index\": the voice's .index file)",
        ]
    );
}

#[test]
fn voice_entries_are_checked_key_by_key() {
    assert_eq!(
        problems(
            r#"{"voices": {
                "a": {"name": "A", "kind": "dsp", "pitch": 30, "effect": "echo", "speed": 2},
                "b": {"name": "B", "kind": "neural", "embedder": "c.onnx", "pitch": "rmvpe",
                      "block_ms": 50, "crossfade_ms": 80},
                "c": {"kind": "opera"}
            }}"#
        ),
        [
            "voices.a.speed: unknown key (expected one of: name, kind, pitch, formant, effect, denoise)",
            "voices.a.pitch: expected a number from -24 to 24, got 30",
            "voices.a.effect: expected one of \"none\", \"robot\", \"radio\", got \"echo\"",
            "voices.b.model: missing; expected a non-empty string",
            "voices.b.pitch_model: missing; expected a non-empty string",
            "voices.b.crossfade_ms: must not exceed block_ms (50), got 80",
            "voices.c.name: missing; expected a non-empty string",
            "voices.c.kind: expected \"dsp\" or \"neural\", got \"opera\"",
        ]
    );
}

#[test]
fn a_model_without_checksum_or_size_is_pinned_on_first_use() {
    let c = load(
        r#"{"models": {"ort": {
            "role": "any", "required": true, "kind": "onnxruntime", "file": "libonnxruntime.so",
            "urls": ["https://files.example/ort.whl"], "sha256": null, "bytes": null,
            "license": "MIT", "archive_member": "onnxruntime/capi/libonnxruntime.so.*",
            "platform": "linux-x86_64"
        }}}"#,
    )
    .expect("valid");
    let m = &c.models["ort"];
    assert_eq!(m.sha256, None);
    assert_eq!(m.bytes, None);
    assert_eq!(m.kind, ModelKind::OnnxRuntime);
    assert_eq!(m.role, ModelRole::Any);
    assert_eq!(m.platform.as_deref(), Some("linux-x86_64"));
    assert_eq!(
        m.serves(Role::Audio),
        studio_proto::config::this_platform() == "linux-x86_64"
    );
}

#[test]
fn bad_model_entries_name_each_field() {
    let list = problems(
        r#"{"models": {"m": {
            "role": "both", "required": "yes", "file": "../evil.onnx",
            "urls": ["ftp://x/m.onnx"], "sha256": "abc", "bytes": -1, "license": "",
            "archive_member": "a*b*", "platform": "linux", "kind": "weights", "mirror": 1
        }}}"#,
    );
    assert_eq!(
        list,
        [
            "models.m.mirror: unknown key (expected one of: role, required, kind, file, urls, sha256, bytes, license, archive_member, platform)",
            "models.m.role: expected one of \"video\", \"audio\", \"any\", got \"both\"",
            "models.m.required: expected true or false, got \"yes\"",
            "models.m.kind: expected one of \"model\", \"onnxruntime\", got \"weights\"",
            "models.m.file: expected a file name without folders, got \"../evil.onnx\"",
            "models.m.urls[0]: expected a URL starting with https:// (http:// only to 127.0.0.1, [::1] or localhost), got \"ftp://x/m.onnx\"",
            "models.m.sha256: expected 64 hex digits or null, got \"abc\"",
            "models.m.bytes: expected a positive integer, got -1",
            "models.m.license: expected a non-empty string, got \"\"",
            "models.m.archive_member: expected a path inside the archive with at most one '*', or null, got \"a*b*\"",
            "models.m.platform: expected \"<os>-<arch>\" such as \"linux-x86_64\", or null, got \"linux\"",
        ]
    );
    assert_eq!(
        only_problem(
            r#"{"models": {"m": {"role": "video", "required": true, "file": "m.onnx", "urls": [], "sha256": null, "bytes": null, "license": "MIT"}}}"#
        ),
        "models.m.urls: expected a non-empty array of URLs, got []"
    );
    assert_eq!(
        only_problem(r#"{"models": {"a b": {}}}"#),
        "models.a b: a model id uses only letters, digits, '-', '_' and '.'"
    );
}

#[test]
fn the_cache_folder_defaults_to_the_os_one() {
    assert_eq!(Config::defaults().expect("valid").servers.cache_dir, None);
    let c = load(r#"{"servers": {"cache_dir": "/data/models"}}"#).expect("valid");
    assert_eq!(c.servers.cache_dir.as_deref(), Some("/data/models"));
    assert_eq!(
        only_problem(r#"{"servers": {"cache_dir": 7}}"#),
        "servers.cache_dir: expected a folder path or null (the OS cache folder), got 7"
    );
}

#[test]
fn accepted_edge_values() {
    let c = load(
        r#"{
            "video": {"width": 16, "height": 4320, "fps": 120, "fallback": "card"},
            "audio": {"sample_rate": 16000, "frame_ms": 10},
            "servers": {"video": {"port": 65535, "backend": "tract", "device": "rocm:1"},
                        "audio": {"backend": "ort", "device": "cuda:12"},
                        "restart": {"initial_backoff_ms": 500, "max_backoff_ms": 500}},
            "cloud": {"runpod": {"cloud_type": "any", "ice_tcp_port": 4294967295, "volume_gb": 0,
                                 "api_url": "http://localhost:9999"}},
            "talk": {"hang_ms": 0, "preroll_ms": 0}
        }"#,
    )
    .expect("all at their limits but valid");
    assert_eq!(c.video.fallback, VideoFallback::Card);
    assert_eq!(c.audio.block_samples(), 160);
    assert_eq!(c.servers.video.backend, Backend::Tract);
    assert_eq!(c.servers.audio.device, "cuda:12");
    assert_eq!(c.cloud.runpod.ice_tcp_port, u32::MAX);
    assert_eq!(
        c.cloud.runpod.cloud_type.clouds(),
        ["SECURE", "COMMUNITY"],
        "any tries the secure cloud first"
    );
    assert_eq!(c.cloud.runpod.volume_gb, 0);
    assert_eq!(c.talk.hang_ms, 0);
}

// --- one test per class of malformed input ---------------------------------------------------

#[test]
fn invalid_json_names_line_and_column() {
    let err = load("{\n  \"video\": {\n    \"fps\" 30\n  }\n}").expect_err("not JSON");
    assert_eq!(err.source_name, USER);
    assert_eq!(err.problems.len(), 1);
    let p = &err.problems[0];
    assert_eq!(p.path, "");
    assert!(
        p.reason
            .starts_with("not valid JSON at line 3, column 11: "),
        "{}",
        p.reason
    );
    // serde_json's own "at line L column C" tail is not repeated.
    assert!(!p.reason.ends_with("column 11"), "{}", p.reason);
    // The document-level problem is shown without a path prefix.
    assert_eq!(p.to_string(), p.reason);
}

#[test]
fn top_level_must_be_an_object() {
    let line = only_problem("[1, 2]");
    assert_eq!(line, "expected a JSON object at the top level, got [1,2]");
}

#[test]
fn unknown_keys_list_the_expected_ones() {
    assert_eq!(
        only_problem(r#"{"video": {"fsp": 30}}"#),
        "video.fsp: unknown key (expected one of: width, height, fps, fallback)"
    );
    assert_eq!(
        only_problem(r#"{"vidoe": {}}"#),
        "vidoe: unknown key (expected one of: video, audio, servers, models, voices, cloud, talk, face, limits)"
    );
}

#[test]
fn wrong_type_shows_the_value_as_json() {
    assert_eq!(
        only_problem(r#"{"video": {"fps": "thirty"}}"#),
        r#"video.fps: expected a positive integer, got "thirty""#
    );
    assert_eq!(
        only_problem(r#"{"talk": {"hang_ms": -5}}"#),
        "talk.hang_ms: expected a non-negative integer, got -5"
    );
    assert_eq!(
        only_problem(r#"{"servers": {"restart": {"start_timeout_ms": 1.5}}}"#),
        "servers.restart.start_timeout_ms: expected a positive integer, got 1.5"
    );
    assert_eq!(
        only_problem(r#"{"servers": {"video": {"host": ""}}}"#),
        r#"servers.video.host: expected a non-empty string, got """#
    );
    assert_eq!(
        only_problem(r#"{"cloud": {"runpod": {"volume_gb": 4294967296}}}"#),
        "cloud.runpod.volume_gb: expected a non-negative integer up to 4294967295, got 4294967296"
    );
}

#[test]
fn out_of_range_values_are_refused() {
    let list = problems(
        r#"{
            "video": {"fps": 500},
            "audio": {"sample_rate": 22050, "channels": 2, "frame_ms": 15},
            "servers": {"video": {"port": 70000}},
            "cloud": {"runpod": {"http_port": 0, "ice_tcp_port": 5000000000,
                                 "max_hourly_usd": 0,
                                 "api_url": "ftp://api.runpod.io",
                                 "proxy_url_template": "https://{pod_id}.proxy.runpod.net"}}
        }"#,
    );
    assert_eq!(
        list,
        [
            "video.fps: expected a frame rate from 1 to 120, got 500",
            "audio.sample_rate: expected one of 16000, 24000, 32000, 44100, 48000 (Hz), got 22050",
            "audio.channels: the pipeline is mono; expected 1, got 2",
            "audio.frame_ms: expected 10 or 20 (milliseconds), got 15",
            "servers.video.port: expected a port number 0–65535, got 70000",
            r#"cloud.runpod.api_url: expected a URL starting with http:// or https://, got "ftp://api.runpod.io""#,
            r#"cloud.runpod.proxy_url_template: expected a URL template containing {pod_id} and {port}, got "https://{pod_id}.proxy.runpod.net""#,
            "cloud.runpod.http_port: expected a port number 1–65535, got 0",
            "cloud.runpod.ice_tcp_port: expected a port number 1–4294967295, got 5000000000",
            "cloud.runpod.max_hourly_usd: expected a positive number of US dollars, got 0",
        ]
    );
}

#[test]
fn enum_values_outside_the_list_are_refused() {
    let list = problems(
        r#"{
            "video": {"fallback": "grey"},
            "servers": {"video": {"backend": "onnx", "device": "gpu"},
                        "audio": {"device": "cuda:x"}},
            "cloud": {"runpod": {"cloud_type": "secure"}}
        }"#,
    );
    assert_eq!(
        list,
        [
            r#"video.fallback: expected one of "last_frame", "card", got "grey""#,
            r#"servers.video.backend: expected one of "auto", "ort", "tract", got "onnx""#,
            r#"servers.video.device: expected "auto", "cpu" or a device such as "cuda:0", got "gpu""#,
            r#"servers.audio.device: expected "auto", "cpu" or a device such as "cuda:0", got "cuda:x""#,
            r#"cloud.runpod.cloud_type: expected one of "SECURE", "COMMUNITY", "any", got "secure""#,
        ]
    );
}

#[test]
fn frame_sizes_must_be_even_and_in_range() {
    assert_eq!(
        only_problem(r#"{"video": {"width": 1281}}"#),
        "video.width: expected an even number of pixels (I420 video), got 1281"
    );
    assert_eq!(
        problems(r#"{"video": {"width": 8, "height": 5000}}"#),
        [
            "video.width: expected from 16 to 7680 pixels, got 8",
            "video.height: expected from 16 to 4320 pixels, got 5000",
        ]
    );
}

#[test]
fn max_backoff_below_initial_is_reported_on_max() {
    assert_eq!(
        only_problem(
            r#"{"servers": {"restart": {"initial_backoff_ms": 1000, "max_backoff_ms": 100}}}"#
        ),
        "servers.restart.max_backoff_ms: expected at least initial_backoff_ms (1000), got 100"
    );
}

#[test]
fn array_elements_are_checked_one_by_one() {
    assert_eq!(
        problems(r#"{"cloud": {"runpod": {"gpu_types": ["NVIDIA L4", "", 5]}}}"#),
        [
            r#"cloud.runpod.gpu_types[1]: expected a non-empty string, got """#,
            "cloud.runpod.gpu_types[2]: expected a non-empty string, got 5",
        ]
    );
    assert_eq!(
        only_problem(r#"{"cloud": {"runpod": {"gpu_types": []}}}"#),
        "cloud.runpod.gpu_types: expected a non-empty array of GPU type names, got []"
    );
}

#[test]
fn null_for_a_required_key_is_refused() {
    assert_eq!(
        only_problem(r#"{"video": {"width": null}}"#),
        "video.width: expected a positive integer, got null"
    );
}

#[test]
fn a_section_that_is_not_an_object_is_refused() {
    assert_eq!(
        only_problem(r#"{"video": 5}"#),
        "video: expected an object, got 5"
    );
    assert_eq!(
        only_problem(r#"{"servers": {"restart": [250, 8000]}}"#),
        "servers.restart: expected an object, got [250,8000]"
    );
    assert_eq!(
        only_problem(r#"{"models": {"x": 3}}"#),
        "models.x: expected an object, got 3"
    );
    assert_eq!(
        only_problem(r#"{"voices": null}"#),
        "voices: expected an object of entries by id, got null"
    );
}

#[test]
fn secrets_are_refused_at_any_depth_and_never_echoed() {
    let err = load(
        r#"{
            "cloud": {"runpod": {"api_key": "rp_SECRETVALUE"}},
            "models": {"hub": {"role": "audio", "required": false, "file": "hub.onnx",
                "urls": ["https://hub.example/hub.onnx"], "sha256": null, "bytes": null,
                "license": "MIT", "HF_Token": "hf_SECRETVALUE"}},
            "voices": {"password": "SECRETVALUE"},
            "extras": {"list": [{"client_secret": "SECRETVALUE"}]}
        }"#,
    )
    .expect_err("secrets are refused");
    let lines: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "extras: unknown key (expected one of: video, audio, servers, models, voices, cloud, talk, face, limits)",
            "extras.list[0].client_secret: secrets do not belong in config files; remove it and supply it through an environment variable or the app's key store",
            "models.hub.HF_Token: secrets do not belong in config files; remove it and supply it through an environment variable or the app's key store",
            "voices.password: secrets do not belong in config files; remove it and supply it through an environment variable or the app's key store",
            "cloud.runpod.api_key: secrets do not belong in config files; set RUNPOD_API_KEY or use the app's key store",
        ]
    );
    assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = load(
        r#"{"video": {"fps": "thirty", "width": 1281}, "talk": {"key": ""}, "audio": {"chanels": 1}}"#,
    )
    .expect_err("three bad values and a misspelt key");
    assert_eq!(err.problems.len(), 4);
    assert_eq!(
        err.problems[0],
        ConfigProblem {
            path: "video.width".to_owned(),
            reason: "expected an even number of pixels (I420 video), got 1281".to_owned(),
        }
    );
    assert_eq!(
        err.to_string(),
        "user.json has 4 problem(s):\n\
         \x20 video.width: expected an even number of pixels (I420 video), got 1281\n\
         \x20 video.fps: expected a positive integer, got \"thirty\"\n\
         \x20 audio.chanels: unknown key (expected one of: sample_rate, channels, frame_ms)\n\
         \x20 talk.key: expected a non-empty string, got \"\"\n"
    );
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(200);
    let line = only_problem(&format!(r#"{{"video": {{"fps": "{long}"}}}}"#));
    assert!(line.ends_with('…'), "{line}");
    assert!(line.len() < 120, "{line}");
}

#[test]
fn secret_key_names() {
    for name in [
        "api_key",
        "RUNPOD_API_KEY",
        "apiKey",
        "hf_token",
        "Secret",
        "password",
    ] {
        assert!(is_secret_key_name(name), "{name}");
    }
    for name in ["key", "host", "device", "api_url", "keyboard"] {
        assert!(!is_secret_key_name(name), "{name}");
    }
}

#[test]
fn cloud_keys_follow_runpods_rules() {
    let list = problems(
        r#"{"cloud": {"runpod": {"cloud_type": "ALL", "volume_gb": 5,
                                 "max_lifetime_hours": 0, "min_cuda_version": "12"}}}"#,
    );
    assert_eq!(
        list,
        [
            r#"cloud.runpod.cloud_type: expected one of "SECURE", "COMMUNITY", "any", got "ALL""#,
            "cloud.runpod.volume_gb: expected 0 (no volume) or at least 10 (RunPod's smallest volume), got 5",
            "cloud.runpod.max_lifetime_hours: expected a positive integer, got 0",
            r#"cloud.runpod.min_cuda_version: expected a CUDA version as major.minor, such as "12.4", got "12""#,
        ]
    );
    let c =
        load(r#"{"cloud": {"runpod": {"cloud_type": "COMMUNITY", "min_cuda_version": "12.11"}}}"#)
            .expect("valid");
    assert_eq!(c.cloud.runpod.cloud_type.clouds(), ["COMMUNITY"]);
    assert_eq!(c.cloud.runpod.min_cuda_version, "12.11");
}

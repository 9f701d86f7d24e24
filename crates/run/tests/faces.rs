//! A video server without face models, asked by the run to fetch them (`studio run --face
//! PHOTO --fetch-models` on pods): `POST /v1/models/{id}` for each, progress on its status, and
//! the face worn once its engine has loaded them; with the occlusion and region masks on,
//! their models too, and the chosen face enhancer's, which the running engine takes up when
//! they arrive. The models come from a loopback file server.

#[path = "../../models/tests/support/file_server.rs"]
mod file_server;
mod support;

use file_server::FileServer;
use std::path::Path;
use std::sync::Arc;
use studio_client::ServerClient;
use studio_proto::Role;
use studio_proto::api::{ModelState, error_code};
use studio_proto::config::{FACE_MODEL_IDS, OCCLUSION_MODEL_ID, PARSER_MODEL_ID};

/// The face enhancer the masks' test also turns on (its stand-in is the smallest).
const ENHANCER: &str = "gpen_bfr_256";
use studio_proto::control::Control;
use studio_run::controls::LiveControls;
use studio_run::faces::{FacePhoto, wear};

const TOKEN: &str = "faces-test-token";

/// A video server whose face model entries (and the mask models') point at `files`, with an
/// empty cache.
fn video_server(dir: &Path, files: &FileServer) -> support::ServerProcess {
    let mut models = support::standin_face_model_entries(|name, bytes| {
        files.serve(name, bytes);
        files.url(name)
    });
    for id in [OCCLUSION_MODEL_ID, PARSER_MODEL_ID, ENHANCER] {
        let file = format!("{id}.onnx");
        let model = std::fs::read(support::standin_models().join(&file)).unwrap();
        let sha: String = <sha2::Sha256 as sha2::Digest>::digest(&model)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let bytes = model.len();
        files.serve(&file, model);
        models.insert(
            id.into(),
            serde_json::json!({
                "role": "video", "required": false, "file": file,
                "urls": [files.url(&file)], "sha256": sha, "bytes": bytes,
                "license": "a stand-in"
            }),
        );
    }
    let config = dir.join("config.json");
    let user = serde_json::json!({"servers": {"video": {"backend": "tract"}}, "models": models});
    std::fs::write(&config, user.to_string()).unwrap();
    support::start_server(&["--role", "video", "--port", "0"], TOKEN, |command| {
        command
            .arg("--config")
            .arg(&config)
            .env("STUDIO_CACHE_DIR", dir.join("cache"))
            .env_remove("STUDIO_FACE_MODELS")
    })
}

fn photo(dir: &Path) -> FacePhoto {
    let face = studio_face::standin::textured(320, 240, 7);
    let path = dir.join("me.png");
    image::RgbImage::from_raw(face.width(), face.height(), face.data().to_vec())
        .unwrap()
        .save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    FacePhoto::load(&path).unwrap()
}

#[tokio::test]
async fn a_server_without_face_models_fetches_them_when_asked_and_the_face_is_worn() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = video_server(dir.path(), &files);
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let photo = photo(dir.path());
    let controls = Arc::new(LiveControls::default());

    // Without leave to fetch, the refusal comes back with the server's reason.
    let refused = wear(&client, &photo, &controls, false).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("not on this server yet"),
        "{refused:#}"
    );
    let code = refused
        .downcast_ref::<studio_client::ClientError>()
        .and_then(|e| e.code());
    assert_eq!(code, Some(error_code::FACE_MODELS_MISSING), "{refused:#}");
    assert!(
        FACE_MODEL_IDS
            .iter()
            .all(|id| files.requests(&format!("{id}.onnx")).is_empty())
    );

    let face_id = wear(&client, &photo, &controls, true).await.unwrap();
    assert!(!face_id.is_empty());
    let status = client.status().await.unwrap();
    for id in FACE_MODEL_IDS {
        let model = status.models.iter().find(|m| m.id == id).unwrap();
        assert_eq!(model.state, ModelState::Ready, "{id}");
        assert_eq!(files.requests(&format!("{id}.onnx")).len(), 1, "{id}");
    }
    assert!(status.engine.contains("ready"), "{}", status.engine);
}

#[tokio::test]
async fn with_the_masks_on_their_models_are_fetched_and_taken_up() {
    let files = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = video_server(dir.path(), &files);
    let client = ServerClient::new(&server.url, TOKEN).unwrap();
    let photo = photo(dir.path());
    let controls = Arc::new(LiveControls::default());
    controls.set(Role::Video, Control::Occlusion { on: true });
    controls.set(Role::Video, Control::RegionMask { on: true });
    controls.set(
        Role::Video,
        Control::Enhancer {
            model: Some(ENHANCER.into()),
        },
    );

    wear(&client, &photo, &controls, true).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        let status = client.status().await.unwrap();
        let both = status.engine.contains("occluder") && status.engine.contains("parser");
        if both && status.engine.contains(ENHANCER) || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        status.engine.contains("occluder tract") && status.engine.contains("parser tract"),
        "{}",
        status.engine
    );
    assert!(
        status
            .engine
            .contains(&format!("enhancer {ENHANCER} tract")),
        "{}",
        status.engine
    );
    assert!(!status.engine.contains("waits"), "{}", status.engine);
    for id in [OCCLUSION_MODEL_ID, PARSER_MODEL_ID, ENHANCER] {
        let model = status.models.iter().find(|m| m.id == id);
        assert_eq!(model.map(|m| m.state), Some(ModelState::Ready), "{id}");
        assert_eq!(files.requests(&format!("{id}.onnx")).len(), 1, "{id}");
    }
}

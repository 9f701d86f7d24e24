//! Inputs that are devices, opened from their specs: what a person sees when the one named is
//! not there.

use studio_devices::inputs::open_audio;
use studio_media::input::AudioInput;

#[test]
fn a_microphone_that_is_not_there_is_a_clear_error() {
    let err = open_audio(
        &AudioInput::Microphone(Some("no such microphone 7f3a".into())),
        48_000,
    )
    .err()
    .unwrap()
    .to_string();
    // Either the sound system lists devices and none matches, or it has none at all.
    assert!(
        err.contains("no microphone called \"no such microphone 7f3a\"")
            || err.contains("sound system did not answer"),
        "{err}"
    );
    assert!(
        err.contains("studio devices") || err.contains("sound server"),
        "{err}"
    );
}

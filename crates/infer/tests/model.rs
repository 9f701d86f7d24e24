//! The model API on real ONNX files (the voice engine's committed stand-ins): what a file
//! declares, running it on tract, and on ONNX Runtime where one is installed
//! (`ORT_DYLIB_PATH`, as CI sets it from the `onnxruntime` wheel).

use std::path::{Path, PathBuf};
use studio_infer::{
    BackendChoice, Dim, ElementType, Model, ModelOptions, Tensor, find_onnxruntime,
};

fn standin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../voice/tests/models")
        .join(name)
}

fn options(backend: BackendChoice) -> ModelOptions {
    ModelOptions {
        backend,
        device: "cpu".into(),
        ..Default::default()
    }
}

fn synth_inputs(t: usize) -> Vec<(String, Tensor)> {
    vec![
        (
            "feats".into(),
            Tensor::f32(&[1, t, 768], vec![0.1; t * 768]).unwrap(),
        ),
        ("p_len".into(), Tensor::i64(&[1], vec![t as i64]).unwrap()),
        ("pitch".into(), Tensor::i64(&[1, t], vec![60; t]).unwrap()),
        (
            "pitchf".into(),
            Tensor::f32(&[1, t], vec![220.0; t]).unwrap(),
        ),
        ("sid".into(), Tensor::i64(&[1], vec![0]).unwrap()),
    ]
}

#[test]
fn inputs_outputs_and_metadata_are_read_from_the_file() {
    let m = Model::load(
        &standin("synth_wokada_48k.onnx"),
        &options(BackendChoice::Tract),
    )
    .unwrap();
    let names: Vec<&str> = m.info().inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["feats", "p_len", "pitch", "pitchf", "sid"]);
    let feats = m.info().input("feats").unwrap();
    assert_eq!(feats.element_type, ElementType::F32);
    assert_eq!(
        feats.shape,
        vec![Dim::Fixed(1), Dim::Symbolic("T".into()), Dim::Fixed(768)]
    );
    assert_eq!(
        m.info().input("pitch").unwrap().element_type,
        ElementType::I64
    );
    assert_eq!(m.info().outputs[0].name, "audio");
    assert!(m.info().metadata["metadata"].contains("\"samplingRate\": 48000"));
    assert_eq!(m.backend().backend, "tract");
}

#[test]
fn initializers_are_readable() {
    let m = Model::load(&standin("contentvec.onnx"), &options(BackendChoice::Tract)).unwrap();
    let name = m.info().initializer_names[0].clone();
    let t = m.initializer(&name).unwrap().unwrap();
    assert!(!t.shape().is_empty());
    assert!(m.initializer("no-such-weight").unwrap().is_none());
}

#[test]
fn tract_runs_the_synthesizer_with_f32_and_i64_inputs() {
    let mut m = Model::load(
        &standin("synth_wokada_48k.onnx"),
        &options(BackendChoice::Tract),
    )
    .unwrap();
    let out = m.run_one(synth_inputs(20), Some("audio")).unwrap();
    assert_eq!(out.shape(), &[1, 1, 20 * 480]);
    assert!(out.to_f32().iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    // f16 input is converted to what the model declares.
    let mut inputs = synth_inputs(20);
    inputs[0].1 = Tensor::f32(&[1, 20, 768], vec![0.1; 20 * 768])
        .unwrap()
        .cast_float(ElementType::F16);
    assert_eq!(m.run_one(inputs, None).unwrap().shape(), &[1, 1, 9600]);
}

#[test]
fn wrong_inputs_and_files_are_clear_errors() {
    let mut m = Model::load(
        &standin("synth_wokada_48k.onnx"),
        &options(BackendChoice::Tract),
    )
    .unwrap();
    let mut inputs = synth_inputs(10);
    inputs.push(("bogus".into(), Tensor::f32(&[1], vec![0.0]).unwrap()));
    let err = m.run(inputs).unwrap_err().to_string();
    assert!(
        err.contains("bogus") && err.contains("no such input"),
        "{err}"
    );
    let err = Model::load(
        Path::new("/nonexistent/x.onnx"),
        &options(BackendChoice::Tract),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("no such file"), "{err}");
    assert!(Tensor::f32(&[2, 2], vec![0.0; 3]).is_err());
}

#[test]
fn the_runtime_search_says_where_it_looked() {
    let search = find_onnxruntime(Some(Path::new("/nonexistent/libonnxruntime.so")));
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        assert!(
            search
                .tried
                .iter()
                .any(|t| t.starts_with("config: /nonexistent"))
        );
        assert!(
            search
                .tried
                .iter()
                .any(|t| t.starts_with("beside the executable"))
        );
    }
}

#[test]
fn onnx_runtime_and_tract_agree_where_a_runtime_is_installed() {
    let Some(lib) = std::env::var_os("ORT_DYLIB_PATH") else {
        eprintln!("ORT_DYLIB_PATH not set: the ort backend is not exercised here");
        return;
    };
    assert!(Path::new(&lib).is_file(), "ORT_DYLIB_PATH names no file");
    let mut ort = Model::load(
        &standin("synth_wokada_48k.onnx"),
        &options(BackendChoice::Ort),
    )
    .unwrap();
    assert_eq!(ort.backend().backend, "ort");
    assert_eq!(ort.backend().device, "cpu");
    let mut tract = Model::load(
        &standin("synth_wokada_48k.onnx"),
        &options(BackendChoice::Tract),
    )
    .unwrap();
    let a = ort.run_one(synth_inputs(20), None).unwrap().to_f32();
    let b = tract.run_one(synth_inputs(20), None).unwrap().to_f32();
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "backends differ by {worst}");
    // `auto` takes the runtime when it is found.
    let auto = Model::load(&standin("contentvec.onnx"), &options(BackendChoice::Auto)).unwrap();
    assert_eq!(auto.backend().backend, "ort");
    assert!(auto.backend().reason.contains("ORT_DYLIB_PATH"));
}

/// A graph built by code runs from its bytes on tract and, where a runtime is installed, on
/// ONNX Runtime, with the arithmetic it was written with (integers included).
#[test]
fn a_built_graph_runs_from_its_bytes() {
    use studio_infer::{GraphBuilder, onnx_type};
    let mut g = GraphBuilder::new("affine", 17);
    let x = g.input("x", ElementType::F32, &[2, 3]);
    let (two, one) = (g.f32(2.0), g.f32(1.0));
    let y = g.mul(&x, &two);
    let y = g.add(&y, &one);
    g.output(&y, "y", ElementType::F32, &[2, 3]);
    // floor(x / 4) in int32, back to f32.
    let i = g.cast(&x, onnx_type::INT32);
    let four = g.i32(4);
    let q = g.div(&i, &four);
    let q = g.cast(&q, onnx_type::FLOAT);
    g.output(&q, "quarter", ElementType::F32, &[2, 3]);
    let b = g.cast(&x, onnx_type::UINT8);
    g.output(&b, "bytes", ElementType::U8, &[2, 3]);
    let bytes = g.to_bytes();
    let mut backends = vec![BackendChoice::Tract];
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        backends.push(BackendChoice::Ort);
    }
    for backend in backends {
        let mut m = Model::load_bytes("affine", bytes.clone(), &options(backend)).unwrap();
        assert_eq!(m.path(), Path::new("affine"));
        let names: Vec<&str> = m.info().outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["y", "quarter", "bytes"]);
        let x = Tensor::f32(&[2, 3], vec![0.0, 1.0, 2.5, 7.0, 8.0, 255.0]).unwrap();
        let out = m.run(vec![("x".into(), x)]).unwrap();
        assert_eq!(out[0].1.to_f32(), [1.0, 3.0, 6.0, 15.0, 17.0, 511.0]);
        assert_eq!(out[1].1.to_f32(), [0.0, 0.0, 0.0, 1.0, 2.0, 63.0]);
        assert_eq!(
            out[2].1,
            Tensor::u8(&[2, 3], vec![0, 1, 2, 7, 8, 255]).unwrap()
        );
    }
    let broken = Model::load_bytes("broken", vec![0xff; 16], &options(BackendChoice::Tract));
    assert!(
        broken
            .err()
            .is_some_and(|e| e.to_string().contains("broken")),
        "garbage bytes load"
    );
}

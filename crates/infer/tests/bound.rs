//! Bound runs (`Model::bind`, `Model::run_bound`) against plain runs of the same model: the
//! same answers on tract always and on ONNX Runtime's CPU provider where one is installed
//! (`ORT_DYLIB_PATH`, as CI sets it from the `onnxruntime` wheel); fresh answers after the
//! inputs change; clear errors for a wrong write or an unknown name.

use std::path::{Path, PathBuf};
use studio_infer::{BackendChoice, ElementType, GraphBuilder, Model, ModelOptions, Tensor};

fn options(backend: BackendChoice) -> ModelOptions {
    ModelOptions {
        backend,
        device: "cpu".into(),
        ..Default::default()
    }
}

fn backends() -> Vec<BackendChoice> {
    let mut backends = vec![BackendChoice::Tract];
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        backends.push(BackendChoice::Ort);
    } else {
        eprintln!("ORT_DYLIB_PATH not set: the ort backend is not exercised here");
    }
    backends
}

/// `y = x · w + b` on a `[1, 3, 4, 4]` image (w and b per channel), `s = sum(x)` over the
/// spatial axes, and `k = x > 0` as 8-bit; an `i64` offset added to `s`.
fn affine_graph() -> Vec<u8> {
    let mut g = GraphBuilder::new("bound", 17);
    let x = g.input("x", ElementType::F32, &[1, 3, 4, 4]);
    let w = g.input("w", ElementType::F32, &[1, 3, 1, 1]);
    let offset = g.input("offset", ElementType::I64, &[1]);
    let b = g.f32(0.5);
    let y = g.mul(&x, &w);
    let y = g.add(&y, &b);
    g.output(&y, "y", ElementType::F32, &[1, 3, 4, 4]);
    let axes = g.i64s(&[2], vec![2, 3]);
    let s = g.node(
        "ReduceSum",
        &[&x, &axes],
        &[studio_infer::Attr::Int("keepdims", 0)],
    );
    let offset = g.cast(&offset, studio_infer::onnx_type::FLOAT);
    let s = g.add(&s, &offset);
    g.output(&s, "s", ElementType::F32, &[1, 3]);
    g.to_bytes()
}

fn run_plain(model: &mut Model, x: &[f32], w: &[f32], offset: i64) -> (Vec<f32>, Vec<f32>) {
    let out = model
        .run(vec![
            ("x".into(), Tensor::f32(&[1, 3, 4, 4], x.to_vec()).unwrap()),
            ("w".into(), Tensor::f32(&[1, 3, 1, 1], w.to_vec()).unwrap()),
            ("offset".into(), Tensor::i64(&[1], vec![offset]).unwrap()),
        ])
        .unwrap();
    (out[0].1.to_f32(), out[1].1.to_f32())
}

fn image(seed: f32) -> Vec<f32> {
    (0..48)
        .map(|i| (i as f32 * 0.37 + seed).sin() * 3.0)
        .collect()
}

#[test]
fn bound_and_plain_runs_agree_and_follow_changed_inputs() {
    let bytes = affine_graph();
    for backend in backends() {
        let mut model = Model::load_bytes("bound", bytes.clone(), &options(backend)).unwrap();
        let mut io = model.bind(&[]).unwrap();
        let (name, placement) = match backend {
            BackendChoice::Ort => ("ort", "host memory"),
            _ => (
                "tract",
                "host memory, copied into tract's tensors at each run",
            ),
        };
        assert_eq!(model.backend().backend, name);
        assert_eq!(io.placement(), placement);
        for (seed, w, offset) in [(0.0, [1.0, 2.0, -1.0], 0), (1.5, [0.5, 0.0, 3.0], 7)] {
            let x = image(seed);
            io.input_f32("x").unwrap().copy_from_slice(&x);
            io.write_f32("w", &w).unwrap();
            io.input_i64("offset").unwrap()[0] = offset;
            model.run_bound(&mut io).unwrap();
            let (y, s) = run_plain(&mut model, &x, &w, offset);
            assert_eq!(io.output_f32("y").unwrap(), y.as_slice(), "{backend:?}");
            assert_eq!(io.output_f32("s").unwrap(), s.as_slice(), "{backend:?}");
            assert_eq!(io.output_shape("y").unwrap(), [1, 3, 4, 4]);
            // The answer is the new input's, not the last run's.
            assert_eq!(io.output_f32("y").unwrap()[0], x[0] * w[0] + 0.5);
        }
        // Only part of an input rewritten: the rest keeps what was written before.
        io.input_f32("x").unwrap()[0] = 100.0;
        model.run_bound(&mut io).unwrap();
        let mut x = image(1.5);
        x[0] = 100.0;
        let (y, _) = run_plain(&mut model, &x, &[0.5, 0.0, 3.0], 7);
        assert_eq!(io.output_f32("y").unwrap(), y.as_slice(), "{backend:?}");
    }
}

fn standin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../voice/tests/models")
        .join(name)
}

/// A model with a dynamic axis (the voice synthesizer's frames) binds at the shapes the
/// caller gives, and its output, whose length the graph does not fix, is read in place after
/// each run, equal to a plain run's.
#[test]
fn dynamic_inputs_bind_at_the_given_shape() {
    let path = standin("synth_wokada_48k.onnx");
    for backend in backends() {
        let mut model = Model::load(&path, &options(backend)).unwrap();
        let err = model.bind(&[]).err().unwrap().to_string();
        assert!(
            err.contains("\"feats\"") && err.contains("not fixed"),
            "{err}"
        );
        let err = model
            .bind(&[("feats", &[1, 20, 512])])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not fit"), "{err}");
        let t = 20;
        let mut io = model
            .bind(&[
                ("feats", &[1, t, 768]),
                ("p_len", &[1]),
                ("pitch", &[1, t]),
                ("pitchf", &[1, t]),
                ("sid", &[1]),
            ])
            .unwrap();
        for k in 0..2 {
            let feats: Vec<f32> = (0..t * 768)
                .map(|i| ((i + k) as f32 * 0.01).sin() * 0.1)
                .collect();
            let pitch = vec![50 + k as i64 * 10; t];
            let pitchf = vec![200.0 + k as f32 * 40.0; t];
            io.write_f32("feats", &feats).unwrap();
            io.write_i64("p_len", &[t as i64]).unwrap();
            io.write_i64("pitch", &pitch).unwrap();
            io.write_f32("pitchf", &pitchf).unwrap();
            io.write_i64("sid", &[0]).unwrap();
            model.run_bound(&mut io).unwrap();
            let plain = model
                .run_one(
                    vec![
                        ("feats".into(), Tensor::f32(&[1, t, 768], feats).unwrap()),
                        ("p_len".into(), Tensor::i64(&[1], vec![t as i64]).unwrap()),
                        ("pitch".into(), Tensor::i64(&[1, t], pitch).unwrap()),
                        ("pitchf".into(), Tensor::f32(&[1, t], pitchf).unwrap()),
                        ("sid".into(), Tensor::i64(&[1], vec![0]).unwrap()),
                    ],
                    Some("audio"),
                )
                .unwrap();
            assert_eq!(io.output_shape("audio").unwrap(), plain.shape());
            assert_eq!(
                io.output_f32("audio").unwrap(),
                plain.to_f32(),
                "{backend:?}"
            );
        }
    }
}

#[test]
fn wrong_writes_and_names_are_clear_errors() {
    let bytes = affine_graph();
    for backend in backends() {
        let mut model = Model::load_bytes("bound", bytes.clone(), &options(backend)).unwrap();
        let err = model.bind(&[("bogus", &[1])]).err().unwrap().to_string();
        assert!(
            err.contains("bogus") && err.contains("no such input"),
            "{err}"
        );
        let mut io = model.bind(&[]).unwrap();
        let err = io.write_f32("x", &[0.0; 47]).unwrap_err().to_string();
        assert!(err.contains("47") && err.contains("48"), "{err}");
        let err = io.input_f32("nope").unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("no such input"),
            "{err}"
        );
        let err = io.input_f32("offset").unwrap_err().to_string();
        assert!(err.contains("not f32"), "{err}");
        let err = io.output_f32("y").unwrap_err().to_string();
        assert!(err.contains("before the first run"), "{err}");
        model.run_bound(&mut io).unwrap();
        let err = io.output_f32("z").unwrap_err().to_string();
        assert!(err.contains("no output \"z\""), "{err}");
        // A binding runs only on the model that made it.
        let mut other = Model::load_bytes("bound", bytes.clone(), &options(backend)).unwrap();
        let err = other.run_bound(&mut io).unwrap_err().to_string();
        assert!(err.contains("another model"), "{err}");
    }
}

/// A half-precision input and output are written and read as `f32`, as plain runs take them.
#[test]
fn half_precision_slots_are_written_and_read_as_f32() {
    let mut g = GraphBuilder::new("half", 17);
    let x = g.input("x", ElementType::F16, &[1, 4]);
    let y = g.add(&x, &x);
    g.output(&y, "y", ElementType::F16, &[1, 4]);
    let bytes = g.to_bytes();
    for backend in backends() {
        let mut model = Model::load_bytes("half", bytes.clone(), &options(backend)).unwrap();
        let mut io = model.bind(&[]).unwrap();
        io.write_f32("x", &[0.5, 1.0, -2.0, 3.25]).unwrap();
        model.run_bound(&mut io).unwrap();
        assert_eq!(io.output_f32("y").unwrap(), [1.0, 2.0, -4.0, 6.5]);
        let plain = model
            .run_one(
                vec![(
                    "x".into(),
                    Tensor::f32(&[1, 4], vec![0.5, 1.0, -2.0, 3.25]).unwrap(),
                )],
                None,
            )
            .unwrap();
        assert_eq!(plain.to_f32(), io.output_f32("y").unwrap());
    }
}

/// CUDA graphs asked for where there is no CUDA provider: the model binds as it would
/// without them, gives the same answers, and says why it runs without them.
#[test]
fn cuda_graphs_asked_for_on_the_cpu_fall_back_and_say_why() {
    let bytes = affine_graph();
    for backend in backends() {
        let graphs = ModelOptions {
            cuda_graphs: true,
            ..options(backend)
        };
        let mut model = Model::load_bytes("bound", bytes.clone(), &graphs).unwrap();
        let mut io = model.bind(&[]).unwrap();
        assert!(
            io.placement().contains("CUDA graphs not used"),
            "{backend:?}: {}",
            io.placement()
        );
        let x = image(0.25);
        io.write_f32("x", &x).unwrap();
        io.write_f32("w", &[1.0, -1.0, 0.5]).unwrap();
        io.write_i64("offset", &[3]).unwrap();
        model.run_bound(&mut io).unwrap();
        // Plain runs still work on a model that is not replaying graphs.
        let (y, s) = run_plain(&mut model, &x, &[1.0, -1.0, 0.5], 3);
        assert_eq!(io.output_f32("y").unwrap(), y.as_slice());
        assert_eq!(io.output_f32("s").unwrap(), s.as_slice());
    }
}

/// A binding kept per shape set: asked for the same shapes it is the same buffers (what was
/// written stays), asked for others it is bound anew, and each gives a plain run's answer.
#[test]
fn a_shaped_binding_follows_the_shapes_asked_for() {
    use studio_infer::ShapedBinding;
    let path = standin("synth_wokada_48k.onnx");
    for backend in backends() {
        let mut model = Model::load(&path, &options(backend)).unwrap();
        let mut shaped = ShapedBinding::new();
        for (step, t) in [10usize, 10, 16, 10].into_iter().enumerate() {
            let shapes: [(&str, &[usize]); 5] = [
                ("feats", &[1, t, 768]),
                ("p_len", &[1]),
                ("pitch", &[1, t]),
                ("pitchf", &[1, t]),
                ("sid", &[1]),
            ];
            let io = shaped.at(&mut model, &shapes).unwrap();
            if step == 1 {
                // The same shapes as before: the same buffers, still holding the last window.
                assert!(io.input_f32("pitchf").unwrap().iter().all(|&f| f == 200.0));
            }
            let feats: Vec<f32> = (0..t * 768)
                .map(|i| (i as f32 * 0.003).cos() * 0.1)
                .collect();
            io.write_f32("feats", &feats).unwrap();
            io.write_i64("p_len", &[t as i64]).unwrap();
            io.write_i64("pitch", &vec![60; t]).unwrap();
            io.write_f32("pitchf", &vec![200.0; t]).unwrap();
            io.write_i64("sid", &[0]).unwrap();
            model.run_bound(io).unwrap();
            let got = io.output_f32("audio").unwrap().to_vec();
            let plain = model
                .run_one(
                    vec![
                        ("feats".into(), Tensor::f32(&[1, t, 768], feats).unwrap()),
                        ("p_len".into(), Tensor::i64(&[1], vec![t as i64]).unwrap()),
                        ("pitch".into(), Tensor::i64(&[1, t], vec![60; t]).unwrap()),
                        (
                            "pitchf".into(),
                            Tensor::f32(&[1, t], vec![200.0; t]).unwrap(),
                        ),
                        ("sid".into(), Tensor::i64(&[1], vec![0]).unwrap()),
                    ],
                    Some("audio"),
                )
                .unwrap();
            assert_eq!(got, plain.to_f32(), "{backend:?} at {t} frames");
        }
    }
}

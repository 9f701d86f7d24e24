#!/usr/bin/env python3
"""Golden vectors for the face enhancer (crates/face/src/enhance.rs), produced by FaceFusion's
own `face_enhancer.core.enhance_face`.

The network is replaced by a fixed answer: `forward` is patched to record what FaceFusion
feeds the model and to hand back `1.25 * input + pattern` (float32; the pattern steps through
multiples of 0.05 from -0.25 to 0.25, so the answer leaves [-1, 1] where the crop is bright or
dark and FaceFusion's clip is exercised). Every other number written here comes from
FaceFusion's code: the crop (`warp_face_by_face_landmark_5`: `estimateAffinePartial2D` to the
model's template, `warpAffine` with a replicated border), the box mask (`create_box_mask` with
the default blur 0.3 and no padding), the input (BGR to RGB, /255, (x - 0.5) / 0.5, NCHW), the
output's clip, scale and rounding, `paste_back` and `blend_paste_frame` (`face_enhancer_blend`
80 and 30). FaceFusion works in BGR; the frames written here are BGR. Writes little-endian
binaries and `enhance.json` to crates/face/tests/golden/.

    git clone https://github.com/facefusion/facefusion /tmp/facefusion
    git -C /tmp/facefusion checkout 33cc6b40a4a538023e12893a0439ce5062e56e36
    python3 -m venv .venv && .venv/bin/pip install numpy==2.4.6 opencv-python-headless==5.0.0.93 \
        onnxruntime tqdm
    .venv/bin/python tools/golden/enhance_golden.py --facefusion /tmp/facefusion
"""

import argparse
import json
import os
import sys
from types import SimpleNamespace

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "face", "tests", "golden")
FACEFUSION_COMMIT = "33cc6b40a4a538023e12893a0439ce5062e56e36"
W, H = 240, 200


def frame_bgr(rng):
    """A textured picture with a bright and a dark patch where the face is."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.stack(
        [
            110 + 50 * np.sin(x / 7.0) * np.cos(y / 9.0),
            140 + 40 * np.cos((x + y) / 11.0),
            170 - 0.3 * x + 0.2 * y,
        ],
        axis=-1,
    )
    img += rng.normal(0, 8, img.shape)
    img[70:95, 90:130] = (250, 252, 255)
    img[120:140, 100:150] = (4, 2, 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def pattern(size):
    """The answer's offset: ((7x + 3y + c) mod 11 - 5) * 0.05 per channel c, row y, column x."""
    c, y, x = np.mgrid[0:3, 0:size, 0:size]
    return (((7 * x + 3 * y + c) % 11 - 5).astype(np.float32) * np.float32(0.05))[None]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facefusion", required=True, help=f"a FaceFusion checkout (made at {FACEFUSION_COMMIT})")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.facefusion))
    import cv2
    from facefusion import state_manager
    from facefusion.face_masker import create_box_mask
    import facefusion.processors.modules.face_enhancer.core as core

    state_manager.init_item("download_providers", [])  # no network: only the models' options are read
    state_manager.init_item("face_mask_blur", 0.3)
    state_manager.init_item("face_mask_types", ["box"])
    state_manager.init_item("face_enhancer_weight", 0.5)
    rng = np.random.default_rng(14)
    frame = frame_bgr(rng)
    # A face turned by 12 degrees: landmarks of the ffhq template placed 120 pixels wide.
    template = np.array([[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
                         [0.39308822, 0.72541100], [0.61150205, 0.72490465]])
    angle = np.radians(12.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = ((template - 0.5) * 150.0) @ rot.T + np.array([118.0, 96.0])
    landmarks += rng.normal(0, 1.5, landmarks.shape)
    landmarks = landmarks.astype(np.float32)
    face = SimpleNamespace(landmark_set={"5/68": landmarks})
    os.makedirs(OUT, exist_ok=True)
    frame.tofile(os.path.join(OUT, "enhance_frame_bgr.u8"))
    fed = []

    def forward(prepared, weight):
        fed.append(prepared.copy())
        size = prepared.shape[2]
        return (prepared * np.float32(1.25) + pattern(size))[0]

    core.forward = forward
    cases = []
    for model, blend in (("gpen_bfr_256", 80), ("gfpgan_1.4", 80), ("gfpgan_1.4", 30)):
        state_manager.set_item("face_enhancer_model", model)
        state_manager.set_item("face_enhancer_blend", blend)
        options = core.get_model_options()
        size = options["size"][0]
        fed.clear()
        result = core.enhance_face(face, frame.copy())
        assert len(fed) == 1 and fed[0].shape == (1, 3, size, size)
        affine = cv2.estimateAffinePartial2D(
            landmarks, __import__("facefusion.face_helper", fromlist=["x"]).WARP_TEMPLATE_SET[options["template"]] * options["size"],
            method=cv2.RANSAC, ransacReprojThreshold=100)[0]
        tag = f"{model.replace('.', '')}_{blend}"
        names = {"input": f"enhance_{model.replace('.', '')}_input_rgb.u8", "result": f"enhance_{tag}_result_bgr.u8"}
        # The input holds 8-bit levels, normalised: kept as those bytes (RGB, HWC), checked to
        # give back what FaceFusion fed exactly.
        hwc = fed[0][0].transpose(1, 2, 0)
        levels = np.round((hwc * 0.5 + 0.5) * 255.0).astype(np.uint8)
        again = ((levels / 255.0 - 0.5) / 0.5).astype(np.float32)
        assert np.array_equal(again, hwc)
        levels.tofile(os.path.join(OUT, names["input"]))
        result.tofile(os.path.join(OUT, names["result"]))
        cases.append({"model": model, "template": options["template"], "size": size, "blend": blend,
                      "affine": affine.tolist(), **{k: {"file": v} for k, v in names.items()}})
    masks = []
    for size in (256, 512):
        mask = create_box_mask(np.zeros((size, size, 3), np.uint8), 0.3, (0, 0, 0, 0))
        name = f"enhance_box_mask{size}_every8.f32"
        mask[::8].astype(np.float32).tofile(os.path.join(OUT, name))
        masks.append({"size": size, "rows_every": 8, "file": name})
    index = {
        "facefusion_commit": FACEFUSION_COMMIT,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "frame": {"file": "enhance_frame_bgr.u8", "width": W, "height": H},
        "landmarks": landmarks.tolist(),
        "answer": "1.25 * input + ((7x + 3y + c) mod 11 - 5) * 0.05, float32",
        "cases": cases,
        "box_masks": masks,
    }
    with open(os.path.join(OUT, "enhance.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.abspath(OUT)}")


if __name__ == "__main__":
    main()

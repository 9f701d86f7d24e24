#!/usr/bin/env python3
"""Golden vectors for the occlusion mask (crates/face/src/occlusion.rs), produced by
FaceFusion's own `face_masker.create_occlusion_mask`.

The XSeg network is replaced by a fixed tensor: `forward_occlude_face` is patched to record
what FaceFusion feeds the model and to hand back a fixed raw output, so every number written
here comes from FaceFusion's pre- and post-processing code (OpenCV's 8-bit bilinear resize to
256x256, /255 in NHWC (written as the resized bytes); clip, bilinear resize back to the crop, GaussianBlur sigma 5, then
(clip(0.5, 1) - 0.5) * 2). FaceFusion works in BGR throughout; the crops written here are
BGR. Writes little-endian binaries and `occlusion.json` to crates/face/tests/golden/.

    git clone https://github.com/facefusion/facefusion /tmp/facefusion
    git -C /tmp/facefusion checkout 33cc6b40a4a538023e12893a0439ce5062e56e36
    python3 -m venv .venv && .venv/bin/pip install numpy==2.4.6 opencv-python-headless==5.0.0.93 \
        onnxruntime tqdm
    .venv/bin/python tools/golden/occlusion_golden.py --facefusion /tmp/facefusion

(opencv-python-headless 5.0.0.93 is the version FaceFusion's requirements.txt pins.)
"""

import argparse
import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "face", "tests", "golden")
FACEFUSION_COMMIT = "33cc6b40a4a538023e12893a0439ce5062e56e36"


def crop_bgr(size, rng):
    """A face-like texture with a saturated green square (an occluder) over its lower middle."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack(
        [
            110 + 50 * np.sin(x / 5.0) * np.cos(y / 7.0),
            140 + 40 * np.cos((x + y) / 9.0),
            170 + 0.3 * x - 0.2 * y,
        ],
        axis=-1,
    )
    img += rng.normal(0, 5, img.shape)
    a, b = int(size * 0.45), int(size * 0.8)
    img[a:b, int(size * 0.3):int(size * 0.65)] = (0, 255, 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def raw_output(rng):
    """A fixed stand-in for XSeg's output `[0]` (256x256x1): mostly face, a disc and a band of
    "not face", values a little beyond [0, 1] so the clip matters."""
    y, x = np.mgrid[0:256, 0:256].astype(np.float64)
    face = np.ones((256, 256))
    face[(x - 150) ** 2 + (y - 170) ** 2 < 40 ** 2] = 0.0
    face[20:45, :] = 0.3
    face += rng.normal(0, 0.15, face.shape)
    return face.astype(np.float32)[..., None]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facefusion", required=True, help=f"a FaceFusion checkout (made at {FACEFUSION_COMMIT})")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.facefusion))
    import cv2
    import facefusion.face_masker as face_masker
    from facefusion import state_manager

    state_manager.init_item("download_providers", [])  # no network: only the model's size is read
    state_manager.init_item("face_occluder_model", "xseg_1")
    rng = np.random.default_rng(18)
    raw = raw_output(rng)
    fed = []

    def forward(prepared, model_name):
        fed.append(prepared.copy())
        return raw.copy()

    face_masker.forward_occlude_face = forward
    os.makedirs(OUT, exist_ok=True)
    raw.tofile(os.path.join(OUT, "xseg_raw.f32"))
    cases = []
    for size in (128, 96):
        crop = crop_bgr(size, rng)
        fed.clear()
        mask = face_masker.create_occlusion_mask(crop)
        assert len(fed) == 1 and fed[0].shape == (1, 256, 256, 3) and mask.shape == (size, size)
        names = {
            "crop": f"occlusion_crop{size}_bgr.u8",
            "input": f"occlusion_input{size}_nhwc.u8",
            "mask": f"occlusion_mask{size}.f32",
        }
        crop.tofile(os.path.join(OUT, names["crop"]))
        # The input is an 8-bit resize divided by 255: kept as those bytes, checked to be exact.
        levels = np.round(fed[0] * 255.0).astype(np.uint8)
        assert np.array_equal(levels.astype(np.float32) / 255.0, fed[0])
        levels.tofile(os.path.join(OUT, names["input"]))
        mask.astype(np.float32).tofile(os.path.join(OUT, names["mask"]))
        cases.append({"size": size, **{k: {"file": v} for k, v in names.items()}})
    index = {
        "facefusion_commit": FACEFUSION_COMMIT,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "raw": {"file": "xseg_raw.f32", "shape": [256, 256, 1]},
        "cases": cases,
    }
    with open(os.path.join(OUT, "occlusion.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.abspath(OUT)}")


if __name__ == "__main__":
    main()

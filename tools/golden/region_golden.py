#!/usr/bin/env python3
"""Golden vectors for the region mask (crates/face/src/parser.rs), produced by FaceFusion's
own `face_masker.create_region_mask`.

The BiSeNet network is replaced by a fixed answer: `forward_parse_face` is patched to record
what FaceFusion feeds the model and to hand back fixed class scores, so every number written
here comes from FaceFusion's pre- and post-processing code (OpenCV's 8-bit bilinear resize to
512x512, BGR to RGB, /255, less ImageNet's mean, over its spread, NCHW; the best class per
pixel, kept where it is one of the regions, bilinear resize back to the crop, GaussianBlur
sigma 5, then (clip(0.5, 1) - 0.5) * 2) with FaceFusion's default regions (all ten).
FaceFusion works in BGR throughout; the crops written here are BGR. Writes little-endian
binaries and `region.json` to crates/face/tests/golden/.

    git clone https://github.com/facefusion/facefusion /tmp/facefusion
    git -C /tmp/facefusion checkout 33cc6b40a4a538023e12893a0439ce5062e56e36
    python3 -m venv .venv && .venv/bin/pip install numpy==2.4.6 opencv-python-headless==5.0.0.93 \
        onnxruntime tqdm
    .venv/bin/python tools/golden/region_golden.py --facefusion /tmp/facefusion
"""

import argparse
import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "face", "tests", "golden")
FACEFUSION_COMMIT = "33cc6b40a4a538023e12893a0439ce5062e56e36"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def crop_bgr(size, rng):
    """A face-like texture with a band of hair across its top and a blue patch."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack(
        [
            120 + 40 * np.sin(x / 6.0) * np.cos(y / 5.0),
            150 + 30 * np.cos((x - y) / 8.0),
            190 - 0.2 * x + 0.3 * y,
        ],
        axis=-1,
    )
    img += rng.normal(0, 6, img.shape)
    img[: size // 5] = (40, 50, 60)
    img[int(size * 0.5):int(size * 0.7), int(size * 0.6):int(size * 0.9)] = (255, 0, 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def class_map(rng):
    """A fixed parse (512x512 class ids): background at the sides, hair on top, skin with
    eyes, brows, nose, lips and an ear, a neck below, speckled with single-pixel classes."""
    y, x = np.mgrid[0:512, 0:512]
    classes = np.zeros((512, 512), np.uint8)
    face = ((x - 256) / 190.0) ** 2 + ((y - 280) / 230.0) ** 2 < 1
    classes[face] = 1
    classes[(y < 140) & (np.abs(x - 256) < 230)] = 17
    classes[(np.abs(x - 180) < 35) & (np.abs(y - 230) < 12)] = 4
    classes[(np.abs(x - 332) < 35) & (np.abs(y - 230) < 12)] = 5
    classes[(np.abs(x - 180) < 45) & (np.abs(y - 195) < 8)] = 2
    classes[(np.abs(x - 332) < 45) & (np.abs(y - 195) < 8)] = 3
    classes[(np.abs(x - 256) < 25) & (y > 240) & (y < 330)] = 10
    classes[(np.abs(x - 256) < 60) & (np.abs(y - 375) < 10)] = 12
    classes[(np.abs(x - 256) < 55) & (np.abs(y - 395) < 10)] = 13
    classes[(np.abs(x - 470) < 25) & (np.abs(y - 280) < 50)] = 8
    classes[(y > 470) & (np.abs(x - 256) < 120)] = 14
    speckle = rng.random((512, 512)) < 0.01
    classes[speckle] = rng.integers(0, 19, speckle.sum())
    return classes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facefusion", required=True, help=f"a FaceFusion checkout (made at {FACEFUSION_COMMIT})")
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.facefusion))
    import cv2
    import facefusion.choices
    import facefusion.face_masker as face_masker
    from facefusion import state_manager

    state_manager.init_item("download_providers", [])  # no network: only the model's size is read
    state_manager.init_item("face_parser_model", "bisenet_resnet_34")
    rng = np.random.default_rng(34)
    classes = class_map(rng)
    # One-hot scores with noise well under the gap: the best class is the map's.
    scores = (np.eye(19, dtype=np.float32)[classes].transpose(2, 0, 1) * 4.0
              + rng.uniform(0, 1, (19, 512, 512)).astype(np.float32))
    assert np.array_equal(scores.argmax(0), classes)
    fed = []

    def forward(prepared):
        fed.append(prepared.copy())
        return scores.copy()

    face_masker.forward_parse_face = forward
    regions = list(facefusion.choices.face_mask_regions)
    os.makedirs(OUT, exist_ok=True)
    classes.tofile(os.path.join(OUT, "region_classes.u8"))
    cases = []
    for size in (128, 256):
        crop = crop_bgr(size, rng)
        fed.clear()
        mask = face_masker.create_region_mask(crop, regions)
        assert len(fed) == 1 and fed[0].shape == (1, 3, 512, 512) and mask.shape == (size, size)
        names = {
            "crop": f"region_crop{size}_bgr.u8",
            "input": f"region_input{size}_rgb.u8",
            "mask": f"region_mask{size}.f32",
        }
        crop.tofile(os.path.join(OUT, names["crop"]))
        # The input is an 8-bit resize, normalised: kept as those bytes (RGB, HWC), checked to
        # give back what FaceFusion fed to float precision.
        hwc = fed[0][0].transpose(1, 2, 0)
        levels = np.round((hwc * STD + MEAN) * 255.0).astype(np.uint8)
        again = (levels.astype(np.float32) / 255.0 - MEAN) / STD
        assert np.abs(again - hwc).max() < 1e-5
        levels.tofile(os.path.join(OUT, names["input"]))
        mask.astype(np.float32).tofile(os.path.join(OUT, names["mask"]))
        cases.append({"size": size, **{k: {"file": v} for k, v in names.items()}})
    index = {
        "facefusion_commit": FACEFUSION_COMMIT,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "regions": [facefusion.choices.face_mask_region_set[r] for r in regions],
        "classes": {"file": "region_classes.u8", "shape": [512, 512]},
        "cases": cases,
    }
    with open(os.path.join(OUT, "region.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.abspath(OUT)}")


if __name__ == "__main__":
    main()

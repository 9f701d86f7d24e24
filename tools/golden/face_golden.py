#!/usr/bin/env python3
"""Golden vectors for crates/face, produced by insightface's own reference code.

Runs insightface 2.1's SCRFD decoding + NMS (`SCRFD.detect`), `face_align.estimate_norm` /
`norm_crop2`, and `INSwapper.get` (emap latent, aligned crop, paste-back) on fixed inputs.
The networks are replaced by fixed tensors: a stand-in session hands SCRFD fixed raw outputs
and inswapper a fixed swapped crop, so every number below comes from the reference's own
pre- and post-processing code. Writes little-endian binaries and a JSON index to
crates/face/tests/golden/.

    python3 -m venv .venv && .venv/bin/pip install -r tools/golden/requirements.txt
    .venv/bin/python tools/golden/face_golden.py
"""

import json
import math
import os
import sys
import types

import numpy as np

from insightface.model_zoo.inswapper import INSwapper
from insightface.model_zoo.scrfd import SCRFD
from insightface.utils import face_align

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "face", "tests", "golden")
W, H = 160, 120  # the test frame
DET_W, DET_H = 128, 128  # SCRFD input for the decode case (small keeps the files small)
KPS = np.array([[64.3, 50.2], [95.1, 48.7], [80.4, 66.9], [68.2, 82.5], [92.7, 81.6]], dtype=np.float32)


def frame(rng):
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.stack(
        [
            128 + 70 * np.sin(x / 7.0) * np.cos(y / 9.0),
            128 + 60 * np.cos((x + y) / 11.0),
            100 + 0.6 * x + 0.4 * y,
        ],
        axis=-1,
    )
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def emap_formula():
    """A dense 512×512 map both sides can compute: Rust's golden test rebuilds it."""
    i = np.arange(512, dtype=np.float64)[:, None]
    j = np.arange(512, dtype=np.float64)[None, :]
    return (np.sin(i * 0.37 + j * 0.11) * 0.05 + np.where(i == j, 1.0, 0.0)).astype(np.float32)


class FixedSession:
    """Stands in for an ONNX Runtime session: records inputs, returns fixed outputs."""

    def __init__(self, outputs):
        self.outputs = outputs
        self.fed = None

    def run(self, names, feed):
        self.fed = feed
        return self.outputs


def scrfd_raw(rng):
    """Raw outputs for a DET_W×DET_H input: low scores, plus overlapping clusters of faces."""
    scores, boxes, kps = [], [], []
    for stride in (8, 16, 32):
        n = (DET_W // stride) * (DET_H // stride) * 2
        s = rng.uniform(0.0, 0.45, (n, 1)).astype(np.float32)
        b = rng.uniform(1.0, 3.0, (n, 4)).astype(np.float32)
        k = rng.uniform(-2.0, 2.0, (n, 10)).astype(np.float32)
        fw = DET_W // stride
        if stride == 8:
            # Two faces, each seen by neighbouring anchors with slightly different boxes.
            for cx, cy, base in ((4, 5, 0.9), (11, 9, 0.8)):
                for dx, dy, a, drop in ((0, 0, 0, 0.0), (1, 0, 1, 0.05), (0, 1, 0, 0.1), (1, 1, 1, 0.3)):
                    idx = ((cy + dy) * fw + (cx + dx)) * 2 + a
                    s[idx] = base - drop
                    b[idx] = np.array([2.5 + dx, 2.5 + dy, 2.5 - dx, 2.5 - dy]) + rng.uniform(-0.2, 0.2, 4)
            s[5] = 0.5  # exactly at the threshold: kept
            s[7] = 0.4999
        if stride == 16:
            s[20] = 0.7
            s[21] = 0.7  # a tie
        if stride == 32:
            s[3] = 0.55
        scores.append(s)
        boxes.append(b)
        kps.append(k)
    return scores + boxes + kps


def write(name, array, dtype):
    a = np.ascontiguousarray(array, dtype={"u8": "<u1", "f32": "<f4"}[dtype])
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(a.tobytes())
    return {"file": name, "dtype": dtype, "shape": list(a.shape)}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)
    img = frame(rng)
    index = {"frame": write("frame.u8", img, "u8"), "width": W, "height": H}

    # SCRFD: letterbox + decode + NMS through SCRFD.detect with a fixed session.
    raw = scrfd_raw(rng)
    det = SCRFD.__new__(SCRFD)
    session = FixedSession(raw)
    det.model_file = None
    det.center_cache = {}
    det.batched = False
    det.use_kps = True
    det.fmc = 3
    det._feat_stride_fpn = [8, 16, 32]
    det._num_anchors = 2
    det.input_mean, det.input_std = 127.5, 128.0
    det.input_name = "input.1"
    det.output_names = [str(i) for i in range(9)]
    det.nms_thresh, det.det_thresh = 0.4, 0.5
    det.static_input_size = None
    det.input_sizes = []
    det.input_size = None
    det._session_for_input_size = types.MethodType(lambda self, size: session, det)
    bboxes, kpss = det.detect(img, input_size=(DET_W, DET_H))
    blob = session.fed["input.1"]
    # The blob is (v − 127.5)/128 of an 8-bit image: store the 8-bit letterboxed image.
    letterboxed = np.rint(blob[0] * 128.0 + 127.5).astype(np.uint8)  # CHW
    index["scrfd"] = {
        "input_width": DET_W,
        "input_height": DET_H,
        "raw": [write(f"scrfd_raw_{i}.f32", r, "f32") for i, r in enumerate(raw)],
        "letterbox_chw": write("scrfd_letterbox_chw.u8", letterboxed, "u8"),
        "bboxes": bboxes.astype(np.float64).tolist(),
        "kps": kpss.astype(np.float64).tolist(),
    }

    # Alignment: the similarity transforms and the 112 crop.
    m112 = face_align.estimate_norm(KPS, 112)
    m128 = face_align.estimate_norm(KPS, 128)
    crop112, _ = face_align.norm_crop2(img, KPS, 112)
    index["align"] = {
        "kps": KPS.astype(np.float64).tolist(),
        "m112": m112.tolist(),
        "m128": m128.tolist(),
        "crop112": write("crop112.u8", crop112, "u8"),
    }

    # inswapper: emap latent, aligned 128 crop and paste-back through INSwapper.get.
    fake = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    fake = np.clip(
        fake.astype(np.float64) * 0.3 + 120 + 80 * np.sin(np.arange(128)[None, :, None] / 9.0), 0, 255
    ).astype(np.uint8)  # RGB, what the network "returned"
    pred = ((fake.astype(np.float32) + 0.5) / 255.0).transpose(2, 0, 1)[None]
    swap = INSwapper.__new__(INSwapper)
    swap_session = FixedSession([pred])
    swap.session = swap_session
    swap.emap = emap_formula()
    swap.input_mean, swap.input_std = 0.0, 255.0
    swap.input_names = ["target", "source"]
    swap.output_names = ["output"]
    swap.input_size = (128, 128)
    embedding = rng.normal(0, 1, 512).astype(np.float32)
    source = types.SimpleNamespace(normed_embedding=embedding / np.linalg.norm(embedding))
    target = types.SimpleNamespace(kps=KPS)
    pasted = swap.get(img, target, source, paste_back=True)
    latent = swap_session.fed["source"]
    target_blob = swap_session.fed["target"]
    crop128 = np.rint(target_blob[0] * 255.0).astype(np.uint8).transpose(1, 2, 0)  # RGB HWC
    index["swap"] = {
        "embedding": write("embedding.f32", embedding, "f32"),
        "latent": write("latent.f32", latent, "f32"),
        "crop128_rgb": write("crop128_rgb.u8", crop128, "u8"),
        "fake_bgr": write("fake_bgr.u8", fake[:, :, ::-1], "u8"),
        "pasted": write("pasted.u8", pasted, "u8"),
    }
    index["reference"] = "insightface 2.1 (scrfd.py, face_align.py, inswapper.py), numpy " + np.__version__
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(f"wrote {OUT}: {len(bboxes)} faces after NMS, latent norm {np.linalg.norm(latent):.6f}")


if __name__ == "__main__":
    sys.exit(main())

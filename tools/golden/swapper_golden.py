#!/usr/bin/env python3
"""Golden vectors for the swapper families and pixel boost (crates/face/src/swapper.rs),
produced by FaceFusion's own `face_swapper` and `pixel_boost` code.

For each family (inswapper_128, hyperswap_1a_256, simswap_256, simswap_unofficial_512) the
model options are FaceFusion's (`create_static_model_set`), and a crop goes through what
`swap_face` does around the network: `implode_pixel_boost`, then per tile
`prepare_crop_frame`, the network (replaced by a fixed raw output per tile, so every number
written comes from FaceFusion's code), `normalize_crop_frame`, and `explode_pixel_boost`.
The crops are small (tiles of 16 pixels: the functions work per pixel, and FaceFusion's
implode/explode take the tile size as an argument), so the vectors stay small. Also written:
the identity vectors FaceFusion's `prepare_source_embedding` gives HyperSwap (the unit
embedding) and SimSwap (the converter's output, `forward_convert_embedding` patched to a fixed
vector, made unit length), balanced at the default weight 0.5 (which leaves them as they are),
and the `arcface_128` and `arcface_112_v1` templates at the crop sizes the swappers use.

FaceFusion works in BGR; the crops and results written here are BGR. Writes little-endian
binaries and `swapper.json` to crates/face/tests/golden/.

    git clone https://github.com/facefusion/facefusion /tmp/facefusion
    git -C /tmp/facefusion checkout 33cc6b40a4a538023e12893a0439ce5062e56e36
    python3 -m venv .venv && .venv/bin/pip install numpy==2.4.6 opencv-python-headless==5.0.0.93 \
        onnxruntime tqdm
    .venv/bin/python tools/golden/swapper_golden.py --facefusion /tmp/facefusion
"""

import argparse
import json
import os
import sys
from types import SimpleNamespace

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "face", "tests", "golden")
FACEFUSION_COMMIT = "33cc6b40a4a538023e12893a0439ce5062e56e36"
TILE = 16
CASES = [
    ("inswapper_128", 2),
    ("hyperswap_1a_256", 2),
    ("simswap_256", 1),
    ("simswap_unofficial_512", 4),
]


def crop_bgr(size, rng):
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack(
        [120 + 60 * np.sin(x / 3.0) * np.cos(y / 4.0), 130 + 50 * np.cos((x - y) / 5.0), 150 + 2.0 * x - 1.5 * y],
        axis=-1,
    )
    img += rng.normal(0, 8, img.shape)
    img[0, 0] = (0, 0, 0)
    img[-1, -1] = (255, 255, 255)
    return np.clip(img, 0, 255).astype(np.uint8)


def write(name, array, dtype):
    data = np.ascontiguousarray(array, dtype=dtype)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return {"file": name, "shape": list(data.shape)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facefusion", required=True, help="a FaceFusion checkout at %s" % FACEFUSION_COMMIT)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.facefusion))
    os.chdir(os.path.abspath(args.facefusion))
    from facefusion import face_helper, state_manager
    from facefusion.processors import pixel_boost
    from facefusion.processors.modules.face_swapper import core

    rng = np.random.default_rng(2025)
    os.makedirs(OUT, exist_ok=True)
    index = {"facefusion_commit": FACEFUSION_COMMIT, "tile": TILE, "families": {}}
    state_manager.set_item("face_swapper_weight", 0.5)
    # Where FaceFusion would download from; nothing is downloaded here.
    state_manager.set_item("download_providers", ["github", "huggingface"])
    for model, k in CASES:
        state_manager.set_item("face_swapper_model", model)
        options = core.get_model_options()
        size = TILE * k
        crop = crop_bgr(size, rng)
        tiles = pixel_boost.implode_pixel_boost(crop, k, (TILE, TILE))
        blobs, raws, finished = [], [], []
        for tile in tiles:
            blobs.append(core.prepare_crop_frame(tile)[0])
            raw = rng.uniform(-1.3, 1.3, (3, TILE, TILE)).astype(np.float32)
            raws.append(raw)
            finished.append(core.normalize_crop_frame(raw))
        result = pixel_boost.explode_pixel_boost(finished, k, (TILE, TILE), (size, size))
        index["families"][model] = {
            "type": options["type"],
            "template": options["template"],
            "size": options["size"][0],
            "mean": options["mean"],
            "standard_deviation": options["standard_deviation"],
            "boost": k,
            "crop_bgr": write(f"swapper_{model}_crop_bgr.u8", crop, np.uint8),
            "tiles_bgr": write(f"swapper_{model}_tiles_bgr.u8", np.stack(tiles), np.uint8),
            "blobs": write(f"swapper_{model}_blobs.f32", np.stack(blobs), np.float32),
            "raw": write(f"swapper_{model}_raw.f32", np.stack(raws), np.float32),
            "result_bgr": write(f"swapper_{model}_result_bgr.f32", result, np.float32),
        }

    # Identity vectors: HyperSwap takes the unit embedding, SimSwap the converter's output
    # made unit length; the default weight (0.5) balances them by zero.
    embedding = rng.normal(0, 3, 512).astype(np.float32)
    target_embedding = rng.normal(0, 3, 512).astype(np.float32)
    converted = rng.normal(0, 2, (1, 512)).astype(np.float32)
    core.forward_convert_embedding = lambda e: converted
    source = SimpleNamespace(embedding=embedding, embedding_norm=embedding / np.linalg.norm(embedding))
    sources = {}
    for model in ("hyperswap_1a_256", "simswap_256"):
        state_manager.set_item("face_swapper_model", model)
        vector = core.prepare_source_embedding(source)
        vector = core.balance_source_embedding(vector, target_embedding)
        sources[model] = write(f"swapper_{model}_source.f32", vector.ravel(), np.float32)
    index["source"] = {
        "embedding": write("swapper_embedding.f32", embedding, np.float32),
        "converted": write("swapper_converted.f32", converted.ravel(), np.float32),
        "expected": sources,
    }
    index["templates"] = {
        name: {str(s): (face_helper.WARP_TEMPLATE_SET[name] * s).tolist() for s in (128, 256, 512, 1024)}
        for name in ("arcface_128", "arcface_112_v1")
    }
    with open(os.path.join(OUT, "swapper.json"), "w") as f:
        json.dump(index, f, indent=1)
    print("wrote", os.path.join(OUT, "swapper.json"))


if __name__ == "__main__":
    main()

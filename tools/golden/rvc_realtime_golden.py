#!/usr/bin/env python3
"""Golden vectors for crates/voice, produced by RVC's own real-time code (`infer/rtrvc.py`).

Runs `RVC.infer` from RVC WebUI's real-time path on consecutive blocks with its networks
replaced by fixed stand-ins: HuBERT hands back seeded features, RMVPE seeded pitch (with
unvoiced stretches) for exactly the samples RVC asks it about, faiss searches the stored
vectors exactly (as an IVF-Flat index probing every list does), and the synthesizer records
what it is given. So every number written comes from the reference's own code: the pitch
extractor's window, the unvoiced interpolation, the key shift, the coarse pitch, the pitch
cache carried across blocks, the index mix, and the features repeated to 10 ms frames.

The block geometry is this engine's default neural voice (100 ms blocks, 300 ms context,
20 ms crossfade, 10 ms search: `skip_head` 30 and `return_length` 13 frames of 10 ms).
Features are 16-dimensional here (the code is the same for 768) to keep the files small.

    python3 -m venv .venv && .venv/bin/pip install torch numpy
    .venv/bin/python tools/golden/rvc_realtime_golden.py --rvc /path/to/rvc-checkout

Writes little-endian binaries and a JSON index to crates/voice/tests/golden/.
"""

import argparse
import json
import os
import sys
import types

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "voice", "tests", "golden")

RATE = 16000
BLOCK = 1600  # 100 ms at 16 kHz
CONTEXT = 4800  # 300 ms
CROSSFADE, SEARCH = 320, 160  # 20 ms, 10 ms
WINDOW = CONTEXT + BLOCK + CROSSFADE + SEARCH  # what each conversion sees
SKIP_HEAD = CONTEXT // 160
RETURN_LENGTH = (BLOCK + CROSSFADE + SEARCH) // 160
BLOCKS = 4
DIM = 16
STORED = 200
INDEX_RATE = 0.75
KEY = 3.0


def stub_modules(hubert_out):
    """The modules rtrvc.py imports that the measured code does not use, or that wrap a network."""
    faiss = types.ModuleType("faiss")
    parselmouth = types.ModuleType("parselmouth")
    torchaudio = types.ModuleType("torchaudio")
    transforms = types.ModuleType("torchaudio.transforms")
    transforms.Resample = None
    torchaudio.transforms = transforms
    hubert = types.ModuleType("infer.hubert")
    hubert.extract_hubert_features = lambda model, feats, version, padding_mask=None: hubert_out(feats)
    hubert.load_hubert_model = None
    i18n_pkg = types.ModuleType("i18n")
    i18n = types.ModuleType("i18n.i18n")
    i18n.I18nAuto = lambda: (lambda s: s)
    tools_pkg = types.ModuleType("tools")
    cuda_graph = types.ModuleType("tools.cuda_graph")
    cuda_graph.run_cuda_graph = lambda net, key, fn, *args: fn(*args)
    for name, module in {
        "faiss": faiss,
        "parselmouth": parselmouth,
        "torchaudio": torchaudio,
        "torchaudio.transforms": transforms,
        "infer.hubert": hubert,
        "i18n": i18n_pkg,
        "i18n.i18n": i18n,
        "tools": tools_pkg,
        "tools.cuda_graph": cuda_graph,
    }.items():
        sys.modules[name] = module


def pitch_at(frame):
    """The stand-in pitch at an absolute 10 ms frame: a glide with unvoiced stretches."""
    if frame % 23 in (0, 1, 2) or 40 <= frame < 47:
        return 0.0
    return 110.0 + 90.0 * np.sin(frame / 9.0) + 0.5 * frame


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rvc", required=True, help="an RVC WebUI checkout (infer/rtrvc.py)")
    args = ap.parse_args()
    rng = np.random.default_rng(20261205)
    state = {"start": 0}
    hubert_calls = []

    def hubert_out(feats):
        import torch

        n = feats.shape[-1]
        t = (n - 400) // 320 + 1
        out = rng.standard_normal((1, t, DIM)).astype(np.float32)
        hubert_calls.append(out[0].copy())
        return torch.from_numpy(out)

    stub_modules(hubert_out)
    sys.path.insert(0, os.path.abspath(args.rvc))
    import torch
    from infer.rtrvc import RVC

    stored = rng.standard_normal((STORED, DIM)).astype(np.float32)

    class ExactIndex:
        def search(self, queries, k):
            d = ((queries[:, None, :] - stored[None, :, :]) ** 2).sum(-1)
            ix = np.argsort(d, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(d, ix, axis=1).astype(np.float32), ix

    pitch_calls = []

    class Rmvpe:
        def infer_from_audio(self, x, thred):
            n = x.shape[0] // 160 + 1
            first = (state["start"] + WINDOW - x.shape[0]) // 160
            f0 = np.array([pitch_at(first + j) for j in range(n)], dtype=np.float32)
            pitch_calls.append({"samples": int(x.shape[0]), "first_frame": int(first), "f0": f0.copy()})
            return f0

    given = []

    class Synth:
        def infer(self, phone, lengths, coarse, continuous, speaker, skip_head, return_length, return_length2):
            given.append(
                {
                    "feats": phone[0].numpy().copy(),
                    "p_len": int(lengths[0]),
                    "pitch": coarse[0].numpy().copy(),
                    "pitchf": continuous[0].numpy().copy(),
                    "skip_head": int(skip_head),
                    "return_length": int(return_length),
                }
            )
            return [torch.zeros(1, 1, return_length2 * 400)]

    rvc = RVC.__new__(RVC)
    rvc.config = types.SimpleNamespace(is_half=False, device=torch.device("cpu"))
    rvc.device = rvc.config.device
    rvc.f0_up_key = KEY
    rvc.formant_shift = 0.0
    rvc.f0_min, rvc.f0_max = 50, 1100
    rvc.f0_mel_min = 1127 * np.log(1 + rvc.f0_min / 700)
    rvc.f0_mel_max = 1127 * np.log(1 + rvc.f0_max / 700)
    rvc.index = ExactIndex()
    rvc.big_npy = stored
    rvc.index_rate = INDEX_RATE
    rvc.cache_pitch = torch.zeros(1024, dtype=torch.long)
    rvc.cache_pitchf = torch.zeros(1024, dtype=torch.float32)
    rvc.infer_count = 0
    rvc.resample_kernel = {}
    rvc.model = None
    rvc.model_rmvpe = Rmvpe()
    rvc.net_g = Synth()
    rvc.tgt_sr = 40000
    rvc.if_f0 = 1
    rvc.version = "v2"
    rvc.is_half = False

    for block in range(BLOCKS):
        state["start"] = block * BLOCK
        window = torch.zeros(WINDOW)
        rvc.infer(window, BLOCK, SKIP_HEAD, RETURN_LENGTH, "rmvpe")

    os.makedirs(OUT, exist_ok=True)
    files = {}

    def write(name, array, dtype):
        path = os.path.join(OUT, f"rtrvc_{name}.bin")
        np.ascontiguousarray(array, dtype=dtype).tofile(path)
        files[name] = {"file": os.path.basename(path), "dtype": np.dtype(dtype).name, "shape": list(np.shape(array))}

    write("stored", stored, np.float32)
    write("hubert", np.stack(hubert_calls), np.float32)
    write("rmvpe_f0", np.stack([c["f0"] for c in pitch_calls]), np.float32)
    write("feats", np.stack([g["feats"] for g in given]), np.float32)
    write("pitch", np.stack([g["pitch"] for g in given]), np.int64)
    write("pitchf", np.stack([g["pitchf"] for g in given]), np.float32)
    # get_f0_post alone, over a sweep (the coarse pitch's rounding and clamps).
    sweep = np.concatenate([[0.0, 10.0, 49.9, 50.0], np.geomspace(50.0, 1100.0, 301), [1100.0, 1500.0]])
    coarse, _ = RVC.get_f0_post(rvc, sweep.astype(np.float32))
    write("post_f0", sweep, np.float32)
    write("post_coarse", coarse.numpy(), np.int64)
    index = {
        "source": "RVC WebUI infer/rtrvc.py RVC.infer, RVC.get_f0_post",
        "block_16k": BLOCK,
        "window_16k": WINDOW,
        "skip_head": SKIP_HEAD,
        "return_length": RETURN_LENGTH,
        "index_rate": INDEX_RATE,
        "key": KEY,
        "extractor_samples": [c["samples"] for c in pitch_calls],
        "p_len": [g["p_len"] for g in given],
        "files": files,
    }
    with open(os.path.join(OUT, "rtrvc.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(json.dumps({k: v for k, v in index.items() if k != "files"}))


if __name__ == "__main__":
    main()

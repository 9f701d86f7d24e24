#!/usr/bin/env python3
"""A small RVC v2 synthesizer exported to ONNX by RVC's own export code, for crates/voice.

Builds `SynthesizerTrnMsNSFsidM` (RVC WebUI's `infer/lib/infer_pack/models_onnx.py`) with
seeded random weights and calls RVC's `infer/modules/onnx/export.py` `export_onnx` on it, so
the graph has exactly the structure, operators and names a real RVC export has (opset 18,
simplified with onnxsim as RVC does). Only the sizes are small (hidden 16, one encoder
layer, one resblock kernel) and two things are fixed so tests can compare runs exactly:
the harmonic source's output layer (`dec.m_source.l_linear`) has zero weights, so the random
draws RVC's sine generator makes inside the graph never reach the output, and the latent's
channel count stays 192 as in every RVC v2 model.

Needs a checkout of RVC WebUI from before its ONNX export was removed (commit f5bd275 has
`infer/modules/onnx/export.py`), and torch, scipy, onnx and onnxsim:

    python3 tools/golden/rvc_synth_export.py --rvc /path/to/rvc-checkout \\
        --out crates/voice/tests/models/rvc_export_40k.onnx
"""

import argparse
import os
import sys
import tempfile

# RVC v2 40 kHz: upsampling 10·10·2·2 = 400 samples per 10 ms frame; small channel counts.
CONFIG = [
    1025,  # spec_channels
    32,  # segment_size
    192,  # inter_channels: the latent, 192 in every RVC v2 model
    16,  # hidden_channels
    32,  # filter_channels
    2,  # n_heads
    1,  # n_layers
    3,  # kernel_size
    0,  # p_dropout
    "1",  # resblock
    [3],  # resblock_kernel_sizes
    [[1, 3, 5]],  # resblock_dilation_sizes
    [10, 10, 2, 2],  # upsample_rates
    32,  # upsample_initial_channel
    [16, 16, 4, 4],  # upsample_kernel_sizes
    1,  # spk_embed_dim
    16,  # gin_channels
    40000,  # sr
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rvc", required=True, help="an RVC WebUI checkout with infer/modules/onnx/export.py")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.rvc))
    import torch
    from infer.lib.infer_pack.models_onnx import SynthesizerTrnMsNSFsidM
    from infer.modules.onnx.export import export_onnx

    # RVC exported with torch's TorchScript-based exporter, the default until torch 2.9.
    export = torch.onnx.export
    torch.onnx.export = lambda *a, **k: export(*a, **{**k, "dynamo": False})

    torch.manual_seed(20260716)
    net = SynthesizerTrnMsNSFsidM(*CONFIG, is_half=False, version="v2")
    weights = net.state_dict()
    weights["dec.m_source.l_linear.weight"].zero_()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "voice.pth")
        torch.save({"config": list(CONFIG), "weight": weights, "version": "v2"}, ckpt)
        print(export_onnx(ckpt, args.out))


if __name__ == "__main__":
    main()

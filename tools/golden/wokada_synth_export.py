#!/usr/bin/env python3
"""A small RVC v2 synthesizer exported to ONNX by w-okada's voice changer's own export code.

Calls `_export2onnx` of w-okada's `server/voice_changer/RVC/onnxExporter/export2onnx.py` on a
checkpoint of `SynthesizerTrnMs768NSFsid` with seeded random weights, so the file has exactly
the inputs (`feats, p_len, pitch, pitchf, sid`), metadata, operators and structure of a
w-okada export (opset 17, simplified with onnxsim). The modules that function imports for
the voice changer's server (its settings, device manager, model slots) are stood in for;
they only name folders and types. Only the sizes are small, and two things are fixed so
tests can compare runs exactly: the harmonic source's output layer has zero weights and the
latent's log-spread bias is −100, so the random draws the graph makes (the sine generator's
and `randn_like` in the prior) never reach the output.

Needs a checkout of w-okada/voice-changer, and torch, numpy, scipy, onnx and onnxsim:

    python3 tools/golden/wokada_synth_export.py --wokada /path/to/voice-changer \\
        --out crates/voice/tests/models/wokada_export_40k.onnx
"""

import argparse
import enum
import os
import shutil
import sys
import tempfile
import types

# Small RVC v2 sizes at 40 kHz (upsampling 10·10·2·2), latent of 192 channels as every v2 model.
CONFIG = [1025, 32, 192, 16, 32, 2, 1, 3, 0, "1", [3], [[1, 3, 5]], [10, 10, 2, 2], 32, [16, 16, 4, 4], 1, 16, 40000]


def stub_server_modules(tmp):
    class EnumInferenceTypes(enum.Enum):
        pyTorchRVC = "pyTorchRVC"
        pyTorchRVCNono = "pyTorchRVCNono"
        pyTorchRVCv2 = "pyTorchRVCv2"
        pyTorchRVCv2Nono = "pyTorchRVCv2Nono"
        pyTorchWebUI = "pyTorchWebUI"
        pyTorchWebUINono = "pyTorchWebUINono"

    const = types.ModuleType("const")
    const.TMP_DIR = tmp
    const.EnumInferenceTypes = EnumInferenceTypes
    modules = {"const": const}
    for name, attrs in {
        "data": {},
        "data.ModelSlot": {"RVCModelSlot": object},
        "voice_changer.RVC.deviceManager": {},
        "voice_changer.RVC.deviceManager.DeviceManager": {"DeviceManager": object},
        "voice_changer.VoiceChangerParamsManager": {"VoiceChangerParamsManager": object},
    }.items():
        module = types.ModuleType(name)
        for key, value in attrs.items():
            setattr(module, key, value)
        modules[name] = module
    sys.modules.update(modules)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wokada", required=True, help="a checkout of w-okada/voice-changer")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stub_server_modules(tmp)
        sys.path.insert(0, os.path.join(os.path.abspath(args.wokada), "server"))
        import torch

        # w-okada exported with torch's TorchScript-based exporter, the default until torch 2.9.
        export = torch.onnx.export
        torch.onnx.export = lambda *a, **k: export(*a, **{**k, "dynamo": False})
        from voice_changer.RVC.inferencer.rvc_models.infer_pack.models import SynthesizerTrnMs768NSFsid
        from voice_changer.RVC.onnxExporter.export2onnx import _export2onnx

        torch.manual_seed(20231005)
        net = SynthesizerTrnMs768NSFsid(*CONFIG, is_half=False)
        weights = net.state_dict()
        weights["dec.m_source.l_linear.weight"].zero_()
        bias = weights["enc_p.proj.bias"]
        bias[bias.shape[0] // 2 :] = -100.0
        ckpt = os.path.join(tmp, "voice.pth")
        torch.save({"config": list(CONFIG), "weight": weights, "version": "v2", "f0": 1}, ckpt)
        metadata = {
            "application": "VC_CLIENT",
            "version": "2.1",
            "modelType": "pyTorchRVCv2",
            "samplingRate": 40000,
            "f0": True,
            "embChannels": 768,
            "embedder": "hubert_base",
            "embOutputLayer": 12,
            "useFinalProj": False,
        }
        plain = os.path.join(tmp, "voice.onnx")
        simple = os.path.join(tmp, "voice_simple.onnx")
        _export2onnx(ckpt, plain, simple, False, metadata)
        shutil.copyfile(simple, args.out)
        print(args.out)


if __name__ == "__main__":
    main()

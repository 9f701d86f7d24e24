#!/usr/bin/env python3
"""Stand-in voice models: ONNX files with the real models' input/output names and shapes and
the same kinds of operators, filled with seeded random weights.

  ContentVec/HuBERT  source [1,1,N] f32 (16 kHz)            -> embed [1,T,768], T=(N-400)//320+1
  RVC synthesizer    w-okada: feats [1,T,768], p_len [1], pitch [1,T] i64, pitchf [1,T], sid [1]
                     RVC:     phone, phone_lengths, pitch, pitchf, ds, rnd [1,192,T]
                                                            -> audio [1,1,T*hop]
  RMVPE              waveform [1,N] f32, threshold [1]      -> pitchf [1,N//160+1]

The synthesizers keep RVC's neural-source-filter structure: a sine at `pitchf` (upsampled to
the audio rate, integrated with CumSum) feeds every upsampling stage, and the output is mostly
that harmonic source, so a stand-in voice sings the pitch it is given, the way a real one does.
(w-okada's export draws its noise inside the graph; the stand-in leaves that noise out.)

  python3 scripts/standin_voice_models.py            # tiny: crates/voice/tests/models/
  python3 scripts/standin_voice_models.py --full DIR # real-size (ContentVec ~90 M parameters,
                                                     # synthesizer ~27 M, RMVPE ~90 M)
Needs the `onnx` and `numpy` packages.
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class G:
    """A tiny graph builder."""

    def __init__(self, seed):
        self.nodes, self.inits, self.n = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, value, dtype=np.float32, p="c"):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), n))
        return n

    def weight(self, shape, fan_in, p="w", scale=1.0):
        w = self.rng.standard_normal(shape).astype(np.float32) * (scale / np.sqrt(fan_in))
        return self.const(w, p=p)

    def op(self, kind, inputs, p=None, **attrs):
        out = self.name(p or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, d_in, d_out):
        return self.op("Add", [self.op("MatMul", [x, self.weight((d_in, d_out), d_in)]), self.const(np.zeros(d_out))])

    def gelu(self, x):
        e = self.op("Erf", [self.op("Div", [x, self.const(np.sqrt(2.0))])])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [e, self.const(1.0)])]), self.const(0.5)])

    def layernorm(self, x, d):
        return self.op("LayerNormalization", [x, self.const(np.ones(d)), self.const(np.zeros(d))], axis=-1)

    def conv1d(self, x, c_in, c_out, k, stride=1, pad=0, dil=1, group=1):
        w = self.weight((c_out, c_in // group, k), c_in // group * k)
        return self.op("Conv", [x, w, self.const(np.zeros(c_out))], kernel_shape=[k], strides=[stride],
                       pads=[pad, pad], dilations=[dil], group=group)

    def transformer(self, x, d, ffn):
        q, k, v = (self.linear(x, d, d) for _ in range(3))
        kt = self.op("Transpose", [k], perm=[0, 2, 1])
        s = self.op("Div", [self.op("MatMul", [q, kt]), self.const(np.sqrt(d))])
        a = self.op("MatMul", [self.op("Softmax", [s], axis=-1), v])
        x = self.layernorm(self.op("Add", [x, self.linear(a, d, d)]), d)
        h = self.linear(self.gelu(self.linear(x, d, ffn)), ffn, d)
        return self.layernorm(self.op("Add", [x, h]), d)

    def save(self, path, inputs, outputs, metadata=None):
        graph = helper.make_graph(self.nodes, os.path.basename(path), inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="streaming-studio stand-in")
        model.ir_version = 8
        for k, v in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(model)
        onnx.save(model, path)
        params = sum(int(np.prod(t.dims)) for t in self.inits)
        print(f"{path}: {params / 1e6:.2f} M parameters")


def contentvec(path, conv_ch, dim, layers, ffn):
    g = G(1)
    x = "source"
    c_in = 1
    for k, s in zip([10, 3, 3, 3, 3, 2, 2], [5, 2, 2, 2, 2, 2, 2]):
        x = g.gelu(g.conv1d(x, c_in, conv_ch, k, stride=s))
        c_in = conv_ch
    x = g.op("Transpose", [x], perm=[0, 2, 1])
    x = g.linear(g.layernorm(x, conv_ch), conv_ch, dim)
    for _ in range(layers):
        x = g.transformer(x, dim, ffn)
    if dim != 768:
        x = g.linear(x, dim, 768)
    g.nodes.append(helper.make_node("Identity", [x], ["embed"], name="embed"))
    g.save(path,
           [helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 1, "N"])],
           [helper.make_tensor_value_info("embed", TensorProto.FLOAT, [1, "T", 768])])


RATES = {48000: [12, 10, 2, 2], 40000: [10, 10, 2, 2], 32000: [10, 8, 2, 2]}


def synthesizer(path, fmt, rate, hidden, layers, upc, kernels, dilations, flows, speakers):
    g = G(2)
    hop = rate // 100
    ups = RATES[rate]
    feats, plen, spk = ("feats", "p_len", "sid") if fmt == "wokada" else ("phone", "phone_lengths", "ds")
    # Text encoder: features + pitch embedding, transformer layers, projection to m and logs.
    x = g.linear(feats, 768, hidden)
    pitch_emb = g.op("Gather", [g.weight((256, hidden), 1, scale=0.1), "pitch"], axis=0)
    x = g.op("Add", [x, pitch_emb])
    for _ in range(layers):
        x = g.transformer(x, hidden, hidden * 4)
    m = g.op("Transpose", [g.linear(x, hidden, 192)], perm=[0, 2, 1])
    if fmt == "rvc":
        logs = g.op("Transpose", [g.linear(x, hidden, 192)], perm=[0, 2, 1])
        noise = g.op("Mul", [g.op("Mul", [g.op("Exp", [logs]), "rnd"]), g.const(0.66666)])
        z = g.op("Add", [m, noise])
    else:
        z = m
    # Flow: residual convolution blocks on the 192-channel latent.
    for _ in range(flows):
        h = g.op("Tanh", [g.conv1d(z, 192, hidden, 5, pad=2)])
        z = g.op("Add", [z, g.op("Mul", [g.conv1d(h, hidden, 192, 1), g.const(0.1)])])
    # Harmonic source: f0 held over each frame's `hop` samples, integrated to a phase.
    f0 = g.op("Unsqueeze", ["pitchf", g.const([2], np.int64)])
    f0_up = g.op("Reshape", [g.op("MatMul", [f0, g.const(np.ones((1, hop)))]), g.const([1, -1], np.int64)])
    phase = g.op("CumSum", [g.op("Div", [f0_up, g.const(float(rate))]), g.const(1, np.int64)])
    voiced = g.op("Cast", [g.op("Greater", [f0_up, g.const(0.0)])], to=TensorProto.FLOAT)
    sine = g.op("Mul", [g.op("Sin", [g.op("Mul", [phase, g.const(2 * np.pi)])]), voiced])
    source = g.op("Unsqueeze", [sine, g.const([1], np.int64)])  # [1,1,T*hop]
    # Decoder (NSF-HiFiGAN): speaker-conditioned input conv, upsampling with source injection
    # and multi-receptive-field residual blocks, output conv.
    x = g.conv1d(z, 192, upc, 7, pad=3)
    cond = g.op("Gather", [g.weight((speakers, 256), 1, scale=0.1), spk], axis=0)
    cond = g.op("Unsqueeze", [g.linear(cond, 256, upc), g.const([2], np.int64)])
    x = g.op("Add", [x, cond])
    ch = upc
    for i, r in enumerate(ups):
        out_ch = max(ch // 2, 1)
        x = g.op("LeakyRelu", [x], alpha=0.1)
        w = g.weight((ch, out_ch, 2 * r), ch * 2 * r / r)
        x = g.op("ConvTranspose", [x, w, g.const(np.zeros(out_ch))], kernel_shape=[2 * r], strides=[r], pads=[r // 2, r // 2])
        rest = int(np.prod(ups[i + 1:]))
        if rest > 1:
            x = g.op("Add", [x, g.conv1d(source, 1, out_ch, 2 * rest, stride=rest, pad=rest // 2)])
        else:
            x = g.op("Add", [x, g.conv1d(source, 1, out_ch, 1)])
        acc = None
        for k in kernels:
            y = x
            for d in dilations:
                h = g.conv1d(g.op("LeakyRelu", [y], alpha=0.1), out_ch, out_ch, k, pad=d * (k - 1) // 2, dil=d)
                h = g.conv1d(g.op("LeakyRelu", [h], alpha=0.1), out_ch, out_ch, k, pad=(k - 1) // 2)
                y = g.op("Add", [y, h])
            acc = y if acc is None else g.op("Add", [acc, y])
        x = g.op("Div", [acc, g.const(float(len(kernels)))])
        ch = out_ch
    post = g.op("Tanh", [g.conv1d(g.op("LeakyRelu", [x], alpha=0.01), ch, 1, 7, pad=3)])
    audio = g.op("Add", [g.op("Mul", [source, g.const(0.5)]), g.op("Mul", [post, g.const(0.01)])])
    g.nodes.append(helper.make_node("Identity", [audio], ["audio"], name="audio"))
    T = "T"
    if fmt == "wokada":
        inputs = [
            helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, T, 768]),
            helper.make_tensor_value_info("p_len", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("pitch", TensorProto.INT64, [1, T]),
            helper.make_tensor_value_info("pitchf", TensorProto.FLOAT, [1, T]),
            helper.make_tensor_value_info("sid", TensorProto.INT64, [1]),
        ]
    else:
        inputs = [
            helper.make_tensor_value_info("phone", TensorProto.FLOAT, [1, T, 768]),
            helper.make_tensor_value_info("phone_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("pitch", TensorProto.INT64, [1, T]),
            helper.make_tensor_value_info("pitchf", TensorProto.FLOAT, [1, T]),
            helper.make_tensor_value_info("ds", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("rnd", TensorProto.FLOAT, [1, 192, T]),
        ]
    meta = {"metadata": json.dumps({"samplingRate": rate, "f0": True, "embChannels": 768,
                                    "embOutputLayer": 12, "useFinalProj": False, "version": "v2",
                                    "modelType": "pyTorchRVCv2"})}
    # p_len / phone_lengths only size the attention mask in the real graph: here they are
    # declared inputs that the stand-in does not need.
    del plen
    g.save(path, inputs, [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, "S"])], meta)


def rmvpe(path, channels, mlp, mlp_layers):
    g = G(3)
    x = g.op("Unsqueeze", ["waveform", g.const([1], np.int64)])  # [1,1,N]
    spec = g.conv1d(x, 1, 128, 1024, stride=160, pad=512)       # learned filterbank, [1,128,F]
    mel = g.op("Log", [g.op("Add", [g.op("Abs", [spec]), g.const(1e-5)])])
    x = g.op("Unsqueeze", [g.op("Transpose", [mel], perm=[0, 2, 1]), g.const([1], np.int64)])  # [1,1,F,128]
    c_in, width = 1, 128
    for c in channels:
        for _ in range(2):
            w = g.weight((c, c_in, 3, 3), c_in * 9)
            x = g.op("Relu", [g.op("Conv", [x, w, g.const(np.zeros(c))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
            c_in = c
        x = g.op("AveragePool", [x], kernel_shape=[1, 2], strides=[1, 2])
        width //= 2
    x = g.op("Transpose", [x], perm=[0, 2, 1, 3])  # [1,F,C,W]
    x = g.op("Reshape", [x, g.const([1, -1, c_in * width], np.int64)])
    d = c_in * width
    for _ in range(mlp_layers):
        x = g.op("Relu", [g.linear(x, d, mlp)])
        d = mlp
    sal = g.op("Sigmoid", [g.linear(x, d, 360)])  # [1,F,360]
    cents = g.const(np.arange(360) * 20 + 1997.3794084376191)
    num = g.op("ReduceSum", [g.op("Mul", [sal, cents]), g.const([2], np.int64)], keepdims=0)
    den = g.op("ReduceSum", [sal, g.const([2], np.int64)], keepdims=0)
    f0 = g.op("Mul", [g.op("Pow", [g.const(2.0), g.op("Div", [g.op("Div", [num, den]), g.const(1200.0)])]), g.const(10.0)])
    peak = g.op("ReduceMax", [sal], axes=[2], keepdims=0)
    f0 = g.op("Where", [g.op("Greater", [peak, "threshold"]), f0, g.const(0.0)])
    g.nodes.append(helper.make_node("Identity", [f0], ["pitchf"], name="pitchf"))
    g.save(path,
           [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, [1, "N"]),
            helper.make_tensor_value_info("threshold", TensorProto.FLOAT, [1])],
           [helper.make_tensor_value_info("pitchf", TensorProto.FLOAT, [1, "F"])])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", metavar="DIR", help="write real-size stand-ins to DIR instead of the tiny ones")
    args = ap.parse_args()
    if args.full:
        out = args.full
        os.makedirs(out, exist_ok=True)
        contentvec(f"{out}/contentvec.onnx", 512, 768, 12, 3072)
        for fmt in ("wokada", "rvc"):
            synthesizer(f"{out}/synth_{fmt}_48k.onnx", fmt, 48000, 192, 6, 512, [3, 7, 11], [1, 3, 5], 4, 109)
        rmvpe(f"{out}/rmvpe.onnx", [16, 32, 64, 128, 256], 4096, 6)
    else:
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "voice", "tests", "models")
        os.makedirs(out, exist_ok=True)
        contentvec(f"{out}/contentvec.onnx", 8, 16, 1, 32)
        synthesizer(f"{out}/synth_wokada_48k.onnx", "wokada", 48000, 8, 1, 16, [3], [1], 1, 1)
        synthesizer(f"{out}/synth_rvc_40k.onnx", "rvc", 40000, 8, 1, 16, [3], [1], 1, 1)
        rmvpe(f"{out}/rmvpe.onnx", [2], 16, 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Stand-in ONNX models for the face engine: random weights, the real models' input and
output names, shapes and operator kinds.

    det_10g.onnx      SCRFD-10G: input.1 [1,3,640,640] -> 9 outputs (scores/boxes/keypoints
                      at strides 8, 16, 32; 2 anchors per cell), as insightface's file.
    w600k_r50.onnx    ArcFace IResNet-50: input.1 [N,3,112,112] -> 683 [N,512].
    inswapper_128.onnx  target [1,3,128,128], source [1,512] -> output [1,3,128,128], with
                      the 512x512 emap as the graph's last initializer.
    inswapper_128_fp16.onnx  the same in fp16 (inputs, outputs and weights).
    hyperswap_1a_256.onnx  target [1,3,256,256], source [1,512] -> output [1,3,256,256] in
                      [-1, 1] and mask [1,1,256,256] (1b and 1c share the interface).
    simswap_256.onnx, simswap_unofficial_512.onnx  target [1,3,s,s], source [1,512] -> output
                      [1,3,s,s] in [0, 1]; SimSwap's BatchNormalization encoder.
    crossface_simswap.onnx  the embedding converter: input [N,512] -> output [N,512].
    xseg_1.onnx       DeepFaceLab XSeg as FaceFusion ships it: input [N,256,256,3] (NHWC, BGR
                      in [0, 1]) -> output [N,256,256,1], the chance each pixel is visible face.
                      Not random: it calls a pixel "not face" when it is saturated green
                      (G - R - B above one half), so a green occluder drawn over a face is what
                      the occlusion mask must keep.
    bisenet_resnet_34.onnx  BiSeNet face parser as FaceFusion ships it: input [N,3,512,512]
                      (RGB, ImageNet-normalised) -> output [N,19,512,512], a score per
                      CelebAMask-HQ class. Not random: hair (class 17) where the pixel is
                      saturated blue (B - R - G above one half), skin (class 1) elsewhere, so
                      a blue lock of hair drawn over a face is what the region mask must keep.
    gfpgan_1.4.onnx, gpen_bfr_256.onnx, gpen_bfr_512.onnx  face enhancers as FaceFusion ships
                      them: input [1,3,S,S] (RGB in [-1, 1]) -> output [1,3,S,S], S 512, 256,
                      512. A U-Net: strided convolutions with LeakyRelu down to S/16, a style
                      from the deepest features (GlobalAveragePool, Gemm) modulating each
                      decoder stage (Mul), nearest upsampling with skip connections (Add); the
                      answer is the input plus the decoder's last convolution, so the face
                      comes back changed but recognisably the same.

`--size tiny` writes small files for tests (same interfaces, few channels). `--size full`
writes the real models' width and depth, so inference costs what the real models cost
(SCRFD ~10 GMAC, ArcFace ~6.3 GMAC, inswapper ~160 GMAC / ~136 M parameters); use it for
benchmarks (inswapper_128_fp16 too, the same network in half precision; the other swappers
and the converter are written at `tiny` only: their real networks' widths are not published,
so a full-size stand-in would not cost what they cost).
XSeg's and BiSeNet's colour rules are the same at both sizes: `--size full` adds the real
networks' cost (~17 GMAC: DeepFaceLab's XSeg at base width 32, its layers counted; ~19 GMAC:
BiSeNet's ResNet-34 at 512x512) as a convolution stack whose answer is multiplied by zero.
Needs `numpy` and `onnx`.

    python3 tools/standin/make_standins.py --size tiny --out crates/face/tests/models
    python3 tools/standin/make_standins.py --size full --out ~/.cache/studio/standin-full
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 11


class Graph:
    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.n, self.macs = [], [], np.random.default_rng(seed), 0, 0

    def name(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, array, stem="w"):
        n = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def op(self, kind, inputs, stem=None, outputs=None, **attrs):
        outs = outputs or [self.name(stem or kind.lower())]
        self.nodes.append(helper.make_node(kind, inputs, outs, name=self.name(kind), **attrs))
        return outs[0] if len(outs) == 1 else outs

    def conv(self, x, cin, cout, k, stride=1, pad=None, hw=None, bias=0.0, gain=1.0):
        w = self.rng.normal(0, gain * np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        b = np.full(cout, bias, dtype=np.float32)
        p = k // 2 if pad is None else pad
        if hw is not None:
            self.macs += cin * k * k * cout * (hw // stride) ** 2
        return self.op("Conv", [x, self.const(w), self.const(b, "b")], kernel_shape=[k, k],
                       strides=[stride, stride], pads=[p, p, p, p])

    def bn(self, x, c):
        return self.op("BatchNormalization", [x, self.const(np.ones(c, np.float32), "g"),
                                              self.const(np.zeros(c, np.float32), "beta"),
                                              self.const(np.zeros(c, np.float32), "mean"),
                                              self.const(np.ones(c, np.float32), "var")], epsilon=1e-5)

    def resize2(self, x):
        roi = self.const(np.zeros(0, np.float32), "roi")
        scales = self.const(np.array([1, 1, 2, 2], np.float32), "scales")
        return self.op("Resize", [x, roi, scales], mode="nearest")

    def reshape(self, x, shape):
        return self.op("Reshape", [x, self.const(np.array(shape, np.int64), "shape")])

    def model(self, inputs, outputs, name):
        g = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="studio-standin")
        m.ir_version = 7
        onnx.checker.check_model(m)
        return m


def det_10g(full):
    """SCRFD-like: strided conv backbone, FPN with nearest upsampling, shared-shape heads."""
    g = Graph(10)
    c = 48 if full else 8
    f = 96 if full else 8
    depth = 3 if full else 1
    x = g.conv("input.1", 3, c // 2, 3, 2, hw=640)
    x = g.op("Relu", [x])
    x = g.op("Relu", [g.conv(x, c // 2, c, 3, 2, hw=320)])
    feats, cin, hw = [], c, 160
    for cout in (2 * c, 4 * c, 8 * c):
        x = g.op("Relu", [g.conv(x, cin, cout, 3, 2, hw=hw)])
        hw //= 2
        for _ in range(depth):
            y = g.op("Relu", [g.conv(x, cout, cout, 3, hw=hw)])
            x = g.op("Add", [x, g.conv(y, cout, cout, 3, hw=hw, gain=0.5)])
        feats.append((x, cout, hw))
        cin = cout
    lat = [g.conv(t, ch, f, 1, hw=s) for t, ch, s in feats]
    p5 = lat[2]
    p4 = g.op("Add", [lat[1], g.resize2(p5)])
    p3 = g.op("Add", [lat[0], g.resize2(p4)])
    outs = {"score": [], "bbox": [], "kps": []}
    names = {"score": ["448", "471", "494"], "bbox": ["451", "474", "497"], "kps": ["454", "477", "500"]}
    for i, (p, s) in enumerate(((p3, 80), (p4, 40), (p5, 20))):
        h = p
        for _ in range(2 if full else 1):
            h = g.op("Relu", [g.conv(h, f, f, 3, hw=s)])
        cls = g.op("Sigmoid", [g.conv(h, f, 2, 3, hw=s, bias=-1.0)])
        box = g.op("Mul", [g.conv(h, f, 8, 3, hw=s, bias=2.0, gain=0.2), g.const(np.array(1.0, np.float32), "scale")])
        kps = g.conv(h, f, 20, 3, hw=s, gain=0.2)
        for key, t, width in (("score", cls, 1), ("bbox", box, 4), ("kps", kps, 10)):
            t = g.op("Transpose", [t], perm=[0, 2, 3, 1])
            g.op("Reshape", [t, g.const(np.array([-1, width], np.int64), "shape")], outputs=[names[key][i]])
            outs[key].append((names[key][i], s * s * 2, width))
    order = outs["score"] + outs["bbox"] + outs["kps"]
    return g.model(
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [rows, w]) for n, rows, w in order],
        "scrfd_10g_standin",
    ), g.macs


def w600k_r50(full):
    """IResNet-50: BN-Conv-BN-PRelu-Conv-BN residual blocks, then BN, Flatten, Gemm, BN."""
    g = Graph(50)
    widths = (64, 128, 256, 512) if full else (8, 8, 8, 4)
    blocks = (3, 4, 14, 3) if full else (1, 1, 1, 1)
    x = g.conv("input.1", 3, widths[0], 3, hw=112)
    x = g.op("PRelu", [g.bn(x, widths[0]), g.const(np.full((widths[0], 1, 1), 0.25, np.float32), "slope")])
    cin, hw = widths[0], 112
    for w, n in zip(widths, blocks):
        for b in range(n):
            stride = 2 if b == 0 else 1
            y = g.bn(x, cin)
            y = g.bn(g.conv(y, cin, w, 3, hw=hw), w)
            y = g.op("PRelu", [y, g.const(np.full((w, 1, 1), 0.25, np.float32), "slope")])
            y = g.bn(g.conv(y, w, w, 3, stride, hw=hw, gain=0.5), w)
            sc = x if (stride == 1 and cin == w) else g.bn(g.conv(x, cin, w, 1, stride, pad=0, hw=hw), w)
            x = g.op("Add", [y, sc])
            cin, hw = w, hw // stride
    x = g.op("Flatten", [g.bn(x, cin)], axis=1)
    fc = g.rng.normal(0, np.sqrt(1.0 / (cin * 49)), (512, cin * 49)).astype(np.float32)
    g.macs += cin * 49 * 512
    x = g.op("Gemm", [x, g.const(fc), g.const(np.zeros(512, np.float32), "b")], transB=1)
    g.op("BatchNormalization", [x, g.const(np.ones(512, np.float32), "g"), g.const(np.zeros(512, np.float32), "beta"),
                                g.const(np.zeros(512, np.float32), "mean"), g.const(np.ones(512, np.float32), "var")],
         outputs=["683"], epsilon=1e-5)
    return g.model(
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])],
        "arcface_r50_standin",
    ), g.macs


def inswapper_128(full):
    """Encoder, AdaIN style blocks driven by `source`, upsampling decoder; emap last."""
    return style_swapper(full, 128, seed=128, emap=True, name="inswapper_128_standin")


def style_swapper(full, size, seed, emap=False, batch_norm=False, signed=False, mask=False, name="swapper"):
    """The swappers' shared shape: a strided encoder (SimSwap's with BatchNormalization), AdaIN
    residual blocks whose scale and shift are Gemms of `source`, a nearest-upsampling decoder
    and a 7x7 output convolution. `signed` leaves the Tanh in [-1, 1] (HyperSwap, which also
    gives a Sigmoid face mask); otherwise the output is (tanh + 1) / 2 in [0, 1]. With `emap`
    the 512x512 emap is the graph's last initializer (inswapper)."""
    g = Graph(seed)
    c = 1024 if full else 16
    nblocks = 6 if full else 2
    s4 = size // 4

    def pad_reflect(x, p):
        return g.op("Pad", [x, g.const(np.array([0, 0, p, p, 0, 0, p, p], np.int64), "pads")], mode="reflect")

    def adain(x, ch):
        n = g.op("InstanceNormalization", [x, g.const(np.ones(ch, np.float32), "s"), g.const(np.zeros(ch, np.float32), "b")],
                 epsilon=1e-5)
        ws = g.rng.normal(0, 0.02, (512, ch)).astype(np.float32)
        wb = g.rng.normal(0, 0.02, (512, ch)).astype(np.float32)
        g.macs += 2 * 512 * ch
        scale = g.op("Gemm", ["source", g.const(ws), g.const(np.ones(ch, np.float32), "b")])
        shift = g.op("Gemm", ["source", g.const(wb), g.const(np.zeros(ch, np.float32), "b")])
        return g.op("Add", [g.op("Mul", [n, g.reshape(scale, [1, ch, 1, 1])]), g.reshape(shift, [1, ch, 1, 1])])

    def act(x, ch):
        if batch_norm:
            return g.op("Relu", [g.bn(x, ch)])
        return g.op("LeakyRelu", [x], alpha=0.2)

    x = act(g.conv(pad_reflect("target", 3), 3, c // 8, 7, pad=0, hw=size), c // 8)
    x = act(g.conv(x, c // 8, c // 4, 3, 2, hw=size), c // 4)
    x = act(g.conv(x, c // 4, c // 2, 3, 2, hw=size // 2), c // 2)
    x = act(g.conv(x, c // 2, c, 3, hw=s4), c)
    for _ in range(nblocks):
        y = g.op("Relu", [adain(g.conv(pad_reflect(x, 1), c, c, 3, pad=0, hw=s4, gain=0.5), c)])
        y = adain(g.conv(pad_reflect(y, 1), c, c, 3, pad=0, hw=s4, gain=0.5), c)
        x = g.op("Add", [x, y])
    x = act(g.conv(g.resize2(x), c, c // 2, 3, hw=size // 2), c // 2)
    x = act(g.conv(g.resize2(x), c // 2, c // 4, 3, hw=size), c // 4)
    t = g.op("Tanh", [g.conv(pad_reflect(x, 3), c // 4, 3, 7, pad=0, hw=size, gain=0.3)])
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])]
    if signed:
        g.op("Identity", [t], outputs=["output"])
    else:
        half = g.const(np.array(0.5, np.float32), "half")
        g.op("Mul", [g.op("Add", [t, g.const(np.array(1.0, np.float32), "one")]), half], outputs=["output"])
    if mask:
        g.op("Sigmoid", [g.conv(x, c // 4, 1, 3, hw=size, bias=2.0)], outputs=["mask"])
        outputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, size, size]))
    if emap:
        emap = (np.eye(512) + g.rng.normal(0, 0.05, (512, 512))).astype(np.float32)
        g.inits.append(numpy_helper.from_array(emap, "emap"))  # last, where insightface reads it
    return g.model(
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        outputs,
        name,
    ), g.macs


def half_precision(model_and_macs):
    """The same graph in fp16, inputs and outputs included, as FaceFusion's `_fp16` exports.
    Resize's scales stay fp32, as ONNX requires, and so do the Gemms (cast in and out), as
    mixed-precision exports keep them."""
    model, macs = model_and_macs
    keep = {n.input[2] for n in model.graph.node if n.op_type == "Resize" and len(n.input) > 2}
    nodes = []
    for n in model.graph.node:
        if n.op_type != "Gemm":
            nodes.append(n)
            continue
        keep.update(n.input[1:])
        a, out = n.input[0], n.output[0]
        nodes.append(helper.make_node("Cast", [a], [a + "_f32_" + n.name], to=TensorProto.FLOAT))
        n.input[0] = a + "_f32_" + n.name
        n.output[0] = out + "_f32"
        nodes.append(n)
        nodes.append(helper.make_node("Cast", [out + "_f32"], [out], to=TensorProto.FLOAT16))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    for init in model.graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(model)
    return model, macs


def inswapper_128_fp16(full):
    return half_precision(inswapper_128(full))


def hyperswap_1a_256(full):
    """HyperSwap 1a/1b/1c (one interface): target [1,3,256,256] in [-1, 1] and the unit ArcFace
    source [1,512] -> output [1,3,256,256] in [-1, 1] and its face mask [1,1,256,256]."""
    return style_swapper(full, 256, seed=256, signed=True, mask=True, name="hyperswap_256_standin")


def simswap_256(full):
    """SimSwap 256: target [1,3,256,256] (ImageNet-normalised), source [1,512] (converted
    ArcFace, unit length) -> output [1,3,256,256] in [0, 1]."""
    return style_swapper(full, 256, seed=257, batch_norm=True, name="simswap_256_standin")


def simswap_unofficial_512(full):
    """SimSwap 512 beta: target [1,3,512,512] in [0, 1], source [1,512] -> output in [0, 1]."""
    return style_swapper(full, 512, seed=512, batch_norm=True, name="simswap_512_standin")


def crossface_simswap(full):
    """FaceFusion's CrossFace converter for SimSwap: input [N,512] (raw ArcFace) -> output
    [N,512] (SimSwap's identity space): Gemm, PRelu, Gemm."""
    g = Graph(4)
    hidden = 2048 if full else 64
    w1 = g.rng.normal(0, np.sqrt(1.0 / 512), (512, hidden)).astype(np.float32)
    w2 = g.rng.normal(0, np.sqrt(1.0 / hidden), (hidden, 512)).astype(np.float32)
    g.macs += 2 * 512 * hidden
    x = g.op("Gemm", ["input", g.const(w1), g.const(np.zeros(hidden, np.float32), "b")])
    x = g.op("PRelu", [x, g.const(np.full(hidden, 0.25, np.float32), "slope")])
    g.op("Gemm", [x, g.const(w2), g.const(np.zeros(512, np.float32), "b")], outputs=["output"])
    return g.model(
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 512])],
        "crossface_simswap_standin",
    ), g.macs


def xseg_1(full):
    """XSeg's operator kinds (Transpose, Pad, Conv, FRN as GlobalAveragePool/Add/Sqrt/
    Reciprocal/Mul, TLU as Max, Dense as Reshape/MatMul, ConvTranspose, Concat, Sigmoid) around
    one rule: logit = GAIN * (0.5 - (G - R - B)), so saturated green reads as "not face"
    (probability ~0) and everything else as face (probability ~1, to float precision for
    colours whose channels are within 0.4 of each other). The normalisation path and, with
    `full`, a stack of 3x3 convolutions at the real network's width run at zero gain: they
    cost what XSeg costs without changing the answer."""
    g = Graph(256)
    gain = 40.0
    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])  # NHWC -> NCHW
    x = g.op("Pad", [x, g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")], mode="constant")
    w = np.zeros((1, 3, 3, 3), np.float32)
    w[0, :, 1, 1] = [-1.0, 1.0, -1.0]  # B, G, R at the centre tap
    d = g.op("Conv", [x, g.const(w), g.const(np.array([-0.5], np.float32), "b")], kernel_shape=[3, 3], pads=[0, 0, 0, 0])
    g.macs += 27 * 256 * 256
    # Filter response normalisation and its thresholded unit, on a side path at zero gain.
    nu2 = g.op("GlobalAveragePool", [g.op("Mul", [d, d])])
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [nu2, g.const(np.array(1e-6, np.float32), "eps")])])])
    frn = g.op("Max", [g.op("Mul", [d, inv]), g.const(np.array(-1.0, np.float32), "tau")])
    side = frn
    if full:
        c, hw = 32, 256
        h = g.op("Max", [g.conv(frn, 1, c, 3, hw=hw), g.const(np.array(0.0, np.float32), "tau")])
        for cin, cout in [(c, 2 * c)] + [(2 * c, 2 * c)] * 6 + [(2 * c, c)]:
            h = g.op("Max", [g.conv(h, cin, cout, 3, hw=hw), g.const(np.array(0.0, np.float32), "tau")])
        side = g.conv(h, c, 1, 3, hw=hw)
    d = g.op("Add", [d, g.op("Mul", [side, g.const(np.array(0.0, np.float32), "zero")])])
    # Dense along the channel axis: the gain.
    flat = g.reshape(d, [-1, 1])
    logit = g.reshape(g.op("MatMul", [flat, g.const(np.array([[-gain]], np.float32), "dense")]), [-1, 1, 256, 256])
    # Decoder kinds: a 1x1 transposed convolution and a skip concatenation, each the identity.
    up = g.op("ConvTranspose", [logit, g.const(np.ones((1, 1, 1, 1), np.float32)), g.const(np.zeros(1, np.float32), "b")],
              kernel_shape=[1, 1], strides=[1, 1])
    both = g.op("Concat", [up, logit], axis=1)
    wmix = np.full((1, 2, 1, 1), 0.5, np.float32)
    out = g.op("Conv", [both, g.const(wmix), g.const(np.zeros(1, np.float32), "b")], kernel_shape=[1, 1],
               pads=[0, 0, 0, 0])
    prob = g.op("Sigmoid", [out])
    g.op("Transpose", [prob], perm=[0, 2, 3, 1], outputs=["output"])  # NCHW -> NHWC
    return g.model(
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 256, 256, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 256, 256, 1])],
        "xseg_1_standin",
    ), g.macs


def bisenet_resnet_34(full):
    """BiSeNet's operator kinds (Conv, BatchNormalization, Relu, MaxPool, GlobalAveragePool,
    Sigmoid, Mul, Add, Resize, Concat) around one rule on the ImageNet-normalised RGB input:
    hair (17) scores GAIN * (B - R - G - 0.5) in [0, 1] units, skin (1) scores 0, every other
    class -GAIN, so the best class is hair where the pixel is saturated blue and skin
    elsewhere. The context path (and, with `full`, a ResNet-34 stack at 512x512) runs at zero
    gain: it costs what BiSeNet costs without changing the answer."""
    g = Graph(34)
    gain, classes = 40.0, 19
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    w = np.zeros((classes, 3, 1, 1), np.float32)
    b = np.full(classes, -gain, np.float32)
    # v = x * std + mean per channel (R, G, B): hair scores gain * (vB - vR - vG - 0.5).
    w[17, :, 0, 0] = gain * np.array([-std[0], -std[1], std[2]])
    b[17] = gain * (mean[2] - mean[0] - mean[1] - 0.5)
    b[1] = 0.0
    scores = g.op("Conv", ["input", g.const(w), g.const(b, "b")], kernel_shape=[1, 1], pads=[0, 0, 0, 0])
    g.macs += 3 * classes * 512 * 512
    # The context path: stem, pooling, attention refinement (global pool, 1x1, sigmoid, mul),
    # upsampled back and fused, all at zero gain.
    c, hw = (64, 512) if full else (8, 512)
    x = g.op("Relu", [g.bn(g.conv("input", 3, c, 7, 2, hw=hw), c)])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    hw //= 4
    if full:
        # ResNet-34's stages: 3, 4, 6, 3 basic blocks at 64, 128, 256, 512 channels.
        cin = c
        for stage, (cout, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
            for i in range(blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                y = g.op("Relu", [g.bn(g.conv(x, cin, cout, 3, stride, hw=hw), cout)])
                hw //= stride
                y = g.bn(g.conv(y, cout, cout, 3, hw=hw), cout)
                skip = x if stride == 1 and cin == cout else g.conv(x, cin, cout, 1, stride, pad=0, hw=hw * stride)
                x = g.op("Relu", [g.op("Add", [y, skip])])
                cin = cout
        c = cin
    att = g.op("Sigmoid", [g.conv(g.op("GlobalAveragePool", [x]), c, c, 1, pad=0)])
    x = g.op("Mul", [x, att])
    while hw < 512:
        x = g.resize2(x)
        hw *= 2
    fused = g.op("Concat", [x, scores], axis=1)
    side = g.conv(fused, c + classes, classes, 1, pad=0, hw=512)
    out = g.op("Add", [scores, g.op("Mul", [side, g.const(np.array(0.0, np.float32), "zero")])],
               outputs=["output"])
    del out
    return g.model(
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 512, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes, 512, 512])],
        "bisenet_resnet_34_standin",
    ), g.macs


def face_enhancer(size, seed):
    def build(full):
        """Encoder-decoder with a style vector, as GFPGAN's and GPEN's generators are."""
        g = Graph(seed)
        widths = (32, 64, 128, 256, 512) if full else (4, 8, 8, 8, 8)
        depth = 2 if full else 1
        x, hw, skips = "input", size, []
        cin = 3
        for w in widths:
            for _ in range(depth):
                x = g.op("LeakyRelu", [g.conv(x, cin, w, 3, hw=hw)], alpha=0.2)
                cin = w
            skips.append((x, w, hw))
            x = g.op("LeakyRelu", [g.conv(x, cin, w, 3, 2, hw=hw)], alpha=0.2)
            hw //= 2
        style = g.reshape(g.op("GlobalAveragePool", [x]), [1, cin])
        for skip, w, shw in reversed(skips):
            x = g.resize2(x)
            hw *= 2
            x = g.op("Add", [g.conv(x, cin, w, 3, hw=hw, gain=0.5), skip])
            ws = g.rng.normal(0, 0.05, (cin, w)).astype(np.float32)
            g.macs += cin * w
            scale = g.op("Gemm", [style, g.const(ws), g.const(np.ones(w, np.float32), "b")])
            x = g.op("Mul", [x, g.reshape(scale, [1, w, 1, 1])])
            for _ in range(depth):
                x = g.op("LeakyRelu", [g.conv(x, w, w, 3, hw=hw, gain=0.5)], alpha=0.2)
            cin = w
        residual = g.conv(x, cin, 3, 3, hw=hw, gain=0.3)
        g.op("Add", ["input", g.op("Mul", [residual, g.const(np.array(0.5, np.float32), "half")])],
             outputs=["output"])
        return g.model(
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
            f"face_enhancer_{size}_standin",
        ), g.macs
    return build


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    full = args.size == "full"
    for fname, build in (("det_10g.onnx", det_10g), ("w600k_r50.onnx", w600k_r50), ("inswapper_128.onnx", inswapper_128),
                        ("xseg_1.onnx", xseg_1), ("bisenet_resnet_34.onnx", bisenet_resnet_34),
                        # The same network as inswapper_128 in half precision: at full size too.
                        ("inswapper_128_fp16.onnx", inswapper_128_fp16),
                        ("gfpgan_1.4.onnx", face_enhancer(512, 14)), ("gpen_bfr_256.onnx", face_enhancer(256, 256)),
                        ("gpen_bfr_512.onnx", face_enhancer(512, 512))) + (() if full else (
                        ("hyperswap_1a_256.onnx", hyperswap_1a_256), ("simswap_256.onnx", simswap_256),
                        ("simswap_unofficial_512.onnx", simswap_unofficial_512),
                        ("crossface_simswap.onnx", crossface_simswap))):
        model, macs = build(full)
        path = os.path.join(args.out, fname)
        onnx.save(model, path)
        params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, {params / 1e6:.1f} M parameters, {macs / 1e9:.2f} GMAC")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks ONNX files exported by swift-brevitas against the values Swift computed.

Usage:
    check_onnx.py MANIFEST.json [--strict-fused]
                                         run every case of the manifest, print one JSON line per
                                         case; exit status 0 when all pass
    check_onnx.py --capabilities         print which of onnx, onnxruntime, qonnx are importable
    check_onnx.py --brevitas CASES_DIR NAME...
                                         run Brevitas's own shipped exports (NAME.qcdq.onnx,
                                         NAME.qonnx.onnx) on the case's export_input and compare
                                         with export_output

A manifest is {"cases": [case, ...]} with, per case (tensors are raw little-endian float32
files next to the manifest, given with their shapes as {"file", "shape"}):

    {"name", "format": "qcdq" | "qonnx", "model": file,
     "inputs": [{"name", "file", "shape"}], "output": {"name", "file", "shape"},
     "probes": [{"name": tensor in the graph, "layer", "value", "scale", "zero_point"}],
     "reference": tensor (optional), "reference_onnx": path (optional)}

For every case:
  1. onnx.checker.check_model: the full check (strict shape inference) for QCDQ; the structural
     check for QONNX, whose custom ops have no ONNX schema.
  2. Run. QCDQ: ONNX Runtime with ORT_ENABLE_BASIC (constant folding; the QDQ nodes run as
     written), which decides, plus two reported runs with ONNX Runtime's QDQ fusion into integer
     kernels (see run_case). QONNX: qonnx's executor (qonnx.core.onnx_exec.execute_onnx on a
     ModelWrapper, using the graph's own value_info, no shape inference), or, when qonnx is not
     installed, the node-by-node reference executor below (numpy for Quant/BipolarQuant/Trunc
     with qonnx 1.0.0's formulas, ONNX Runtime for standard nodes), reported as
     "executor": "numpy-reference".
  3. Compare: the output within max|a - b| <= 1e-5 * max|b|; at every probe (each quantized
     activation) the integer codes round(v / scale + zero_point) must be identical. A code that
     differs by exactly one step is accepted only as a rounding tie: the runtime's pre-rounding
     value v / scale + zero_point must lie within 1e-3 of k + 0.5 (the two sides summed in a
     different float order and landed on either side of the tie), and at most
     max(1, ceil(1e-4 * N)) such flips per tensor. A justified flip perturbs everything
     downstream, so the output tolerance is then reported but not enforced.
     A probe may carry "ties" (a tensor of its shape, 1 where the exact pre-rounding value, in
     rational arithmetic on the input codes, is k + 0.5; Swift computes it): then one-step flips
     are accepted at those elements only, any number of them (still within 1e-3 of the tie in the
     runtime), and a flip anywhere else fails. Half-pixel bilinear upsampling by 2 needs it: its
     weights 1/16, 3/16, 9/16 put about one value in ten exactly on a tie, which the runtime's
     and Swift's float sums (torch's order) each resolve by their own rounding error.
  4. With "reference" / "reference_onnx": the output must also be within 1e-5 * max|ref| of the
     reference tensor and of the other file's output (Brevitas's export run the same way).
  5. "extra_outputs" (optional, [{"name", "file", "shape"}]): further graph outputs (a QuantLSTM's
     h_n and c_n), each within 1e-5 * max|Swift| of Swift's value, of "extra_references" (aligned,
     optional) and of the reference file's outputs 1, 2, ... in order.

QONNX graphs with a QuantLSTMCell (Brevitas's QONNX LSTM) run in the numpy reference executor:
qonnx has no executor for that op. Its semantics (_ref_quant_lstm_cell) are Brevitas's
_QuantLSTMCell; running Brevitas's own file through it reproduces Brevitas's recorded output.
"""
import json
import math
import os
import sys

import numpy as np

TIE_WINDOW = 1e-3
OUT_RTOL = 1e-5
STRICT_FUSED = "--strict-fused" in sys.argv


def capabilities():
    caps = {}
    from importlib import metadata
    for mod in ("onnx", "onnxruntime", "qonnx"):
        try:
            m = __import__(mod)
            try:
                caps[mod] = metadata.version(mod)
            except Exception:  # noqa: BLE001
                caps[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001
            caps[mod] = None
    return caps


def load_tensor(base, spec):
    a = np.fromfile(os.path.join(base, spec["file"]), dtype="<f4")
    return a.reshape(spec["shape"])


# --------------------------------------------------------------------------------------------
# Reference executor for QONNX graphs without qonnx (same formulas as qonnx 1.0.0)


def _min_max_int(signed, narrow, bits):
    if signed:
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0)
        hi = 2 ** (bits - 1) - 1
    else:
        lo = 0
        hi = 2 ** bits - 1 - (1 if narrow else 0)
    return lo, hi


def _round(mode, y):
    mode = mode.upper()
    if mode in ("ROUND", "HALF_EVEN"):
        return np.round(y)
    if mode == "FLOOR":
        return np.floor(y)
    if mode == "CEIL":
        return np.ceil(y)
    if mode == "HALF_UP":
        return np.sign(y) * np.floor(np.abs(y) + 0.5)
    raise ValueError("rounding mode " + mode)


def _attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ref_quant(node, ctx):
    x, scale, zp, bw = (ctx[n] for n in node.input)
    a = _attrs(node)
    rm = a.get("rounding_mode", b"ROUND")
    rm = rm.decode() if isinstance(rm, bytes) else rm
    bits = int(bw)
    y = x / scale + zp
    if bits == 1 and a.get("signed", 1):
        y = np.where(y >= 0, 1.0, -1.0).astype(y.dtype)
    else:
        lo, hi = _min_max_int(a.get("signed", 1), a.get("narrow", 0), bits)
        y = np.clip(y, lo, hi).astype(y.dtype)
        y = _round(rm, y)
    return (y - zp) * scale


def _ref_bipolar(node, ctx):
    x, scale = (ctx[n] for n in node.input)
    return np.where(x >= 0, 1.0, -1.0).astype(x.dtype) * scale


def _ref_trunc(node, ctx):
    x, scale, zp, ibw, oscale, obw = (ctx[n] for n in node.input)
    a = _attrs(node)
    rm = a.get("rounding_mode", b"FLOOR")
    rm = rm.decode() if isinstance(rm, bytes) else rm
    y = np.round(x / scale + zp)
    ts = 2.0 ** np.round(np.log2(oscale / scale))
    y = y / ts
    lo, hi = _min_max_int(a.get("signed", 1), a.get("narrow", 0), int(obw))
    y = np.clip(y, lo, hi)
    y = _round(rm, y)
    return ((y - zp / ts) * oscale).astype(np.float32)


LSTM_QUANTIZERS = ("output", "cell_state", "input_acc", "forget_acc", "cell_acc", "output_acc", "input_sigmoid",
                   "forget_sigmoid", "cell_tanh", "output_sigmoid", "hidden_state_tanh")


def _quant_values(x, scale, zp, bits, signed, narrow, rm):
    """qonnx's Quant on float32 values (as _ref_quant)."""
    lo, hi = _min_max_int(signed, narrow, int(bits))
    y = np.clip(x / scale + zp, lo, hi).astype(np.float32)
    return ((_round(rm, y) - zp) * scale).astype(np.float32)


def _ref_quant_lstm_cell(node, ctx):
    """QONNX QuantLSTMCell as Brevitas 0.13.4 defines it (qonnx has no executor for it):
    `_QuantLSTMCell.forward` with each quantizer a Quant with the node's scale / zero point /
    bit width inputs and <name>_signed / _narrow / _rounding_mode attributes (Brevitas names one
    of them output_sigmoid_narrow_range). Per step: i = Q_isig(sigmoid(Q_iacc(x W_ii^T + h W_hi^T
    + b_i))), f, g (tanh), o likewise; c = Q_cs(Q_cs(f c) + Q_cs(i g)); h = Q_out(o Q_htanh(tanh(c))).
    Returns the output sequence (in input order), the last h and the last c."""
    a = _attrs(node)
    ins = [ctx[n] for n in node.input]
    x, h, c = ins[0], ins[1], ins[2]
    w_i, w_h, bias = ins[3:7], ins[7:11], ins[11:15]
    if a.get("cifg", 0):
        raise ValueError("QuantLSTMCell with cifg=1 is not implemented by this reference executor")
    q = {}
    for k, name in enumerate(LSTM_QUANTIZERS):
        sc, zp, bw = ins[15 + 3 * k:18 + 3 * k]
        narrow = a.get(name + "_narrow", a.get(name + "_narrow_range", 0))
        rm = a.get(name + "_rounding_mode", b"ROUND")
        rm = rm.decode() if isinstance(rm, bytes) else rm
        q[name] = (np.float32(sc), np.float32(zp), int(bw), a.get(name + "_signed", 1), narrow, rm)
    Q = lambda name, v: _quant_values(np.asarray(v, dtype=np.float32), *q[name])
    sig = lambda v: (1.0 / (1.0 + np.exp(-v.astype(np.float64)))).astype(np.float32)
    tanh = lambda v: np.tanh(v.astype(np.float64)).astype(np.float32)
    seq_dim = 1 if a.get("batch_first", 0) else 0
    steps = list(range(x.shape[seq_dim]))
    if a.get("reverse_input", 0):
        steps.reverse()
    outs = {}
    for t in steps:
        xt = np.take(x, t, axis=seq_dim)
        acc = [(xt @ w_i[k].T + h @ w_h[k].T + bias[k]).astype(np.float32) for k in range(4)]
        i = Q("input_sigmoid", sig(Q("input_acc", acc[0])))
        f = Q("forget_sigmoid", sig(Q("forget_acc", acc[1])))
        g = Q("cell_tanh", tanh(Q("cell_acc", acc[2])))
        o = Q("output_sigmoid", sig(Q("output_acc", acc[3])))
        c = Q("cell_state", Q("cell_state", f * c) + Q("cell_state", i * g))
        h = Q("output", o * Q("hidden_state_tanh", tanh(c)))
        outs[t] = h
    seq = np.stack([outs[t] for t in range(x.shape[seq_dim])], axis=seq_dim).astype(np.float32)
    return seq, h, c


def graph_needs_reference(model):
    """Whether the graph has an op qonnx's executor cannot run (QuantLSTMCell)."""
    return any(n.op_type == "QuantLSTMCell" for n in model.graph.node)


def reference_execute(model, feeds):
    """Node-by-node execution: numpy for the qonnx ops, ONNX Runtime for one-node standard models."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    g = model.graph
    ctx = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    ctx.update(feeds)
    infos = {v.name: v for v in list(g.input) + list(g.output) + list(g.value_info)}
    opset = {o.domain: o.version for o in model.opset_import}
    for node in g.node:
        if node.domain == "qonnx.custom_op.general" and node.op_type == "QuantLSTMCell":
            for n, r in zip(node.output, _ref_quant_lstm_cell(node, ctx)):
                ctx[n] = r
            continue
        if node.domain == "qonnx.custom_op.general":
            fn = {"Quant": _ref_quant, "BipolarQuant": _ref_bipolar, "Trunc": _ref_trunc}[node.op_type]
            ctx[node.output[0]] = np.asarray(fn(node, ctx), dtype=np.float32)
            continue
        inputs = [n for n in node.input if n]
        ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(ctx[n].dtype), ctx[n].shape) for n in inputs]
        # Outputs without value_info (other exporters' files) are left untyped; ONNX Runtime
        # infers them.
        outs = [infos[n] if n in infos else helper.make_empty_tensor_value_info(n) for n in node.output]
        m = helper.make_model(helper.make_graph([node], "one", ins, outs),
                              opset_imports=[helper.make_opsetid("", opset.get("", 13))])
        m.ir_version = model.ir_version
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        res = sess.run(None, {n: ctx[n] for n in inputs})
        for n, r in zip(node.output, res):
            ctx[n] = r
    return ctx


# --------------------------------------------------------------------------------------------


def pre_quant_input(model, probe_name):
    """The float tensor entering the quantizer whose output is `probe_name`."""
    producers = {o: n for n in model.graph.node for o in n.output}
    node = producers.get(probe_name)
    while node is not None:
        if node.op_type in ("Quant", "BipolarQuant", "QuantizeLinear", "FloatQuant"):
            return node.input[0]
        if node.op_type == "Trunc":
            return None
        if node.op_type in ("DequantizeLinear", "Clip", "Cast", "Round", "Floor", "Div"):
            node = producers.get(node.input[0])
            continue
        return None
    return None


def run_case(base, case, caps):
    import onnx

    result = {"name": case["name"], "format": case["format"], "ok": False, "problems": []}
    path = os.path.join(base, case["model"])
    model = onnx.load(path)
    try:
        if case["format"] == "qcdq":
            onnx.checker.check_model(model, full_check=True)
            result["checker"] = "full"
        else:
            onnx.checker.check_model(model)
            result["checker"] = "structural"
    except Exception as e:  # noqa: BLE001
        result["problems"].append("onnx.checker: %s" % str(e).splitlines()[0])
        print(json.dumps(result), flush=True)
        return False

    feeds = {i["name"]: load_tensor(base, i) for i in case["inputs"]}
    # Inputs are stored as float32; integer graph inputs (an embedding's int64 indices) get
    # their declared type.
    for gi in model.graph.input:
        if gi.name in feeds and gi.type.tensor_type.elem_type == 7:
            feeds[gi.name] = feeds[gi.name].astype(np.int64)
    probes = case.get("probes", [])
    extra = []  # tensors to read besides the output: probes and their pre-quantization inputs
    for p in probes:
        extra.append(p["name"])
        pre = pre_quant_input(model, p["name"])
        p["_pre"] = pre
        if pre is not None:
            extra.append(pre)

    if case["format"] == "qcdq":
        import onnxruntime as ort
        infos = {v.name: v for v in list(model.graph.value_info) + list(model.graph.input)}
        outputs = {o.name for o in model.graph.output}
        for n in dict.fromkeys(extra):
            if n not in outputs and n in infos:
                model.graph.output.append(infos[n])
                outputs.add(n)
        serialized = model.SerializeToString()
        runs = []
        for label, level, int8 in (("basic", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, None),
                                   ("all_s8s8", ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "1"),
                                   ("default", ort.GraphOptimizationLevel.ORT_ENABLE_ALL, None)):
            so = ort.SessionOptions()
            so.graph_optimization_level = level
            so.log_severity_level = 3
            if int8 is not None:
                so.add_session_config_entry("session.qdqisint8allowed", int8)
            sess = ort.InferenceSession(serialized, so, providers=["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            values = dict(zip(names, sess.run(None, feeds)))
            values.update(feeds)
            runs.append((label, values))
        result["executor"] = "onnxruntime " + ort.__version__
    else:
        if graph_needs_reference(model):
            result["executor"] = "numpy-reference (QuantLSTMCell: qonnx has no executor for it)"
            values = reference_execute(model, feeds)
        elif caps.get("qonnx"):
            from qonnx.core.modelwrapper import ModelWrapper
            from qonnx.core.onnx_exec import execute_onnx
            result["executor"] = "qonnx " + caps["qonnx"]
            mw = ModelWrapper(model)
            if not mw.check_all_tensor_shapes_specified():
                result["problems"].append("not every tensor shape is specified (value_info incomplete)")
            values = execute_onnx(mw, feeds, return_full_exec_context=True)
        else:
            result["executor"] = "numpy-reference"
            values = reference_execute(model, feeds)
        runs = [("qonnx", values)]

    # QCDQ runs three times in ONNX Runtime:
    #   basic    ORT_ENABLE_BASIC: constant folding only; the QDQ nodes run as written. Decides.
    #   all_s8s8 ORT_ENABLE_ALL with session.qdqisint8allowed=1: DequantizeLinear -> Conv/Gemm/MatMul
    #            -> QuantizeLinear fused into integer kernels (QLinearConv, QGemm, ...) that keep
    #            int8 activations int8.
    #   default  ORT_ENABLE_ALL as shipped: on x86 ONNX Runtime also turns int8 activations into
    #            uint8 (+128) to use u8s8 kernels.
    # The fused runs are reported ("ort_all_s8s8", "ort_default") and decide only with
    # --strict-fused: ONNX Runtime's u8s8 kernels on AVX2 without VNNI multiply with VPMADDUBSW,
    # whose int16 pair sums saturate when a uint8 activation near 255 meets int8 weights near
    # +-127 (ONNX Runtime documents this and recommends 7-bit weights or VNNI hardware); then codes
    # differ by many steps. Brevitas's own shipped QCDQ files deviate the same way
    # (linear_then_relu, conv_io_quant_learned_sgd), and are exact with ORT_ENABLE_BASIC.
    for i, (label, values) in enumerate(runs):
        stats = compare(base, case, values)
        probs = stats.pop("problems_list")
        if i == 0:
            result.update(stats)
            result["problems"] += probs
        else:
            key = "ort_" + label
            result[key] = {k: stats.get(k) for k in ("max_abs_diff", "flips_total", "codes_checked")}
            result[key]["problems"] = probs
            if probs and STRICT_FUSED:
                result["problems"] += ["%s: %s" % (label, p) for p in probs]
    if "reference" in case or "reference_onnx" in case:
        compare_references(base, case, runs[0][1], feeds, caps, result)
    result["ok"] = not result["problems"]
    print(json.dumps(result), flush=True)
    return result["ok"]


def run_other(path, fmt, x, caps):
    """Output 0 of another exporter's file (Brevitas's) on input x, in the deciding runtime."""
    return run_other_all(path, fmt, x, caps)[0]


def run_other_all(path, fmt, x, caps):
    """Every output of another exporter's file (Brevitas's) on input x, in graph order."""
    import onnx
    if fmt == "qcdq":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.log_severity_level = 3
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        if sess.get_inputs()[0].type == "tensor(int64)":
            x = x.astype(np.int64)
        return sess.run(None, {sess.get_inputs()[0].name: x})
    model = onnx.load(path)
    if caps.get("qonnx") and not graph_needs_reference(model):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes
        mw = ModelWrapper(model).transform(InferShapes())
        if mw.graph.input[0].type.tensor_type.elem_type == 7:
            x = x.astype(np.int64)
        values = execute_onnx(mw, {mw.graph.input[0].name: x})
        return [values[o.name] for o in mw.graph.output]
    values = reference_execute(model, {model.graph.input[0].name: x})
    return [values[o.name] for o in model.graph.output]


def compare_references(base, case, values, feeds, caps, result):
    """Distances of our graph's output to a recorded reference output and to another file's."""
    got = np.asarray(values[case["output"]["name"]], dtype=np.float64)
    if "reference" in case:
        ref = load_tensor(base, case["reference"]).astype(np.float64)
        d = float(np.max(np.abs(got - ref.reshape(got.shape))))
        m = float(np.max(np.abs(ref)))
        result["vs_export_output"] = d
        result["reference_max_abs"] = m
        if d > OUT_RTOL * m:
            result["problems"].append("output differs from the reference output by %.3g > %.3g" % (d, OUT_RTOL * m))
    extras = case.get("extra_outputs", [])
    for k, ref_spec in enumerate(case.get("extra_references", [])):
        e = extras[k]
        g = np.asarray(values[e["name"]], dtype=np.float64)
        ref = load_tensor(base, ref_spec).astype(np.float64)
        d = float(np.max(np.abs(g - ref.reshape(g.shape))))
        m = float(np.max(np.abs(ref)))
        result["vs_export_output_" + e["name"]] = d
        if d > OUT_RTOL * m:
            result["problems"].append("%s differs from the reference by %.3g > %.3g" % (e["name"], d, OUT_RTOL * m))
    if "reference_onnx" in case:
        x = feeds[case["inputs"][0]["name"]]
        others = run_other_all(case["reference_onnx"], case["format"], x, caps)
        other = np.asarray(others[0], dtype=np.float64)
        d = float(np.max(np.abs(got - other.reshape(got.shape))))
        m = float(np.max(np.abs(other)))
        result["vs_brevitas_onnx"] = d
        if d > OUT_RTOL * m:
            result["problems"].append("output differs from %s's by %.3g > %.3g" % (os.path.basename(case["reference_onnx"]), d, OUT_RTOL * m))
        # Further outputs in order (a QuantLSTM's h_n, c_n: Brevitas's outputs 1 and 2).
        for k, e in enumerate(extras):
            g = np.asarray(values[e["name"]], dtype=np.float64)
            o = np.asarray(others[k + 1], dtype=np.float64)
            d = float(np.max(np.abs(g - o.reshape(g.shape))))
            m = float(np.max(np.abs(o)))
            result["vs_brevitas_onnx_" + e["name"]] = d
            if d > OUT_RTOL * m:
                result["problems"].append("%s differs from %s's output %d by %.3g > %.3g"
                                          % (e["name"], os.path.basename(case["reference_onnx"]), k + 1, d, OUT_RTOL * m))


def compare(base, case, values):
    """Output tolerance and integer codes at every probe, for one run's tensors."""
    probes = case.get("probes", [])
    stats = {"problems_list": []}
    problems = stats["problems_list"]
    out_spec = case["output"]
    ref = load_tensor(base, out_spec)
    got = np.asarray(values[out_spec["name"]], dtype=np.float32)
    if got.shape != ref.shape:
        problems.append("output shape %s, Swift %s" % (got.shape, ref.shape))
        stats.update(max_abs_diff=float("nan"), flips_total=0, codes_checked=0)
        return stats
    # Non-finite outputs (non-saturating minifloats) must match exactly: NaN at NaN, inf at the
    # same inf; the rest is compared with the tolerance.
    same_nonfinite = (np.isnan(got) & np.isnan(ref)) | (np.isinf(got) & (got == ref))
    finite = np.isfinite(got) & np.isfinite(ref)
    if (~finite & ~same_nonfinite).any():
        problems.append("output: %d non-finite values differ (NaN/inf)" % int((~finite & ~same_nonfinite).sum()))
    stats["nonfinite_outputs"] = int(same_nonfinite.sum())
    m = float(np.max(np.abs(ref[finite]))) if finite.any() else 0.0
    diff = float(np.max(np.abs(got[finite].astype(np.float64) - ref[finite].astype(np.float64)))) if finite.any() else 0.0
    stats["max_abs_diff"] = diff
    stats["max_abs_ref"] = m
    stats["tolerance"] = OUT_RTOL * m

    for e in case.get("extra_outputs", []):
        eref = load_tensor(base, e).astype(np.float64)
        egot = np.asarray(values[e["name"]], dtype=np.float64)
        if egot.shape != eref.shape:
            problems.append("%s shape %s, Swift %s" % (e["name"], egot.shape, eref.shape))
            continue
        d = float(np.max(np.abs(egot - eref))) if eref.size else 0.0
        em = float(np.max(np.abs(eref))) if eref.size else 0.0
        stats["max_abs_diff_" + e["name"]] = d
        if d > OUT_RTOL * em:
            problems.append("%s max |diff| %.3g > %.3g" % (e["name"], d, OUT_RTOL * em))

    flips_total = 0
    codes_checked = 0
    for p in probes:
        sref = load_tensor(base, p["value"])
        sgot = np.asarray(values[p["name"]], dtype=np.float32)
        scale = load_tensor(base, p["scale"]).astype(np.float64)
        zp = load_tensor(base, p["zero_point"]).astype(np.float64)
        mf = p.get("minifloat")
        if mf is not None:
            # Minifloat: the unscaled values v / scale lie on the format's grid; a "code"
            # difference counts grid steps (the step of the smaller magnitude), NaN must meet NaN
            # and inf the same inf.
            yref = sref.astype(np.float64) / scale
            ygot = np.broadcast_to(sgot.astype(np.float64) / scale, yref.shape)
            codes_checked += yref.size
            nonfinite = ~np.isfinite(yref) | ~np.isfinite(ygot)
            same_nonfinite = (np.isnan(yref) & np.isnan(ygot)) | (yref == ygot)
            if (nonfinite & ~same_nonfinite).any():
                problems.append("%s: %d non-finite values differ (NaN/inf)" % (p["layer"], int((nonfinite & ~same_nonfinite).sum())))
                continue
            step = lambda y: np.exp2(np.maximum(np.floor(np.log2(np.abs(y) + 1e-300)), 1 - mf["exponent_bias"]) - mf["mantissa_bit_width"])
            fin = ~nonfinite
            d = np.zeros(yref.shape)
            d[fin] = np.abs(ygot[fin] - yref[fin]) / np.minimum(step(yref[fin]), step(ygot[fin]))
            bad = d > 0
            if not bad.any():
                continue
            n_bad = int(bad.sum())
            if (d > 1).any():
                problems.append("%s: %d minifloat values differ, up to %.3g grid steps" % (p["layer"], n_bad, float(d.max())))
                continue
            pre_name = p.get("_pre")
            if pre_name is None or pre_name not in values:
                problems.append("%s: %d one-step minifloat flips and no pre-quantization tensor" % (p["layer"], n_bad))
                continue
            pre = np.broadcast_to(np.asarray(values[pre_name], dtype=np.float64) / scale, yref.shape)[bad]
            v = pre / step(pre)
            dist = np.abs(v - (np.floor(v) + 0.5))
            if (dist > TIE_WINDOW).any() or n_bad > max(1, math.ceil(1e-4 * yref.size)):
                problems.append("%s: %d one-step minifloat flips, not at rounding ties (distance %.3g)" % (p["layer"], n_bad, float(dist.max())))
                continue
            flips_total += n_bad
            continue
        cref = np.round(sref.astype(np.float64) / scale + zp)
        cgot = np.round(sgot.astype(np.float64) / scale + zp)
        codes_checked += cref.size
        d = np.abs(cgot - cref)
        bad = d > 0
        n_bad = int(bad.sum())
        ties_spec = p.get("ties")
        if ties_spec is not None:
            ties = load_tensor(base, ties_spec).reshape(cref.shape) != 0
            n_off = int((bad & ~ties).sum())
            stats.setdefault("tie_flips", []).append({"layer": p["layer"], "count": n_bad, "ties": int(ties.sum()),
                                                      "off_tie": n_off})
        if not bad.any():
            continue
        if (d > 1).any():
            problems.append("%s: %d codes differ, up to %d steps" % (p["layer"], n_bad, int(d.max())))
            continue
        if ties_spec is not None:
            if n_off:
                problems.append("%s: %d of %d one-step flips at elements that are not exact rounding ties (%d ties declared)"
                                % (p["layer"], n_off, n_bad, int(ties.sum())))
                continue
        limit = cref.size if ties_spec is not None else max(1, math.ceil(1e-4 * cref.size))
        if n_bad > limit:
            problems.append("%s: %d one-step code flips (limit %d)" % (p["layer"], n_bad, limit))
            continue
        pre_name = p.get("_pre")
        if pre_name is None or pre_name not in values:
            problems.append("%s: %d one-step flips and no pre-quantization tensor to justify them" % (p["layer"], n_bad))
            continue
        pre = np.asarray(values[pre_name], dtype=np.float64)
        v = np.broadcast_to(pre / scale + zp, cref.shape)[bad]
        dist = np.abs(v - (np.floor(v) + 0.5))
        if (dist > TIE_WINDOW).any():
            problems.append("%s: %d one-step flips, not at rounding ties (distance %.3g)" % (p["layer"], n_bad, float(dist.max())))
            continue
        flips_total += n_bad
        stats.setdefault("flips", []).append({"layer": p["layer"], "count": n_bad, "max_tie_distance": float(dist.max())})
    stats["codes_checked"] = codes_checked
    stats["probes"] = len(probes)
    stats["flips_total"] = flips_total
    if diff > OUT_RTOL * m:
        if flips_total > 0:
            stats["output_note"] = "output differs by %.3g after %d justified tie flips upstream" % (diff, flips_total)
        else:
            problems.append("output max |diff| %.3g > %.3g (1e-5 * max|out| %.3g)" % (diff, OUT_RTOL * m, m))
    return stats


def tensor_of(j):
    """A recorded tensor, or the value of a recorded QuantTensor."""
    if "kind" in j:
        j = j["value"]
    return np.array(j["data"], dtype=np.float32).reshape(j["shape"])


def run_brevitas(cases_dir, names, caps):
    """Brevitas's shipped exports on the recorded export_input vs export_output."""
    import onnxruntime as ort
    ok = True
    for name in names:
        c = json.load(open(os.path.join(cases_dir, name + ".json")))
        x = tensor_of(c["export_input"])
        ref = tensor_of(c["export_output"])
        res = {"name": name}
        for fmt in ("qcdq", "qonnx"):
            path = os.path.join(cases_dir, "%s.%s.onnx" % (name, fmt))
            if fmt == "qcdq":
                for label, level, int8 in (("qcdq_ort_default", ort.GraphOptimizationLevel.ORT_ENABLE_ALL, None),
                                           ("qcdq_ort_all_s8s8", ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "1"),
                                           ("qcdq", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, None)):
                    so = ort.SessionOptions()
                    so.graph_optimization_level = level
                    so.log_severity_level = 3
                    if int8 is not None:
                        so.add_session_config_entry("session.qdqisint8allowed", int8)
                    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
                    res[label] = float(np.max(np.abs(y.astype(np.float64) - ref)))
            else:
                import onnx
                model = onnx.load(path)
                if caps.get("qonnx"):
                    from qonnx.core.modelwrapper import ModelWrapper
                    from qonnx.core.onnx_exec import execute_onnx
                    from qonnx.transformation.infer_shapes import InferShapes
                    mw = ModelWrapper(model).transform(InferShapes())
                    y = execute_onnx(mw, {mw.graph.input[0].name: x})[mw.graph.output[0].name]
                else:
                    y = reference_execute(model, {model.graph.input[0].name: x})[model.graph.output[0].name]
            diff = float(np.max(np.abs(y.astype(np.float64) - ref)))
            res[fmt] = diff  # QCDQ: the ORT_ENABLE_BASIC run decides, ORT_ENABLE_ALL is reported
            if diff > 1e-5 * float(np.max(np.abs(ref))):
                ok = False
        print(json.dumps(res), flush=True)
    return ok


def main(argv):
    caps = capabilities()
    if len(argv) >= 2 and argv[1] == "--capabilities":
        print(json.dumps(caps))
        return 0
    if caps["onnx"] is None or caps["onnxruntime"] is None:
        print(json.dumps({"skip": "onnx and onnxruntime are not importable", "capabilities": caps}))
        return 3
    if len(argv) >= 3 and argv[1] == "--brevitas":
        return 0 if run_brevitas(argv[2], argv[3:], caps) else 1
    argv = [a for a in argv if a != "--strict-fused"]
    manifest_path = argv[1]
    base = os.path.dirname(os.path.abspath(manifest_path))
    manifest = json.load(open(manifest_path))
    ok = True
    for case in manifest["cases"]:
        try:
            ok = run_case(base, case, caps) and ok
        except Exception as e:  # noqa: BLE001
            ok = False
            print(json.dumps({"name": case["name"], "format": case["format"], "ok": False,
                              "problems": ["%s: %s" % (type(e).__name__, e)]}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

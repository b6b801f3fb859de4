#!/usr/bin/env python3
"""Conformance cases (family "formats", spec_version 2) of Brevitas 0.13.4 presets that the shared
generator and gen_formats_extra.py do not record: the MSE searches of shifted (asymmetric)
quantizers, the unsigned MSE activation preset, and the fixed-point (power-of-two) MSE presets.

  * ShiftedUint8WeightPerTensorFloatMSE / ...PerChannelFloatMSE: the scale is the MSE grid search
    (20 candidates between |max - min|/20 and |max - min|, AbsMinMax) and the zero point a second
    grid search (20 candidates between min(min(W), 0) and a twentieth of it), both at the first
    forward, then learned. The scale search quantizes with the initial zero point
    round(-min(min(W), 0) / s); the zero-point search with the scale just found.
  * ShiftedUint8ActPerTensorFloatMSE: the same two searches on every statistics-collection call;
    from the second call on, the scale search quantizes with the zero point the previous call's
    search found (Brevitas keeps it in the MSE module), not with this input's minimum.
  * Uint8ActPerTensorFloatMSE: max|x| grid search, threshold 255.
  * Int8WeightPerTensor/PerChannelFixedPointMSE: every candidate becomes the power-of-two scale
    2^ceil(log2(c)) / 2^ceil(log2(threshold)) while searching; the learned log2 scale then clamps
    with TensorClamp (no straight-through gradient past the range), as every parameter_from_stats
    weight scale does.
  * Int8/Uint8ActPerTensorFixedPointMSE, ShiftedUint8ActPerTensorFixedPoint(MSE): activations
    search (and collect) with float scales c / 2^(b-1) or c / 2^b, and restrict to powers of two
    only once the scale is learned.
  * At 3 bits on wide weights with outliers (and on heavy-tailed activations) both searches move
    off their starts; at 8 bits the full range and the full negative tail win on every recorded
    weight.
  * Int8DynamicActPerTensorFloat, ShiftedUint8DynamicActPerTensorFloat, Int8DynamicActPerGroupFloat,
    Int8DynamicActPerRowFloat, ShiftedUint8DynamicActPerRowFloat (completed with the broadcast function
    that brevitas_examples' quantize() injects for per_row; brevitas_examples.common.generative.quantizers): the scale (and zero point) of the current
    input at every call, train and eval, gradient through the statistic; six fresh inputs each.
    (ShiftedUint8DynamicActPerGroupFloat is not recorded: in Brevitas 0.13.4 the zero point of
    RuntimeDynamicGroupZeroPoint does not broadcast against the per-group scale: it raises in
    int_base.to_int with group_dim=-1 and returns 5-d scales with group_dim=1.)

Each case names its preset in the constructor, so `brevitas conformance` replays it by name.
The cases use gen_formats.py's machinery unchanged (seeds from the case name, spec, layout).

Usage (from the package root, with the Brevitas 0.13.4 reference environment):
    /work/ref/.venv-ref/bin/python Tests/Fixtures/formats-extra/gen_presets_extra.py \\
        Tests/Fixtures/formats-extra [--shared ../shared/conformance] [--only NAME_SUBSTRING]
"""

import argparse
import json
import os
import sys

import torch

from gen_formats_extra import edge_weights


def cases(F, P):
    GL, C, L = P.group_linear, P.conv, P.linear if hasattr(P, "linear") else P.group_linear
    glin = f"QuantLinear({GL['fin']}, {GL['fout']}, bias=True"
    conv = f"QuantConv2d({C['cin']}, {C['cout']}, {C['k']}, bias=True"
    wpt, wpc = "ShiftedUint8WeightPerTensorFloatMSE", "ShiftedUint8WeightPerChannelFloatMSE"
    pt_what = (f"{wpt}: asymmetric 8-bit, one scale and one zero point for the whole weight, the "
               "scale from an MSE grid search over |max - min| (20 candidates from a twentieth "
               "of it), then the zero point from an MSE grid search over min(min(W), 0), both "
               "at the first forward, then learned")
    pc_what = wpc + ": the same per output channel"
    out = [
        lambda: F.layer_case(P, "linear_shifted_uint8_per_tensor_mse", f"{glin}, weight_quant={wpt})",
                             GL["x"], pt_what, False, None),
        lambda: F.layer_case(P, "linear_shifted_uint8_per_channel_mse", f"{glin}, weight_quant={wpc})",
                             GL["x"], pc_what, False, None),
        lambda: F.layer_case(P, "conv_shifted_uint8_per_tensor_mse", f"{conv}, weight_quant={wpt})",
                             C["x"], pt_what + " (4-d weight)", False, None),
        lambda: F.layer_case(P, "conv_shifted_uint8_per_channel_mse", f"{conv}, weight_quant={wpc})",
                             C["x"], pc_what + " (4-d weight)", False, None),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_channel_mse_edge", f"{glin}, weight_quant={wpc})", GL["x"],
            f"{wpc} on edge channels (set before the first forward, recorded in initial_state): "
            "row 0 constant 0.3 (zero range), row 1 all zero (scale at scaling_min_val), row 2 "
            "all positive (the zero-point search has only the candidate 0), row 3 heavy-tailed "
            "N(0, 4) with two outliers in [8, 16]", lambda c, shp: edge_weights(F, c, shp)),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_tensor_mse_edge", f"{glin}, weight_quant={wpt})", GL["x"],
            f"{wpt} on the same edge rows", lambda c, shp: edge_weights(F, c, shp)),
        lambda: F.layer_case(P, "linear_int8_per_tensor_fixed_point_mse",
                             f"{glin}, weight_quant=Int8WeightPerTensorFixedPointMSE)", GL["x"],
                             "Int8WeightPerTensorFixedPointMSE: MSE grid search of max|W| with "
                             "power-of-two scales, then a learned log2 scale", False, None),
        lambda: F.layer_case(P, "linear_int8_per_channel_fixed_point_mse",
                             f"{glin}, weight_quant=Int8WeightPerChannelFixedPointMSE)", GL["x"],
                             "Int8WeightPerChannelFixedPointMSE: the same per output channel",
                             False, None),
    ]
    acts = [
        ("act_shifted_uint8_mse_traj", "act_quant=ShiftedUint8ActPerTensorFloatMSE",
         "ShiftedUint8ActPerTensorFloatMSE: on each collection call an MSE grid search of the "
         "scale (AbsMinMax, 20 candidates) then of the zero point (min(min(x), 0), 20 candidates); "
         "the scale search quantizes with the previous call's zero point"),
        ("act_uint8_mse_traj", "act_quant=Uint8ActPerTensorFloatMSE",
         "Uint8ActPerTensorFloatMSE: MSE grid search of max|x|, threshold 255"),
        ("act_int8_fixed_point_mse_traj", "act_quant=Int8ActPerTensorFixedPointMSE",
         "Int8ActPerTensorFixedPointMSE: MSE grid search with power-of-two scales"),
        ("act_uint8_fixed_point_mse_traj", "act_quant=Uint8ActPerTensorFixedPointMSE",
         "Uint8ActPerTensorFixedPointMSE: MSE grid search with power-of-two scales, threshold 255"),
        ("act_shifted_uint8_fixed_point_traj", "act_quant=ShiftedUint8ActPerTensorFixedPoint",
         "ShiftedUint8ActPerTensorFixedPoint: percentile-interval range and zero point, "
         "power-of-two scale"),
        ("act_shifted_uint8_fixed_point_mse_traj", "act_quant=ShiftedUint8ActPerTensorFixedPointMSE",
         "ShiftedUint8ActPerTensorFixedPointMSE: the shifted MSE searches with power-of-two scales"),
    ]
    for name, qkw, what in acts:
        out.append(lambda name=name, qkw=qkw, what=what: F.act_trajectory(P, name, qkw, what, False))
    out.append(lambda: F.act_trajectory(
        P, "act_shifted_uint8_mse_traj", "act_quant=ShiftedUint8ActPerTensorFloatMSE",
        "ShiftedUint8ActPerTensorFloatMSE with SGD on the learned scale and zero point", True))
    # At 3 bits on a 256-wide weight with outliers both searches move off their starts: the
    # scale clips the outliers and the zero point then clips part of the negative tail (at 8
    # bits the full range and the full negative tail win on every recorded weight).
    wide = "QuantLinear(256, 4, bias=True"
    low = ("at weight_bit_width=3 on a N(0, 1) [4, 256] weight with 4 outliers of magnitude "
           "[5, 7] (set before the first forward, recorded in initial_state): the scale search "
           "clips the outliers and the zero-point search part of the negative tail")
    # (Per tensor the zero point stays at its start on such a weight, and the gradient of the
    # one zero point sums 1024 terms, where float32 summation order alone moves it by ~3e-5
    # relative: that case is not recorded.)
    for q, key in ((wpc, "per_channel"),):
        out.append(lambda q=q, key=key: F.fixed_weight_layer_case(
            P, f"linear_shifted_uint8_{key}_mse_3bit", f"{wide}, weight_quant={q}, weight_bit_width=3)",
            (3, 256), f"{q} {low}", lambda c, shp: F.heavy_tailed(c, shp, 4, 5.0, 7.0)))
    # Fixed-point presets with a learned range from min_val / max_val, and the 24-bit bias.
    def steps(c, n):
        return [c.randn(*P.act_shape, scale=P.act_scale) for _ in range(n)]
    for name, ctor, what in (
            ("act_int8_fixed_point_min_max_init",
             "QuantIdentity(act_quant=Int8ActPerTensorFixedPointMinMaxInit, min_val=-0.5, max_val=0.5, "
             "return_quant_tensor=True)",
             "Int8ActPerTensorFixedPointMinMaxInit: learned log2 range initialised from "
             "max(|min_val|, |max_val|) = 0.5, scale 2^ceil(log2 0.5) / 128"),
            ("act_uint8_fixed_point_max_init",
             "QuantIdentity(act_quant=Uint8ActPerTensorFixedPointMaxInit, max_val=0.75, "
             "return_quant_tensor=True)",
             "Uint8ActPerTensorFixedPointMaxInit: learned log2 range initialised from max_val = "
             "0.75, scale 2^ceil(log2 0.75) / 256")):
        out.append(lambda name=name, ctor=ctor, what=what: F.act_steps_case(
            P, name, ctor, lambda c: (steps(c, 4), f"{ctor}: {what}. Three training steps and one "
                                      f"eval step, fresh N(0, {P.act_scale}^2) input each, with backward."),
            ["train"] * 3 + ["eval"]))
    out.append(lambda: F.layer_case(
        P, "linear_int24_bias", f"{glin}, input_quant=Int8ActPerTensorFloat, bias_quant=Int24Bias)",
        GL["x"], "Int24Bias: 24-bit bias with the accumulator's scale (input scale x weight scale)",
        False, None))
    out.append(lambda: F.layer_case(
        P, "linear_shifted_mx_uint8", f"{glin}, weight_quant=ShiftedMXUInt8Weight)", GL["x"],
        "ShiftedMXUInt8Weight: unsigned 8-bit, zero point per group of 32 input features, E8M0 "
        "scale 2^floor(log2(max - min(min, 0))) / 2^8", False, None))
    # Dynamic activation quantizers (brevitas_examples.common.generative.quantizers): the scale
    # (and the shifted zero point) come from the current input at every call, train and eval.
    def dyn(c):
        sh = P.act_shape
        xs = [c.randn(*sh, scale=P.act_scale), c.randn(*sh, scale=0.2), c.randn(*sh, scale=6.0) + 1.0,
              torch.zeros(*sh), torch.relu(c.randn(*sh)), c.randn(*sh, scale=P.act_scale) - 0.5]
        return xs
    dyn_desc = ("Six steps (train, train, train, train, train, eval), fresh inputs: N(0, 1.5^2), "
                "N(0, 0.2^2), N(1, 6^2), all zeros (zero range: scale at scaling_min_val), "
                "relu(N(0, 1)) (minimum exactly 0), N(-0.5, 1.5^2); with backward")
    for name, ctor, what in (
            ("act_int8_dynamic_per_tensor",
             "QuantIdentity(act_quant=Int8DynamicActPerTensorFloat, return_quant_tensor=True)",
             "Int8DynamicActPerTensorFloat: scale max(max|x|, 1e-10) / 128 of the current input"),
            ("act_shifted_uint8_dynamic_per_tensor",
             "QuantIdentity(act_quant=ShiftedUint8DynamicActPerTensorFloat, return_quant_tensor=True)",
             "ShiftedUint8DynamicActPerTensorFloat: scale (max(x) - min(min(x), 0)) / 255 and zero "
             "point round(-min(min(x), 0) / s) of the current input"),
            ("act_int8_dynamic_per_group",
             "QuantIdentity(act_quant=Int8DynamicActPerGroupFloat, group_size=4, group_dim=-1, return_quant_tensor=True)",
             "Int8DynamicActPerGroupFloat: one scale max|x_g| / 128 per group of 4 along the last dim"),
            ("act_int8_dynamic_per_group_padded",
             "QuantIdentity(act_quant=Int8DynamicActPerGroupFloat, group_size=3, group_dim=-1, return_quant_tensor=True)",
             "Int8DynamicActPerGroupFloat with group_size 3 on a last dim of 4 (zero padding)"),
            ("act_int8_dynamic_per_row",
             "QuantIdentity(act_quant=Int8DynamicActPerRowFloat, return_quant_tensor=True)",
             "Int8DynamicActPerRowFloat (completed as quantize() does for per_row): one scale "
             "max|x_r| / 128 per vector of the last dim, shape (2, 3, 4, 1)"),
            ("act_shifted_uint8_dynamic_per_row",
             "QuantIdentity(act_quant=ShiftedUint8DynamicActPerRowFloat, return_quant_tensor=True)",
             "ShiftedUint8DynamicActPerRowFloat: scale and zero point per vector of the last dim")):
        out.append(lambda name=name, ctor=ctor, what=what: F.act_steps_case(
            P, name, ctor, lambda c: (dyn(c), f"{ctor}: {what}. {dyn_desc}."),
            ["train"] * 5 + ["eval"]))
    H = P.heavy_int8
    out.append(lambda: F.heavy_mse_case(
        P, "act_shifted_uint8_mse_3bit_heavy_tail_traj", "ShiftedUint8ActPerTensorFloatMSE, bit_width=3", H,
        "ShiftedUint8ActPerTensorFloatMSE at bit_width=3 on a heavy-tailed input (both searches "
        "move off their starts)"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(here, "../../../../shared/conformance")),
                    help="folder of gen.py and gen_formats.py (default: ../shared/conformance beside the package)")
    ap.add_argument("--only", default=None, help="write only the cases whose name contains this")
    a = ap.parse_args(argv)
    if not os.path.exists(os.path.join(a.shared, "gen_formats.py")):
        ap.error("gen_formats.py not found in %s (use --shared)" % a.shared)
    sys.path.insert(0, os.path.abspath(a.shared))
    import torch
    import gen_formats as F

    import brevitas.quant.fixed_point as fixed_point
    # Constructor strings may also name the fixed-point presets that brevitas.quant does not export.
    for n in dir(fixed_point):
        obj = getattr(fixed_point, n)
        if isinstance(obj, type) and obj.__module__ == fixed_point.__name__:
            F.G.NS.setdefault(n, obj)

    import brevitas_examples.common.generative.quantizers as gq
    # ... and the dynamic activation presets of brevitas_examples.
    for n in dir(gq):
        obj = getattr(gq, n)
        if isinstance(obj, type) and "Dynamic" in n:
            F.G.NS.setdefault(n, obj)
    # The per-row ones cannot be built alone: completed as brevitas_examples' quantize() does for
    # input_quant_granularity='per_row'.
    for n in ("Int8DynamicActPerRowFloat", "ShiftedUint8DynamicActPerRowFloat"):
        F.G.NS[n] = getattr(gq, n).let(**{
            "dynamic_scaling_broadcastable_fn": lambda x, shape: x.view(*shape[:-1], 1),
            "permute_dims": None, "stats_reduce_dim": 1})

    torch.set_num_threads(1)
    P = F.variant("public")
    os.makedirs(a.outdir, exist_ok=True)
    for make in cases(F, P):
        c = make()
        if a.only and a.only not in c.name:
            continue
        path = os.path.join(a.outdir, c.name + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump(c.d, f, allow_nan=False, separators=(",", ":"))
        os.replace(path + ".tmp", path)
        err = c.d.get("reference_error")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)" + (f"; reference error: {err['type']}" if err else ""))


if __name__ == "__main__":
    main()

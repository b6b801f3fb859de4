#!/usr/bin/env python3
"""Extra conformance cases of the "formats" family (spec_version 2) for swift-brevitas.

What the shared generator (../shared/conformance/gen_formats.py) does not record: Brevitas's HQO
zero-point presets that are not group-wise,

  * ShiftedUint8WeightPerChannelFloatHQO: unsigned 8-bit, min/max scale per output channel, one
    zero point per output channel found by the half-quadratic optimizer at the first forward
    (1000 iterations at most, beta 1 growing x1.01, shrinkage L0.5, not rounded), then learned;
  * ShiftedUint8WeightPerTensorFloatHQO: the same with one scale and one zero point for the
    whole weight (the search's mean runs over the flattened weight);

and Int8WeightPerTensorFloatHQO (the HQO scale over the whole weight; the shared cases have it
per channel), on linear and convolution layers, with the shared generator's weights and with
chosen ones: large heavy-tailed weights (quantization errors above 1, so the zero-point search
runs long and beta's growth matters), edge rows (constant, all zero, all positive) and two
all-positive rows whose first candidate zero point is positive.

Brevitas 0.13.4 cannot run ShiftedUint8WeightPerChannelFloatHQO on a convolution (its search
quantizes the [C, N] stats view with the [C, 1, 1, 1] scale, which broadcasts to [C, 1, C, N]
and fails): that case records the reference's error, and `brevitas conformance` reports it
"not comparable" after checking that ours runs every step.

The cases use gen_formats.py's machinery unchanged (seeds from the case name, spec, record
layout), so `brevitas conformance` replays them like the shared ones.

Usage (from the package root, with the Brevitas 0.13.4 reference environment):
    /work/ref/.venv-ref/bin/python Tests/Fixtures/formats-extra/gen_formats_extra.py \\
        Tests/Fixtures/formats-extra [--shared ../shared/conformance]
"""

import argparse
import json
import os
import sys


# Weights large enough that quantization errors exceed 1, where the shrinkage
# sign(e) * relu(|e| - |e|^(p-1) / beta) leaves part of the error (below 1 it removes all of it
# while beta is near 1): the search then runs longer and depends on beta's growth.
LARGE = dict(fin=64, fout=4, x=(3, 64), wscale=300.0, n_out=3, lo=5.0, hi=10.0)


# Two all-positive rows (the second x ~200) on which the search's first candidate turns
# positive, yet improves the loss: while searching, the weight quantizer uses the zero point
# -c (ParameterFromStatsFromParameterZeroPoint's local-loss mode), not |c| as the activation
# quantizer does; with |c| the candidate would be rejected and the zero points would stay 0.
# Brevitas 0.13.4 ends at value = [1.4922582e-4, 3.6469460e-2] per channel.
POSITIVE_ROWS = [
    [0.5654738545417786, 0.6952756643295288, 0.4073743522167206, 0.6724711060523987,
     0.4197709858417511, 0.4939553141593933, 0.7161386609077454, 0.20680522918701172],
    [132.57862854003906, 141.7568359375, 155.62232971191406, 133.0615692138672,
     43.09526824951172, 65.59520721435547, 141.33505249023438, 122.20145416259766],
]


def edge_weights(F, c, shp):
    """Row 0 constant 0.3 (zero range), row 1 all zero, row 2 all positive (min > 0, so the
    search starts at 0), row 3 heavy-tailed N(0, 4) with two outliers."""
    import torch
    w = torch.empty(shp)
    w[0] = 0.3
    w[1] = 0.0
    w[2] = c.randn(*shp[1:]).abs() + 0.05
    w[3] = F.heavy_tailed(c, shp[1:], 2, 4.0, 8.0, 2.0)
    return w


def cases(F, P):
    import torch
    GL, C, H = P.group_linear, P.conv, LARGE
    glin = f"QuantLinear({GL['fin']}, {GL['fout']}, bias=True"
    conv = f"QuantConv2d({C['cin']}, {C['cout']}, {C['k']}, bias=True"
    hlin = f"QuantLinear({H['fin']}, {H['fout']}, bias=True"
    pos = "QuantLinear(8, 2, bias=True"
    pc, pt = "ShiftedUint8WeightPerChannelFloatHQO", "ShiftedUint8WeightPerTensorFloatHQO"
    it = "Int8WeightPerTensorFloatHQO"
    it_what = (f"{it}: signed narrow 8-bit, one scale for the whole weight from the "
               "half-quadratic optimizer (median of (W - W_e) / round(q / s), beta 1e5, L0.7) at "
               "the first forward, then learned")
    pc_what = (f"{pc}: asymmetric 8-bit, one min/max scale and one zero point per output "
               "channel, the zero point from HQO (not rounded)")
    pt_what = (f"{pt}: asymmetric 8-bit, min/max scale and zero point of the whole tensor, the "
               "zero point from HQO (not rounded)")
    heavy = (f"large heavy-tailed weights (set before the first forward, recorded in "
             f"initial_state): N(0, {H['wscale']}^2) with {H['n_out']} outliers of magnitude "
             f"[{H['lo']}, {H['hi']}] * {H['wscale']}: quantization errors above 1, which the "
             "shrinkage only partly removes, so beta's growth matters")
    return [
        lambda: F.layer_case(P, "linear_shifted_uint8_per_channel_hqo", f"{glin}, weight_quant={pc})",
                             GL["x"], pc_what, False, None),
        lambda: F.layer_case(P, "linear_shifted_uint8_per_tensor_hqo", f"{glin}, weight_quant={pt})",
                             GL["x"], pt_what, False, None),
        lambda: F.layer_case(P, "conv_shifted_uint8_per_tensor_hqo", f"{conv}, weight_quant={pt})",
                             C["x"], pt_what + "; the search runs over the flattened 4-d weight",
                             False, None),
        lambda: F.layer_case(P, "conv_shifted_uint8_per_channel_hqo", f"{conv}, weight_quant={pc})",
                             C["x"], pc_what + "; Brevitas 0.13.4 fails on 4-d weights", False, None),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_channel_hqo_large", f"{hlin}, weight_quant={pc})", H["x"],
            f"{pc} on {heavy}",
            lambda c, shp: F.heavy_tailed(c, shp, H["n_out"], H["lo"], H["hi"], H["wscale"])),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_tensor_hqo_large", f"{hlin}, weight_quant={pt})", H["x"],
            f"{pt} on {heavy}",
            lambda c, shp: F.heavy_tailed(c, shp, H["n_out"], H["lo"], H["hi"], H["wscale"])),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_channel_hqo_edge", f"{glin}, weight_quant={pc})", GL["x"],
            f"{pc} on edge channels (set before the first forward, recorded in initial_state): "
            "row 0 constant 0.3 (zero range), row 1 all zero (scale at scaling_min_val), row 2 "
            "all positive (the search starts at 0), row 3 heavy-tailed N(0, 4) with two "
            "outliers in [8, 16]", lambda c, shp: edge_weights(F, c, shp)),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_tensor_hqo_edge", f"{glin}, weight_quant={pt})", GL["x"],
            f"{pt} on the same edge rows (one zero point for all of them)",
            lambda c, shp: edge_weights(F, c, shp)),
        lambda: F.fixed_weight_layer_case(
            P, "linear_shifted_uint8_per_channel_hqo_positive", f"{pos}, weight_quant={pc})", (3, 8),
            f"{pc} on two all-positive rows (set before the first forward, recorded in "
            "initial_state) whose first candidate is positive and improves the loss: the "
            "search quantizes with the zero point -c, not |c|",
            lambda c, shp: torch.tensor(POSITIVE_ROWS, dtype=torch.float32)),
        lambda: F.layer_case(P, "linear_int8_per_tensor_hqo", f"{glin}, weight_quant={it})",
                             GL["x"], it_what, False, None),
        lambda: F.layer_case(P, "conv_int8_per_tensor_hqo", f"{conv}, weight_quant={it})",
                             C["x"], it_what + " over the flattened 4-d weight", False, None),
        lambda: F.fixed_weight_layer_case(
            P, "linear_int8_per_tensor_hqo_large", f"{hlin}, weight_quant={it})", H["x"],
            f"{it} on {heavy}",
            lambda c, shp: F.heavy_tailed(c, shp, H["n_out"], H["lo"], H["hi"], H["wscale"])),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(here, "../../../../shared/conformance")),
                    help="folder of gen.py and gen_formats.py (default: ../shared/conformance beside the package)")
    a = ap.parse_args(argv)
    if not os.path.exists(os.path.join(a.shared, "gen_formats.py")):
        ap.error("gen_formats.py not found in %s (use --shared)" % a.shared)
    sys.path.insert(0, os.path.abspath(a.shared))
    import torch
    import gen_formats as F

    torch.set_num_threads(1)
    P = F.variant("public")
    os.makedirs(a.outdir, exist_ok=True)
    for make in cases(F, P):
        c = make()
        path = os.path.join(a.outdir, c.name + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump(c.d, f, allow_nan=False, separators=(",", ":"))
        os.replace(path + ".tmp", path)
        err = c.d.get("reference_error")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)" + (f"; reference error: {err['type']}" if err else ""))


if __name__ == "__main__":
    main()

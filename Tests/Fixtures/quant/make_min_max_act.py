"""Golden values for activation quantizers with scaling_stats_op='min_max' (Brevitas AbsMinMax).

Run with the reference venv from the package root:
    .venv-ref/bin/python Tests/Fixtures/quant/make_min_max_act.py
Writes Tests/Fixtures/quant/min_max_act.json: per case, for each training call the input, the
upstream gradient, the output, the scale, the input gradient and the gradient of the learned
scale, then an eval call.
"""
import json
import os

import torch
from brevitas.nn import QuantIdentity, QuantReLU
from brevitas.quant import Int8ActPerTensorFloat, Uint8ActPerTensorFloat


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}


def run(layer, shift, steps=4):
    torch.manual_seed(7)
    out = {"calls": []}
    layer.train()
    value = layer.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value
    for i in range(steps):
        x = (torch.randn(2, 3, 4, 5) * (1 + 0.5 * i) + shift).requires_grad_(True)
        g = torch.randn(2, 3, 4, 5)
        value.grad = None
        y = layer(x)
        y.value.backward(g)
        out["calls"].append({
            "x": t(x), "g": t(g), "y": t(y.value), "scale": t(y.scale),
            "grad_x": t(x.grad), "grad_value": t(value.grad) if value.grad is not None else None,
        })
    layer.eval()
    x = torch.randn(2, 3, 4, 5) * 2 + shift
    with torch.no_grad():
        y = layer(x)
    out["eval"] = {"x": t(x), "y": t(y.value), "scale": t(y.scale)}
    return out


cases = {
    "identity_int8_min_max": run(QuantIdentity(act_quant=Int8ActPerTensorFloat, scaling_stats_op="min_max",
                                               collect_stats_steps=3, return_quant_tensor=True), shift=0.7),
    "relu_uint4_min_max": run(QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=4, scaling_stats_op="min_max",
                                        collect_stats_steps=2, return_quant_tensor=True), shift=0.3),
}
path = os.path.join(os.path.dirname(__file__), "min_max_act.json")
with open(path, "w") as f:
    json.dump(cases, f)
print("wrote", path)

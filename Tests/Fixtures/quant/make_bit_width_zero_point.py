"""Golden values for learned bit widths (`bit_width_impl_type='parameter'`, `BitWidthParameter`)
and non-zero zero points (`ParameterZeroPoint`, `StatsFromParameterZeroPoint`), from Brevitas 0.13.4.

Run with the reference venv (see Tests/Fixtures/README.md):
    .venv-ref/bin/python Tests/Fixtures/quant/make_bit_width_zero_point.py

Writes `bit_width_zero_point.json`: one object per case with the inputs (activation cases: every
training call's input in `inputs`, and the recorded calls in `calls`), the upstream gradient `g`
of each recorded call (the gradient of `sum(out * g)`), the outputs, the QuantTensor metadata
(scale, zero_point, bit_width), the gradients of the input, weight and every quantizer parameter,
and the state-dict keys. Tensors are `{"shape": [...], "data": [...]}` with float32 values written
by `repr(float(x))`.
"""
import json
import os

import torch

import brevitas
import brevitas.nn as qnn
from brevitas.core.zero_point import ParameterZeroPoint
from brevitas.quant import Int8WeightPerChannelFloat
from brevitas.quant import ShiftedUint8ActPerTensorFloat
from brevitas.quant import ShiftedUint8WeightPerChannelFloat
from brevitas.quant import ShiftedUint8WeightPerTensorFloat

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1).tolist()]}


def grads(module):
    return {name: (t(p.grad) if p.grad is not None else None) for name, p in module.named_parameters()}


def zero_grads(module, *tensors):
    for p in module.parameters():
        p.grad = None
    for x in tensors:
        x.grad = None


def act_call(layer, x, g):
    """One forward/backward of an activation layer; the output is a QuantTensor."""
    x = x.clone().requires_grad_(True)
    q = layer(x)
    (q.value * g).sum().backward()
    rec = {
        "x": t(x), "g": t(g), "out": t(q.value), "scale": t(q.scale), "zero_point": t(q.zero_point),
        "bit_width": t(q.bit_width), "grad_x": t(x.grad), "grads": grads(layer)}
    zero_grads(layer, x)
    return rec


def act_case(layer, inputs, record_steps, offset=None):
    if offset is not None:
        with torch.no_grad():
            layer.act_quant.fused_activation_quant_proxy.tensor_quant.msb_clamp_bit_width_impl.bit_width_offset.fill_(offset)
    layer.train()
    calls = []
    for i, x in enumerate(inputs):
        g = torch.randn_like(x)
        rec = act_call(layer, x, g)
        if i in record_steps:
            rec["step"] = i
            calls.append(rec)
    layer.eval()
    with torch.no_grad():
        qe = layer(inputs[-1])
    return {"inputs": [t(x) for x in inputs], "calls": calls, "eval_out": t(qe.value),
            "state_dict_keys": sorted(layer.state_dict().keys())}


def weight_case(layer, x, offset=None):
    if offset is not None:
        with torch.no_grad():
            layer.weight_quant.tensor_quant.msb_clamp_bit_width_impl.bit_width_offset.fill_(offset)
    layer.train()
    x = x.clone().requires_grad_(True)
    y = layer(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    qw = layer.quant_weight()
    return {
        "weight": t(layer.weight), "x": t(x), "g": t(g), "out": t(y), "grad_x": t(x.grad),
        "quant_weight": t(qw.value), "scale": t(qw.scale), "zero_point": t(qw.zero_point),
        "bit_width": t(qw.bit_width), "grads": grads(layer),
        "state_dict_keys": sorted(layer.state_dict().keys())}


cases = {}

torch.manual_seed(0)
layer = qnn.QuantIdentity(bit_width=4, bit_width_impl_type='parameter', collect_stats_steps=2, return_quant_tensor=True)
inputs = [torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6) * 1.5]
cases["identity_learned_bit_width"] = act_case(layer, inputs, record_steps={0, 2})

torch.manual_seed(1)
layer = qnn.QuantReLU(bit_width=4, bit_width_impl_type='parameter', min_bit_width=3, collect_stats_steps=1, return_quant_tensor=True)
inputs = [torch.randn(3, 8), torch.randn(3, 8) * 2]
# A negative offset: bit width round(|-1.6| + 3) = 5, gradient through abs_binary_sign_grad is negated.
cases["relu_learned_bit_width"] = act_case(layer, inputs, record_steps={0, 1}, offset=-1.6)

torch.manual_seed(2)
layer = qnn.QuantIdentity(
    act_quant=ShiftedUint8ActPerTensorFloat, zero_point_impl=ParameterZeroPoint, zero_point_init=0.3,
    bit_width=5, bit_width_impl_type='parameter', collect_stats_steps=2, return_quant_tensor=True)
inputs = [torch.randn(4, 6) - 0.3, torch.randn(4, 6) - 0.3, torch.randn(4, 6) * 1.7 - 0.5]
cases["identity_parameter_zero_point"] = act_case(layer, inputs, record_steps={0, 2})

torch.manual_seed(3)
layer = qnn.QuantLinear(6, 4, bias=False, weight_bit_width=4, weight_bit_width_impl_type='parameter', return_quant_tensor=False)
# Offset 1.3: bit width round(1.3 + 2) = 3.
cases["linear_learned_bit_width"] = weight_case(layer, torch.randn(3, 6), offset=1.3)

torch.manual_seed(4)
layer = qnn.QuantConv2d(
    2, 3, 3, bias=False, weight_quant=Int8WeightPerChannelFloat, weight_bit_width=3,
    weight_bit_width_impl_type='parameter', return_quant_tensor=False)
cases["conv_learned_bit_width_per_channel"] = weight_case(layer, torch.randn(2, 2, 5, 5))

torch.manual_seed(5)
layer = qnn.QuantLinear(6, 4, bias=False, weight_quant=ShiftedUint8WeightPerTensorFloat, return_quant_tensor=False)
with torch.no_grad():
    layer.weight.add_(0.05)
cases["linear_shifted_uint8_weight"] = weight_case(layer, torch.randn(3, 6))

torch.manual_seed(6)
layer = qnn.QuantConv2d(2, 3, 3, bias=False, weight_quant=ShiftedUint8WeightPerChannelFloat, weight_bit_width=4, return_quant_tensor=False)
with torch.no_grad():
    layer.weight[1].abs_()  # a channel with no negative weight: zero point 0
cases["conv_shifted_uint8_weight_per_channel"] = weight_case(layer, torch.randn(2, 2, 5, 5))

torch.manual_seed(7)
layer = qnn.QuantLinear(
    6, 4, bias=False, weight_quant=ShiftedUint8WeightPerTensorFloat, weight_zero_point_impl=ParameterZeroPoint,
    weight_zero_point_init=0.1, weight_bit_width=4, return_quant_tensor=False)
cases["linear_parameter_zero_point_weight"] = weight_case(layer, torch.randn(3, 6))

cases["_meta"] = {
    "torch": torch.__version__, "brevitas": brevitas.__version__,
    "notes": "grads maps parameter names of the layer to the gradient of sum(out * g); act cases record the "
             "training calls listed in record_steps (calls run in order on inputs, grads zeroed after each), "
             "then eval_out is the eval-mode output on the last input."}

path = os.path.join(here, "bit_width_zero_point.json")
with open(path, "w") as f:
    json.dump(cases, f, indent=1)
print(path, os.path.getsize(path), "bytes")
for name, c in cases.items():
    if name.startswith("_"):
        continue
    print(name, c["state_dict_keys"])

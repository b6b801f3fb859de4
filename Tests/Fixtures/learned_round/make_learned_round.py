"""Golden values for learned rounding (AdaRound, hard sigmoid) from Brevitas 0.13.4's own modules.

Run with the reference venv from the package root:
    /work/ref/.venv-ref/bin/python Tests/Fixtures/learned_round/make_learned_round.py
Writes Tests/Fixtures/learned_round/learned_round.json:
- "hard_sigmoid": LearnedRoundHardSigmoid (zeta 1.1, gamma -0.1) on v, training and eval mode, and
  the gradient of sum(h * g);
- "decay": LinearTempDecay(t_max=1000, rel_start_decay=0.2, start_b=20, end_b=2) at several t;
- "conv": a QuantConv2d(2, 3, 3, padding=1) with 4-bit per-channel weights as ptq_common makes them
  (Int8WeightPerChannelFloat, narrow_range=False, ParameterFromStatsFromParameterScaling), a float
  bias, no input quantizer: the learned-round init value (learned_round_value_init_non_linear),
  the regulariser (RoundRegularisationLoss, defaults) at chosen calls with its gradient, the
  block MSE (MSELoss(reduction='none', dim=1)), then 300 Adam steps (lr 0.05) of the trainer's
  loss on one cached example (float32, no autocast), recording the loss at each step, the final
  value and the eval-mode (hardened) quantized weight.
"""
import json
import os

import torch
import torch.nn.functional as F

from brevitas.core.function_wrapper.learned_round import LearnedRoundHardSigmoid
from brevitas.core.scaling.standalone import ParameterFromStatsFromParameterScaling
from brevitas.inject.enum import LearnedRoundImplType
from brevitas.nn import QuantConv2d
from brevitas.quant import Int8WeightPerChannelFloat
from brevitas_examples.common.learned_round.learned_round_method import (
    LinearTempDecay, MSELoss, RoundRegularisationLoss, insert_learned_round_quantizers,
    learned_round_value_init_non_linear, return_learned_round_quantizers)


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}


def hard_sigmoid_case():
    torch.manual_seed(0)
    v = torch.tensor([-30.0, -3.0, -2.3978953, -1.0, -0.1, 0.0, 0.1, 1.0, 2.3978953, 3.0, 30.0] +
                     (torch.randn(9) * 2).tolist(), requires_grad=True)
    g = torch.randn(v.shape)
    hs = LearnedRoundHardSigmoid()
    hs.train()
    h = hs(v)
    h.backward(g)
    hs.eval()
    with torch.no_grad():
        hard = hs(v).to(torch.float32)
    return {"v": t(v), "g": t(g), "h": t(h), "grad_v": t(v.grad), "hardened": t(hard)}


def decay_case():
    d = LinearTempDecay(1000, rel_start_decay=0.2, start_b=20, end_b=2)
    ts = [1, 100, 199, 200, 201, 400, 600, 999, 1000, 1001, 2000]
    return {"t": ts, "b": [float(d(x)) for x in ts]}


def conv_case():
    torch.manual_seed(3)
    wq = Int8WeightPerChannelFloat.let(bit_width=4, narrow_range=False,
                                       scaling_impl=ParameterFromStatsFromParameterScaling)
    layer = QuantConv2d(2, 3, 3, padding=1, bias=True, weight_quant=wq, bias_quant=None,
                        input_quant=None, return_quant_tensor=False)
    layer.eval()
    x = torch.randn(1, 2, 5, 5)
    with torch.no_grad():
        q0 = layer.quant_weight()
        target = F.conv2d(x, layer.weight, layer.bias, padding=1)
        nearest_out = layer(x)
    init_value = learned_round_value_init_non_linear(layer)
    weight = layer.weight.detach().clone()
    scale = q0.scale.detach().clone()

    insert_learned_round_quantizers(layer, LearnedRoundImplType.HARD_SIGMOID)
    ste = return_learned_round_quantizers(layer)[0]
    # block_optimization_cm: block in eval, LearnedRoundSte in training mode, only `value` trained
    layer.eval()
    ste.train()
    for name, p in layer.named_parameters():
        p.requires_grad = name.endswith("float_to_int_impl.value")
    reg = RoundRegularisationLoss(layer)
    mse = MSELoss(layer, reduction="none", dim=1)

    # the regulariser alone at chosen calls (a fresh instance, same value)
    probe = RoundRegularisationLoss(layer)
    reg_probe = []
    for i in range(1, 1002):
        ste.value.grad = None
        loss = probe(torch.zeros(1), torch.zeros(1))
        if i in (1, 199, 200, 201, 600, 1000, 1001):
            entry = {"call": i, "loss": float(loss.detach())}
            if loss.requires_grad:
                loss.backward()
                entry["grad_value"] = t(ste.value.grad)
            reg_probe.append(entry)
    ste.value.grad = None

    with torch.no_grad():
        soft_out = layer(x)
        mse0 = mse(soft_out, target)

    optim = torch.optim.Adam([ste.value], lr=0.05)
    losses = []
    for _ in range(300):
        out = layer(x)
        loss = reg(out, target) + mse(out, target)
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(float(loss.detach()))
    final_value = ste.value.detach().clone()
    with torch.no_grad():
        soft_h = ste.learned_round_impl(ste.value)
    ste.eval()
    layer.eval()
    with torch.no_grad():
        hard_w = layer.quant_weight().value
        hard_out = layer(x)
    return {
        "x": t(x), "weight": t(weight), "bias": t(layer.bias), "scale": t(scale),
        "target": t(target), "nearest_output": t(nearest_out), "quant_weight_nearest": t(q0.value),
        "init_value": t(init_value), "soft_output": t(soft_out), "mse_initial": float(mse0),
        "regulariser": reg_probe, "lr": 0.05, "steps": 300, "losses": losses,
        "final_value": t(final_value), "final_soft": t(soft_h),
        "hardened_weight": t(hard_w), "hardened_output": t(hard_out),
    }


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = {
        "_meta": {"brevitas": __import__("brevitas").__version__, "torch": torch.__version__,
                  "script": "Tests/Fixtures/learned_round/make_learned_round.py"},
        "hard_sigmoid": hard_sigmoid_case(),
        "decay": decay_case(),
        "conv": conv_case(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "learned_round.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(path + ".tmp", path)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()

"""Golden activation scales of Brevitas 0.13.4's PTQ flow for act_param_method 'stats' with a
chosen act_quant_percentile, and 'mse' (ptq_common.create_quant_maps: Int8ActPerTensorFloatMSE,
signed=False after ReLU), on a small CNN.

Run with the reference venv from the package root:
    /work/ref/.venv-ref/bin/python Tests/Fixtures/act_scales/make_act_scales.py
Writes Tests/Fixtures/act_scales/act_scales.json: the float model's weights (conv 1->4 3x3 pad 1,
ReLU, MaxPool 2, flatten, Linear 64->10), three calibration batches of 16 images [1, 8, 8], and per
configuration the scale of every activation quantizer after `ptq_common.calibrate`
(input: the signed QuantIdentity after the graph input; relu: the QuantReLU; output: the signed
QuantIdentity after the Linear) and the quantized model's output on the first batch.
"""
import copy
import json
import os
import sys
import types
import importlib.machinery

import torch
import torch.nn as nn

try:
    import tqdm  # noqa: F401
except ImportError:
    _tqdm = types.ModuleType("tqdm")
    _tqdm.__spec__ = importlib.machinery.ModuleSpec("tqdm", None)
    _tqdm.tqdm = lambda iterable, *args, **kwargs: iterable
    sys.modules["tqdm"] = _tqdm

import brevitas.nn as qnn  # noqa: E402
from brevitas.graph.quantize import preprocess_for_quantize  # noqa: E402
from brevitas_examples.imagenet_classification.ptq import ptq_common  # noqa: E402
from brevitas_examples.imagenet_classification.ptq.ptq_common import calibrate, quantize_model  # noqa: E402

ptq_common.tqdm = lambda iterable, *args, **kwargs: iterable


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))


def t(x):
    x = x.detach().to(torch.float32)
    return {"shape": list(x.shape), "data": [float(v) for v in x.flatten().tolist()]}


OPTIONS = dict(backend="fx", bias_bit_width=32, weight_quant_granularity="per_channel", act_quant_type="sym",
               scale_factor_type="float_scale", quant_format="int", weight_narrow_range=False,
               weight_param_method="stats", weight_quant_type="sym", act_quant_granularity="per_tensor",
               act_scale_computation_type="static", uint_sym_act_for_unsigned_values=True,
               dtype=torch.float32, device="cpu")

CONFIGS = [("stats_p99", 8, "stats", 99.0), ("stats_p99999", 8, "stats", 99.999), ("mse_a8", 8, "mse", 99.999),
           ("mse_a4", 4, "mse", 99.999)]


def main():
    torch.manual_seed(5)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = Net().eval()
    batches = [torch.rand(16, 1, 8, 8) * (1 + i) for i in range(3)]
    out = {"_meta": {"brevitas": __import__("brevitas").__version__, "torch": torch.__version__,
                     "script": "Tests/Fixtures/act_scales/make_act_scales.py"},
           "conv_weight": t(model.conv.weight), "conv_bias": t(model.conv.bias),
           "fc_weight": t(model.fc.weight), "fc_bias": t(model.fc.bias),
           "batches": [t(b) for b in batches], "configs": []}
    for name, abits, method, percentile in CONFIGS:
        m = preprocess_for_quantize(copy.deepcopy(model), merge_bn=True, equalize_iters=0)
        q = quantize_model(m, weight_bit_width=8, act_bit_width=abits, act_param_method=method,
                           act_quant_percentile=percentile, **OPTIONS)
        q.eval()
        with torch.no_grad():
            q(batches[0])
        calibrate([(b, None) for b in batches], q)
        scales = {}
        for mod_name, mod in q.named_modules():
            if isinstance(mod, qnn.QuantReLU):
                scales["relu"] = float(mod.act_quant.scale())
            elif isinstance(mod, qnn.QuantIdentity):
                # the input quantizer is used before the conv, the output one after the fc
                users = [n for n in q.graph.nodes if n.op == "call_module" and n.target == mod_name]
                prev = users[0].args[0]
                role = "input" if prev.op == "placeholder" else "output"
                scales[role] = float(mod.act_quant.scale())
        with torch.no_grad():
            y = q(batches[0])
        out["configs"].append({"name": name, "act_bits": abits, "act_param_method": method,
                               "act_quant_percentile": percentile, "scales": scales, "output": t(y)})
        print(name, scales)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "act_scales.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(path + ".tmp", path)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()

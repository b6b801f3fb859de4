"""Writes a Brevitas checkpoint as safetensors plus the eval outputs it must reproduce.

Run with the reference venv (see Tests/Fixtures/README.md):
    .venv-ref/bin/python Tests/Fixtures/quant/make_brevitas_checkpoint.py

The model trains for a few SGD steps past statistics collection so every quantizer has a learned
scale; the state dict is Brevitas's own (keys such as
`1.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value`).
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

import brevitas.nn as qnn
from brevitas.quant import Int8ActPerTensorFloat, Int32Bias, Int8WeightPerChannelFloat

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_num_threads(1)
model = nn.Sequential(
    qnn.QuantIdentity(bit_width=8, collect_stats_steps=3, return_quant_tensor=True),
    qnn.QuantConv2d(1, 4, 3, padding=1, weight_bit_width=4, weight_quant=Int8WeightPerChannelFloat,
                    bias_quant=Int32Bias, return_quant_tensor=True),
    qnn.QuantReLU(bit_width=4, collect_stats_steps=3, return_quant_tensor=True),
    nn.Flatten(),
    qnn.QuantLinear(4 * 6 * 6, 3, weight_bit_width=4, bias=True))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x = torch.randn(8, 1, 6, 6)
y = torch.randint(0, 3, (8,))
model.train()
for _ in range(6):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
model.eval()
xe = torch.randn(4, 1, 6, 6)
with torch.no_grad():
    out = model(xe)
sd = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
save_file(sd, os.path.join(here, "brevitas_checkpoint.safetensors"), metadata={"format": "pt"})


def tj(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


with open(os.path.join(here, "brevitas_checkpoint.json"), "w") as f:
    json.dump({"keys": sorted(sd), "input": tj(xe), "output": tj(out)}, f)
print("wrote", len(sd), "tensors")

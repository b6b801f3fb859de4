#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that the Swift tests read.

Run from the package root with the reference venv (see Tests/Fixtures/README.md):

    .venv-ref/bin/python Tests/Fixtures/make_fixtures.py

Output: Tests/Fixtures/engine/*.json, Tests/Fixtures/nn/*.json and
Tests/Fixtures/nn/python_written.safetensors. The script is deterministic: every
fixture file reseeds torch (torch.manual_seed) and torch runs on one thread, so a
rerun rewrites the same bytes (with the same torch version).

Tensor format everywhere: {"shape": [...], "data": [flat row-major numbers]}.
A scalar tensor has "shape": [] and one element in "data". float32 values are
written as repr(float(x)) (shortest round-trip text of the exactly converted
double), so parsing the text as Double and converting to Float gives back the
float32 value exactly. Integer tensors (indices, class targets) hold ints.

Gradient convention for "engine" fixtures: for a recorded random upstream
tensor g with the shape of the output, grad_<input> is d/d<input> of
sum(out * g), i.e. what out.backward(g) leaves in <input>.grad. Loss fixtures
(scalar outputs) use g = 1.0 (recorded as a scalar tensor).
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.abspath(__file__))
ENGINE = os.path.join(ROOT, "engine")
NN = os.path.join(ROOT, "nn")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# ----------------------------------------------------------------------------
# Serialization


def T(t):
    """Tensor -> {"shape", "data"} (float32 via repr(float(x)); integer dtypes as int)."""
    t = t.detach().cpu().contiguous()
    shape = list(t.shape)
    if t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
        data = [int(v) for v in t.reshape(-1).tolist()]
    else:
        assert t.dtype == torch.float32, t.dtype
        data = [float(v) for v in t.reshape(-1).tolist()]
        for v in data:
            assert math.isfinite(v), "non-finite value in fixture"
    return {"shape": shape, "data": data}


def _is_tensor_dict(o):
    return isinstance(o, dict) and set(o.keys()) == {"shape", "data"}


def _dump(o, indent=0):
    """JSON text: tensors and short lists on one line, other dicts/lists one item per line."""
    pad = " " * indent
    pad1 = " " * (indent + 1)
    if _is_tensor_dict(o) or not isinstance(o, (dict, list)):
        return json.dumps(o, allow_nan=False, separators=(", ", ": "))
    if isinstance(o, list):
        if all(not isinstance(v, (dict, list)) for v in o):
            return json.dumps(o, allow_nan=False, separators=(", ", ": "))
        items = [pad1 + _dump(v, indent + 1) for v in o]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if not o:
        return "{}"
    items = [pad1 + json.dumps(k) + ": " + _dump(v, indent + 1) for k, v in o.items()]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def write(directory, name, obj):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    text = _dump(obj) + "\n"
    json.loads(text)  # sanity check
    with open(path, "w") as f:
        f.write(text)
    size = os.path.getsize(path)
    assert size < 200_000, f"{path} is {size} bytes"
    print(f"  {os.path.relpath(path, ROOT):45s} {size:8d} bytes")


def meta(seed, **extra):
    d = {"torch": torch.__version__, "seed": seed, "generator": "Tests/Fixtures/make_fixtures.py"}
    d.update(extra)
    return d


def leaf(t):
    return t.detach().clone().requires_grad_(True)


# ----------------------------------------------------------------------------
# engine/: convolutions


CONV2D_CONFIGS = [
    # name, N, Cin, H, W, Cout, kernel, stride, padding, dilation, groups, bias
    ("conv2d_basic", 2, 3, 7, 6, 4, (3, 3), (1, 1), (0, 0), (1, 1), 1, True),
    ("conv2d_stride2_pad1", 2, 3, 7, 6, 4, (3, 3), (2, 2), (1, 1), (1, 1), 1, True),
    ("conv2d_dilation2", 2, 3, 7, 6, 4, (3, 3), (1, 1), (0, 0), (2, 2), 1, True),
    ("conv2d_groups2", 2, 4, 7, 6, 4, (3, 3), (1, 1), (0, 0), (1, 1), 2, True),
    ("conv2d_kernel2x3_bias", 2, 3, 7, 6, 4, (2, 3), (1, 1), (0, 0), (1, 1), 1, True),
    ("conv2d_nobias", 2, 3, 7, 6, 4, (3, 3), (1, 1), (0, 0), (1, 1), 1, False),
    ("conv2d_asymmetric", 2, 3, 7, 6, 4, (2, 3), (2, 1), (0, 1), (1, 2), 1, True),
    ("conv2d_depthwise", 2, 3, 7, 6, 3, (3, 3), (1, 1), (1, 1), (1, 1), 3, False),
]

CONV1D_CONFIGS = [
    # name, N, Cin, L, Cout, k, stride, padding, dilation, groups, bias
    ("conv1d_basic", 2, 3, 10, 4, 3, 1, 0, 1, 1, True),
    ("conv1d_stride2_pad1_dil2_nobias", 2, 4, 11, 2, 3, 2, 1, 2, 2, False),
]


def conv_fixture(dim, seed, N, Cin, spatial, Cout, kernel, stride, padding, dilation, groups,
                 use_bias):
    torch.manual_seed(seed)
    x = leaf(torch.randn(N, Cin, *spatial))
    w = leaf(torch.randn(Cout, Cin // groups, *kernel) * 0.5)
    b = leaf(torch.randn(Cout)) if use_bias else None
    fn = F.conv2d if dim == 2 else F.conv1d
    out = fn(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = torch.randn_like(out)
    out.backward(g)
    return {
        "_meta": meta(seed),
        "config": {
            "stride": list(stride), "padding": list(padding), "dilation": list(dilation),
            "groups": groups},
        "x": T(x),
        "weight": T(w),
        "bias": T(b) if b is not None else None,
        "out": T(out),
        "g": T(g),
        "grad_x": T(x.grad),
        "grad_weight": T(w.grad),
        "grad_bias": T(b.grad) if b is not None else None,
    }


def make_convs():
    for i, (name, N, Cin, H, W, Cout, k, s, p, d, groups, bias) in enumerate(CONV2D_CONFIGS):
        write(ENGINE, name + ".json",
              conv_fixture(2, 100 + i, N, Cin, (H, W), Cout, k, s, p, d, groups, bias))
    for i, (name, N, Cin, L, Cout, k, s, p, d, groups, bias) in enumerate(CONV1D_CONFIGS):
        write(ENGINE, name + ".json",
              conv_fixture(1, 200 + i, N, Cin, (L,), Cout, (k,), (s,), (p,), (d,), groups, bias))


# ----------------------------------------------------------------------------
# engine/: pooling


def make_pools():
    # max pool
    seed = 300
    torch.manual_seed(seed)
    cases = []
    for name, shape, k, s, p in [
        ("k2_s2", (2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
        ("k3_s2_p1", (2, 2, 7, 6), (3, 3), (2, 2), (1, 1)),
        ("k3_s1_overlap", (1, 2, 5, 5), (3, 3), (1, 1), (0, 0)),
        ("k2x3_s1x2_p1x1", (1, 2, 5, 7), (2, 3), (1, 2), (1, 1)),
    ]:
        x = leaf(torch.randn(*shape))
        out, idx = F.max_pool2d(x, k, s, p, return_indices=True)
        g = torch.randn_like(out)
        out.backward(g)
        cases.append({
            "name": name, "kernel": list(k), "stride": list(s), "padding": list(p),
            "x": T(x), "out": T(out), "indices": T(idx), "g": T(g), "grad_x": T(x.grad)})
    # ties: integer-valued input; torch picks the first maximum in row-major window order
    x = leaf(torch.randint(0, 3, (1, 1, 6, 6)).float())
    out, idx = F.max_pool2d(x, (2, 2), (2, 2), (0, 0), return_indices=True)
    g = torch.randn_like(out)
    out.backward(g)
    cases.append({
        "name": "ties_k2_s2", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0],
        "x": T(x), "out": T(out), "indices": T(idx), "g": T(g), "grad_x": T(x.grad)})
    write(ENGINE, "maxpool2d.json", {"_meta": meta(seed), "cases": cases})

    # avg pool
    seed = 301
    torch.manual_seed(seed)
    cases = []
    for name, shape, k, s, p, cip in [
        ("k2_s2", (2, 3, 6, 6), (2, 2), (2, 2), (0, 0), True),
        ("k3_s2_p1_count_include_pad", (2, 2, 7, 6), (3, 3), (2, 2), (1, 1), True),
        ("k3_s2_p1_exclude_pad", (2, 2, 7, 6), (3, 3), (2, 2), (1, 1), False),
        ("k2x3_s1x2_p1x1", (1, 2, 5, 7), (2, 3), (1, 2), (1, 1), True),
    ]:
        x = leaf(torch.randn(*shape))
        out = F.avg_pool2d(x, k, s, p, count_include_pad=cip)
        g = torch.randn_like(out)
        out.backward(g)
        cases.append({
            "name": name, "kernel": list(k), "stride": list(s), "padding": list(p),
            "count_include_pad": cip, "x": T(x), "out": T(out), "g": T(g), "grad_x": T(x.grad)})
    write(ENGINE, "avgpool2d.json", {"_meta": meta(seed, ceil_mode=False), "cases": cases})

    # adaptive avg pool
    seed = 302
    torch.manual_seed(seed)
    cases = []
    for name, shape, osz in [
        ("7x5_to_3x2", (2, 3, 7, 5), (3, 2)),
        ("7x5_to_4x3", (1, 2, 7, 5), (4, 3)),
        ("6x6_to_1x1", (2, 3, 6, 6), (1, 1)),
        ("5x4_to_5x4", (1, 2, 5, 4), (5, 4)),
        ("3x3_to_5x4_upsample", (1, 1, 3, 3), (5, 4)),
    ]:
        x = leaf(torch.randn(*shape))
        out = F.adaptive_avg_pool2d(x, osz)
        g = torch.randn_like(out)
        out.backward(g)
        cases.append({
            "name": name, "output_size": list(osz), "x": T(x), "out": T(out), "g": T(g),
            "grad_x": T(x.grad)})
    write(ENGINE, "adaptive_avgpool2d.json", {
        "_meta": meta(seed, bins="start = floor(i*In/Out), end = ceil((i+1)*In/Out)"),
        "cases": cases})


# ----------------------------------------------------------------------------
# engine/: matmul / linear


def make_matmul_linear():
    seed = 400
    torch.manual_seed(seed)
    cases = []
    for name, sa, sb in [
        ("batched_2x3x4_at_2x4x5", (2, 3, 4), (2, 4, 5)),
        ("broadcast_3x4_at_2x4x5", (3, 4), (2, 4, 5)),
        ("broadcast_2x3x4_at_4x5", (2, 3, 4), (4, 5)),
        ("plain_3x4_at_4x5", (3, 4), (4, 5)),
        ("batch_broadcast_1x3x4_at_2x4x5", (1, 3, 4), (2, 4, 5)),
    ]:
        a = leaf(torch.randn(*sa))
        b = leaf(torch.randn(*sb))
        out = torch.matmul(a, b)
        g = torch.randn_like(out)
        out.backward(g)
        cases.append({
            "name": name, "a": T(a), "b": T(b), "out": T(out), "g": T(g),
            "grad_a": T(a.grad), "grad_b": T(b.grad)})
    write(ENGINE, "matmul.json", {"_meta": meta(seed, op="torch.matmul(a, b)"), "cases": cases})

    seed = 401
    torch.manual_seed(seed)
    cases = []
    for name, sx, fin, fout, use_bias in [
        ("bias_3x4_to_5", (3, 4), 4, 5, True),
        ("nobias_3x4_to_5", (3, 4), 4, 5, False),
        ("bias_2x3x4_to_5", (2, 3, 4), 4, 5, True),
    ]:
        x = leaf(torch.randn(*sx))
        w = leaf(torch.randn(fout, fin) * 0.5)
        b = leaf(torch.randn(fout)) if use_bias else None
        out = F.linear(x, w, b)
        g = torch.randn_like(out)
        out.backward(g)
        cases.append({
            "name": name, "x": T(x), "weight": T(w), "bias": T(b) if b is not None else None,
            "out": T(out), "g": T(g), "grad_x": T(x.grad), "grad_weight": T(w.grad),
            "grad_bias": T(b.grad) if b is not None else None})
    write(ENGINE, "linear.json", {
        "_meta": meta(seed, op="F.linear(x, weight, bias) = x @ weight^T + bias"),
        "cases": cases})


# ----------------------------------------------------------------------------
# engine/: kthvalue


def make_kthvalue():
    seed = 500
    torch.manual_seed(seed)
    flat = []
    ints = torch.randint(-3, 4, (5, 6)).float()  # many ties
    floats = torch.randn(4, 5)
    halves = (torch.randint(0, 5, (3, 7)).float() * 0.5)
    n = ints.numel()
    specs = [
        ("ties_k1_min", ints, 1), ("ties_k2", ints, 2), ("ties_k_mid", ints, n // 2),
        ("ties_k_mid_plus1", ints, n // 2 + 1), ("ties_k_n_max", ints, n),
        ("ties_k_n_minus1", ints, n - 1),
        ("float_k1", floats, 1), ("float_k7", floats, 7), ("float_k_n", floats, floats.numel()),
        ("halves_k11", halves, 11), ("halves_k_n", halves, halves.numel()),
        ("single_element", torch.tensor([2.5]), 1),
        ("all_equal", torch.full((2, 3), 1.25), 4),
    ]
    for name, src, k in specs:
        x = leaf(src)
        v, i = torch.kthvalue(x.reshape(-1), k)
        g = torch.randn(())
        v.backward(g)
        flat.append({
            "name": name, "k": k, "x": T(x), "value": T(v), "index": int(i), "g": T(g),
            "grad_x": T(x.grad)})

    rows = []
    for name, src, k in [
        ("ties_rows_k1", torch.randint(-2, 3, (4, 7)).float(), 1),
        ("ties_rows_k4", torch.randint(-2, 3, (4, 7)).float(), 4),
        ("ties_rows_k7", torch.randint(-2, 3, (4, 7)).float(), 7),
        ("float_rows_k3", torch.randn(3, 6), 3),
        ("float_3d_k2", torch.randn(2, 3, 5), 2),
    ]:
        x = leaf(src)
        v, i = torch.kthvalue(x, k, dim=-1)
        g = torch.randn_like(v)
        v.backward(g)
        rows.append({
            "name": name, "k": k, "dim": -1, "x": T(x), "values": T(v), "indices": T(i),
            "g": T(g), "grad_x": T(x.grad)})
    write(ENGINE, "kthvalue.json", {
        "_meta": meta(seed, note=(
            "k is 1-based. flat_cases: torch.kthvalue(x.reshape(-1), k); 'index' is the flat "
            "row-major index torch returned. row_cases: torch.kthvalue(x, k, dim=-1, "
            "keepdim=False). With ties the returned index is torch's (CPU) choice; the value is "
            "unambiguous. grad_x is g scattered to the returned index (zeros elsewhere).")),
        "flat_cases": flat,
        "row_cases": rows})


# ----------------------------------------------------------------------------
# engine/: batch norm


def make_batchnorm():
    seed = 600
    torch.manual_seed(seed)
    C = 3
    x = torch.randn(4, C, 5, 4) * 2.0 + 0.5
    weight = torch.rand(C) + 0.5
    bias = torch.randn(C) * 0.2
    rm0 = torch.randn(C) * 0.1
    rv0 = torch.rand(C) + 0.5

    # train mode
    bn = nn.BatchNorm2d(C, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        bn.running_mean.copy_(rm0)
        bn.running_var.copy_(rv0)
    bn.train()
    xt = leaf(x)
    out = bn(xt)
    g = torch.randn_like(out)
    out.backward(g)
    train = {
        "x": T(x), "weight": T(weight), "bias": T(bias),
        "running_mean_before": T(rm0), "running_var_before": T(rv0),
        "out": T(out),
        "running_mean_after": T(bn.running_mean), "running_var_after": T(bn.running_var),
        "batch_mean": T(x.mean(dim=(0, 2, 3))),
        "batch_var_biased": T(x.var(dim=(0, 2, 3), unbiased=False)),
        "g": T(g), "grad_x": T(xt.grad), "grad_weight": T(bn.weight.grad),
        "grad_bias": T(bn.bias.grad)}

    # eval mode: uses the running statistics recorded after the train step
    bn.eval()
    bn.zero_grad()
    x2 = torch.randn(2, C, 3, 3)
    xe = leaf(x2)
    out_e = bn(xe)
    g2 = torch.randn_like(out_e)
    out_e.backward(g2)
    evalm = {
        "x": T(x2), "weight": T(bn.weight), "bias": T(bn.bias),
        "running_mean": T(bn.running_mean), "running_var": T(bn.running_var),
        "out": T(out_e), "g": T(g2), "grad_x": T(xe.grad), "grad_weight": T(bn.weight.grad),
        "grad_bias": T(bn.bias.grad)}
    write(ENGINE, "batchnorm2d.json", {
        "_meta": meta(seed, note=(
            "train: out = (x - batch_mean)/sqrt(batch_var_biased + eps)*weight + bias; "
            "running_mean = (1-momentum)*running_mean + momentum*batch_mean; running_var = "
            "(1-momentum)*running_var + momentum*batch_var_unbiased (n/(n-1) factor, "
            "n = N*H*W). eval: uses running_mean/running_var.")),
        "momentum": 0.1, "eps": 1e-5,
        "train": train, "eval": evalm})


# ----------------------------------------------------------------------------
# engine/: softmax, losses


def make_softmax_losses():
    seed = 700
    torch.manual_seed(seed)
    cases = []
    for name, shape in [("2d_4x5", (4, 5)), ("3d_2x3x4", (2, 3, 4)),
                        ("large_logits_3x4", (3, 4))]:
        src = torch.randn(*shape)
        if name.startswith("large"):
            src = src * 30.0 + 50.0  # needs the max subtraction
        g = torch.randn(*shape)
        x1 = leaf(src)
        s = torch.softmax(x1, dim=1)
        s.backward(g)
        x2 = leaf(src)
        ls = torch.log_softmax(x2, dim=1)
        ls.backward(g)
        cases.append({
            "name": name, "dim": 1, "x": T(src), "g": T(g),
            "softmax_out": T(s), "softmax_grad_x": T(x1.grad),
            "log_softmax_out": T(ls), "log_softmax_grad_x": T(x2.grad)})
    write(ENGINE, "softmax.json", {"_meta": meta(seed), "cases": cases})

    seed = 701
    torch.manual_seed(seed)
    logits = torch.randn(6, 5) * 2.0
    targets = torch.randint(0, 5, (6,))
    one = torch.tensor(1.0)
    ce = {"_meta": meta(seed, note="F.cross_entropy(logits, targets, reduction=...); g = 1.0"),
          "logits": T(logits), "targets": T(targets), "g": T(one)}
    for red in ("mean", "sum"):
        lg = leaf(logits)
        loss = F.cross_entropy(lg, targets, reduction=red)
        loss.backward(one)
        ce[red] = {"loss": T(loss), "grad_logits": T(lg.grad)}
    lg = leaf(logits)
    loss_none = F.cross_entropy(lg, targets, reduction="none")
    g_none = torch.randn(6)
    loss_none.backward(g_none)
    ce["none"] = {"loss": T(loss_none), "g": T(g_none), "grad_logits": T(lg.grad)}
    write(ENGINE, "cross_entropy.json", ce)

    seed = 702
    torch.manual_seed(seed)
    inp = torch.randn(3, 4)
    tgt = torch.randn(3, 4)
    mse = {"_meta": meta(seed, note="F.mse_loss(input, target, reduction=...); g = 1.0"),
           "input": T(inp), "target": T(tgt), "g": T(one)}
    for red in ("mean", "sum"):
        a = leaf(inp)
        b = leaf(tgt)
        loss = F.mse_loss(a, b, reduction=red)
        loss.backward(one)
        mse[red] = {"loss": T(loss), "grad_input": T(a.grad), "grad_target": T(b.grad)}
    write(ENGINE, "mse_loss.json", mse)


# ----------------------------------------------------------------------------
# nn/: MLP


def make_mlp():
    seed = 800
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))
    names = {"0.weight": "fc1.weight", "0.bias": "fc1.bias",
             "2.weight": "fc2.weight", "2.bias": "fc2.bias"}
    x = leaf(torch.randn(4, 8))
    hidden = model[0](x)
    out = model(x)
    g = torch.randn_like(out)
    out.backward(g)
    params = {names[k]: T(v) for k, v in model.named_parameters()}
    grads = {names[k]: T(v.grad) for k, v in model.named_parameters()}
    grad_x = x.grad.clone()

    model.zero_grad()
    targets = torch.randint(0, 3, (4,))
    loss = F.cross_entropy(model(x.detach()), targets)
    loss.backward()
    ce_grads = {names[k]: T(v.grad) for k, v in model.named_parameters()}
    write(NN, "mlp.json", {
        "_meta": meta(seed, architecture="fc1 = Linear(8, 5) -> ReLU -> fc2 = Linear(5, 3)",
                      note="weights are torch's default init under the seed, recorded in params"),
        "params": params,
        "x": T(x), "hidden_pre_relu": T(hidden), "out": T(out), "g": T(g),
        "grad_x": T(grad_x), "grads": grads,
        "ce_targets": T(targets), "ce_loss": T(loss), "ce_grads": ce_grads})


# ----------------------------------------------------------------------------
# nn/: optimizers, schedulers, clip_grad_norm_


def make_optim():
    seed = 900
    torch.manual_seed(seed)
    init = {"w": torch.randn(3, 4), "b": torch.randn(4)}
    q = {"w": torch.rand(3, 4) + 0.5, "b": torch.rand(4) + 0.5}
    t = {"w": torch.randn(3, 4), "b": torch.randn(4)}
    order = ["w", "b"]

    def loss_fn(p):
        return sum((q[n] * (p[n] - t[n]) ** 2).sum() for n in order)

    runs_spec = [
        ("sgd_plain", torch.optim.SGD, {"lr": 0.1}),
        ("sgd_momentum_wd", torch.optim.SGD,
         {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 1e-4}),
        ("sgd_nesterov_wd", torch.optim.SGD,
         {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
        ("adam", torch.optim.Adam, {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8,
                                    "weight_decay": 0.0}),
        ("adam_wd", torch.optim.Adam, {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8,
                                       "weight_decay": 0.01}),
        ("adamw", torch.optim.AdamW, {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8,
                                      "weight_decay": 0.01}),
    ]
    runs = []
    for name, cls, hyper in runs_spec:
        p = {n: leaf(init[n]) for n in order}
        kw = dict(hyper)
        if "betas" in kw:
            kw["betas"] = tuple(kw["betas"])
        opt = cls([p[n] for n in order], **kw)
        steps = []
        for _ in range(3):
            opt.zero_grad()
            loss = loss_fn(p)
            loss.backward()
            grads = {n: T(p[n].grad) for n in order}
            opt.step()
            steps.append({"loss": T(loss), "grads": grads,
                          "params": {n: T(p[n]) for n in order}})
        runs.append({"name": name, "optimizer": cls.__name__, "hyper": hyper, "steps": steps})

    write(NN, "optim.json", {
        "_meta": meta(seed, note=(
            "loss(p) = sum_n sum(q[n] * (p[n] - t[n])^2) over params n in param_order, "
            "grad = 2*q*(p - t). Each step: zero_grad, loss, backward, step; steps[i] records "
            "the loss and grads at the params before step i and the params after it. "
            "SGD: dampening 0; Adam/AdamW: amsgrad False, maximize False. "
            "Adam weight_decay is L2 added to the gradient; AdamW's is decoupled "
            "(p *= 1 - lr*wd before the Adam update).")),
        "param_order": order,
        "init": {n: T(init[n]) for n in order},
        "q": {n: T(q[n]) for n in order},
        "t": {n: T(t[n]) for n in order},
        "runs": runs})

    # LR schedulers: lrs[e] = lr in effect during epoch e (after e scheduler.step() calls)
    sched = []
    for name, make, params in [
        ("step_lr", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
         {"step_size": 3, "gamma": 0.5}),
        ("cosine_annealing", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=10, eta_min=0.0), {"T_max": 10, "eta_min": 0.0}),
        ("cosine_annealing_eta_min", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=10, eta_min=0.001), {"T_max": 10, "eta_min": 0.001}),
        ("cosine_annealing_tmax4", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=4, eta_min=0.0), {"T_max": 4, "eta_min": 0.0}),
    ]:
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        s = make(opt)
        lrs = []
        for _epoch in range(11):
            lrs.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            s.step()
        sched.append({"name": name, "scheduler": type(s).__name__, "base_lr": 0.1,
                      "params": params, "lrs": lrs})
    write(NN, "lr_scheduler.json", {
        "_meta": meta(0, note=(
            "lrs[e] = optimizer lr during epoch e, e = 0...10 (after e scheduler.step() calls); "
            "values are Python doubles as torch computes them (CosineAnnealingLR uses its "
            "recursive form, which matches the closed form eta_min + (base-eta_min)*(1+cos(pi*e/"
            "T_max))/2 up to double rounding for e <= T_max).")),
        "schedulers": sched})

    # clip_grad_norm_
    seed = 901
    torch.manual_seed(seed)
    cases = []
    for name, scale, max_norm, norm_type in [
        ("clipped_l2", 1.0, 1.0, 2.0),
        ("not_clipped_l2", 0.05, 5.0, 2.0),
        ("clipped_inf", 1.0, 0.5, "inf"),
    ]:
        ps = [nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(5))]
        gin = [torch.randn(3, 4) * scale, torch.randn(5) * scale]
        for p, gi in zip(ps, gin):
            p.grad = gi.clone()
        nt = float("inf") if norm_type == "inf" else norm_type
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=nt)
        cases.append({
            "name": name, "max_norm": max_norm, "norm_type": norm_type,
            "grads_in": [T(gi) for gi in gin], "total_norm": T(total),
            "grads_out": [T(p.grad) for p in ps]})
    write(NN, "clip_grad_norm.json", {
        "_meta": meta(seed, note=(
            "total_norm = norm of all grads together (before clipping); clip_coef = max_norm / "
            "(total_norm + 1e-6), clamped to <= 1; grads *= clip_coef (also when it is 1).")),
        "cases": cases})


# ----------------------------------------------------------------------------
# nn/: safetensors written by Python


def make_safetensors():
    from safetensors.torch import save_file
    import safetensors

    seed = 1000
    torch.manual_seed(seed)
    tensors = {
        "features.0.weight": torch.randn(4, 3, 2, 2),
        "features.0.bias": torch.randn(4),
        "features.1.running_var": torch.tensor([0.5, 1.0, 2.0, 3.25]),
        "classifier.weight": torch.randn(2, 5),
        "scale": torch.tensor(0.125),
        "empty": torch.zeros(0, 3),
    }
    metadata = {"format": "pt", "producer": "make_fixtures.py"}
    path = os.path.join(NN, "python_written.safetensors")
    os.makedirs(NN, exist_ok=True)
    save_file(tensors, path, metadata=metadata)
    with open(path, "rb") as f:
        raw = f.read()
    hlen = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + hlen])
    write(NN, "python_written.json", {
        "_meta": meta(seed, safetensors=safetensors.__version__, note=(
            "expected contents of python_written.safetensors (safetensors.torch.save_file); "
            "all tensors are F32; 'header' is the file's JSON header as written "
            "(data_offsets are relative to the end of the header).")),
        "file_size": len(raw),
        "header_length": hlen,
        "metadata": metadata,
        "header": header,
        "tensors": {n: {"dtype": "F32", **T(v)} for n, v in tensors.items()}})
    print(f"  {os.path.relpath(path, ROOT):45s} {len(raw):8d} bytes")


# ----------------------------------------------------------------------------


def main():
    print(f"torch {torch.__version__}; writing fixtures under {ROOT}")
    make_convs()
    make_pools()
    make_matmul_linear()
    make_kthvalue()
    make_batchnorm()
    make_softmax_losses()
    make_mlp()
    make_optim()
    make_safetensors()
    return 0


if __name__ == "__main__":
    sys.exit(main())

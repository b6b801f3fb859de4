#!/usr/bin/env python3
"""PyTorch reference for EngineBench: kthvalue on 10^5..10^7 elements and the same conv2d (3x3, 64->64, x 8x64x56x56, padding 1,
bias) forward and forward+backward on 2 threads, median ms. Run with the reference venv:

    .venv-ref/bin/python Benchmarks/EngineBench/torch_conv.py [--quick]
"""
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
quick = "--quick" in sys.argv
reps = 5 if quick else 20


results = {}


def median_time(fn, reps, warmup=2, key=None):
    """Median seconds of reps calls; with key, records RESULT <key>_ms and <key>_best_ms."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    if key:
        results[key + "_ms"] = ts[len(ts) // 2] * 1e3
        results[key + "_best_ms"] = ts[0] * 1e3
    return ts[len(ts) // 2]


torch.manual_seed(0)
x = torch.randn(8, 64, 56, 56)
w = torch.randn(64, 64, 3, 3) * 0.05
b = torch.randn(64) * 0.1
g = torch.randn(8, 64, 56, 56)

with torch.no_grad():
    t_fwd = median_time(lambda: F.conv2d(x, w, b, padding=1), reps, key="fwd")

xr, wr, br = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()


def fwd_bwd():
    xr.grad = wr.grad = br.grad = None
    F.conv2d(xr, wr, br, padding=1).backward(g)


t_fb = median_time(fwd_bwd, reps, key="fwd_bwd")

# small feature maps (CIFAR-like late layer)
xs = torch.randn(128, 128, 8, 8)
ws = torch.randn(128, 128, 3, 3) * 0.03
bs = torch.randn(128) * 0.1
gs = torch.randn(128, 128, 8, 8)
with torch.no_grad():
    t_sf = median_time(lambda: F.conv2d(xs, ws, bs, padding=1), reps, key="small_fwd")
xsr, wsr, bsr = xs.clone().requires_grad_(), ws.clone().requires_grad_(), bs.clone().requires_grad_()


def small_fwd_bwd():
    xsr.grad = wsr.grad = bsr.grad = None
    F.conv2d(xsr, wsr, bsr, padding=1).backward(gs)


t_sfb = median_time(small_fwd_bwd, reps, key="small_fwd_bwd")

# depthwise
wd = torch.randn(64, 1, 3, 3) * 0.3
with torch.no_grad():
    t_df = median_time(lambda: F.conv2d(x, wd, b, padding=1, groups=64), reps, key="dw_fwd")
wdr = wd.clone().requires_grad_()


def dw_fwd_bwd():
    xr.grad = wdr.grad = br.grad = None
    F.conv2d(xr, wdr, br, padding=1, groups=64).backward(g)


t_dfb = median_time(dw_fwd_bwd, reps, key="dw_fwd_bwd")
a = torch.randn(1024, 1024)
t_mm = median_time(lambda: a @ a, reps)
flops = 2.0 * 64 * 576 * 25088
print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads:")


def ms(key):
    return f"{results[key + '_ms']:.2f} ms (best {results[key + '_best_ms']:.2f})"


print(f"  conv2d 8x64x56x56 forward           {ms('fwd')}  ({flops / t_fwd / 1e9:.1f} GFLOP/s)")
print(f"  conv2d 8x64x56x56 forward+backward  {ms('fwd_bwd')}  ({3 * flops / t_fb / 1e9:.1f} GFLOP/s)")
print(f"  conv2d 128x128x8x8 forward          {ms('small_fwd')}")
print(f"  conv2d 128x128x8x8 forward+backward {ms('small_fwd_bwd')}")
print(f"  conv2d depthwise forward            {ms('dw_fwd')}")
print(f"  conv2d depthwise forward+backward   {ms('dw_fwd_bwd')}")
print(f"  matmul 1024^2            {t_mm * 1e3:.2f} ms  ({2 * 1024**3 / t_mm / 1e9:.1f} GFLOP/s)")
for n in (100_000, 1_000_000, 10_000_000):
    a = torch.randn(n).abs()
    k = int(0.99999 * n + 0.5)
    t = median_time(lambda: torch.kthvalue(a, k), 3 if quick else (5 if n >= 10_000_000 else 20),
                    key=f"kthvalue_{n}")
    print(f"  kthvalue N = {n:<9d} {t * 1e3:.2f} ms (best {results[f'kthvalue_{n}_best_ms']:.2f})")
for key, v in results.items():
    print(f"RESULT {key} {v:.4f}")

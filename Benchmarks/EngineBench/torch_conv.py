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


def median_time(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


torch.manual_seed(0)
x = torch.randn(8, 64, 56, 56)
w = torch.randn(64, 64, 3, 3) * 0.05
b = torch.randn(64) * 0.1
g = torch.randn(8, 64, 56, 56)

with torch.no_grad():
    t_fwd = median_time(lambda: F.conv2d(x, w, b, padding=1), reps)

xr, wr, br = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()


def fwd_bwd():
    xr.grad = wr.grad = br.grad = None
    F.conv2d(xr, wr, br, padding=1).backward(g)


t_fb = median_time(fwd_bwd, reps)

# small feature maps (CIFAR-like late layer)
xs = torch.randn(128, 128, 8, 8)
ws = torch.randn(128, 128, 3, 3) * 0.03
bs = torch.randn(128) * 0.1
gs = torch.randn(128, 128, 8, 8)
with torch.no_grad():
    t_sf = median_time(lambda: F.conv2d(xs, ws, bs, padding=1), reps)
xsr, wsr, bsr = xs.clone().requires_grad_(), ws.clone().requires_grad_(), bs.clone().requires_grad_()


def small_fwd_bwd():
    xsr.grad = wsr.grad = bsr.grad = None
    F.conv2d(xsr, wsr, bsr, padding=1).backward(gs)


t_sfb = median_time(small_fwd_bwd, reps)

# depthwise
wd = torch.randn(64, 1, 3, 3) * 0.3
with torch.no_grad():
    t_df = median_time(lambda: F.conv2d(x, wd, b, padding=1, groups=64), reps)
wdr = wd.clone().requires_grad_()


def dw_fwd_bwd():
    xr.grad = wdr.grad = br.grad = None
    F.conv2d(xr, wdr, br, padding=1, groups=64).backward(g)


t_dfb = median_time(dw_fwd_bwd, reps)
a = torch.randn(1024, 1024)
t_mm = median_time(lambda: a @ a, reps)
flops = 2.0 * 64 * 576 * 25088
print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads:")
print(f"  conv2d forward           {t_fwd * 1e3:.2f} ms  ({flops / t_fwd / 1e9:.1f} GFLOP/s)")
print(f"  conv2d forward+backward  {t_fb * 1e3:.2f} ms  ({3 * flops / t_fb / 1e9:.1f} GFLOP/s)")
print(f"  conv2d 128x128x8x8 fwd  {t_sf * 1e3:.2f} ms, forward+backward {t_sfb * 1e3:.2f} ms")
print(f"  conv2d depthwise fwd     {t_df * 1e3:.2f} ms, forward+backward {t_dfb * 1e3:.2f} ms")
print(f"  matmul 1024^2            {t_mm * 1e3:.2f} ms  ({2 * 1024**3 / t_mm / 1e9:.1f} GFLOP/s)")
for n in (100_000, 1_000_000, 10_000_000):
    a = torch.randn(n).abs()
    k = int(0.99999 * n + 0.5)
    t = median_time(lambda: torch.kthvalue(a, k), 3 if quick else (5 if n >= 10_000_000 else 20))
    print(f"  kthvalue N = {n:<9d} {t * 1e3:.2f} ms")
    print(f"RESULT kthvalue_{n} {t * 1e3:.4f}")
print(f"RESULT small_fwd_ms {t_sf * 1e3:.4f}")
print(f"RESULT small_fwd_bwd_ms {t_sfb * 1e3:.4f}")
print(f"RESULT dw_fwd_ms {t_df * 1e3:.4f}")
print(f"RESULT dw_fwd_bwd_ms {t_dfb * 1e3:.4f}")
print(f"RESULT fwd_ms {t_fwd * 1e3:.4f}")
print(f"RESULT fwd_bwd_ms {t_fb * 1e3:.4f}")

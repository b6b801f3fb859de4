"""Brevitas 0.13.4's learned rounding (AdaRound, hard sigmoid) on the digits models, for comparison
with `brevitas quantize --learned-round`.

It reuses ptq_brevitas.py (the PTQ yardstick, /work/shared/reference or $PTQ_REFERENCE) to train the
same float model and write float.onnx / calib.npy / test_x.npy / test_y.npy into OUTDIR, then runs
ptq_evaluate.py's flow per row: preprocess_for_quantize, quantize_model (int, per-channel weights,
99.999 percentile activations, Int32 bias), one initializing forward, calibrate, then
`apply_learned_round` with ptq_evaluate.py's defaults (hard_sigmoid, layerwise mode,
regularised_mse loss, Adam lr 1e-3, batch size 1, no lr scheduler; iterations per layer from
--iters). Brevitas asserts `target_backend == 'layerwise'` for learned round in ptq_evaluate.py, so
the learned-round rows use backend 'layerwise'; a 'fx' row is tried as well and its outcome
(accuracy or error) recorded.

    /work/ref/.venv-ref/bin/python Tests/Fixtures/learned_round/brevitas_digits_learned_round.py \
        --digits Sources/NN/Resources/digits.csv.gz --out /tmp/lr-cnn0 [--arch cnn] [--seed 0] \
        [--iters 1000] [--json out.json]

brevitas_digits_cnn_seed0.json beside it is its output for cnn seed 0, 1000 iterations (2026-12-07).
"""
import argparse
import copy
import json
import os
import sys
import time
from argparse import Namespace

sys.path.insert(0, os.environ.get("PTQ_REFERENCE", "/work/shared/reference"))
import ptq_brevitas as ref  # noqa: E402  (installs the tqdm stand-in when needed)

import importlib.machinery  # noqa: E402
import types  # noqa: E402


def _stand_in(name, **attrs):
    """A module stand-in for an optional dependency the learned-round code imports but, on one CPU
    device, only uses as a no-op (`accelerate`'s device offloading and `send_to_device`)."""
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


try:
    import accelerate  # noqa: F401
except ImportError:
    _stand_in("accelerate")
    _stand_in("accelerate.utils")
    _stand_in("accelerate.utils.operations", send_to_device=lambda x, device, *a, **k: x)
    _stand_in("brevitas_examples.common.accelerate_utils.accelerate",
              offload_model=lambda model, *a, **k: model, remove_hooks=lambda model: model)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from brevitas.export.inference import quant_inference_mode  # noqa: E402
from brevitas.graph.quantize import preprocess_for_quantize  # noqa: E402
from brevitas_examples.imagenet_classification.ptq.learned_round_utils import apply_learned_round  # noqa: E402
from brevitas_examples.imagenet_classification.ptq.ptq_common import calibrate, quantize_model  # noqa: E402
import brevitas_examples.common.learned_round.learned_round_trainer as _trainer  # noqa: E402


class _QuietBar:
    """The trainer's tqdm progress bar, silent (tqdm is not a dependency of brevitas)."""

    def __init__(self, iterable, *args, **kwargs):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass


_trainer.tqdm = _QuietBar


def run(float_model, backend, wbits, abits, iters, calib_loader, test_x, test_y):
    torch.manual_seed(0)
    model = preprocess_for_quantize(copy.deepcopy(float_model).eval(), merge_bn=True, equalize_iters=0)
    opts = dict(ref.QUANTIZE_OPTIONS, backend=backend)
    q = quantize_model(model, weight_bit_width=wbits, act_bit_width=abits, **opts)
    q.eval()
    with torch.no_grad():
        q(calib_loader[0][0])
    calibrate(calib_loader, q)
    ms = {}
    if iters:
        args = Namespace(
            learned_round="hard_sigmoid", learned_round_mode="layerwise", learned_round_iters=iters,
            learned_round_lr=1e-3, learned_round_batch_size=1, learned_round_loss="regularised_mse",
            learned_round_lr_scheduler=None)
        t0 = time.perf_counter()
        apply_learned_round(model=q, calibration_loader=calib_loader, args=args)
        ms["learned_round"] = ref.ms_since(t0)
    q.eval()
    with torch.no_grad(), quant_inference_mode(q):
        q(torch.ones(1, 1, 8, 8))
        acc, _ = ref.accuracy(q, test_x, test_y)
    return acc, ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--digits", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", choices=["cnn", "mlp"], default="cnn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    x, y = ref.load_digits(a.digits)
    (train_x, train_y), (test_x, test_y), _ = ref.split_digits(x, y)
    calib_x = np.ascontiguousarray(train_x[:ref.CALIB_COUNT], dtype=np.float32)
    float_model = ref.train_float(a.arch, a.seed, train_x, train_y)
    float_acc, _ = ref.accuracy(float_model, test_x, test_y)
    np.save(os.path.join(a.out, "calib.npy"), calib_x)
    np.save(os.path.join(a.out, "test_x.npy"), np.ascontiguousarray(test_x, dtype=np.float32))
    np.save(os.path.join(a.out, "test_y.npy"), test_y.astype(np.int64))
    torch.onnx.export(copy.deepcopy(float_model).eval(), (torch.from_numpy(test_x[:1]),),
                      os.path.join(a.out, "float.onnx"), dynamo=False, export_params=True, opset_version=13,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    calib_t = torch.from_numpy(calib_x)
    calib_loader = [(calib_t[i:i + ref.CALIB_BATCH], torch.from_numpy(train_y[i:i + ref.CALIB_BATCH]))
                    for i in range(0, ref.CALIB_COUNT, ref.CALIB_BATCH)]
    rows = []
    for backend, wbits, abits, iters in [("layerwise", 4, 4, 0), ("layerwise", 4, 4, a.iters),
                                         ("layerwise", 4, 8, 0), ("layerwise", 4, 8, a.iters),
                                         ("fx", 4, 4, 0), ("fx", 4, 4, a.iters)]:
        name = f"w{wbits}a{abits} {backend}" + (f" + learned round {iters}" if iters else "")
        try:
            acc, ms = run(float_model, backend, wbits, abits, iters, calib_loader, test_x, test_y)
            rows.append({"name": name, "accuracy": acc, "correct": int(round(acc * len(test_y))), "ms": ms})
        except Exception as e:  # recorded, as ptq_brevitas.py does
            rows.append({"name": name, "accuracy": None, "error": f"{type(e).__name__}: {e}"})
        print(rows[-1], flush=True)
    report = {"arch": a.arch, "seed": a.seed, "float_accuracy": float_acc, "iters": a.iters, "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Extra conformance cases of the "layers" family (spec_version 2) for swift-brevitas.

What the shared generator (../shared/conformance/gen_layers.py) does not record:
  * QuantMultiheadAttention with add_bias_kv=True and/or add_zero_attn=True (PyTorch's
    semantics, as Brevitas 0.13.4's multi_head_attention implements them: a learned key/value
    row appended to the key and value sequences after the projections, an all-zero row appended
    after the head split; masks padded with a column of "may attend"), with masks;
  * QuantRNN / QuantLSTM called with an initial state (hx, cx), which Brevitas quantizes with the
    cell's output quantizer (h) and cell-state quantizer (c) and indexes per layer and direction
    as hx[2 * layer + direction];
  * a weight-only QuantLSTM (every cell quantizer off), whose export Brevitas writes as ONNX's LSTM
    op at opset 14: export_input / export_output and Brevitas's export results (its files fail
    to load in ONNX Runtime, so they are not kept).

The cases use gen_layers.py's machinery unchanged (same format, same recording of outputs,
intermediates, gradients of every input and parameter, and states), so `brevitas conformance`
replays them like the shared ones.

Usage (from the package root, with the reference environment):
    /work/ref/.venv-ref/bin/python Tests/Fixtures/layers-extra/gen_layers_extra.py \\
        Tests/Fixtures/layers-extra [--shared ../shared/conformance]
"""

import argparse
import json
import os
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(here, "../../../../shared/conformance")),
                    help="folder of gen.py and gen_layers.py (default: ../shared/conformance beside the package)")
    a = ap.parse_args(argv)
    if not os.path.exists(os.path.join(a.shared, "gen_layers.py")):
        ap.error("gen_layers.py not found in %s (use --shared)" % a.shared)
    sys.path.insert(0, a.shared)
    import gen_layers as gl  # noqa: E402
    import torch  # noqa: E402

    P = gl.variant("public")
    P.seed_offset = 1000  # other random numbers than the shared cases
    torch.set_num_threads(1)
    cases = []

    def add(f):
        cases.append(f)
        return f

    # --- attention ----------------------------------------------------------
    def mha_case(name, kw, what, x_shape, batch_first=False, cross=None, mask=False, padding=False,
                 average=True):
        def f():
            ctor = f"QuantMultiheadAttention({kw})"
            c = gl.LCase(P, name, f"{ctor}: {what}. Two training steps and one eval step with backward.", ctor)
            inputs, dtypes = (["query", "kv"] if cross else ["x"]), {}
            call = {"args": ["query", "kv", "kv"] if cross else ["x", "x", "x"]}
            if mask:
                inputs.append("mask")
                dtypes["mask"] = "bool"
                call.setdefault("tensor_kwargs", {})["attn_mask"] = "mask"
            if padding:
                inputs.append("pad")
                dtypes["pad"] = "bool"
                call.setdefault("tensor_kwargs", {})["key_padding_mask"] = "pad"
            if not average:
                call["kwargs"] = {"average_attn_weights": False}
            c.set_spec(inputs, dtypes=dtypes or None, call=call, outputs=["attn_output", "attn_weights"])
            m = c.build_model()
            for mode in ("train", "train", "eval"):
                feed = {}
                if cross:
                    feed["query"], feed["kv"] = c.randn(*cross[0]), c.randn(*cross[1])
                    tgt, src, bsz = cross[0][0], cross[1][0], cross[0][1]
                else:
                    feed["x"] = c.randn(*x_shape)
                    bsz, seq = (x_shape[0], x_shape[1]) if batch_first else (x_shape[1], x_shape[0])
                    tgt = src = seq
                if mask:
                    feed["mask"] = torch.triu(torch.ones(tgt, src, dtype=torch.bool), diagonal=1)
                if padding:
                    p = torch.zeros(bsz, src, dtype=torch.bool)
                    p[0, src - 1] = True  # the first batch element ignores its last key
                    feed["pad"] = p
                c.lstep(m, mode, feed)
            return c
        f.__name__ = name
        add(f)

    mha_case("mha_add_bias_kv_self", "embed_dim=8, num_heads=2, add_bias_kv=True",
             "self-attention through the packed in_proj with learned bias_k / bias_v rows "
             "appended to the projected keys and values (S -> S + 1), boolean causal attn_mask "
             "padded with a column of False", (4, 2, 8), mask=True)
    mha_case("mha_add_zero_attn_cross", "embed_dim=6, num_heads=3, packed_in_proj=False, add_zero_attn=True",
             "cross-attention (separate q/k/v projections) with an all-zero key/value row appended "
             "after the head split (S -> S + 1); query [3, 2, 6], key = value [5, 2, 6]",
             None, cross=((3, 2, 6), (5, 2, 6)))
    mha_case("mha_bias_kv_zero_attn_padding_batch_first",
             "embed_dim=8, num_heads=2, add_bias_kv=True, add_zero_attn=True, batch_first=True",
             "both additions (S -> S + 2), batch_first, a boolean key_padding_mask (batch 0 ignores "
             "its last key) padded twice, per-head weights", (2, 4, 8), batch_first=True, padding=True,
             average=False)

    # --- recurrent initial state ---------------------------------------------
    def rec_state_case(name, cls, kw, what, inp, hid, seq, batch, states, batch_first=False):
        def f():
            ctor = f"{cls}(input_size={inp}, hidden_size={hid}{kw})"
            c = gl.LCase(P, name, f"{ctor}: {what}. Two training steps and one eval step with backward.", ctor)
            names = ["x"] + [s for s, _ in states]
            outputs = ["out", ["h_n", "c_n"]] if cls == "QuantLSTM" else ["out", "h_n"]
            c.set_spec(names, call={"args": names}, outputs=outputs)
            m = c.build_model()
            x = (batch, seq, inp) if batch_first else (seq, batch, inp)
            for mode in ("train", "train", "eval"):
                feed = {"x": c.randn(*x)}
                for s, n in states:
                    feed[s] = c.randn(n, batch, hid) * 0.5
                c.lstep(m, mode, feed)
            return c
        f.__name__ = name
        add(f)

    rec_state_case("lstm_initial_state", "QuantLSTM", "",
                   "initial hidden and cell states (hx, cx) [1, N, hidden]: h_0 = io_quant(hx[0]), "
                   "c_0 = cell_state_quant(cx[0]); gradients reach hx and cx",
                   4, 5, 3, 2, [("hx", 1), ("cx", 1)])
    rec_state_case("lstm_initial_state_bidir_batch_first", "QuantLSTM",
                   ", bidirectional=True, batch_first=True, return_quant_tensor=True",
                   "initial states [2, N, hidden] for both directions (direction d takes hx[d], "
                   "cx[d]), batch_first, QuantTensor outputs", 3, 4, 3, 2, [("hx", 2), ("cx", 2)],
                   batch_first=True)
    rec_state_case("rnn_initial_state", "QuantRNN", "",
                   "initial hidden state hx [1, N, hidden]: h_0 = io_quant(hx[0]); its gradient",
                   4, 6, 4, 2, [("hx", 1)])
    rec_state_case("rnn_initial_state_bidir_2layers", "QuantRNN", ", num_layers=2, bidirectional=True",
                   "two layers, both directions: layer l direction d starts from hx[2 l + d]",
                   3, 4, 3, 2, [("hx", 4)])

    # --- weight-only LSTM (float cell): Brevitas exports ONNX's LSTM op (opset >= 14) -------
    def lstm_weight_only():
        import functools
        import brevitas.export as bexp
        kw = ("input_size=4, hidden_size=5, io_quant=None, gate_acc_quant=None, sigmoid_quant=None, "
              "tanh_quant=None, cell_state_quant=None, bias_quant=None, weight_bit_width=4")
        ctor = f"QuantLSTM({kw})"
        name = "lstm_weight_only_float_cell"
        c = gl.LCase(P, name, f"{ctor}: every cell quantizer off, 4-bit weights (Brevitas's weight-only LSTM, "
                     "exported as ONNX's LSTM op at opset 14). Input (3, 2, 4); two training steps and one eval "
                     "step with backward, then export (opset 14).", ctor)
        c.set_spec(["x"], outputs=["out", ["h_n", "c_n"]])
        m = c.build_model()
        gl.run_steps(c, m, lambda: c.randn(3, 2, 4))
        saved = (bexp.export_onnx_qcdq, bexp.export_qonnx)
        bexp.export_onnx_qcdq = functools.partial(saved[0], opset_version=14)
        bexp.export_qonnx = functools.partial(saved[1], opset_version=14)
        try:
            gl.export_model(c, m, {"x": c.randn(3, 2, 4)}, a.outdir)
        finally:
            bexp.export_onnx_qcdq, bexp.export_qonnx = saved
        # Brevitas's files do not load in ONNX Runtime (its Squeeze of the output takes the
        # batch axis; recorded as check_error): only the recorded eval output is kept.
        for kind, e in c.d["exports"].items():
            f = e.pop("file", None)
            if f and os.path.exists(os.path.join(a.outdir, f)):
                os.remove(os.path.join(a.outdir, f))
        return c
    lstm_weight_only.__name__ = "lstm_weight_only_float_cell"
    add(lstm_weight_only)

    os.makedirs(a.outdir, exist_ok=True)
    failed = 0
    for f in cases:
        try:
            c = f()
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAILED {f.__name__}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        with open(os.path.join(a.outdir, c.name + ".json"), "w") as fh:
            json.dump(c.d, fh, allow_nan=False, separators=(",", ":"))
        print(f"wrote {c.name}.json ({os.path.getsize(os.path.join(a.outdir, c.name + '.json'))} bytes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

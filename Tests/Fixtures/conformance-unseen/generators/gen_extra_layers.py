#!/usr/bin/env python3
"""Extra unseen layer cases: options gen_layers.py never exercises."""
import os, sys, json, math, warnings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("UNSEEN_VARIANT", "u1")
import gen_layers as GL
import gen
import torch
from gen_layers import LCase, run_steps, run_sgd, export_model, shp

P = GL.variant("public")
P.seed_offset = 3003


def table():
    T = []

    def simple(name, ctor, inputs, mk, outputs=None, call=None, dtypes=None, sgd=None, export=False, what="", err=None):
        def f(outdir):
            c = LCase(P, name, f"{ctor}: {what}", ctor)
            c.set_spec(list(inputs), dtypes=dtypes, call=call, outputs=outputs)
            m = GL.build_or_record(c, "model") if True else None
            if m is None:
                return c
            try:
                if sgd:
                    run_sgd(c, m, lambda: mk(c), sgd[0], sgd[1])
                else:
                    for mode in ("train", "train", "eval"):
                        c.lstep(m, mode, mk(c))
            except Exception as e:
                if err is None:
                    raise
                rec = dict(gen.error_record(e), during="forward", step=len(c.d["steps"]) - 1)
                if err == "expected":
                    c.d["expected_error"] = rec
                else:
                    c.d["reference_error"] = dict(rec, mode=c.d["mode"][-1])
                return c
            if export and outdir:
                export_model(c, m, mk(c), outdir)
            return c
        T.append((name, f))

    R = lambda c, *s: c.randn(*s)
    # ---- recurrent options
    simple("lstm_nobias_2layers", "QuantLSTM(input_size=3, hidden_size=4, num_layers=2, bias=False)",
           ["x"], lambda c: {"x": R(c, 4, 2, 3)}, outputs=["out", ["h_n", "c_n"]])
    simple("lstm_cifg", "QuantLSTM(input_size=3, hidden_size=4, coupled_input_forget_gates=True)",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", ["h_n", "c_n"]])
    simple("lstm_shared_intra_weight_quant", "QuantLSTM(input_size=4, hidden_size=3, shared_intra_layer_weight_quant=True)",
           ["x"], lambda c: {"x": R(c, 3, 2, 4)}, outputs=["out", ["h_n", "c_n"]])
    simple("lstm_shared_intra_gate_acc", "QuantLSTM(input_size=4, hidden_size=3, shared_intra_layer_gate_acc_quant=True)",
           ["x"], lambda c: {"x": R(c, 3, 2, 4)}, outputs=["out", ["h_n", "c_n"]])
    simple("lstm_bidir_shared_ih", "QuantLSTM(input_size=3, hidden_size=3, bidirectional=True, shared_input_hidden_weights=True)",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", ["h_n", "c_n"]])
    simple("lstm_bidir_shared_ih_small", "QuantLSTM(input_size=2, hidden_size=2, bidirectional=True, shared_input_hidden_weights=True)",
           ["x"], lambda c: {"x": R(c, 2, 1, 2)}, outputs=["out", ["h_n", "c_n"]])
    simple("lstm_bidir_nocat", "QuantLSTM(input_size=3, hidden_size=4, bidirectional=True, cat_output_cell_states=False, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", ["h_n", ["c0", "c1"]]])
    simple("lstm_3layers_sgd", "QuantLSTM(input_size=2, hidden_size=3, num_layers=3, batch_first=True)",
           ["x"], lambda c: {"x": R(c, 2, 4, 2)}, outputs=["out", ["h_n", "c_n"]], sgd=(3, 0.05))
    simple("lstm_no_io_quant", "QuantLSTM(input_size=3, hidden_size=4, io_quant=None)",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", ["h_n", "c_n"]], err="expected")
    simple("lstm_no_io_quant_no_bias_quant", "QuantLSTM(input_size=3, hidden_size=4, io_quant=None, bias_quant=None)",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", ["h_n", "c_n"]])
    simple("rnn_nobias_relu_3layers", "QuantRNN(input_size=3, hidden_size=4, num_layers=3, bias=False, nonlinearity='relu')",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", "h_n"])
    simple("rnn_bidir_shared_ih_sgd", "QuantRNN(input_size=4, hidden_size=4, bidirectional=True, shared_input_hidden_weights=True, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 3, 2, 4)}, outputs=["out", "h_n"], sgd=(3, 0.05))
    simple("rnn_io_bits4_acc6", "QuantRNN(input_size=3, hidden_size=5, io_bit_width=4, gate_acc_quant_bit_width=6, weight_bit_width=3, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 4, 2, 3)}, outputs=["out", "h_n"])
    simple("lstm_per_channel_weights", "QuantLSTM(input_size=3, hidden_size=4, weight_quant=Int8WeightPerChannelFloat)",
           ["x"], lambda c: {"x": R(c, 3, 2, 3)}, outputs=["out", ["h_n", "c_n"]])
    # ---- attention options
    simple("mha_kdim_vdim", "QuantMultiheadAttention(embed_dim=8, num_heads=2, kdim=5, vdim=5, packed_in_proj=False)",
           ["q", "k", "v"], lambda c: {"q": R(c, 3, 2, 8), "k": R(c, 4, 2, 5), "v": R(c, 4, 2, 5)},
           outputs=["attn_output", "attn_weights"])
    simple("mha_key_padding_mask_bf", "QuantMultiheadAttention(embed_dim=6, num_heads=2, batch_first=True)",
           ["x", "kpm"], lambda c: {"x": R(c, 2, 4, 6), "kpm": torch.tensor([[False, False, True, True], [False, True, False, False]])},
           dtypes={"kpm": "bool"}, call={"args": ["x", "x", "x"], "tensor_kwargs": {"key_padding_mask": "kpm"}},
           outputs=["attn_output", "attn_weights"])
    simple("mha_float_mask", "QuantMultiheadAttention(embed_dim=4, num_heads=2)",
           ["x", "mask"], lambda c: {"x": R(c, 3, 2, 4), "mask": R(c, 3, 3)},
           call={"args": ["x", "x", "x"], "tensor_kwargs": {"attn_mask": "mask"}},
           outputs=["attn_output", "attn_weights"])
    simple("mha_nobias_unpacked", "QuantMultiheadAttention(embed_dim=6, num_heads=3, bias=False, packed_in_proj=False)",
           ["x"], lambda c: {"x": R(c, 4, 2, 6)}, call={"args": ["x", "x", "x"]},
           outputs=["attn_output", "attn_weights"])
    simple("mha_sgd_unpacked_cross", "QuantMultiheadAttention(embed_dim=4, num_heads=2, packed_in_proj=False)",
           ["q", "kv"], lambda c: {"q": R(c, 2, 3, 4), "kv": R(c, 5, 3, 4)}, call={"args": ["q", "kv", "kv"]},
           outputs=["attn_output", "attn_weights"], sgd=(3, 0.05))
    simple("sdpa_bool_mask_scale", "QuantScaledDotProductAttention()",
           ["q", "k", "v", "mask"], lambda c: {"q": R(c, 2, 3, 4), "k": R(c, 2, 5, 4), "v": R(c, 2, 5, 4),
                                              "mask": torch.rand(3, 5, generator=c.gen) > 0.3},
           dtypes={"mask": "bool"}, call={"args": ["q", "k", "v"], "tensor_kwargs": {"attn_mask": "mask"}, "kwargs": {"scale": 0.3}})
    simple("sdpa_float_mask", "QuantScaledDotProductAttention()",
           ["q", "k", "v", "mask"], lambda c: {"q": R(c, 1, 2, 3, 4), "k": R(c, 1, 2, 3, 4), "v": R(c, 1, 2, 3, 4), "mask": R(c, 3, 3)},
           call={"args": ["q", "k", "v"], "tensor_kwargs": {"attn_mask": "mask"}})
    def masked_rows(c):
        m = torch.rand(2, 3, 4, generator=c.gen) > 0.4
        m[0, 1, :] = False
        m[1, 2, :] = False
        m[:, 0, 0] = True
        return m
    simple("sdpa_fully_masked_rows", "QuantScaledDotProductAttention()",
           ["q", "k", "v", "mask"], lambda c: {"q": R(c, 2, 2, 3, 4), "k": R(c, 2, 2, 4, 4), "v": R(c, 2, 2, 4, 3),
                                              "mask": masked_rows(c).unsqueeze(1)},
           dtypes={"mask": "bool"}, call={"args": ["q", "k", "v"], "tensor_kwargs": {"attn_mask": "mask"}})
    simple("sdpa_gqa", "QuantScaledDotProductAttention()",
           ["q", "k", "v"], lambda c: {"q": R(c, 2, 4, 3, 4), "k": R(c, 2, 2, 5, 4), "v": R(c, 2, 2, 5, 4)},
           call={"args": ["q", "k", "v"], "kwargs": {"enable_gqa": True, "scale": 0.7}})
    # ---- embedding options
    simple("embedding_no_padding_perchannel", "QuantEmbedding(num_embeddings=7, embedding_dim=4, weight_quant=Int8WeightPerChannelFloat)",
           ["idx"], lambda c: {"idx": torch.randint(0, 7, (2, 3), generator=c.gen)}, dtypes={"idx": "int64"}, err="expected")
    simple("embedding_1d_idx_sgd", "QuantEmbedding(num_embeddings=9, embedding_dim=3, weight_bit_width=2, return_quant_tensor=True)",
           ["idx"], lambda c: {"idx": torch.randint(0, 9, (6,), generator=c.gen)}, dtypes={"idx": "int64"}, sgd=(3, 0.2))
    # ---- upsampling options
    for nm, up in [("upsample_bilinear_align_true", "QuantUpsample(scale_factor=2, mode='bilinear', align_corners=True)"),
                   ("upsample_nearest_scale3", "QuantUpsample(scale_factor=3, mode='nearest')"),
                   ("upsampling_bilinear2d_scale", "QuantUpsamplingBilinear2d(scale_factor=2)"),
                   ("upsampling_nearest2d_size", "QuantUpsamplingNearest2d(size=(5, 7))"),
                   ("upsample_bilinear_size_odd", "QuantUpsample(size=(4, 9), mode='bilinear')")]:
        simple(nm, f"Seq(act=QuantIdentity(bit_width=4, return_quant_tensor=True), up={up})",
               ["x"], lambda c: {"x": R(c, 2, 2, 3, 4)})
    simple("upsample_float_input", "QuantUpsample(scale_factor=2, mode='bilinear')",
           ["x"], lambda c: {"x": R(c, 1, 2, 3, 3)}, err="reference")
    # ---- conv options
    simple("convtranspose1d_perchannel_int8bias", "QuantConvTranspose1d(4, 6, kernel_size=3, stride=2, groups=2, weight_quant=Int8WeightPerChannelFloat, input_quant=Int8ActPerTensorFloat, bias_quant=Int8Bias, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 2, 4, 5)}, err="reference")
    simple("convtranspose1d_perchannel_int8bias_nogroups", "QuantConvTranspose1d(2, 5, kernel_size=3, stride=2, weight_quant=Int8WeightPerChannelFloat, input_quant=Int8ActPerTensorFloat, bias_quant=Int8Bias, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 2, 2, 5)}, export=True)
    simple("convtranspose2d_output_quant_sgd", "QuantConvTranspose2d(3, 2, kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), input_quant=Int8ActPerTensorFloat, output_quant=Int8ActPerTensorFloat, weight_bit_width=5)",
           ["x"], lambda c: {"x": R(c, 2, 3, 3, 3)}, sgd=(3, 0.05))
    simple("conv3d_depthwise_dilation", "QuantConv3d(3, 3, kernel_size=3, padding=2, dilation=2, groups=3, bias=False, input_quant=Int8ActPerTensorFloat, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 1, 3, 4, 4, 5)})
    simple("conv1d_padding_same_bits5", "QuantConv1d(3, 2, kernel_size=4, padding='same', weight_bit_width=5, input_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 2, 3, 6).abs()})
    # ---- A2Q variants
    simple("a2q_conv_groups_bias", "QuantConv2d(4, 4, kernel_size=3, groups=2, bias=True, bias_quant=Int32Bias, weight_quant=Int8AccumulatorAwareWeightQuant, weight_accumulator_bit_width=13, input_quant=Int8ActPerTensorFloat, input_bit_width=5, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 2, 4, 5, 5)}, sgd=(3, 0.05))
    simple("a2qplus_linear_wbits4", "QuantLinear(12, 3, bias=False, weight_quant=Int8AccumulatorAwareZeroCenterWeightQuant, weight_bit_width=4, weight_accumulator_bit_width=10, input_quant=Uint8ActPerTensorFloat, input_bit_width=6, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 3, 12)}, sgd=(3, 0.05))
    simple("a2q_convtranspose2d", "QuantConvTranspose2d(3, 2, kernel_size=2, stride=2, bias=False, weight_quant=Int8AccumulatorAwareWeightQuant, weight_accumulator_bit_width=12, input_quant=Int8ActPerTensorFloat, input_bit_width=4, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 2, 3, 3, 3)}, sgd=(3, 0.05))
    # ---- scale bias / hadamard / accumulators
    simple("scale_bias_qt_int8bias", "QuantScaleBias(3, bias=True, input_quant=Int8ActPerTensorFloat, bias_quant=Int8Bias, return_quant_tensor=True)",
           ["x"], lambda c: {"x": R(c, 2, 3, 2, 2)})
    simple("hadamard_fixed_scale", "Seq(act=QuantIdentity(return_quant_tensor=True), cls=HadamardClassifier(in_channels=5, out_channels=3, fixed_scale=True))",
           ["x"], lambda c: {"x": R(c, 2, 5)}, err="reference")
    simple("trunc_round_to_8bit", "Seq(conv=QuantConv2d(2, 3, kernel_size=2, bias=False, input_quant=Int8ActPerTensorFloat, return_quant_tensor=True), acc=TruncQuantAccumulator(trunc_quant=RoundTo8bit))",
           ["x"], lambda c: {"x": R(c, 1, 2, 4, 4)})
    return T


def main():
    outdir = sys.argv[1]
    only = sys.argv[2:]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for name, f in table():
        if only and not any(s in name for s in only):
            continue
        try:
            c = f(outdir)
        except Exception as e:
            import traceback; traceback.print_exc()
            print(f"FAILED {name}: {type(e).__name__}: {e}")
            continue
        with open(os.path.join(outdir, name + ".json"), "w") as fh:
            json.dump(c.d, fh, allow_nan=False, separators=(",", ":"))
        print("wrote", name, "ref_error" if "reference_error" in c.d else "")


main()

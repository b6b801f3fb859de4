import Foundation
import NN
import ONNXProto
import QuantCore
import QuantNN
import TensorEngine

/// Recurrent layers. A `QuantLSTM` exports to QONNX as Brevitas 0.13.4 writes it
/// (`BrevitasQuantLSTMLayerHandler`, `BrevitasQuantLSTMCellFn`): per layer and direction one
/// `QuantLSTMCell` node of domain `qonnx.custom_op.general` whose inputs are
///
/// ```
/// x (through io_quant's Quant in layer 0), h_0, c_0 (zeros [N, hidden]),
/// W_ii, W_if, W_ic, W_io, W_hi, W_hf, W_hc, W_ho   (each through its gate's weight Quant),
/// b_i, b_f, b_c, b_o                                (each through its bias Quant, 32 bits),
/// then (scale, zero_point, bit_width) of output, cell_state, input_acc, forget_acc, cell_acc,
/// output_acc, input_sigmoid, forget_sigmoid, cell_tanh, output_sigmoid, hidden_state_tanh
/// ```
///
/// with attributes `batch_first`, `reverse_input`, `cifg` and `<quantizer>_narrow`,
/// `_signed`, `_rounding_mode` (Brevitas spells one `output_sigmoid_narrow_range`). Its outputs
/// are the output sequence and the last hidden and cell states `[N, hidden]`, unsqueezed to
/// `[1, N, hidden]`; directions are concatenated on the last axis (sequence) and axis 0 (states).
/// The cell computes, per step, `_QuantLSTMCell.forward_iter`:
/// `i = Q_isig(σ(Q_iacc(x·W_iiᵀ + h·W_hiᵀ + b_i)))`, f, g (tanh), o likewise,
/// `c = Q_cs(Q_cs(f·c) + Q_cs(i·g))`, `h = Q_out(o · Q_htanh(tanh(c)))`.
///
/// QCDQ has no form for it (Brevitas raises "Quantized LSTM cell is not supported for ONNX
/// QCDQ"), nor has a `QuantRNN` in either format (Brevitas has no handler for it). A float cell
/// (every cell quantizer disabled, the weights quantized or not) is ONNX's `LSTM` op in both
/// formats, as Brevitas's `LSTMCellFn` writes it.
extension Exporter {
    /// The graph of a `QuantLSTM` model: its output sequence, `h_n` and `c_n`.
    func emitLSTM(_ lstm: QuantLSTM, _ x: Traced, path: String) throws -> (output: Traced, hidden: Traced, cell: Traced) {
        let layer = describe(lstm, path)
        if b.dynamicBatch {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "QuantLSTMCell's initial states are constants of the traced batch size (as in Brevitas's graph); export without a dynamic batch")
        }
        let floatCell = (0..<lstm.numLayers).allSatisfy { l in
            (0..<lstm.directionCount).allSatisfy { d in lstm.directionParts(layer: l, direction: d).cellQuantizers.allSatisfy { !$0.proxy.isQuantEnabled } }
        }
        guard format == .qonnx || floatCell else {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "a quantized LSTM cell has no QCDQ form (Brevitas 0.13.4 raises \"Quantized LSTM cell is not supported for ONNX QCDQ\"); export QONNX, where it is a QuantLSTMCell node (a float cell with quantized weights exports to both as ONNX's LSTM op)")
        }
        let expected: RecurrentOutput
        do { expected = try lstm(x.value) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        var current = x
        var hs: [Traced] = [], cs: [Traced] = []
        for l in 0..<lstm.numLayers {
            var outs: [Traced] = []
            for d in 0..<lstm.directionCount {
                let (o, h, c) = try emitLSTMDirection(lstm, l, d, current, path: path)
                outs.append(o)
                hs.append(h)
                cs.append(c)
            }
            current = outs.count == 1 ? outs[0] : try concat(outs, axis: 2, prefix: Self.nodePrefix(Self.join(path, "layers.\(l)")))
        }
        let prefix = Self.nodePrefix(path)
        let h = hs.count == 1 ? hs[0] : try concat(hs, axis: 0, prefix: prefix + "/hidden")
        let c = cs.count == 1 ? cs[0] : try concat(cs, axis: 0, prefix: prefix + "/cell")
        try checkSame(current.value.value, expected.output.value, layer, "output sequence")
        try checkSame(h.value.value, expected.hidden.value, layer, "h_n")
        try checkSame(c.value.value, expected.cell!.value, layer, "c_n")
        return (Traced(name: current.name, value: expected.output), Traced(name: h.name, value: expected.hidden),
                Traced(name: c.name, value: expected.cell!))
    }

    /// One `QuantLSTMCell` (layer `l`, direction `d`); returns the output sequence and the
    /// states `[1, N, hidden]`, each with the values the direction computes.
    private func emitLSTMDirection(_ lstm: QuantLSTM, _ l: Int, _ d: Int, _ x: Traced, path: String) throws -> (Traced, Traced, Traced) {
        let parts = lstm.directionParts(layer: l, direction: d)
        let dpath = Self.join(path, parts.path)
        let prefix = Self.nodePrefix(dpath)
        let layer = "'\(dpath)' (_QuantLSTMLayer)"
        let expected: (output: QuantValue, hidden: QuantValue, cell: QuantValue)
        do { expected = try lstm.forwardDirection(layer: l, direction: d, input: x.value) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        // Every cell quantizer enabled (Brevitas: "Export of a partially quantized LSTM cell not
        // supported"; with none enabled it writes ONNX's float LSTM op instead).
        let disabled = parts.cellQuantizers.filter { !$0.proxy.isQuantEnabled }.map(\.name)
        if disabled.count == parts.cellQuantizers.count {
            return try emitFloatLSTMDirection(lstm, l, d, x, parts, expected, prefix: prefix, path: dpath, layer: layer)
        }
        guard disabled.isEmpty else {
            throw ONNXExportError.notExpressible(
                layer: layer, format: format,
                reason: "QuantLSTMCell needs every cell quantizer enabled; \(disabled.joined(separator: ", ")) \(disabled.count == 1 ? "is" : "are") disabled (Brevitas refuses a partially quantized cell too)")
        }
        let inp = parts.quantizeOutputOnly
            ? x : try emitActProxy(parts.ioQuant, x, prefix: prefix + "/output_quant", layer: layer + " io_quant")
        let gates: [RecurrentGateParts]
        do { gates = try lstm.gateParts(layer: l, direction: d, input: inp.value) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        var weightsIH: [String] = [], weightsHH: [String] = [], biases: [String] = []
        for g in gates {
            let gp = Self.join(dpath, "\(g.name)_gate_params")
            let gprefix = prefix + "/\(g.name)_gate_params"
            weightsIH.append(try emitWeight(g.inputWeight, g.weightQuant, g.quantInputWeight, path: gp + ".input_weight",
                                            prefix: gprefix + "/input_weight/weight_quant", layer: layer + " \(g.name) input weight"))
            weightsHH.append(try emitWeight(g.hiddenWeight, g.weightQuant, g.quantHiddenWeight, path: gp + ".hidden_weight",
                                            prefix: gprefix + "/hidden_weight/weight_quant", layer: layer + " \(g.name) hidden weight"))
            biases.append(try emitGateBias(g, path: gp, prefix: gprefix + "/bias_quant", layer: layer + " \(g.name) bias"))
        }
        let n = expected.hidden.value.shape[1], hidden = parts.hiddenSize
        let zeros = b.constant(prefix + "/initial_state", tensor: Tensor.zeros([n, hidden]))
        var inputs = [inp.name, zeros, zeros] + weightsIH + weightsHH + biases
        var attributes = [GraphBuilder.attr("batch_first", int: parts.batchFirst ? 1 : 0),
                          GraphBuilder.attr("reverse_input", int: parts.reverse ? 1 : 0),
                          GraphBuilder.attr("cifg", int: 0)]
        for (name, proxy) in parts.cellQuantizers {
            let qprefix = prefix + "/cell/\(name)_quant"
            let (s, z, bw, range) = try cellQuantizer(proxy, prefix: qprefix, layer: layer + " \(name)_quant")
            inputs += [s, z, bw]
            // Brevitas's BrevitasQuantLSTMCellFn names this one attribute differently.
            let narrowName = name == "output_sigmoid" ? "output_sigmoid_narrow_range" : "\(name)_narrow"
            attributes += [GraphBuilder.attr(narrowName, int: range.narrowRange ? 1 : 0),
                           GraphBuilder.attr("\(name)_signed", int: range.signed ? 1 : 0),
                           GraphBuilder.attr("\(name)_rounding_mode", string: "ROUND")]
        }
        let outShape = expected.output.value.shape
        let outs = b.node("QuantLSTMCell", inputs, name: prefix + "/export_handler/QuantLSTMCell", domain: qonnxDomain,
                          attributes: attributes, outputs: [(.float, outShape), (.float, [n, hidden]), (.float, [n, hidden])])
        // The output sequence is on io_quant's grid: a probe for the checker's code comparison.
        if let q = parts.ioQuant(.float(Tensor.zeros([1]))).quantTensor {
            quantPoints.append(ONNXQuantPoint(tensorName: outs[0], layer: layer + " output", value: expected.output.value, scale: q.scale,
                                              zeroPoint: q.zeroPoint, bitWidth: Int(q.bitWidth.item()), signed: q.signed))
        }
        let axes = b.constant(prefix + "/unsqueeze_axes", integers: [0], type: .int64, shape: [1])
        let h = b.node("Unsqueeze", [outs[1], axes], name: prefix + "/Unsqueeze", type: .float, shape: [1, n, hidden])
        let c = b.node("Unsqueeze", [outs[2], axes], name: prefix + "/Unsqueeze_1", type: .float, shape: [1, n, hidden])
        return (Traced(name: outs[0], value: expected.output), Traced(name: h, value: expected.hidden), Traced(name: c, value: expected.cell))
    }

    /// A float cell (every cell quantizer disabled; the weights may be quantized): ONNX's `LSTM`
    /// op (opset 14), as Brevitas's `LSTMCellFn` writes it: `W = [W_ii; W_io; W_if; W_ic]` and
    /// `R` likewise (ONNX's gate order i, o, f, c) unsqueezed to `[1, 4H, ·]`, `B = [b_i, b_o,
    /// b_f, b_c, 0 (4H)]`, `direction` forward or reverse, zero initial states `[1, N, H]`; the
    /// sequence output `[T, 1, N, H]` squeezed (and transposed back for `batch_first`, which is
    /// run sequence-first).
    private func emitFloatLSTMDirection(_ lstm: QuantLSTM, _ l: Int, _ d: Int, _ x: Traced, _ parts: LSTMDirectionParts,
                                        _ expected: (output: QuantValue, hidden: QuantValue, cell: QuantValue),
                                        prefix: String, path dpath: String, layer: String) throws -> (Traced, Traced, Traced) {
        let gates: [RecurrentGateParts]
        do { gates = try lstm.gateParts(layer: l, direction: d, input: x.value) } catch {
            throw ONNXExportError.forwardFailed(layer: layer, message: "\(error)")
        }
        if format == .qcdq { qcdqOpset = Swift.max(qcdqOpset, 14) }
        let hidden = parts.hiddenSize, n = expected.hidden.value.shape[1]
        var wi: [String] = [], wh: [String] = [], bs: [String] = []
        for g in gates {
            let gp = Self.join(dpath, "\(g.name)_gate_params")
            let gprefix = prefix + "/\(g.name)_gate_params"
            wi.append(try emitWeight(g.inputWeight, g.weightQuant, g.quantInputWeight, path: gp + ".input_weight",
                                     prefix: gprefix + "/input_weight/weight_quant", layer: layer + " \(g.name) input weight"))
            wh.append(try emitWeight(g.hiddenWeight, g.weightQuant, g.quantHiddenWeight, path: gp + ".hidden_weight",
                                     prefix: gprefix + "/hidden_weight/weight_quant", layer: layer + " \(g.name) hidden weight"))
            bs.append(g.bias == nil ? b.constant(gprefix + "/zero_bias", tensor: Tensor.zeros([hidden]))
                                    : try emitGateBias(g, path: gp, prefix: gprefix + "/bias_quant", layer: layer + " \(g.name) bias"))
        }
        let order = [0, 3, 1, 2]  // ours i, f, c, o -> ONNX's i, o, f, c
        let axes0 = b.constant(prefix + "/unsqueeze_axes", integers: [0], type: .int64, shape: [1])
        func stacked(_ names: [String], _ cols: Int, _ what: String) -> String {
            let c = b.node("Concat", order.map { names[$0] }, name: prefix + "/\(what)/Concat", attributes: [GraphBuilder.attr("axis", int: 0)],
                           type: .float, shape: [4 * hidden, cols])
            return b.node("Unsqueeze", [c, axes0], name: prefix + "/\(what)/Unsqueeze", type: .float, shape: [1, 4 * hidden, cols])
        }
        let inSize = x.shape[2]
        let w = stacked(wi, inSize, "W"), r = stacked(wh, hidden, "R")
        let zeros4 = b.constant(prefix + "/recurrence_bias", tensor: Tensor.zeros([4 * hidden]))
        let bc = b.node("Concat", order.map { bs[$0] } + [zeros4], name: prefix + "/B/Concat", attributes: [GraphBuilder.attr("axis", int: 0)],
                        type: .float, shape: [8 * hidden])
        let bias = b.node("Unsqueeze", [bc, axes0], name: prefix + "/B/Unsqueeze", type: .float, shape: [1, 8 * hidden])
        var seq = x.name
        let t = x.shape[parts.batchFirst ? 1 : 0]
        if parts.batchFirst {
            seq = b.node("Transpose", [seq], name: prefix + "/input/Transpose", attributes: [GraphBuilder.attr("perm", ints: [1, 0, 2])],
                         type: .float, shape: [t, n, inSize])
        }
        let zeros = b.constant(prefix + "/initial_state", tensor: Tensor.zeros([1, n, hidden]))
        let outs = b.node("LSTM", [seq, w, r, bias, "", zeros, zeros], name: prefix + "/LSTM",
                          attributes: [GraphBuilder.attr("direction", string: parts.reverse ? "reverse" : "forward"),
                                       GraphBuilder.attr("hidden_size", int: hidden)],
                          outputs: [(.float, [t, 1, n, hidden]), (.float, [1, n, hidden]), (.float, [1, n, hidden])])
        let axes1 = b.constant(prefix + "/squeeze_axes", integers: [1], type: .int64, shape: [1])
        var y = b.node("Squeeze", [outs[0], axes1], name: prefix + "/Squeeze", type: .float, shape: [t, n, hidden])
        if parts.batchFirst {
            y = b.node("Transpose", [y], name: prefix + "/output/Transpose", attributes: [GraphBuilder.attr("perm", ints: [1, 0, 2])],
                       type: .float, shape: [n, t, hidden])
        }
        return (Traced(name: y, value: expected.output), Traced(name: outs[1], value: expected.hidden), Traced(name: outs[2], value: expected.cell))
    }

    /// A gate's bias: `Quant(b, s_in·s_w, 0, 32)` when quantized (Brevitas's `Int32Bias`), the
    /// float bias, or the scalar 0 Brevitas passes for a layer without bias.
    private func emitGateBias(_ g: RecurrentGateParts, path: String, prefix: String, layer: String) throws -> String {
        guard let bias = g.bias else { return b.constant(prefix + "/zero", scalar: 0) }
        let key = Self.join(path, "bias")
        guard let q = g.quantBias?.quantTensor else { return b.constant(key, tensor: bias) }
        let bits = Int(q.bitWidth.item())
        return quantNode(b.constant(key, tensor: bias), q.scale, q.zeroPoint, IntRange(bitWidth: bits, signed: true, narrowRange: false),
                         roundingMode: "ROUND", prefix: prefix, shape: bias.shape)
    }

    /// Scale, zero point and bit width initializers of an enabled per-tensor integer cell
    /// quantizer, with its range (from its eval-mode output on one value).
    private func cellQuantizer(_ proxy: ActQuantProxy, prefix: String, layer: String) throws -> (String, String, String, IntRange) {
        guard let tq = proxy.tensorQuant, let q = proxy(.float(Tensor.zeros([1]))).quantTensor else {
            throw ONNXExportError.inconsistent(layer: layer, reason: "an enabled quantizer returned a plain tensor")
        }
        guard case .int(let range) = try quantizerKind(tq, q, layer: layer) else {
            throw ONNXExportError.notExpressible(layer: layer, format: format, reason: "QuantLSTMCell takes integer quantizers only")
        }
        guard q.scale.count == 1, q.zeroPoint.count == 1 else {
            throw ONNXExportError.notExpressible(layer: layer, format: format,
                                                 reason: "QuantLSTMCell takes per-tensor quantizers; scale has \(q.scale.count) values")
        }
        let s = b.constant(prefix + "/scale", scalar: q.scale.scalars[0])
        let z = b.constant(prefix + "/zero_point", scalar: q.zeroPoint.scalars[0])
        let bw = b.constant(prefix + "/bit_width", scalar: Float(range.bitWidth))
        return (s, z, bw, range)
    }

    /// `Concat` of traced values along `axis` (Swift's values concatenated the same way, as a
    /// QuantTensor when all are: a deeper layer's bias quantizer reads its input's scale).
    private func concat(_ xs: [Traced], axis: Int, prefix: String) throws -> Traced {
        let qs = xs.compactMap(\.value.quantTensor)
        let v: QuantValue
        if qs.count == xs.count, let q = try? QuantTensor.cat(qs, dim: axis) {
            v = .quant(q)
        } else {
            v = .float(Tensor.cat(xs.map(\.value.value), dim: axis))
        }
        let name = b.node("Concat", xs.map(\.name), name: prefix + "/Concat", attributes: [GraphBuilder.attr("axis", int: axis)],
                          type: .float, shape: v.value.shape)
        return Traced(name: name, value: v)
    }
}

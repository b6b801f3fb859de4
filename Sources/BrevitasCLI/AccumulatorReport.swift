import Foundation
import IntegerInference
import NN
import QuantNN
import TensorEngine
import Models

/// `inspect`'s accumulator table: per quantized convolution and linear layer, the accumulator
/// width Brevitas derives from the bit widths and the fan-in (`ceil(log2(maxUint_in · maxUint_w ·
/// fanIn))`, `max(·, bias bits) + 1` with a quantized bias), the signed width the integer
/// weights actually need (`|acc| ≤ |b| + Σ|w| · max|x|`), and the largest `|acc|` of the integer
/// program on the data, with the overflows a simulated `--accumulator-bits` width would have there.
enum AccumulatorReport {
    static func text(_ model: QuantSequential, spec: ModelSpec, inputs: Tensor) -> String {
        let layers = model.namedModules().compactMap { $0.module as? QuantWeightBiasLayer }
        let saved = layers.map(\.accumulatorSimulation)
        for l in layers { l.accumulatorSimulation = nil }
        defer { for (l, s) in zip(layers, saved) { l.accumulatorSimulation = s } }
        let program: IntegerProgram
        do {
            program = try IntegerLowering.lower(model, inputShape: spec.inputShape)
        } catch {
            return "Accumulators: no integer program (\(error))"
        }
        let slots = IntegerExecutor.runAll(program, input: program.inputCodes(inputs)).computed
        let bits = spec.accumulatorBits
        var header = ["layer", "fan-in", "Brevitas width", "weight bound", "width", "largest seen", "width"]
        if let bits { header.append("overflows @\(bits) bits") }
        var t = TextTable(header)
        var total = 0
        for (i, step) in program.steps.enumerated() {
            let fan: Int, bound: Int64
            switch step.op {
            case .conv2d(let c): (fan, bound) = (c.weightShape.dropFirst().reduce(1, *), c.accumulatorBound)
            case .linear(let l): (fan, bound) = (l.inFeatures, l.accumulatorBound)
            default: continue
            }
            guard let layer = model.module(at: step.layer) as? QuantWeightBiasLayer,
                  case .codes(let g) = program.value(of: step.inputs[0]),
                  let w = try? IntegerLowering.quantizedWeight(of: layer, input: g, layer: step.layer) else { continue }
            let maxIn = Foundation.pow(2, Double(g.bitWidth)) - 1, maxW = Foundation.pow(2, Double(w.bitWidth.item())) - 1
            let product = Int(Foundation.ceil(Foundation.log2(maxIn * maxW * Double(fan))))
            var brevitas = "\(product)"
            if let b = layer.biasQuant.config, layer.bias != nil { brevitas += " (\(Swift.max(product, b.bitWidth) + 1) with the bias)" }
            let acc = slots[i + 1].data
            let largest = acc.map { Swift.abs($0) }.max() ?? 0
            var row = [step.layer, "\(fan)", "\(brevitas)", "\(bound)", "\(IntegerGrid.bits(min: -bound, max: bound))", "\(largest)",
                       "\(IntegerGrid.bits(min: -largest, max: largest))"]
            if let bits {
                let limit = (Int64(1) << (bits - 1))
                let n = acc.filter { $0 >= limit || $0 < -limit }.count
                total += n
                row.append("\(n) of \(acc.count)")
            }
            t.add(row)
        }
        var out = ["Accumulators (widths in signed bits; largest |acc| of the integer program on these examples):", t.render(indent: "  ")]
        if let bits { out.append("  \(total) accumulator\(total == 1 ? "" : "s") overflow \(bits) bits") }
        return out.joined(separator: "\n")
    }
}

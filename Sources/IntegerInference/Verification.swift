import Foundation
import GraphQuant
import QuantNN
import TensorEngine

/// The check that the integer program computes what the fake-quantized model computes.
///
/// Both run on the same data (the model in eval mode). At every layer whose output is on a
/// quantizer's grid, the fake-quantized output is turned into codes (`round(value/s + z)`) and
/// compared with the program's codes twice:
///
/// - **end to end**: the program runs on the input codes alone; these counts give the summary
///   `C of M integer codes agree`;
/// - **layer by layer**: each layer is fed the fake-quantized model's codes of its inputs, so a
///   difference belongs to the layer that makes it. The only admissible one is a tie: the exact
///   value `x·M + B` before rounding lies within ``tieTolerance`` of a midpoint `k + ½`, where
///   float32 rounding in the fake-quantized forward (a convolution's sum, a BatchNorm) can fall
///   either way. Any other difference is an error of the program (``LayerReport/nonTies``).
///
/// Power-of-two scales make `M` exact, and then the program and the model agree exactly unless
/// a float32 sum lands on a midpoint.
public struct Verification: Sendable {
    /// Distance from a midpoint, in output steps, below which a rounding is a tie.
    public static let tieTolerance = 1.0 / 1024

    /// One layer's comparison.
    public struct LayerReport: Sendable {
        public var layer: String
        public var type: String
        /// Codes compared.
        public var count = 0
        /// Codes equal end to end.
        public var agree = 0
        /// The largest end-to-end difference `|program − model|` and where (example, flat index in the example).
        public var largestDifference: Int64 = 0
        public var largestAt: (example: Int, element: Int)? = nil
        /// Layer-by-layer differences that are ties, and the first of them.
        public var ties = 0
        public var firstTie: String? = nil
        /// Layer-by-layer differences that are not ties (errors), and the first of them.
        public var nonTies = 0
        public var firstNonTie: String? = nil
    }

    public var layers: [LayerReport]
    /// Examples whose predicted class (argmax of the output) agree: the model's class is the
    /// program's, or one the program scores exactly as high (a tie at the top).
    public var predictionsAgree = 0
    public var examples = 0
    /// Over all layers: codes equal end to end, and codes compared.
    public var codesAgree: Int { layers.map(\.agree).reduce(0, +) }
    public var codes: Int { layers.map(\.count).reduce(0, +) }
    /// The largest `|model output / s − program output|` when the output is an accumulator (in accumulator steps).
    public var largestOutputDifference: Double = 0
    /// Examples whose output (codes or accumulators) agree exactly.
    public var outputsAgree = 0

    /// `P of N predictions agree; C of M integer codes agree`.
    public var summary: String { "\(predictionsAgree) of \(examples) predictions agree; \(codesAgree) of \(codes) integer codes agree" }

    /// Whether the program is right: every prediction agrees and every layer-by-layer difference is a tie.
    public var passed: Bool { predictionsAgree == examples && layers.allSatisfy { $0.nonTies == 0 } }

    /// Compares `program` (lowered from `model`) with `model` on `inputs` (`[N, C, H, W]`
    /// floats, as the model takes them), `batchSize` examples at a time.
    public static func run(model: QuantLayer, program: IntegerProgram, inputs: Tensor, arithmetic: IntegerExecutor.Arithmetic = .fixedPoint,
                           batchSize: Int = 256) throws -> Verification {
        model.eval()
        return try run(program: program, inputs: inputs, arithmetic: arithmetic, batchSize: batchSize) { x in
            try Autograd.noGrad { try IntegerDataflow.traceOutputs(model, input: .float(x)) }
        }
    }

    /// Compares `program` (lowered from the graph-quantized `graph` by
    /// ``IntegerLowering/lower(_:inputShape:)-(QuantGraphModule,_)``) with the graph on `inputs`,
    /// node by node: each checkpoint is compared with the graph's value of the node it is named after.
    public static func run(graph: QuantGraphModule, program: IntegerProgram, inputs: Tensor, arithmetic: IntegerExecutor.Arithmetic = .fixedPoint,
                           batchSize: Int = 256) throws -> Verification {
        graph.eval()
        return try run(program: program, inputs: inputs, arithmetic: arithmetic, batchSize: batchSize) { x in
            var values = try Autograd.noGrad { try graph.forwardValues([.float(x)]) }
            values[""] = values[graph.outputNames[0]]
            return values
        }
    }

    static func run(program: IntegerProgram, inputs: Tensor, arithmetic: IntegerExecutor.Arithmetic, batchSize: Int,
                    trace: (Tensor) throws -> [String: QuantValue]) throws -> Verification {
        var v = Verification(layers: program.checkpoints.map { LayerReport(layer: $0.layer, type: $0.type) })
        let n = inputs.shape[0]
        var start = 0
        while start < n {
            let end = Swift.min(n, start + batchSize)
            let x = inputs.narrow(dim: 0, start: start, length: end - start)
            try v.add(trace: trace(x), program: program, inputs: x, offset: start, arithmetic: arithmetic)
            start = end
        }
        return v
    }

    /// Adds one batch given the fake-quantized values of the checkpoints by layer name (the
    /// model's output under `""`).
    mutating func add(trace: [String: QuantValue], program: IntegerProgram, inputs: Tensor, offset: Int, arithmetic: IntegerExecutor.Arithmetic) throws {
        let n = inputs.shape[0]
        guard let inputRef = trace[program.inputLayer], let modelOut = trace[""] else {
            preconditionFailure("Verification: the trace lacks the input layer '\(program.inputLayer)' or the output")
        }
        let inputCodes = Verification.codes(inputRef.value, grid: program.inputGrid, shape: [n] + program.inputShape)
        var force: [Int: IntegerTensor] = [0: inputCodes]
        var reference: [Int: IntegerTensor] = [:]
        for c in program.checkpoints {
            guard case .codes(let g) = program.value(of: c.slot), let r = trace[c.layer] else { continue }
            let t = Verification.codes(r.value, grid: g, shape: [n] + program.shape(of: c.slot))
            reference[c.slot] = t
            force[c.slot] = t
        }
        let endToEnd = IntegerExecutor.runAll(program, input: inputCodes, arithmetic: arithmetic).computed
        let local = IntegerExecutor.runAll(program, input: inputCodes, arithmetic: arithmetic, force: force)
        for (i, c) in program.checkpoints.enumerated() {
            guard let ref = reference[c.slot] else { continue }
            let per = ref.perExample
            let e2e = endToEnd[c.slot].data, mine = local.computed[c.slot].data
            layers[i].count += ref.count
            for j in 0..<ref.count {
                let d = Swift.abs(e2e[j] - ref.data[j])
                if d == 0 { layers[i].agree += 1 }
                if d > layers[i].largestDifference {
                    layers[i].largestDifference = d
                    layers[i].largestAt = (offset + j / per, j % per)
                }
                guard mine[j] != ref.data[j] else { continue }
                let shape = program.shape(of: c.slot)
                let whereText = "example \(offset + j / per) at \(Verification.coordinates(j % per, shape)): program \(mine[j]), model \(ref.data[j])"
                if Swift.abs(mine[j] - ref.data[j]) == 1, let dist = tieDistance(program, c, used: local.used, element: j) {
                    layers[i].ties += 1
                    if layers[i].firstTie == nil { layers[i].firstTie = "\(whereText), exact value \(String(format: "%.6f", dist.value)) is \(String(format: "%.1e", dist.distance)) from the midpoint" }
                } else {
                    layers[i].nonTies += 1
                    if layers[i].firstNonTie == nil { layers[i].firstNonTie = whereText }
                }
            }
        }
        let out = endToEnd[program.outputSlot]
        let refOut = modelOut.value.scalars
        let per = out.perExample
        let modelClasses = (0..<n).map { e in Verification.argmax(refOut[e * per..<(e + 1) * per]) }
        let mineClasses: [Int]
        // The program's exact score of class `c` in example `e`.
        let score: (Int, Int) -> Double
        switch program.output {
        case .codes(let g):
            mineClasses = IntegerExecutor.argmax(out)
            score = { e, c in Double(out.data[e * per + c]) }
            let refCodes = Verification.codes(modelOut.value, grid: g, shape: out.shape)
            for e in 0..<n where refCodes.data[e * per..<(e + 1) * per] == out.data[e * per..<(e + 1) * per] { outputsAgree += 1 }
        case .accumulator(let scales, _):
            func s(_ c: Int) -> Double { scales.count == 1 ? scales[0] : scales[c] }
            score = { e, c in Double(out.data[e * per + c]) * s(c) }
            mineClasses = (0..<n).map { e in
                Verification.argmax((0..<per).map { Double(out.data[e * per + $0]) * s($0) }[...])
            }
            for e in 0..<n {
                var same = true
                for c in 0..<per {
                    let d = Swift.abs(Double(refOut[e * per + c]) / s(c) - Double(out.data[e * per + c]))
                    largestOutputDifference = Swift.max(largestOutputDifference, d)
                    if d >= 0.5 { same = false }
                }
                if same { outputsAgree += 1 }
            }
        }
        examples += n
        // Classes can share the program's largest exact score (quantized logits tie); the float
        // model's rounding then picks any of them: its class agrees when the program scores it
        // as high as its own first one.
        predictionsAgree += (0..<n).filter { e in
            modelClasses[e] == mineClasses[e] || score(e, modelClasses[e]) == score(e, mineClasses[e])
        }.count
    }

    /// How far the exact value before rounding of `element` of the checkpoint's output lies from
    /// a midpoint, when a rounding step of the layer puts it within ``tieTolerance`` of one.
    func tieDistance(_ program: IntegerProgram, _ c: IntegerProgram.Checkpoint, used: [IntegerTensor], element j: Int) -> (value: Double, distance: Double)? {
        let shape = program.shape(of: c.slot)
        for s in c.steps {
            let step = program.steps[s]
            guard step.shape == shape else { continue }
            let value: Double
            switch step.op {
            case .requantize(let r):
                let inner = shape.dropFirst().reduce(1, *)
                let ch = r.isPerTensor ? 0 : (j % shape.reduce(1, *)) / inner
                value = r.exactValue(used[step.inputs[0]].data[j], channel: ch)
            case .truncAvgPool2d(let w, let shift, let floor, _, _):
                let sums = IntegerExecutor.apply(IntegerProgram.Step(layer: step.layer, op: .sumPool2d(w), inputs: step.inputs, shape: step.shape, value: step.value),
                                                 step.inputs.map { used[$0] }, arithmetic: .fixedPoint)
                value = Double(sums.data[j]) / Foundation.pow(2, Double(shift)) + (floor ? 0.5 : 0)
            default: continue
            }
            let d = Swift.abs(value - Foundation.floor(value) - 0.5)
            if d <= Verification.tieTolerance { return (value, d) }
        }
        return nil
    }

    /// `round(value / s + z)` of a fake-quantized tensor on `grid`, as integers.
    static func codes(_ t: Tensor, grid: IntegerGrid, shape: [Int]) -> IntegerTensor {
        precondition(t.count == shape.reduce(1, *), "Verification: the model's tensor has \(t.count) elements, the program's \(shape)")
        return IntegerTensor(shape: shape, t.scalars.map { Int64((Double($0) / grid.scale).rounded(.toNearestOrEven)) + grid.zeroPoint })
    }

    static func argmax<C: Collection>(_ v: C) -> Int where C.Element: Comparable, C.Index == Int {
        var best = v.startIndex
        for i in v.indices where v[i] > v[best] { best = i }
        return best - v.startIndex
    }

    /// `[c, y, x]` of a flat index in a per-example shape.
    static func coordinates(_ i: Int, _ shape: [Int]) -> String {
        var r = i, out: [Int] = []
        for d in shape.reversed() {
            out.append(r % d)
            r /= d
        }
        return "[" + out.reversed().map(String.init).joined(separator: ", ") + "]"
    }
}

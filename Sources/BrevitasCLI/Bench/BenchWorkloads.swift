import Foundation
import NN
import QuantCore
import QuantNN
import Quantizers
import TensorEngine
import Models

/// The workloads of `bench_brevitas.py`, with its shapes, its LeNet and its row names.
///
/// Every row is timed twice, with `threads` threads (the figure that pairs with the script's) and
/// with one thread, so the table shows each workload's scaling; the computation itself does not
/// depend on the thread count (`Parallel`'s fixed chunks, BLAS blocks of fixed shape).
struct BenchWorkloads {
    let timer: BenchTimer
    let quick: Bool
    /// The thread count of the main figures; 1 skips the one-thread timing.
    let threads: Int
    /// Sets the thread count of the kernels (`Parallel.threadCount`; replaceable in tests).
    var setThreads: (Int) -> Void = { Parallel.threadCount = $0 }
    /// Called with each row as soon as it is measured.
    var report: (BenchRow) -> Void = { _ in }
    private(set) var rows: [BenchRow] = []

    init(quick: Bool, threads: Int = Parallel.threadCount) {
        precondition(threads >= 1, "BenchWorkloads: threads must be >= 1, got \(threads)")
        self.quick = quick
        self.threads = threads
        timer = quick ? BenchTimer(minReps: 3, maxReps: 10, budget: 1) : BenchTimer(minReps: 5, maxReps: 50, budget: 3)
    }

    /// `collect_stats_steps` of the default activation quantizers.
    static let defaultCollectSteps = 300

    @discardableResult
    mutating func add(_ group: String, _ name: String, _ shape: String, note: String = "", reps: Int? = nil,
                      _ body: () throws -> Void) rethrows -> Double {
        setThreads(threads)
        let r = try timer.time(reps: reps, body)
        var one: BenchTimer.Result? = nil
        if threads > 1 {
            setThreads(1)
            defer { setThreads(threads) }
            one = try timer.time(reps: reps, body)
        }
        let row = BenchRow(group: group, name: name, shape: shape, median_ms: r.median * 1e3, min_ms: r.min * 1e3, reps: r.reps,
                           note: note, one_thread_median_ms: one.map { $0.median * 1e3 }, one_thread_min_ms: one.map { $0.min * 1e3 })
        rows.append(row)
        report(row)
        return r.median
    }

    mutating func setRatio(_ index: Int, _ ratio: Double) {
        rows[index].ratio_vs_float = ratio
    }

    /// Training calls on a small example until statistics collection is over (the script's
    /// `finish_collection`).
    static func finishCollection(_ body: () throws -> Void) rethrows {
        try Autograd.noGrad { for _ in 0...defaultCollectSteps { try body() } }
    }

    static func shapeString(_ s: [Int]) -> String { s.map(String.init).joined(separator: "x") }

    /// The workload families: QuantReLU (groups i and ii), conv (iii), LeNet (iv and v), ResNet-8
    /// (vi), FP8 and MX quantizers (vii).
    enum Family: String, CaseIterable {
        case relu, conv, lenet, resnet, formats
        /// The rows of `ptq_brevitas.py` (``PTQBench``), run by `BenchCommand` with `--ptq-dir`.
        case ptq
    }

    mutating func run(_ families: Set<Family> = Set(Family.allCases)) throws {
        let g = RandomGenerator(seed: 0)
        if families.contains(.relu) { try quantReLU(g) }
        if families.contains(.conv) { try convReLU(g) }
        if families.contains(.lenet) { try lenet() }
        if families.contains(.resnet) { try resnet8() }
        if families.contains(.formats) { try formats(g) }
    }

    /// (i) and (ii): QuantReLU against ReLU.
    mutating func quantReLU(_ g: RandomGenerator) throws {
        for shape in [[1, 3, 256, 256], quick ? [16, 64, 56, 56] : [64, 64, 56, 56]] {
            let s = Self.shapeString(shape)
            let act = try QuantReLU()
            act.train()
            let small = g.normal([1, 3, 8, 8])
            Self.finishCollection { _ = act(small) }
            let x = g.normal(shape)
            act.eval()
            add("i", "QuantReLU eval fwd (after collection)", s) { _ = Autograd.noGrad { act(x) } }
            add("i", "torch relu fwd (baseline)", s) { _ = Autograd.noGrad { x.relu() } }
            act.train()
            let xg = x.copy()
            xg.requiresGrad = true
            let grad = g.normal(shape)
            add("ii", "QuantReLU train fwd+bwd (after collection)", s) {
                xg.grad = nil
                act(xg).backward(grad)
            }
            add("ii", "torch relu fwd+bwd (baseline)", s) {
                xg.grad = nil
                xg.relu().backward(grad)
            }
            let fresh = try QuantReLU()
            fresh.train()
            add("ii", "QuantReLU train fwd during collection", s, note: "percentile (kthvalue) statistics on every call") {
                _ = Autograd.noGrad { fresh(x) }
            }
        }
    }

    /// (iii): QuantConv2d(64, 64, 3, padding 1) + QuantReLU against Conv2d + ReLU.
    mutating func convReLU(_ g: RandomGenerator) throws {
        for n in quick ? [4] : [8, 32] {
            let shape = [n, 64, 56, 56]
            let s = Self.shapeString(shape)
            let conv = try QuantConv2d(64, 64, kernelSize: 3, padding: 1, generator: g)
            let act = try QuantReLU()
            act.train()
            let small = g.normal([1, 64, 4, 4])
            Self.finishCollection { _ = act(small) }
            let model = QuantSequential(conv, act)
            model.train()
            let x = g.normal(shape)
            x.requiresGrad = true
            let grad = g.normal(shape)
            let tq = try add("iii", "QuantConv2d(64,64,3,p=1)+QuantReLU fwd+bwd", s, reps: 3) {
                x.grad = nil
                model.zeroGrad()
                try model(x).backward(grad)
            }
            let floatModel = Sequential(Conv2d(inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, generator: g), ReLU())
            floatModel.train()
            let tf = add("iii", "torch Conv2d+ReLU fwd+bwd (baseline)", s, reps: 3) {
                x.grad = nil
                floatModel.zeroGrad()
                floatModel(x).backward(grad)
            }
            setRatio(rows.count - 2, tq / tf)
        }
    }

    /// (iv) and (v): one training step of the script's LeNet-5 (w4a4, 64x1x28x28).
    mutating func lenet() throws {
        let g = RandomGenerator(seed: 0)
        let x = g.normal([64, 1, 28, 28])
        let y = (0..<64).map { _ in g.nextInt(10) }
        let shape = "64x1x28x28"
        let floatModel = Self.floatLeNet(g)
        let tFloat = add("iv", "LeNet float: SGD step", shape, Self.sgdStep(floatModel, x, y))
        let during = try Self.quantLeNet(Self.brevitasQuantizers(), g)
        let tDuring = try add("iv", "LeNet Brevitas w4a4: SGD step during collection", shape,
                              note: "first 300 steps: activation scales from batch percentiles", Self.sgdStep(during, x, y))
        let after = try Self.quantLeNet(Self.brevitasQuantizers(), g)
        let small = g.normal([2, 1, 28, 28])
        try Self.finishCollection { _ = try after(small) }
        let tAfter = try add("iv", "LeNet Brevitas w4a4: SGD step after collection", shape, note: "learned activation scales",
                             Self.sgdStep(after, x, y))
        let fixed = try Self.quantLeNet(Self.fakeQuantQuantizers(learnable: false), g)
        let tFixed = try add("v", "LeNet torch fake_quantize_per_tensor_affine", shape, Self.sgdStep(fixed, x, y))
        let learnable = try Self.quantLeNet(Self.fakeQuantQuantizers(learnable: true), g)
        let tLearnable = try add("v", "LeNet torch _fake_quantize_learnable_per_tensor", shape,
                                 note: "learnable activation scales (LSQ)", Self.sgdStep(learnable, x, y))
        for (k, t) in [tDuring, tAfter, tFixed, tLearnable].enumerated() {
            setRatio(rows.count - 4 + k, t / tFloat)
        }
    }

    /// The script's `lenet_brevitas(4)`: every quantizer 4 bits, the input one included.
    static func brevitasQuantizers() -> ModelSpec.Quantizers {
        ModelSpec.Quantizers(
            input: ActQuant.int8ActPerTensorFloat.with(\.bitWidth, 4),
            act: ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4),
            weight: WeightQuant.int8WeightPerTensorFloat.with(\.bitWidth, 4))
    }

    /// The script's `lenet_fakequant`: constant (or learned, LSQ-style) per-tensor activation
    /// scales — 0.5 on the signed input, 0.2 after each ReLU — and per-tensor max weight scales.
    static func fakeQuantQuantizers(learnable: Bool) -> ModelSpec.Quantizers {
        let type: ScalingImplType = learnable ? .parameter : .const
        return ModelSpec.Quantizers(
            input: ActQuant.int8ActPerTensorFloatMinMaxInit(minVal: -4, maxVal: 4).with(\.bitWidth, 4)
                .with(\.scalingImplType, type),
            act: ActQuant.uint8ActPerTensorFloatMaxInit(maxVal: 3).with(\.bitWidth, 4).with(\.scalingImplType, type),
            weight: WeightQuant.int8WeightPerTensorFloat.with(\.bitWidth, 4))
    }

    static func quantLeNet(_ q: ModelSpec.Quantizers, _ g: RandomGenerator) throws -> QuantSequential {
        let spec = ModelSpec(arch: .lenet, inputShape: [1, 28, 28], classes: 10, weightBits: 4, actBits: 4, inputBits: 4,
                             collectStatsSteps: defaultCollectSteps)
        let model = try QuantLeNet.make(spec, q, generator: g)
        model.train()
        return model
    }

    /// The script's `lenet_float`.
    static func floatLeNet(_ g: RandomGenerator) -> Sequential {
        let model = Sequential(
            Conv2d(inChannels: 1, outChannels: 6, kernelSize: 5, generator: g), ReLU(), MaxPool2d(kernelSize: 2),
            Conv2d(inChannels: 6, outChannels: 16, kernelSize: 5, generator: g), ReLU(), MaxPool2d(kernelSize: 2), Flatten(),
            Linear(inFeatures: 256, outFeatures: 120, generator: g), ReLU(),
            Linear(inFeatures: 120, outFeatures: 84, generator: g), ReLU(),
            Linear(inFeatures: 84, outFeatures: 10, generator: g))
        model.train()
        return model
    }

    /// The script's `qat_step_fn`: forward, cross-entropy, zero grad, backward, SGD (lr 0.01).
    static func sgdStep(_ model: Sequential, _ x: Tensor, _ y: [Int]) -> () -> Void {
        let optimizer = SGD(model.parameters(), learningRate: 0.01)
        return {
            let loss = Tensor.crossEntropy(model(x), targets: y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
    }

    static func sgdStep(_ model: QuantSequential, _ x: Tensor, _ y: [Int]) -> () throws -> Void {
        let optimizer = SGD(model.parameters(), learningRate: 0.01)
        return {
            let loss = Tensor.crossEntropy(try model(x), targets: y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
    }
}

import NN
import QuantNN
import Quantizers
import TensorEngine
import Testing

@testable import IntegerInference

@Suite struct AccumulatorSimulationTests {
    @Test(arguments: [
        (8, AccumulatorSimulation.Overflow.wrap, Int64(130), Int64(-126)), (8, .wrap, -129, 127), (8, .saturate, 130, 127),
        (8, .saturate, -129, -128), (8, .wrap, 127, 127), (8, .wrap, -128, -128), (8, .wrap, 256 + 5, 5), (4, .wrap, -9, 7),
        (12, .wrap, 2911, 2911 - 4096), (12, .saturate, 5000, 2047),
    ])
    func limitWrapsOrSaturates(bits: Int, overflow: AccumulatorSimulation.Overflow, acc: Int64, expected: Int64) {
        #expect(AccumulatorSimulation(bits: bits, overflow: overflow).limit(acc) == expected)
    }

    /// The simulated layer's accumulators are the integer program's, limited.
    @Test(arguments: AccumulatorSimulation.Overflow.allCases)
    func simulatedLayerMatchesTheLimitedIntegerAccumulator(overflow: AccumulatorSimulation.Overflow) throws {
        let model = try TestModels.chain()
        let x = TestModels.data([32, 2, 6, 6], seed: 1)
        try TestModels.calibrate(model, x)
        let program = try IntegerLowering.lower(model, inputShape: [2, 6, 6])
        let quantIn = try model.layers[0].forward(.float(x))
        let codes = IntegerTensor(shape: [32, 2, 6, 6], quantIn.value.scalars.map { Int64(($0 / Float(program.inputGrid.scale)).rounded()) })
        let acc = IntegerExecutor.runAll(program, input: codes).computed[1]
        guard case .accumulator(let scales, _) = program.value(of: 1) else { Issue.record("expected an accumulator"); return }
        let conv = model.layers[1] as! QuantConv2d
        let sim = AccumulatorSimulation(bits: 7, overflow: overflow)
        conv.accumulatorSimulation = sim
        let out = try conv.forward(quantIn).value.scalars
        let limited = acc.data.map(sim.limit)
        let expectedOverflows = zip(acc.data, limited).filter { $0 != $1 }.count
        #expect(expectedOverflows > 0)
        #expect(sim.overflows == expectedOverflows && sim.elements == acc.count)
        #expect(sim.largest == acc.data.map { Swift.abs($0) }.max())
        #expect(out.map { Int64((Double($0) / scales[0]).rounded()) } == limited)
        conv.accumulatorSimulation = AccumulatorSimulation(bits: 30, overflow: overflow)
        conv.eval()
        #expect(try conv.forward(quantIn).value.scalars == (try { conv.accumulatorSimulation = nil; return try conv.forward(quantIn).value.scalars }()))
    }
}

/// An A2Q layer (accumulator-aware weights for 12 bits) has an integer program whose proven
/// accumulator bound fits 12 bits, and a simulated 12-bit accumulator never overflows; the same
/// layer with plain 8-bit weights does overflow.
@Suite struct AccumulatorAwareTests {
    func model(_ weight: WeightQuant) throws -> QuantSequential {
        QuantSequential([
            try QuantIdentity(actQuant: TestModels.input, returnQuantTensor: true),
            try QuantLinear(64, 8, bias: false, weightQuant: weight, generator: RandomGenerator(seed: 3)),
        ])
    }

    @Test func a2qLayersFitTheirAccumulator() throws {
        let x = TestModels.data([64, 64], seed: 9)
        for (weight, fits) in [(WeightQuant.int8AccumulatorAwareWeightQuant.with(\.accumulatorBitWidth, 12), true),
                               (WeightQuant.int8WeightPerTensorFloat, false)] {
            let m = try model(weight)
            try TestModels.calibrate(m, x)
            let program = try IntegerLowering.lower(m, inputShape: [64])
            guard case .linear(let l) = program.steps[0].op else { Issue.record("expected a linear step"); continue }
            #expect((l.accumulatorBound <= 2047) == fits, "bound \(l.accumulatorBound)")
            let v = try Verification.run(model: m, program: program, inputs: x)
            #expect(v.passed && v.outputsAgree == 64, "largest output difference \(v.largestOutputDifference)")
            let sim = AccumulatorSimulation(bits: 12, overflow: .wrap)
            (m.layers[1] as! QuantLinear).accumulatorSimulation = sim
            _ = try m.forward(.float(x * 8))
            #expect((sim.overflows == 0) == fits, "\(sim.overflows) overflows, largest \(sim.largest)")
        }
    }
}

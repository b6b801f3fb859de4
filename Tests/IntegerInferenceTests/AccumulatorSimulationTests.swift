import NN
import QuantNN
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

import NN
import QuantNN
import Quantizers
import TensorEngine
import Testing

@testable import IntegerInference

/// Small models, calibrated on random data, lowered and verified against their own
/// fake-quantized forward.
enum TestModels {
    static let input = ActQuant.int8ActPerTensorFloat.with(\.collectStatsSteps, 2)
    static let act = ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4).with(\.collectStatsSteps, 2)
    static let signedAct = ActQuant.int8ActPerTensorFloat.with(\.bitWidth, 5).with(\.collectStatsSteps, 2)

    static func data(_ shape: [Int], seed: UInt64) -> Tensor {
        RandomGenerator(seed: seed).normal(shape)
    }

    /// Runs a few training-mode forwards (statistics collection, BatchNorm running statistics), then eval.
    static func calibrate(_ model: QuantLayer, _ x: Tensor) throws {
        model.train()
        for _ in 0..<4 { _ = try Autograd.noGrad { try model.forward(.float(x)) } }
        model.eval()
    }

    static func chain(weight: WeightQuant? = .int8WeightPerTensorFloat.with(\.bitWidth, 4), bias: BiasQuant? = .int32Bias,
                      middle: QuantLayer? = nil) throws -> QuantSequential {
        let g = RandomGenerator(seed: 7)
        var layers: [QuantLayer] = [
            try QuantIdentity(actQuant: input, returnQuantTensor: true),
            try QuantConv2d(2, 4, kernelSize: 3, padding: 1, weightQuant: weight, biasQuant: bias, generator: g),
            try QuantReLU(actQuant: act, returnQuantTensor: true),
        ]
        if let middle { layers.append(middle) }
        layers += [
            QuantMaxPool2d(kernelSize: 2),
            QuantFlatten(),
            try QuantLinear(4 * 3 * 3, 5, weightQuant: weight, biasQuant: bias, generator: g),
        ]
        return QuantSequential(layers)
    }
}

@Suite struct LoweringTests {
    @Test(arguments: IntegerExecutor.Arithmetic.allCases)
    func chainAgreesWithTheFakeQuantizedModel(arithmetic: IntegerExecutor.Arithmetic) throws {
        let model = try TestModels.chain()
        let x = TestModels.data([64, 2, 6, 6], seed: 1)
        try TestModels.calibrate(model, x)
        let program = try IntegerLowering.lower(model, inputShape: [2, 6, 6])
        #expect(program.steps.map(\.op.kind) == ["conv2d", "requantize", "maxpool2d", "reshape", "linear"])
        #expect(program.inputGrid.min == -128 && program.inputGrid.max == 127)
        let v = try Verification.run(model: model, program: program, inputs: TestModels.data([100, 2, 6, 6], seed: 2),
                                     arithmetic: arithmetic, batchSize: 32)
        // Random weights and data put some roundings on ties (the exact value within 2.5e-8 of
        // k + 1/2 here); each may move a prediction. Nothing else may differ.
        let ties = v.layers.map(\.ties).reduce(0, +)
        #expect(v.layers.allSatisfy { $0.nonTies == 0 }, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 100 || ties > 0)
        #expect(v.predictionsAgree >= 100 - ties)
        #expect(v.examples == 100)
        #expect(v.codes == 100 * (2 * 36 + 4 * 36 + 4 * 9 + 36))
        #expect(v.largestOutputDifference < 0.01)
        #expect(v.summary == "\(v.predictionsAgree) of 100 predictions agree; \(v.codesAgree) of \(v.codes) integer codes agree")
    }

    @Test func aWrongProgramIsCaught() throws {
        let model = try TestModels.chain()
        let x = TestModels.data([64, 2, 6, 6], seed: 1)
        try TestModels.calibrate(model, x)
        var program = try IntegerLowering.lower(model, inputShape: [2, 6, 6])
        guard case .requantize(var r) = program.steps[1].op else { Issue.record("expected a requantization"); return }
        r.multipliers[0] *= 1.01
        r.fixedMultipliers[0] = r.fixedMultipliers[0] / 100 * 101
        program.steps[1].op = .requantize(r)
        let v = try Verification.run(model: model, program: program, inputs: x)
        #expect(!v.passed)
        #expect(v.layers.first { $0.layer == "2" }!.nonTies > 0)
    }

    @Test func floatBiasIsRefusedNamingTheLayer() throws {
        let model = try TestModels.chain(bias: nil)
        try TestModels.calibrate(model, TestModels.data([16, 2, 6, 6], seed: 1))
        let e = #expect(throws: IntegerLoweringError.self) { try IntegerLowering.lower(model, inputShape: [2, 6, 6]) }
        #expect(e?.description.contains("layer '1'") == true && e?.description.contains("int32Bias") == true, "\(String(describing: e))")
    }

    @Test func sigmoidBetweenQuantizersIsRefused() throws {
        let model = try TestModels.chain(middle: try QuantSigmoid(actQuant: TestModels.act, returnQuantTensor: true))
        try TestModels.calibrate(model, TestModels.data([16, 2, 6, 6], seed: 1))
        let e = #expect(throws: IntegerLoweringError.self) { try IntegerLowering.lower(model, inputShape: [2, 6, 6]) }
        #expect(e?.description.contains("layer '3'") == true && e?.description.contains("Sigmoid") == true, "\(String(describing: e))")
    }

    @Test func weightZeroPointIsRefused() throws {
        let model = try TestModels.chain(weight: .shiftedUint8WeightPerTensorFloat)
        try TestModels.calibrate(model, TestModels.data([16, 2, 6, 6], seed: 1))
        let e = #expect(throws: IntegerLoweringError.self) { try IntegerLowering.lower(model, inputShape: [2, 6, 6]) }
        #expect(e?.description.contains("zero point") == true, "\(String(describing: e))")
    }

    @Test func floatLayerBetweenQuantizersIsRefused() throws {
        let middle = QuantSequential([FloatLayer(Tanh()), try QuantIdentity(actQuant: TestModels.act, returnQuantTensor: true)])
        let model = try TestModels.chain(middle: middle)
        try TestModels.calibrate(model, TestModels.data([16, 2, 6, 6], seed: 1))
        let e = #expect(throws: IntegerLoweringError.self) { try IntegerLowering.lower(model, inputShape: [2, 6, 6]) }
        #expect(e?.description.contains("layer '3.0'") == true && e?.description.contains("Tanh") == true, "\(String(describing: e))")
    }
}

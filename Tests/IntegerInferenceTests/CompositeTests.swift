import NN
import QuantNN
import Quantizers
import TensorEngine
import Testing

@testable import IntegerInference

/// `cat([add(relu(bn(conv(x))), x), relu(...)])`: a residual add with scale alignment, a float
/// BatchNorm folded into the requantization and a concatenation, as an ``IntegerComposite``.
final class ResidualCat: Module, QuantLayer, IntegerComposite {
    let conv: QuantConv2d, bn: FloatLayer, relu: QuantReLU, add: QuantEltwiseAdd, cat: QuantCat

    init(_ channels: Int, generator g: RandomGenerator) throws {
        conv = try QuantConv2d(channels, channels, kernelSize: 3, padding: 1, bias: false,
                               weightQuant: .int8WeightPerChannelFloat.with(\.bitWidth, 5), generator: g)
        bn = FloatLayer(BatchNorm2d(channels))
        relu = try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true)
        add = try QuantEltwiseAdd(inputQuant: TestModels.signedAct, outputQuant: nil, returnQuantTensor: true)
        cat = try QuantCat(dim: 1, inputQuant: TestModels.signedAct, outputQuant: nil, returnQuantTensor: true)
        super.init()
        registerModule("conv", conv)
        registerModule("bn", bn)
        registerModule("relu", relu)
        registerModule("add", add)
        registerModule("cat", cat)
    }

    func forward(_ x: QuantValue) throws -> QuantValue {
        let y = try relu.forward(bn.forward(conv.forward(x)))
        return try cat.forward([add.forward([y, x]), y])
    }

    func integerDataflow(_ x: IntegerDataflow.Value, in flow: IntegerDataflow) throws -> IntegerDataflow.Value {
        let y = try flow.apply(relu, to: flow.apply(bn, to: flow.apply(conv, to: x)))
        return try flow.apply(cat, to: [flow.apply(add, to: [y, x]), y])
    }
}

@Suite struct CompositeTests {
    func model() throws -> QuantSequential {
        let g = RandomGenerator(seed: 11)
        return QuantSequential([
            try QuantIdentity(actQuant: TestModels.input, returnQuantTensor: true),
            try QuantConv2d(2, 4, kernelSize: 3, padding: 1, biasQuant: .int32Bias, generator: g),
            try QuantReLU(actQuant: TestModels.act, returnQuantTensor: true),
            try ResidualCat(4, generator: g),
            TruncAvgPool2d(kernelSize: 2, truncQuant: .roundTo8bit, returnQuantTensor: true),
            QuantFlatten(),
            try QuantLinear(8 * 3 * 3, 5, biasQuant: .int32Bias, generator: g),
        ])
    }

    @Test(arguments: IntegerExecutor.Arithmetic.allCases)
    func residualBatchNormConcatAndTruncatedPoolAgree(arithmetic: IntegerExecutor.Arithmetic) throws {
        let m = try model()
        try TestModels.calibrate(m, TestModels.data([64, 2, 6, 6], seed: 3))
        let program = try IntegerLowering.lower(m, inputShape: [2, 6, 6])
        let kinds = program.steps.map(\.op.kind)
        #expect(kinds.contains("add") && kinds.contains("concat") && kinds.contains("truncavgpool2d"))
        #expect(program.checkpoints.map(\.layer).contains("3.add"))
        let v = try Verification.run(model: m, program: program, inputs: TestModels.data([80, 2, 6, 6], seed: 4), arithmetic: arithmetic)
        #expect(v.passed, "\(v.layers.compactMap(\.firstNonTie))")
        #expect(v.predictionsAgree == 80)
        #expect(v.codesAgree + v.layers.map(\.ties).reduce(0, +) >= v.codes)
    }

    @Test func traceFollowsTheModelsForward() throws {
        let m = try model()
        let x = TestModels.data([8, 2, 6, 6], seed: 5)
        try TestModels.calibrate(m, x)
        let traced = try IntegerDataflow.traceOutputs(m, input: .float(x))
        #expect(traced[""]!.value.scalars == (try m.forward(.float(x))).value.scalars)
        #expect(traced["3.cat"] != nil && traced["3.bn"] != nil)
    }
}

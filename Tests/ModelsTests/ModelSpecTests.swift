import NN
import QuantNN
import TensorEngine
import Testing

@testable import Models

/// The example networks, built from a `ModelSpec` without the command-line tool.
@Suite struct ModelSpecTests {
    static func spec(_ arch: Architecture, _ shape: [Int] = [1, 8, 8]) -> ModelSpec {
        ModelSpec(arch: arch, inputShape: shape, classes: 5, weightBits: 4, actBits: 4, inputBits: 8, collectStatsSteps: 2)
    }

    /// Every architecture maps a batch to one logit per class, quantized and as the float twin,
    /// and both twins have the same weight keys.
    @Test(arguments: Architecture.allCases)
    func everyArchitectureBuildsBothTwins(_ arch: Architecture) throws {
        let spec = Self.spec(arch)
        let x = RandomGenerator(seed: 7).normal([3, 1, 8, 8])
        let quant = try spec.makeModel(generator: RandomGenerator(seed: 1))
        let float = try spec.makeModel(quantized: false, generator: RandomGenerator(seed: 1))
        #expect(try quant(x).shape == [3, 5])
        #expect(try float(x).shape == [3, 5])
        let weights: (Module) -> Set<String> = { m in Set(m.namedParameters().map(\.name).filter { $0.hasSuffix("weight") }) }
        #expect(!weights(quant).isEmpty && weights(quant) == weights(float))
        // The same seed draws the same weights in both twins.
        let qw = Dictionary(uniqueKeysWithValues: quant.namedParameters().map { ($0.name, $0.tensor.scalars) })
        for (name, t) in float.namedParameters() where name.hasSuffix("weight") {
            #expect(qw[name] == t.scalars, "\(name)")
        }
    }

    /// Bit widths are counted per tensor: quantized weights at the weight bit width.
    @Test func parameterBitsFollowTheWeightQuantizer() throws {
        let spec = Self.spec(.mlp)
        let model = try spec.makeModel(generator: RandomGenerator(seed: 2))
        let bits = spec.parameterBits(of: model)
        #expect(bits.contains { $0.bits == 4 } && bits.allSatisfy { $0.bits == 4 || $0.bits == 32 })
        let quantized: Int = bits.filter { $0.bits == 4 }.map(\.count).reduce(0, +)
        let expected: Int = 64 * 256 + 256 * 128 + 128 * 5
        #expect(quantized == expected)
    }

    /// A spec reports every problem at once.
    @Test func problemsAreAllReported() {
        var spec = Self.spec(.resnet8, [3, 2, 2])
        spec.weightBits = 1
        spec.classes = 1
        let problems = spec.problems()
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("--weight-bits") } && problems.contains { $0.contains("at least 4x4") }
                && problems.contains { $0.contains("2 classes") })
    }
}

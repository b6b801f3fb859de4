import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine
import Testing

@testable import Models

/// `--format` / `--group-size`: names, the quantizers each format gives the example networks,
/// and formats that cannot exist as errors naming Brevitas's key.
@Suite struct QuantFormatTests {
    static func spec(_ arch: Architecture, _ format: QuantFormat?, group: Int? = nil) -> ModelSpec {
        ModelSpec(arch: arch, inputShape: [1, 8, 8], classes: 5, weightBits: 4, actBits: 4, inputBits: 8, collectStatsSteps: 2,
                  format: format, groupSize: group)
    }

    @Test(arguments: ["int", "fp8e4m3", "fp8e5m2", "fp8e4m3fnuz", "fp8e5m2fnuz", "fp6", "fp4", "mxint8", "mxfp8", "e3m4"])
    func namesRoundTrip(_ name: String) throws {
        let f = try #require(QuantFormat(parsing: name))
        #expect(f.description == name)
        let json = try JSONEncoder().encode(f)
        #expect(try JSONDecoder().decode(QuantFormat.self, from: json) == f)
    }

    /// Formats that cannot exist: each problem names the Brevitas keyword.
    @Test(arguments: [
        ("e0m0", nil as Int?, "exponent_bit_width", "at least 1"),
        ("e9m2", nil, "exponent_bit_width", "exceed float32's 8-bit exponent"),
        ("e4m24", nil, "mantissa_bit_width", "0...23"),
        ("fp8e4m3", 16, "group_size", "only the group-wise formats"),
        ("mxint8", 0, "group_size", "must be positive"),
    ])
    func impossibleFormatsNameTheKey(_ name: String, _ group: Int?, _ key: String, _ fragment: String) throws {
        let problems = try #require(QuantFormat(parsing: name)).problems(groupSize: group)
        #expect(problems.contains { $0.key == key && $0.message.contains(fragment) }, "\(problems)")
        #expect(Self.spec(.mlp, QuantFormat(parsing: name), group: group).problems().contains { $0.contains(key) })
    }

    @Test func unknownNamesDoNotParse() {
        for n in ["fp9", "e4", "em3", "mxint4", ""] { #expect(QuantFormat(parsing: n) == nil, "\(n)") }
    }

    /// The quantizers of each format, found in the built model.
    @Test func formatsGiveTheirQuantizers() throws {
        let fp8 = try Self.spec(.lenet, .minifloat(exponentBits: 4, mantissaBits: 3, fnuz: false)).makeModel(generator: RandomGenerator(seed: 1))
        let floats = fp8.namedModules().compactMap { $0.module as? FloatQuant }
        #expect(!floats.isEmpty && floats.allSatisfy { $0.format == .ocp(exponentBitWidth: 4, mantissaBitWidth: 3) && $0.group == nil })
        #expect(!fp8.namedModules().contains { $0.module is RescalingIntQuant })

        let fp4 = try Self.spec(.mlp, .minifloat(exponentBits: 2, mantissaBits: 1, fnuz: false)).makeModel(generator: RandomGenerator(seed: 1))
        #expect(fp4.namedModules().compactMap { ($0.module as? FloatQuant)?.format.maxValue }.allSatisfy { $0 == 6 })

        let mx = try Self.spec(.mlp, .mxint8, group: 16).makeModel(generator: RandomGenerator(seed: 1))
        let grouped = mx.namedModules().compactMap { ($0.module as? RescalingIntQuant)?.group?.groupSize }
        // Three weights and two ReLU activations group by 16; the input stays per tensor.
        #expect(grouped == [Int](repeating: 16, count: grouped.count) && grouped.count == 5, "\(grouped)")
        let x = RandomGenerator(seed: 2).normal([3, 1, 8, 8])
        #expect(try mx(x).shape == [3, 5])
        #expect(try fp8(x).shape == [3, 5])
    }

    /// A group size that does not divide a grouped dimension: weights at construction, activations
    /// found by tracing: a config error naming `--group-size` and `group_size`, never a trap.
    @Test func groupSizeMustDivideTheGroupedDimensions() {
        // LeNet's first convolution has one input channel.
        let lenet = Self.spec(.lenet, .mxint8).problems()
        #expect(lenet.contains { $0.hasPrefix("--group-size: group_size") && $0.contains("does not divide") }, "\(lenet)")
        // The MLP's 256- and 128-wide layers take 32 and 64, not 48 (weights 64 % 48 != 0).
        #expect(Self.spec(.mlp, .mxint8, group: 32).problems().isEmpty)
        #expect(Self.spec(.mlp, .mxfp8, group: 64).problems().isEmpty)
        #expect(Self.spec(.mlp, .mxint8, group: 48).problems().contains { $0.contains("group_size") })
    }

    /// Old `config.json` files have no format: integers at the bit widths.
    @Test func configWithoutFormatIsInt() throws {
        let old = Self.spec(.lenet, nil)
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(old)) as! [String: Any]
        json.removeValue(forKey: "format")
        let back = try JSONDecoder().decode(ModelSpec.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(back.format == nil && back.quantLabel == "w4 a4 in8")
        let fp8 = Self.spec(.lenet, QuantFormat(parsing: "fp8e5m2"))
        #expect(try JSONDecoder().decode(ModelSpec.self, from: JSONEncoder().encode(fp8)) == fp8)
        #expect(fp8.quantLabel == "fp8e5m2")
    }
}

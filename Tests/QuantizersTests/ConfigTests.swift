import Testing
import TensorEngine
import QuantCore
@testable import Quantizers
@testable import QuantNN

@Suite struct ConfigTests {
    @Test func keyPathOverridesRecordTheirOrigin() {
        let q = ActQuant.uint8ActPerTensorFloat.with(\.bitWidth, 4)
        #expect(q.bitWidth == 4 && !q.signed)
        #expect(q.origin(of: "bit_width") == .override)
        #expect(q.origin(of: "collect_stats_steps") == .preset("Uint8ActPerTensorFloat"))
    }

    @Test(arguments: [0, 1, 33])
    func badBitWidthsAreRejectedWithTheKey(bits: Int) {
        #expect(throws: QuantConfigError.self) { try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, bits)) }
        do {
            _ = try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.bitWidth, bits))
        } catch {
            #expect(error.context == "QuantReLU.act_quant")
            #expect(error.problems.map(\.key) == ["bit_width"])
        }
    }

    @Test func maxValWithStatisticsScalingIsAnErrorNotSilentlyIgnored() throws {
        // Brevitas: QuantReLU(max_val=6) silently ignores max_val.
        #expect(throws: QuantConfigError.self) { try LayerFactory.make(className: "QuantReLU", kwargs: ["max_val": .number(6)]) }
    }

    /// PyTorch's pools have no default window; a missing `kernel_size` / `output_size` is an
    /// error naming it (with the other problems), never a silent 1.
    @Test(arguments: [("QuantMaxPool2d", "kernel_size"), ("torch.nn.MaxPool2d", "kernel_size"), ("torch.nn.AvgPool2d", "kernel_size"),
                      ("TruncAvgPool2d", "kernel_size"), ("TruncAdaptiveAvgPool2d", "output_size")])
    func missingRequiredPoolKeywordsAreErrors(_ className: String, _ key: String) throws {
        let error = try #require(throws: QuantConfigError.self) {
            try LayerFactory.make(className: className, kwargs: ["stride_typo": .number(2)])
        }
        #expect(error.problems.map(\.key).sorted() == [key, "stride_typo"].sorted(), "\(error)")
        #expect(error.description.contains("has no default"))
        let malformed = try #require(throws: QuantConfigError.self) {
            try LayerFactory.make(className: className, kwargs: [key: .string("two")])
        }
        #expect(malformed.problems.map(\.key) == [key], "\(malformed)")
        // Given, it builds.
        _ = try LayerFactory.make(className: className, kwargs: [key: .number(2)])
    }

    @Test func unknownKeysListTheValidOnes() {
        do {
            _ = try LayerFactory.make(className: "QuantIdentity", kwargs: ["bit_widht": .number(4)])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("bit_widht"))
            #expect(error.description.contains("unknown or unused"))
        }
        do {
            _ = try ActQuant.int8ActPerTensorFloat.applying(["bit_widht": .number(4)], context: "test")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("bit_width"))
        }
    }

    @Test func perChannelNeedsItsShape() {
        #expect(throws: QuantConfigError.self) {
            try QuantReLU(actQuant: .uint8ActPerTensorFloat.with(\.scalingPerOutputChannel, true))
        }
    }

    @Test func minGreaterThanMaxIsRejected() {
        #expect(throws: QuantConfigError.self) { try QuantHardTanh(minVal: 1, maxVal: -1) }
    }

    @Test func hardTanhWithoutRangeFailsAtConstruction() {
        #expect(throws: QuantConfigError.self) { try LayerFactory.make(className: "QuantHardTanh", kwargs: [:]) }
    }

    @Test func overridingADisabledQuantizerIsAnError() {
        #expect(throws: QuantConfigError.self) {
            try LayerFactory.make(className: "QuantConv2d", kwargs: ["in_channels": .number(1), "out_channels": .number(1), "kernel_size": .number(3), "input_bit_width": .number(4)])
        }
    }

    @Test func unknownPresetNamesAreErrors() {
        #expect(throws: QuantConfigError.self) {
            try LayerFactory.make(className: "QuantReLU", kwargs: ["act_quant": .quantizer("Uint9ActPerTensorFloat")])
        }
    }

    @Test func everyPresetBuilds() throws {
        for name in ActQuant.presetNames {
            var q = ActQuant.preset(named: name, minVal: -1, maxVal: 1)!
            // Presets that Brevitas completes with keywords: a per-channel shape, an FP format.
            if q.scalingPerOutputChannel && !q.dynamicScaling { q = q.with(\.perChannelBroadcastableShape, [1, 3, 1, 1]) }
            // Int8DynamicActPerGroupFloat: Brevitas requires group_size too.
            if q.scalingPerGroup && q.groupSize == nil { q = q.with(\.groupSize, 2) }
            if q.quantType == .minifloat && q.exponentBitWidth == nil {
                q = q.with(\.exponentBitWidth, 2).with(\.mantissaBitWidth, 1).with(\.bitWidth, 4)
            }
            _ = try QuantIdentity(actQuant: q)
        }
        for name in WeightQuant.presetNames {
            var q = WeightQuant.preset(named: name)!
            if q.quantType == .minifloat && q.exponentBitWidth == nil {
                q = q.with(\.exponentBitWidth, 2).with(\.mantissaBitWidth, 1).with(\.bitWidth, 4)
            }
            if q.scalingPerGroup { q = q.with(\.groupSize, 2) }
            _ = try QuantLinear(4, 2, weightQuant: q)
        }
    }
}

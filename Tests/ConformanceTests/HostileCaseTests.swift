import Foundation
import Testing
import TensorEngine

@testable import Conformance

/// Case files from outside: the JSON parser's nesting limit, and inputs the fuzzer
/// (`scripts/fuzz.sh`, target FuzzConformanceCase) found crashing, kept as regressions.
@Suite struct HostileCaseTests {
    @Test func nestingPastTheLimitIsAnErrorNotAStackOverflow() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        _ = try JSON.parse(Data(ok.utf8))
        for deep in [String(repeating: "[", count: 129), String(repeating: "{\"a\":", count: 100_000), String(repeating: "[{\"k\":", count: 200)] {
            do {
                _ = try JSON.parse(Data(deep.utf8))
                Issue.record("nesting of \(deep.count) bytes parsed")
            } catch let error as JSONParseError {
                #expect(error.message == "arrays and objects nested deeper than the limit of 128")
            }
        }
    }

    /// `\uD800` followed by an escape that is not a low surrogate used to overflow `UInt32`.
    @Test func loneHighSurrogates() throws {
        #expect(try JSON.parse(Data(#""\uD800\u0000""#.utf8)) == .string("\u{FFFD}"))
        #expect(try JSON.parse(Data(#""\ud83d\ude00""#.utf8)) == .string("😀"))
        #expect(try JSON.parse(Data(#""\uDBFF\uFFFF""#.utf8)) == .string("\u{FFFD}"))
    }

    /// Recorded tensors whose shapes are not dimensions: a typed error, never a trap.
    @Test func recordedTensorsWithHostileShapes() throws {
        let cases: [(String, String)] = [
            (#"{"shape": [1e300], "data": [1]}"#, "tensor shape [1e+300] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [NaN], "data": [1]}"#, "tensor shape [nan] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [-1, -1], "data": [1]}"#, "tensor shape [-1, -1] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [2.5], "data": [1, 2]}"#, "tensor shape [2.5] is not a list of dimensions in 0...268435456"),
            (#"{"shape": [65536, 65536], "data": [1]}"#,
             "tensor exceeds the limit on elements per tensor (268435456): the shape [65536, 65536] has 4294967296"),
            (#"{"shape": [268435456, 268435456, 268435456], "data": [1]}"#,
             "tensor exceeds the limit on elements per tensor (268435456): the shape [268435456, 268435456, 268435456] has more than 9223372036854775807"),
        ]
        for (text, message) in cases {
            let json = try JSON.parse(Data(text.utf8))
            #expect(json.description.hasPrefix("tensor["))
            do {
                _ = try Records.tensor(json)
                Issue.record("\(text) was read")
            } catch ReplayError.malformed(let m) {
                #expect(m == message)
            }
        }
    }
}

/// Case files that ask for what the engine's preconditions forbid, replayed in this process (a
/// trap would end the test run): each fails with a typed error naming the field or the layer's
/// input, checked before the layer is built or called (`CaseCheck`). Made by editing public cases.
@Suite struct HostileReplayTests {
    static func tensor(_ shape: [Int]) -> JSON {
        .object(JSONObject([("shape", .numbers(shape.map(Double.init))), ("data", .numbers((0..<shape.reduce(1, *)).map { Double($0 % 7) / 7 - 0.4 }))]))
    }

    static func kwarg(_ key: String, _ value: JSON) -> (JSON) throws -> Void {
        { j in j["spec"]!["model"]!["kwargs"]!.object![key] = value }
    }

    static func input(_ name: String, _ shape: [Int]) -> (JSON) throws -> Void {
        { j in j.step(0)["inputs"]!.object![name] = tensor(shape) }
    }

    static let table: [(String, String, (JSON) throws -> Void, String)] = [
        ("conv_default", "in_channels 0", kwarg("in_channels", .number(0)), "spec.model.kwargs.in_channels: 0 is not a positive integer"),
        ("conv_default", "out_channels -1", kwarg("out_channels", .number(-1)), "spec.model.kwargs.out_channels: -1 is not a positive integer"),
        ("conv_default", "kernel_size 2.5", kwarg("kernel_size", .number(2.5)), "spec.model.kwargs.kernel_size: 2.5 is not a positive integer"),
        ("conv_default", "kernel_size [3, 0]", kwarg("kernel_size", .numbers([3, 0])), "spec.model.kwargs.kernel_size: [3, 0] is not a positive integer list"),
        ("conv_default", "padding -2", kwarg("padding", .number(-2)), "spec.model.kwargs.padding: -2 is not a non-negative integer"),
        ("conv_default", "groups 2 of 3 outputs", kwarg("groups", .number(2)), "spec.model.kwargs.groups: groups 2 does not divide out_channels 3"),
        ("conv_default", "out_channels 1e12", kwarg("out_channels", .number(1e12)),
         "spec.model.kwargs: the weight exceeds the limit on elements per tensor (268435456): the shape [1000000000000, 2, 3, 3] has 18000000000000"),
        ("conv_default", "kernel_size 1e12", kwarg("kernel_size", .number(1e12)), "spec.model.kwargs: the weight exceeds the limit on elements per tensor (268435456)"),
        ("conv_default", "input with 5 channels", input("x", [2, 5, 7, 3]), "QuantConv2d input: [2, 5, 7, 3] has 5 channels, the layer takes 2 (weight [3, 2, 3, 3], groups 1)"),
        ("conv_default", "input of rank 2", input("x", [1, 1]), "QuantConv2d input: [1, 1] is not a batch of 2-D inputs [N, C, ...] (weight [3, 2, 3, 3])"),
        ("conv_default", "input smaller than the kernel", input("x", [1, 2, 2, 5]), "QuantConv2d input: [1, 2, 2, 5] is smaller than the kernel [3, 3]"),
        ("conv_default", "padding 1e12", kwarg("padding", .number(1e12)),
         "QuantConv2d input: [2, 2, 5, 5] zero-padded by [1000000000000, 1000000000000] exceeds the limit on elements per tensor (268435456)"),
        ("conv_default", "empty input", input("x", [0, 2, 5, 5]), "QuantConv2d input: [0, 2, 5, 5] holds no elements"),
        ("linear_default", "input without the features", input("x", [3, 5]), "QuantLinear input: [3, 5] does not end in the layer's 8 in_features (weight [4, 8])"),
        ("act_hardtanh_bw4_traj5", "empty input", input("x", [0, 3]), "QuantHardTanh input: [0, 3] holds no elements"),
        ("act_hardtanh_bw4_traj5", "input unlike the upstream gradient", input("x", [2, 5, 7, 3]),
         "malformed case: upstream_grad: shape [2, 3, 4, 4], the output is [2, 5, 7, 3]"),
        ("act_relu_per_channel_traj30", "input of rank 1", input("x", [1]), "QuantReLU input: [1] does not fit the per-channel quantizer's"),
        ("act_relu_per_channel_traj30", "input with 5 channels", input("x", [2, 5, 7, 3]), "QuantReLU input: [2, 5, 7, 3] does not fit the per-channel quantizer's"),
        ("cat_default", "dim 1000", { j in j["spec"]!["call"]!["kwargs"]!.object!["dim"] = .number(1000) }, "QuantCat input: dim 1000 is out of range for inputs of rank 3"),
        ("cat_default", "inputs of different ranks", input("x1", [1, 1]), "QuantCat input: cat of [[2, 3, 4], [1, 1]] along dim 1: the shapes differ outside it"),
        ("cat_default", "scalar input", input("x0", []), "QuantCat input: dim 1 is out of range for inputs of rank 0"),
    ]

    @Test(.enabled(if: havePublicCases, "skipped: no conformance cases at ../shared/conformance/cases"))
    func hostileCasesFailWithTheFieldNotATrap() throws {
        for (name, what, edit, message) in Self.table {
            let r = try tampered(name, edit)
            // cat_default's reference raised (reference_error): our rejection makes it "not comparable".
            let said = r.errors + (r.note.map { [$0] } ?? [])
            #expect(r.failed || r.notComparable, "\(name), \(what): passed")
            #expect(said.contains { $0.contains(message) }, "\(name), \(what): \(said.prefix(3))")
        }
    }

    @Test func iterationCountsAreBounded() throws {
        #expect(throws: CaseCheckError(field: "f", message: "1000000000000 exceeds the limit on iterations (10000)")) {
            try CaseCheck.iterations(1_000_000_000_000, field: "f")
        }
        try CaseCheck.iterations(20, field: "f")
    }

    @Test func programOpsAreChecked() throws {
        #expect(throws: CaseCheckError(field: "n", message: "start_dim 3, end_dim -1 do not fit an input [2, 3]")) {
            try CaseCheck.flatten([2, 3], start: 3, end: -1, field: "n")
        }
        try CaseCheck.flatten([], start: 0, end: -1, field: "n")
        #expect(throws: CaseCheckError(field: "n", message: "shapes [2, 3] and [4, 3] do not broadcast together")) {
            try CaseCheck.broadcast([2, 3], [4, 3], field: "n")
        }
        try CaseCheck.broadcast([2, 1, 3], [5, 1], field: "n")
        try CaseCheck.cat([[2, 3], [2, 5]], dim: -1, field: "n")
    }
}

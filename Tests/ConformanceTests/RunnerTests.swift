import Foundation
import Testing

@testable import Conformance

@Suite struct JSONTests {
    @Test func parsesNumbersExactlyIncludingPythonNonFinite() throws {
        let j = try JSON.parse(Data(#"{"a": [1, 2.5, -3e-2, 0.1, NaN, Infinity, -Infinity], "n": -0.0}"#.utf8))
        let a = try #require(j["a"]?.doubles)
        #expect(a.count == 7)
        #expect(Array(a.prefix(4)) == [1, 2.5, -0.03, 0.1])
        #expect(a[4].isNaN && a[5] == .infinity && a[6] == -.infinity)
        #expect(j["n"]?.double?.sign == .minus)
        // The shortest float64 text of a float32 gives back that float32.
        let f: Float = 0.1
        #expect(Float(try #require(JSON.parse(Data("\(Double(f))".utf8)).double)) == f)
    }

    @Test func parsesStringsMixedArraysAndKeepsKeyOrder() throws {
        let text = #"{"z": "x\n\u00e9\ud83d\ude00\"", "b": [true, null, [1], 2, "s"], "e": [], "a": {}}"#
        let j = try JSON.parse(Data(text.utf8))
        #expect(j["z"]?.string == "x\né😀\"")
        #expect(j["b"]?.array == [.bool(true), .null, .numbers([1]), .number(2), .string("s")])
        #expect(j["e"]?.doubles == [])
        #expect(j.object?.keys == ["z", "b", "e", "a"])
        #expect(try JSON.parse(Data(j.serialized().utf8)) == j)
    }

    @Test func reportsMalformedInput() {
        for bad in ["{\"a\": }", "[1, 2", "{\"a\" 1}", "[1] x", "\"abc"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSON.parse(Data(bad.utf8)) }
        }
    }
}

/// A `{"shape", "data"}` record.
func tensorJSON(_ shape: [Int], _ data: [Double]) -> JSON {
    .object(JSONObject([("shape", shape.isEmpty ? .array([]) : .numbers(shape.map(Double.init))), ("data", .numbers(data))]))
}

@Suite struct CheckerTests {
    @Test func floatsAreCloseWithinRelativeAndMaxRelativeTolerance() {
        let chk = Checker()
        chk.startCase()
        let ref = tensorJSON([3], [1, 100, -0.5])
        chk.compare("ok", tensorJSON([3], [1 + 0.9e-5, 100, -0.5 + 0.9e-4]), ref)  // 1e-5·|b| + 1e-6·100
        #expect(chk.errors.isEmpty)
        chk.compare("bad", tensorJSON([3], [1 + 1.2e-4, 100, -0.5]), ref)
        #expect(chk.errors.count == 1 && chk.errors[0].hasPrefix("bad: 1 of 3 outside tolerance (first at 0"))
        chk.compare("shape", tensorJSON([1, 3], [1, 100, -0.5]), ref)
        #expect(chk.errors.last?.hasPrefix("shape: shape [1, 3] != [3]") == true)
        chk.compare("nan", tensorJSON([3], [.nan, 100, -0.5]), ref)
        #expect(chk.errors.last?.hasPrefix("nan: 1 of 3") == true)
    }

    @Test func nullAndZeroGradientsDiffer() {
        let chk = Checker()
        chk.startCase()
        chk.compare("g", .object(JSONObject([("p", .null)])), .object(JSONObject([("p", tensorJSON([], [0]))])), "grad")
        chk.compare("h", .object(JSONObject([("p", tensorJSON([], [0]))])), .object(JSONObject([("p", .null)])), "grad")
        #expect(chk.errors == ["g/p: null where the reference has a value", "h/p: value where the reference has null"])
    }

    /// A QuantTensor record with per-tensor `scale`.
    func qt(_ values: [Double], scale: Double) -> JSON {
        .object(JSONObject([
            ("kind", .string("IntQuantTensor")), ("value", tensorJSON([values.count], values)),
            ("scale", tensorJSON([], [scale])), ("zero_point", tensorJSON([], [0])), ("bit_width", tensorJSON([], [8])),
            ("signed", .bool(true)), ("training", .bool(true)), ("is_valid", .bool(true)),
            ("int_value", tensorJSON([values.count], values.map { ($0 / scale).rounded() })),
        ]))
    }

    @Test func oneFlipPerTensorIsAllowedAndTaintsTheStep() {
        let chk = Checker()
        chk.startCase()
        let ref = qt([0.5, 1, -1.5, 2], scale: 0.5)
        chk.compare("out", qt([0.5, 1.5, -1.5, 2], scale: 0.5), ref)
        #expect(chk.errors.isEmpty)
        chk.forwardDone(backward: true)
        chk.compare("grad", tensorJSON([], [1]), tensorJSON([], [2]), "grad")  // not compared: tainted
        #expect(chk.errors.isEmpty)
        chk.compare("out2", qt([1, 1.5, -1.5, 2], scale: 0.5), ref)
        #expect(chk.errors.count == 1 && chk.errors[0].hasPrefix("out2/value: 2 of 4 elements one quantization step off (at most 1)"))
        chk.startStep()
        chk.compare("out3", qt([0.5, 1.5, -1.5, 2], scale: 0.5), ref)
        chk.forwardDone(backward: true)
        chk.endCase()
        #expect(chk.errors.last == "steps: 2 backward steps with quantization flips (at most 1)")
    }

    @Test func metadataIsExact() {
        let chk = Checker()
        chk.startCase()
        let ours = qt([0.5, 1], scale: 0.5), ref = qt([0.5, 1], scale: 0.5)
        ours.object!["bit_width"] = tensorJSON([], [4])
        ours.object!["signed"] = .bool(false)
        chk.compare("q", ours, ref)
        #expect(chk.errors == ["q/signed: ours false != reference true", "q/bit_width: ours [4] != reference [8]"])
        chk.compare("p", tensorJSON([2], [0.5, 1]), ref)
        #expect(chk.errors.last == "p: expected an IntQuantTensor, got a plain tensor")
    }

    @Test func gradientTermWidensTheTolerance() {
        let chk = Checker()
        chk.startCase()
        chk.compare("g", tensorJSON([], [1.001]), tensorJSON([], [1]), "grad", .value(0.002))
        #expect(chk.errors.isEmpty)
        chk.compare("g", tensorJSON([], [1.003]), tensorJSON([], [1]), "grad", .value(0.002))
        #expect(chk.errors.count == 1)
    }

    @Test func qatComparesNormwise() {
        let chk = Checker()
        chk.startCase()
        chk.qat = true
        chk.compare("logits", tensorJSON([3], [1.2, -2, 0.1]), tensorJSON([3], [1, -2, 0.5]))  // 0.4 <= 0.25·2
        #expect(chk.errors.isEmpty)
        chk.compare("logits", tensorJSON([3], [1.6, -2, 0.1]), tensorJSON([3], [1, -2, 0.5]))
        #expect(chk.errors.count == 1)
    }

    @Test func broadcastsPerChannelScales() {
        #expect(broadcast([1, 2], from: [1, 2, 1], to: [2, 2, 2]) == [1, 1, 2, 2, 1, 1, 2, 2])
        #expect(broadcast([3], from: [], to: [2]) == [3, 3])
        #expect(broadcast([1, 2, 3], from: [3], to: [2]) == nil)
    }
}

/// Replays a public case after `edit` changed its recording: the runner must notice.
func tampered(_ name: String, _ edit: (JSON) throws -> Void) throws -> ConformanceRunner.CaseResult {
    let json = try JSON.load(contentsOf: publicCases.appendingPathComponent("\(name).json"))
    try edit(json)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("\(name).json")
    try json.serialized().write(to: file, atomically: true, encoding: .utf8)
    return ConformanceRunner.replay(file: file)
}

extension JSON {
    func step(_ k: Int) -> JSON { self["steps"]!.array![k] }

    /// Applies `f` to the data of the tensor record `key` of this object.
    func editData(_ key: String, _ f: (inout [Double]) -> Void) {
        var d = self[key]!["data"]!.doubles!
        f(&d)
        self[key]!.object!["data"] = .numbers(d)
    }
}

/// The runner catches recordings that differ from what we compute, in every compared field.
@Suite(.serialized) struct TamperedCaseTests {
    static let enabled = havePublicCases

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func untouchedCasePasses() throws {
        let r = try tampered("qt_add_same_scale") { _ in }
        #expect(r.passed, "\(r.errors)")
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func outputValueOffByTwoSteps() throws {
        let r = try tampered("qt_add_same_scale") { j in
            let out = j.step(0)["output"]!
            let s = out["scale"]!["data"]!.doubles![0]
            out.editData("value") { $0[3] += 2 * s }
        }
        #expect(r.errors.first?.hasPrefix("steps[0]/output/value: 1 of 24 outside tolerance (first at 3") == true, "\(r.errors)")
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func flipsInTwoStepsExceedTheBudget() throws {
        let oneFlip = { (step: JSON) in
            let out = step["output"]!
            let s = out["scale"]!["data"]!.doubles![0]
            out.editData("value") { $0[5] += s }
            out.editData("int_value") { $0[5] += 1 }
        }
        let one = try tampered("qt_add_same_scale") { j in oneFlip(j.step(0)) }
        #expect(one.passed, "one tainted step of four is within the budget: \(one.errors)")
        let two = try tampered("qt_add_same_scale") { j in
            oneFlip(j.step(0))
            oneFlip(j.step(1))
        }
        #expect(two.errors == ["steps: 2 backward steps with quantization flips (at most 1)"])
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func gradientNullVersusZero() throws {
        // In eval mode during statistics collection the runtime scale has no gradient (null).
        let key = "act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value"
        let r = try tampered("pool_avgpool_qt") { j in
            #expect(j.step(2)["grad_params"]![key]!.isNull)
            j.step(2)["grad_params"]!.object![key] = tensorJSON([], [0])
        }
        #expect(r.errors == ["steps[2]/grad_params/\(key): null where the reference has a value"])
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func countersAreExact() throws {
        let key = "act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl"
        let r = try tampered("pool_avgpool_qt") { j in
            j.step(1)["state_after"]!["counters"]!.object![key] = .number(3)
        }
        #expect(r.errors.first == "steps[1]/state_after/counters/\(key): 2 != 3", "\(r.errors)")
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func updatedParameterAndLoss() throws {
        let key = "conv.weight"
        let r = try tampered("conv_then_relu") { j in
            j.step(0)["state_after"]!["params"]![key]!.object!["data"] = .numbers(
                j.step(0)["state_after"]!["params"]![key]!["data"]!.doubles!.map { $0 * 1.01 })
            j.step(1).editData("loss") { $0[0] *= 1.001 }
        }
        #expect(r.errors.contains { $0.hasPrefix("steps[0]/state_after/params/\(key):") }, "\(r.errors)")
        #expect(r.errors.contains { $0.hasPrefix("steps[1]/loss:") }, "\(r.errors)")
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func missingExpectedError() throws {
        let r = try tampered("linear_default") { j in
            j.step(1).object!["error"] = .object(JSONObject([("type", .string("RuntimeError")), ("message", .string("m"))]))
        }
        #expect(r.errors == ["steps[1]: no error raised, expected RuntimeError (m)"])
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func qatFreeRunningLoss() throws {
        let r = try tampered("qat_default_20steps") { j in
            var l = j["loss_per_step"]!.doubles!
            l[7] *= 1.2
            j.object!["loss_per_step"] = .numbers(l)
        }
        #expect(r.errors.count == 1 && r.errors[0].hasPrefix("free_running/loss_per_step: step 8 off by"), "\(r.errors)")
    }

    @Test(.enabled(if: enabled, "skipped: no conformance cases")) func printedValue() throws {
        let r = try tampered("nb_exec16_train_scales_differ") { j in j.object!["printed"] = .bool(false) }
        #expect(r.errors == ["printed: true != false"])
    }
}

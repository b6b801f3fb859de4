import Foundation
import Testing

@testable import Conformance

let haveFamilies = ["ptq", "formats", "layers"].allSatisfy {
    FileManager.default.fileExists(atPath: sharedConformance.appendingPathComponent($0).path)
}

/// Replays the case `name` of `family` after `edit` changed it.
func tamperedCase(_ family: String, _ name: String, _ edit: (JSON) throws -> Void) throws -> ConformanceRunner.CaseResult {
    let json = try JSON.load(contentsOf: sharedConformance.appendingPathComponent("\(family)/\(name).json"))
    try edit(json)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("\(name).json")
    try json.serialized().write(to: file, atomically: true, encoding: .utf8)
    return ConformanceRunner.replay(file: file)
}

/// spec_version 2: the families, their encodings and tolerance additions.
@Suite struct SpecVersion2Tests {
    @Test func nonFiniteTensorDataReadsAsNumbers() throws {
        let j = try JSON.parse(Data(#"{"shape": [4], "data": [1.5, "nan", "inf", "-inf"], "bad": [1, "x"]}"#.utf8))
        let d = try #require(j["data"]?.doubles)
        #expect(d[0] == 1.5 && d[1].isNaN && d[2] == .infinity && d[3] == -.infinity)
        #expect(j["bad"]?.doubles == nil)
        #expect(try Records.tensor(j).shape == [4])
    }

    @Test func familiesAreDispatchedBySpecVersionAndFamily() throws {
        func family(_ text: String) throws -> CaseFamily { try CaseFamily.of(try JSON.parse(Data(text.utf8))) }
        #expect(try family(#"{"spec_version": 1}"#) == .v1)
        #expect(try family(#"{"spec_version": 2, "family": "ptq"}"#) == .ptq)
        #expect(try family(#"{"spec_version": 2, "family": "formats"}"#) == .formats)
        #expect(try family(#"{"spec_version": 2}"#) == .layers)
        #expect(throws: ReplayError.self) { try family(#"{"spec_version": 2, "family": "graphs"}"#) }
        #expect(throws: ReplayError.self) { try family(#"{"spec_version": 3}"#) }
    }

    /// Non-finite elements match exactly; `max|ref|` is taken over the finite ones (an infinite
    /// reference element would otherwise make every tolerance infinite).
    @Test func nonFiniteElementsMatchExactly() {
        let chk = Checker()
        chk.startCase()
        chk.compare("ok", tensorJSON([3], [.nan, -.infinity, 1]), tensorJSON([3], [.nan, -.infinity, 1]))
        #expect(chk.errors.isEmpty)
        chk.compare("sign", tensorJSON([3], [.nan, .infinity, 1]), tensorJSON([3], [.nan, -.infinity, 1]))
        #expect(chk.errors.last == "sign: non-finite pattern differs (first at 1: ours inf vs reference -inf)")
        chk.compare("finite", tensorJSON([2], [.infinity, 1.5]), tensorJSON([2], [.infinity, 1]))
        #expect(chk.errors.last?.hasPrefix("finite: 1 of 2 outside tolerance (first at 1") == true, "\(chk.errors)")
    }

    /// A FloatQuantTensor record: exact format fields, one minifloat grid step is a flip.
    @Test func floatKindsCompareOnTheMinifloatGrid() {
        func fq(_ v: [Double], saturating: Bool = true) -> JSON {
            .object(JSONObject([
                ("kind", .string("FloatQuantTensor")), ("value", tensorJSON([v.count], v)), ("scale", tensorJSON([], [1])),
                ("zero_point", tensorJSON([], [0])), ("exponent_bit_width", tensorJSON([], [4])),
                ("mantissa_bit_width", tensorJSON([], [3])), ("exponent_bias", tensorJSON([], [7])),
                ("saturating", .bool(saturating)), ("inf_values", .null), ("nan_values", .array([.string("111")])),
                ("signed", .bool(true)), ("training", .bool(true)), ("is_valid", .bool(true)),
                ("minifloat_value", tensorJSON([v.count], v)),
            ]))
        }
        let chk = Checker()
        chk.startCase()
        let ref = fq([1.125, 3, 448, 0.001953125])
        chk.compare("flip", fq([1.25, 3, 448, 0.001953125]), ref)  // one step at 1.125 is 0.125
        #expect(chk.errors.isEmpty, "\(chk.errors)")
        chk.compare("far", fq([1.375, 3, 448, 0.001953125]), ref)
        #expect(chk.errors.first?.hasPrefix("far/value: 1 of 4 outside tolerance") == true, "\(chk.errors)")
        chk.compare("sat", fq([1.125, 3, 448, 0.001953125], saturating: false), ref)
        #expect(chk.errors.contains("sat/saturating: ours false != reference true"), "\(chk.errors)")
        chk.compare("kind", tensorJSON([4], [1.125, 3, 448, 0.001953125]), ref)
        #expect(chk.errors.last == "kind: expected a FloatQuantTensor, got a plain tensor")
        let unknown = JSONObject([("kind", .string("MXQuantTensor"))])
        chk.compare("new", .object(unknown), .object(unknown))
        #expect(chk.errors.last == "new: the runner cannot compare QuantTensor kind MXQuantTensor yet")
    }

    /// What the product cannot build yet fails with the reason, never passes.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func unbuiltFeaturesFailWithTheReason() throws {
        let cls = try tamperedCase("layers", "conv1d_io_quant") { j in j["spec"]!["model"]!.object!["class"] = .string("QuantConv4d") }
        #expect(cls.errors == ["not supported yet: layer class QuantConv4d"])
        #expect(cls.family == "layers")
        let kind = try tamperedCase("layers", "conv1d_io_quant") { j in
            let x = j.step(0)["inputs"]!["x"]!
            j.step(0)["inputs"]!.object!["x"] = .object(JSONObject([("kind", .string("PackedQuantTensor")), ("value", x)]))
        }
        #expect(kind.errors == ["not supported yet: QuantTensor kind PackedQuantTensor"])
        let outputs = try tamperedCase("layers", "conv1d_io_quant") { j in j["spec"]!.object!["outputs"] = .array([.string("y")]) }
        #expect(outputs.errors == ["not supported yet: several outputs (spec.outputs) of a model other than QuantRNN, QuantLSTM and QuantMultiheadAttention"], "\(outputs.errors)")
        let randomInit = try tamperedCase("layers", "conv1d_io_quant") { j in j.object!["random_init"] = nil }
        #expect(randomInit.errors.first?.hasPrefix("malformed case: case: no random_init") == true, "\(randomInit.errors)")
        let untouched = try tamperedCase("layers", "conv1d_io_quant") { _ in }
        #expect(untouched.passed, "\(untouched.errors)")
    }

    /// PTQ: the float stage is compared (output and weights), the pipeline stops at the first
    /// stage not built, and a reference defect limits the comparison to its comparable stages.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func ptqPipelineIsWalkedStageByStage() throws {
        let r = try tamperedCase("ptq", "mlp_quantize_calibrate") { _ in }
        #expect(r.passed, "\(r.errors)")
        #expect(r.family == "ptq")
        let gptq = try tamperedCase("ptq", "res_quantize_calibrate_gptq") { _ in }
        #expect(gptq.passed, "\(gptq.errors)")
        let actEq = try tamperedCase("ptq", "mlp_act_equalization_layerwise") { _ in }
        #expect(actEq.passed, "\(actEq.errors)")
        let multiplier = try tamperedCase("ptq", "mlp_act_equalization_layerwise") { j in
            j["stages"]!.array![1]["weights"]!["fc2"]!.editData("input_scale") { $0[2] *= 1.0002 }
        }
        #expect(multiplier.errors.count == 1 && multiplier.errors[0].hasPrefix("stages[1]/weights/fc2/input_scale: 1 of 16 outside 1e-4 relative"), "\(multiplier.errors)")
        let unbuilt = try tamperedCase("ptq", "mlp_act_equalization_layerwise") { j in
            j["spec"]!["pipeline"]!.array![1]["kwargs"]!.object!["layerwise"] = .bool(false)
        }
        #expect(unbuilt.errors == ["not supported yet: graph activation equalization with add_mul_node=True (mul nodes after scale-varying activations)"], "\(unbuilt.errors)")
        let regions = try tamperedCase("ptq", "dws_relu6_cle_quantize_calibrate") { j in
            j["stages"]!.array![1].object!["equalization_regions"] = .array([])
        }
        #expect(regions.errors.count == 1 && regions.errors[0].hasPrefix("stages[1]/equalization_regions"), "\(regions.errors)")
        let iterations = try tamperedCase("ptq", "dws_relu6_cle_quantize_calibrate") { j in
            j["spec"]!["pipeline"]!.array![1]["kwargs"]!.object!["equalize_iters"] = .number(1)
        }
        #expect(iterations.errors.contains { $0.hasPrefix("stages[1]/weights/") }, "\(iterations.errors)")
        let scale = try tamperedCase("ptq", "mlp_quantize_calibrate") { j in
            j["stages"]!.array![3]["quant_points"]!.array![3].editData("scale") { $0[0] *= 1.001 }
        }
        #expect(scale.errors.count == 1 && scale.errors[0].hasPrefix("stages[3]/quant_points/output of fc3/scale"), "\(scale.errors)")
        let applied = try tamperedCase("ptq", "res_quantize_calibrate_gptq") { j in
            let points = j["stages"]!.array![2]["quant_points"]!.array!
            let add = points.first { $0["key"]?.string == "inputs of add1" }!
            add.object!["applied_to"] = .array([.string("conv2"), .string("relu0")])
        }
        #expect(applied.errors.first?.hasPrefix("stages[2]/quant_points/inputs of add1/applied_to") == true, "\(applied.errors)")
        let output = try tamperedCase("ptq", "mlp_quantize_calibrate") { j in
            j["stages"]!.array![0].editData("output") { $0[3] *= 1.001 }
            j["stages"]!.array![0]["weights"]!["fc1"]!.editData("weight") { $0[0] *= 1.001 }
        }
        #expect(output.errors.count == 2 && output.errors[0].hasPrefix("stages[0]/output: 1 of 30 outside tolerance"), "\(output.errors)")
        #expect(output.errors[1].hasPrefix("stages[0]/weights/fc1/weight: 1 of 192 outside tolerance"), "\(output.errors)")
        let unequal = try tamperedCase("ptq", "mlp_quantize_calibrate") { j in
            j.object!["stages"] = .array(Array(j["stages"]!.array!.prefix(2)))
        }
        #expect(unequal.errors.first?.hasPrefix("malformed case: 4 pipeline stages but 2 stage records") == true, "\(unequal.errors)")
        let defect = try tamperedCase("ptq", "cat_relu_branches_calibrate_reference_defect") { j in
            j["reference_error"]!.object!["comparable_stages"] = .number(1)
        }
        #expect(defect.notComparable, "\(defect.errors)")
        let stage = try tamperedCase("ptq", "mlp_quantize_calibrate") { j in
            j["spec"]!["pipeline"]!.array![1].object!["stage"] = .string("prune")
            j["stages"]!.array![1].object!["stage"] = .string("prune")
        }
        #expect(stage.errors == ["not supported yet: pipeline stage prune"])
    }

    /// A folder of family folders runs them all, with one count line per family.
    @Test(.enabled(if: haveFamilies && havePublicCases, "skipped: no spec_version 2 cases"))
    func familyLinesWhenSeveralFamiliesRun() throws {
        let runner = ConformanceRunner(directory: sharedConformance, only: ["linear_default", "conv1d_io_quant", "mlp_quantize_calibrate", "edge_fp4_ocp"])
        let summary = try runner.run()
        #expect(summary.results.map(\.family) == ["cases", "formats", "layers", "ptq"])
        #expect(summary.familyLines.count == 4)
        #expect(summary.familyLines[0] == "cases: 1 passed, 0 failed, 0 not comparable")
        #expect(summary.familyLines[3] == "ptq: 1 passed, 0 failed, 0 not comparable")
    }

    /// A2Q's accumulator bound is checked against our quantized weight and input.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func accumulatorBoundIsCompared() throws {
        let untouched = try tamperedCase("layers", "a2q_linear_acc16_sgd") { _ in }
        #expect(untouched.passed, "\(untouched.errors)")
        let r = try tamperedCase("layers", "a2q_linear_acc16_sgd") { j in j.step(1)["accumulator_bound"]!.object!["fits"] = .bool(false) }
        #expect(r.errors == ["steps[1]/accumulator_bound: fits: ours true != reference false"], "\(r.errors)")
        let noWeight = try tamperedCase("layers", "a2q_linear_acc16_sgd") { j in
            j.step(0)["intermediates"]!.object!["weight_quant"] = nil
        }
        #expect(noWeight.errors.contains("steps[0]/accumulator_bound: our layer recorded no valid quantized weight and input to bound the accumulator with") == false,
                "the bound uses our own intermediates, not the reference's: \(noWeight.errors)")
    }

    /// Integer inputs (`input_dtypes`) are indices: whole numbers, never differentiated.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func integerInputsAreIndices() throws {
        let untouched = try tamperedCase("layers", "embedding_default_qt") { _ in }
        #expect(untouched.passed, "\(untouched.errors)")
        let fraction = try tamperedCase("layers", "embedding_default_qt") { j in j.step(0)["inputs"]!.editData("idx") { $0[1] = 2.5 } }
        #expect(fraction.errors == ["malformed case: steps[0]/inputs/idx: int64 input holds 2.5"], "\(fraction.errors)")
        let dtype = try tamperedCase("layers", "embedding_default_qt") { j in j["spec"]!["input_dtypes"]!.object!["idx"] = .string("int4") }
        #expect(dtype.errors == ["not supported yet: input dtype \"int4\""], "\(dtype.errors)")
    }

    /// Models with several outputs (`spec.outputs`): outputs by name, the loss summed over them,
    /// state recorded once under shared names (`state_aliases`).
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func namedOutputsAndAliases() throws {
        let structure = try tamperedCase("layers", "lstm_default") { j in j["spec"]!.object!["outputs"] = .array([.string("out"), .string("h_n")]) }
        #expect(structure.errors.contains { $0.hasPrefix("not supported yet: output h_n: a tuple where the spec names one value") }, "\(structure.errors)")
        let out = try tamperedCase("layers", "lstm_default") { j in j.step(0)["output"]!.object!["c_n"] = nil }
        #expect(out.errors.contains { $0.hasPrefix("steps[0]/output: keys") }, "\(out.errors)")
        let badAliases = try tamperedCase("layers", "lstm_default") { j in j.object!["state_aliases"] = .object(JSONObject([("a", .number(1))])) }
        #expect(badAliases.errors == ["malformed case: state_aliases.a is not a list of names"])
        let folded = ModuleState(params: ["a.w": .null, "b.w": .null], counters: ["a.s": 1, "b.s": 1]).canonicalized(["b.w": "a.w", "b.s": "a.s", "c": "d"])
        #expect(folded.params.keys.sorted() == ["a.w"] && folded.counters == ["a.s": 1])
        let renamed = ModuleState(params: ["long.path.w": .null]).canonicalized(["long.path.w": "w"])
        #expect(renamed.params.keys.sorted() == ["w"])
    }

    /// PTQ quantization points: keys and sharing exact, scales by the stage's tolerance.
    @Test(.enabled(if: haveFamilies, "skipped: no spec_version 2 cases")) func quantPointsAreComparedByKey() throws {
        let c = try JSON.load(contentsOf: sharedConformance.appendingPathComponent("ptq/res_quantize_calibrate_gptq.json"))
        let ref = c["stages"]!.array![2]["quant_points"]!
        let copy = { try JSON.parse(Data(ref.serialized().utf8)) }
        let chk = Checker()
        chk.startCase()
        PTQReplay.compareQuantPoints(chk, "q", try copy(), ref, afterGreedy: false)
        #expect(chk.errors.isEmpty, "\(chk.errors)")
        let shared = try copy()
        shared.array!.first { $0["key"]?.string == "output of relu0" }!.object!["scale_shared_with"] = .array([])
        PTQReplay.compareQuantPoints(chk, "q", shared, ref, afterGreedy: false)
        #expect(chk.errors == ["q/output of relu0/scale_shared_with: ours [] != reference [\"inputs of add1\"]"], "\(chk.errors)")
        let scaled = try copy()
        scaled.array!.first { $0["key"]?.string == "weight of conv0" }!.editData("scale") { $0[0] *= 1 + 1e-4 }
        let strict = Checker(), loose = Checker()
        strict.startCase()
        loose.startCase()
        PTQReplay.compareQuantPoints(strict, "q", scaled, ref, afterGreedy: false)
        PTQReplay.compareQuantPoints(loose, "q", scaled, ref, afterGreedy: true)
        #expect(strict.errors.first?.hasPrefix("q/weight of conv0/scale: 1 of 1 outside tolerance") == true, "\(strict.errors)")
        #expect(loose.errors.isEmpty, "within normwise 3e-4 after GPTQ: \(loose.errors)")
        let fewer = JSON.array(Array(try copy().array!.dropFirst()))
        let keys = Checker()
        keys.startCase()
        PTQReplay.compareQuantPoints(keys, "q", fewer, ref, afterGreedy: false)
        #expect(keys.errors.first?.hasPrefix("q: keys") == true, "\(keys.errors)")
    }
}


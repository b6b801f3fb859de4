import Foundation
import Graph
import NN
import ONNXImport
import TensorEngine
import Testing

/// The float models of `../shared/conformance/ptq`, built both ways: from the JSON graph
/// (`spec.float_model` with the builder, `initial_state` loaded) and from the `.float.onnx` twin.
/// Both must give ONNX Runtime's output on `data.test` within the ptq README's close(0):
/// `|a - b| <= 1e-5 |b| + 1e-6 max|b|`, and the same modules under the same state-dict keys.
@Suite struct PTQFloatGraphTests {
    static let cases: [String] = {
        guard let dir = sharedFolder("conformance/ptq"),
              let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }()

    static func tensor(_ value: Any?) throws -> Tensor {
        let t = try #require(value as? [String: Any])
        let shape = try #require(t["shape"] as? [Int])
        let data = try #require(t["data"] as? [Any]).map { Float(($0 as! NSNumber).doubleValue) }
        return Tensor(shape: shape, data)
    }

    static func closeZero(_ a: Tensor, _ b: Tensor) -> Float {
        let scale = b.abs().max().item()
        return zip(a.scalars, b.scalars).map { abs($0 - $1) / (1e-5 * abs($1) + 1e-6 * scale) }.max() ?? 0
    }

    @Test func casesArePresent() {
        if sharedFolder("conformance/ptq") == nil {
            print("skipped: ../shared/conformance/ptq is absent")
        } else {
            #expect(Self.cases.count >= 11)
        }
    }

    @Test(arguments: cases)
    func jsonGraphAndONNXTwinAgree(_ name: String) throws {
        let dir = try #require(sharedFolder("conformance/ptq"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("\(name).json"))) as? [String: Any])
        let spec = try #require(json["spec"] as? [String: Any])
        let floatModel = try #require(spec["float_model"] as? [String: Any])
        let fromJSON = try TorchGraphSpec.build(floatModel["graph"] as Any)
        var state = StateDict()
        let initial = try #require(json["initial_state"] as? [String: Any])
        for group in ["params", "buffers"] {
            for (key, value) in try #require(initial[group] as? [String: Any]) { state[key] = try Self.tensor(value) }
        }
        let report = try fromJSON.loadStateDict(state, strict: false)
        #expect(report.unexpectedKeys.isEmpty)
        #expect(report.missingKeys.allSatisfy { $0.hasSuffix("num_batches_tracked") }, "\(report.missingKeys)")
        fromJSON.eval()

        let data = try #require(json["data"] as? [String: Any])
        let x = try Self.tensor(data["test"])
        let onnx = try #require(json["float_onnx"] as? [String: Any])
        let ort = try Self.tensor(onnx["ort_output"])
        let imported = try ONNXImporter.load(dir.appendingPathComponent("\(name).float.onnx"), inputShapes: ["x": x.shape])

        let a = Autograd.noGrad { fromJSON(x) }, b = Autograd.noGrad { imported.graph(x) }
        #expect(a.shape == ort.shape && b.shape == ort.shape)
        #expect(Self.closeZero(a, ort) <= 1, "JSON graph vs ONNX Runtime: \(Self.closeZero(a, ort)) of close(0)")
        #expect(Self.closeZero(b, ort) <= 1, "imported ONNX vs ONNX Runtime: \(Self.closeZero(b, ort)) of close(0)")
        #expect(Self.closeZero(b, a) <= 1)
        // Same layers under the same keys (BatchNorm's counter is not in ONNX: both are 0).
        let jsonState = fromJSON.stateDict(), onnxState = imported.graph.stateDict()
        #expect(onnxState.keys == jsonState.keys)
        for key in onnxState.keys where jsonState[key] != nil { #expect(onnxState[key]!.isEqual(to: jsonState[key]!), "\(key)") }
        let jsonLayers = fromJSON.moduleNodes.map { "\($0.node.name): \(type(of: $0.module))" }.filter { !$0.contains("Dropout") }
        let onnxLayers = imported.graph.moduleNodes.map { "\($0.node.name): \(type(of: $0.module))" }
        let layerTypes = { (l: [String]) in l.map { $0.split(separator: ":")[1] } }
        #expect(layerTypes(onnxLayers) == layerTypes(jsonLayers), "\(onnxLayers) vs \(jsonLayers)")
    }
}

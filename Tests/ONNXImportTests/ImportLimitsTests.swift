import Foundation
import ONNXImport
import ONNXProto
import TensorEngine
import Testing

/// The limits an ONNX file cannot push the importer past (``InputLimits``): each is an error that
/// names the limit and its value, raised before anything is allocated for it.
@Suite struct ImportLimitsTests {
    func problem(_ f: ModelFactory, shapes: [String: [Int]] = [:]) -> ONNXImportError.Problem? {
        do {
            _ = try ONNXImporter.load(data: f.data, file: "m.onnx", folder: nil, inputShapes: shapes)
            return nil
        } catch let error as ONNXImportError {
            #expect(error.description.hasPrefix("m.onnx: "))
            return error.problem
        } catch {
            return .io("unexpected error type: \(error)")
        }
    }

    @Test func graphNodes() {
        var f = ModelFactory()
        let extra = (0...InputLimits.maxGraphNodes).map { Onnx_NodeProto("Identity", ["y\($0)"], ["y\($0 + 1)"], name: "n\($0)") }
        f.model.graph.node += extra
        #expect(problem(f) == .limit(InputLimitExceeded(limit: "graph nodes", value: 100_000, found: "nodes: 100003")))
    }

    @Test func initializers() {
        var f = ModelFactory()
        f.model.graph.initializer += (0..<InputLimits.maxTensors).map { Onnx_TensorProto.floats("t\($0)", [0], []) }
        #expect(problem(f) == .limit(InputLimitExceeded(limit: "tensors per file", value: 100_000, found: "initializers: 100002")))
    }

    @Test func elementsOfAnInitializerBeforeItsDataIsChecked() {
        var f = ModelFactory()
        f.model.graph.initializer[0] = Onnx_TensorProto.floats("conv.weight", [1 << 15, 1 << 14], [1])
        #expect(problem(f) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "tensor 'conv.weight': the shape [32768, 16384] has 536870912")))
    }

    @Test func rankOfAnInitializer() {
        var f = ModelFactory()
        f.model.graph.initializer[0] = Onnx_TensorProto.floats("conv.weight", [Int64](repeating: 1, count: 65), [1])
        #expect(problem(f) == .limit(InputLimitExceeded(limit: "tensor rank", value: 64, found: "tensor 'conv.weight': a shape of 65 dimensions")))
    }

    @Test func declaredAndGivenInputShapes() {
        var f = ModelFactory()
        f.model.graph.input = [.floatTensor("x", [1 << 20, 1 << 20, 4, 4])]
        #expect(problem(f) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "the shape [1048576, 1048576, 4, 4] has 17592186044416")))
        #expect(problem(ModelFactory(), shapes: ["x": [1 << 40, 1 << 40, 1 << 40, 1]]) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "the shape [1099511627776, 1099511627776, 1099511627776, 1] has more than 9223372036854775807")))
    }

    @Test func constantOfShape() {
        var f = ModelFactory()
        f.model.graph.initializer.append(Onnx_TensorProto.int64s("big", [1 << 20, 1 << 20]))
        f.model.graph.node.append(Onnx_NodeProto("ConstantOfShape", ["big"], ["k"], name: "fill"))
        #expect(problem(f) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "the shape [1048576, 1048576] has 1099511627776")))
    }
}

import Foundation
import Graph
import NN
import ONNXImport
import ONNXProto
import TensorEngine
import Testing

/// Malformed and hostile ONNX files: each is a typed error that says what is wrong, never a
/// crash and never a read outside the file or the model's folder.
@Suite struct HostileModelTests {
    func problem(_ data: Data, folder: URL? = nil, shapes: [String: [Int]] = [:]) -> ONNXImportError.Problem? {
        do {
            _ = try ONNXImporter.load(data: data, file: "m.onnx", folder: folder, inputShapes: shapes)
            return nil
        } catch let error as ONNXImportError {
            return error.problem
        } catch {
            return .io("unexpected error type: \(error)")
        }
    }

    @Test func theFactoryModelImportsAndRuns() throws {
        let m = try ONNXImporter.load(data: ModelFactory().data, file: "m.onnx", folder: nil)
        let x = RandomGenerator(seed: 1).normal([1, 2, 4, 4])
        let conv = try #require(m.graph.module(at: "conv") as? Conv2d)
        #expect(m.graph(x).isEqual(to: conv(x).relu()))
        #expect(m.graph.stateDict().keys == ["conv.weight", "conv.bias"])
        #expect(m.opsetVersion == 13 && m.producer == "ModelFactory")
    }

    @Test func everyTruncationIsAnError() {
        let full = ModelFactory().data
        for n in stride(from: 0, to: full.count, by: 3) {
            #expect(problem(full.prefix(n)) != nil, "prefix of \(n) of \(full.count) bytes")
        }
    }

    @Test func lengthsPastTheEndAreProtobufErrors() {
        // Field 7 (graph), wire type 2, declared length 2^40, then 3 bytes.
        let bytes = Data([0x3A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 1, 2, 3])
        guard case .invalidProtobuf? = problem(bytes) else { Issue.record("expected invalidProtobuf, got \(String(describing: problem(bytes)))"); return }
        guard case .invalidProtobuf? = problem(Data([0xFF, 0xFF, 0xFF])) else { Issue.record("garbage accepted"); return }
    }

    func withInitializer(_ t: Onnx_TensorProto) -> Data {
        var f = ModelFactory()
        f.model.graph.initializer[0] = t
        return f.data
    }

    @Test func tensorsWithLyingDims() {
        var overflow = Onnx_TensorProto.floats("conv.weight", [1 << 40, 1 << 40], [1])
        #expect(problem(withInitializer(overflow)) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "tensor 'conv.weight': the shape [1099511627776, 1099511627776] has more than 9223372036854775807")))
        overflow.dims = [1 << 61, 1]
        #expect(problem(withInitializer(overflow)) == .limit(InputLimitExceeded(
            limit: "elements per tensor", value: 1 << 28, found: "tensor 'conv.weight': the shape [2305843009213693952, 1] has 2305843009213693952")))
        let negative = Onnx_TensorProto.floats("conv.weight", [-1, 2, 3, 3], [1])
        #expect(problem(withInitializer(negative)) == .invalidTensor(name: "conv.weight", reason: "negative dimension in dims [-1, 2, 3, 3]"))
        let short = Onnx_TensorProto.floats("conv.weight", [3, 2, 3, 3], [1, 2, 3])
        #expect(problem(withInitializer(short)) == .invalidTensor(name: "conv.weight", reason: "dims [3, 2, 3, 3] need 216 bytes of data, raw_data has 12"))
        var typed = Onnx_TensorProto()
        typed.name = "conv.weight"
        typed.dims = [3, 2, 3, 3]
        typed.dataType = 1
        typed.floatData = [1, 2]
        #expect(problem(withInitializer(typed)) == .invalidTensor(name: "conv.weight", reason: "dims [3, 2, 3, 3] hold 54 elements, float_data has 2"))
        typed.dataType = 8
        #expect(problem(withInitializer(typed)) == .invalidTensor(name: "conv.weight", reason: "data type STRING is not supported (FLOAT, DOUBLE, INT64, INT32, INT16, INT8, UINT16, UINT8, BOOL are)"))
    }

    func external(_ location: String, offset: Int? = nil, length: Int? = nil) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = "conv.weight"
        t.dims = [3, 2, 3, 3]
        t.dataType = 1
        t.dataLocation = .external
        var entries = [("location", location)]
        if let offset { entries.append(("offset", "\(offset)")) }
        if let length { entries.append(("length", "\(length)")) }
        t.externalData = entries.map { key, value in
            var e = Onnx_StringStringEntryProto()
            e.key = key
            e.value = value
            return e
        }
        return t
    }

    @Test func externalDataStaysInTheModelsFolder() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let weights = (0..<54).map { Float($0) / 54 }
        try (Data(count: 16) + weights.withUnsafeBytes { Data($0) }).write(to: folder.appendingPathComponent("w.bin"))
        try Data(count: 216).write(to: root.appendingPathComponent("secret.bin"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("link.bin"), withDestinationURL: root.appendingPathComponent("secret.bin"))

        // The valid reference loads the bytes at the offset.
        let model = try ONNXImporter.load(data: withInitializer(external("w.bin", offset: 16, length: 216)), file: "m.onnx", folder: folder)
        #expect((model.graph.module(at: "conv") as! Conv2d).weight.scalars == weights)

        func reason(_ t: Onnx_TensorProto, folder: URL? = folder) -> String? {
            if case .externalData(_, let reason)? = problem(withInitializer(t), folder: folder) { return reason }
            return nil
        }
        #expect(reason(external("../secret.bin")) == "location '../secret.bin' leaves the model's folder; it must be a relative path inside it")
        #expect(reason(external(root.appendingPathComponent("secret.bin").path))?.contains("leaves the model's folder") == true)
        #expect(reason(external("link.bin"))?.contains("outside the model's folder") == true)
        #expect(reason(external("w.bin", offset: 100)) == "bytes 100..<316 lie past the end of 'w.bin' (232 bytes)")
        #expect(reason(external("w.bin", offset: Int.max)) == "bytes \(Int.max)..<\(Int.max) lie past the end of 'w.bin' (232 bytes)")
        #expect(reason(external("w.bin", length: 12)) == "'length' is 12 bytes, dims [3, 2, 3, 3] need 216")
        #expect(reason(external("missing.bin")) == "cannot open 'missing.bin' in \(folder.resolvingSymlinksInPath().path)")
        #expect(reason(external("w.bin"), folder: nil) == "the model was not read from a file, so external data cannot be resolved")
    }

    @Test func graphStructureErrors() {
        var cycle = ModelFactory()
        cycle.model.graph.node = [Onnx_NodeProto("Relu", ["b"], ["a"], name: "A"), Onnx_NodeProto("Relu", ["a"], ["b"], name: "B"),
                                  Onnx_NodeProto("Add", ["x", "a"], ["y"], name: "C")]
        #expect(problem(cycle.data) == .cycle(["A", "B", "C"]))

        var undefined = ModelFactory()
        undefined.model.graph.node[1].input = ["nowhere"]
        #expect(problem(undefined.data) == .undefinedValue(node: "/Relu", value: "nowhere"))

        var duplicate = ModelFactory()
        duplicate.model.graph.node[1].output = ["c"]
        #expect(problem(duplicate.data) == .duplicateValue("c"))

        var noOutput = ModelFactory()
        noOutput.model.graph.output[0].name = "zz"
        #expect(problem(noOutput.data) == .undefinedValue(node: "graph output", value: "zz"))
    }

    @Test func opsetsAndOps() {
        #expect(problem(ModelFactory(opset: 22).data) == .unsupportedOpset(domain: "", version: 22, supported: "13 to 21"))
        #expect(problem(ModelFactory(opset: 12).data) == .unsupportedOpset(domain: "", version: 12, supported: "13 to 21"))
        #expect(problem(ModelFactory(opset: 21).data) == nil)

        var unknown = ModelFactory()
        unknown.model.graph.node[1].opType = "Mish"
        #expect(problem(unknown.data) == .unsupportedOp(node: "/Relu", op: "Mish", supported: ONNXImporter.supportedOps))
        let text = problem(unknown.data).map { ONNXImportError(file: "m.onnx", problem: $0).description } ?? "accepted"
        #expect(text.hasPrefix("m.onnx: node '/Relu' (Mish): op 'Mish' is not supported; supported: Abs, Add, AveragePool, BatchNormalization, Cast, Ceil, Clip, Concat"))

        var domain = ModelFactory()
        domain.model.graph.node[1].domain = "com.microsoft"
        #expect(problem(domain.data) == .unsupportedOp(node: "/Relu", op: "com.microsoft::Relu", supported: ONNXImporter.supportedOps))
    }

    @Test func attributeErrorsNameNodeOpAndAttribute() {
        var dup = ModelFactory()
        dup.model.graph.node[0].attribute.append(Onnx_AttributeProto.ints("pads", [0, 0, 0, 0]))
        #expect(problem(dup.data) == .duplicateAttribute(node: "/conv/Conv", op: "Conv", attribute: "pads"))

        var unknown = ModelFactory()
        unknown.model.graph.node[0].attribute.append(Onnx_AttributeProto.int("foo", 1))
        #expect(problem(unknown.data) == .unsupportedAttribute(node: "/conv/Conv", op: "Conv", attribute: "foo",
                                                               reason: "not supported for Conv (supported attributes: auto_pad, dilations, group, kernel_shape, pads, strides)"))
        var asym = ModelFactory()
        asym.model.graph.node[0].attribute = [Onnx_AttributeProto.ints("pads", [1, 1, 0, 0])]
        #expect(problem(asym.data) == .unsupportedAttribute(node: "/conv/Conv", op: "Conv", attribute: "pads",
                                                            reason: "[1, 1, 0, 0] are asymmetric; only equal padding at both ends is supported"))
        var samePad = ModelFactory()
        samePad.model.graph.node[0].attribute = [.string("auto_pad", "SAME_UPPER")]
        #expect(problem(samePad.data) == .unsupportedAttribute(node: "/conv/Conv", op: "Conv", attribute: "auto_pad",
                                                               reason: "'SAME_UPPER' is not supported (NOTSET, VALID are); export with explicit pads"))
    }

    @Test func shapeMismatchesNameBothShapes() {
        var channels = ModelFactory()
        channels.model.graph.input = [.floatTensor("x", [1, 5, 4, 4])]
        #expect(problem(channels.data) == .shapeMismatch(node: "/conv/Conv", op: "Conv", reason: "input [1, 5, 4, 4] with 1 group(s) does not fit weight [3, 2, 3, 3]"))

        var add = ModelFactory()
        add.model.graph.initializer.append(Onnx_TensorProto.floats("v", [5], [1, 2, 3, 4, 5]))
        add.model.graph.node[1] = Onnx_NodeProto("Add", ["c", "v"], ["y"], name: "/Add")
        #expect(problem(add.data) == .shapeMismatch(node: "/Add", op: "Add", reason: "shapes [1, 3, 4, 4] and [5] do not broadcast"))

        var reshape = ModelFactory()
        reshape.model.graph.initializer.append(Onnx_TensorProto.int64s("s", [7, -1]))
        reshape.model.graph.node[1] = Onnx_NodeProto("Reshape", ["c", "s"], ["y"], name: "/Reshape")
        #expect(problem(reshape.data) == .shapeMismatch(node: "/Reshape", op: "Reshape", reason: "cannot reshape [1, 3, 4, 4] (48 elements) to [7, -1]"))

        #expect(problem(ModelFactory().data, shapes: ["x": [2, 2, 5, 5]]) == .inputShape(input: "x", reason: "the data has shape [2, 2, 5, 5], the model expects [1, 2, 4, 4]"))
        #expect(problem(ModelFactory().data, shapes: ["z": [1]]) == .inputShape(input: "z", reason: "the model has no such input (inputs: x)"))
        var symbolic = ModelFactory()
        symbolic.model.graph.input = [.floatTensor("x", [-1, 2, 4, 4])]
        #expect(problem(symbolic.data) == .inputShape(input: "x", reason: "the declared shape has symbolic or unknown dimensions; give the input's shape (e.g. run it on data)"))
        #expect(problem(symbolic.data, shapes: ["x": [3, 2, 4, 4]]) == nil)
    }
}

import Models
import Foundation
import NN
@testable import ONNXExport
import ONNXProto
import QuantNN
import Quantizers
import Testing
import TensorEngine

/// `x + body(x)` through a quantized add, with two ways of describing itself wrongly.
final class TestResidual: Module, QuantLayer, ONNXComposite {
    enum Mode { case faithful, skipsTheBody, appliesAStranger }

    let body: QuantSequential
    let add: QuantEltwiseAdd
    let mode: Mode
    let stranger: QuantReLU

    init(_ mode: Mode = .faithful) throws {
        let g = RandomGenerator(seed: 21)
        body = QuantSequential(try QuantConv2d(3, 3, kernelSize: 3, padding: 1, generator: g), try QuantReLU(returnQuantTensor: true))
        add = try QuantEltwiseAdd(returnQuantTensor: true)
        self.mode = mode
        stranger = try QuantReLU(returnQuantTensor: true)
        super.init()
        registerModule("body", body)
        registerModule("add", add)
    }

    func forward(_ input: QuantValue) throws -> QuantValue { try add.forward([body.forward(input), input]) }

    func dataflow(_ input: ONNXDataflow.Value, in flow: ONNXDataflow) throws -> ONNXDataflow.Value {
        switch mode {
        case .faithful: return try flow.apply(add, to: [flow.apply(body, to: input), input])
        case .skipsTheBody: return try flow.apply(add, to: [input, input])
        case .appliesAStranger: return try flow.apply(add, to: [flow.apply(stranger, to: input), input])
        }
    }
}

@Suite struct CompositeExportTests {
    func decode(_ data: Data) throws -> Onnx_ModelProto { try Onnx_ModelProto(serializedBytes: data) }

    func calibrated(_ model: Module, shape: [Int]) throws -> Module {
        try calibrate(model, { _ = try (model as! QuantLayer).forward(.float($0)) }, shape: shape)
        return model
    }

    @Test func compositesNestInSequentialsWithTheirSubmodulesPaths() throws {
        let model = try calibrated(QuantSequential(named: ["quant_inp": try QuantIdentity(returnQuantTensor: true),
                                                           "block": try TestResidual()]), shape: [2, 3, 5, 5])
        for format in ONNXFormat.allCases {
            let r = try exportONNX(model, examples: [RandomGenerator(seed: 2).normal([2, 3, 5, 5])], format: format)
            let m = try decode(r.data)
            #expect(m.graph.node.map(\.opType).filter { $0 == "Conv" || $0 == "Relu" || $0 == "Add" } == ["Conv", "Relu", "Add"])
            #expect(m.graph.node.contains { $0.name == "/block/body/0/Conv" } && m.graph.node.contains { $0.name == "/block/add/Add" })
            // Both operands of the add go through the one shared input quantizer.
            let add = try #require(m.graph.node.first { $0.opType == "Add" })
            #expect(add.input.allSatisfy { $0.hasPrefix("/block/add/input_quant/export_handler/") }, "\(add.input)")
        }
    }

    @Test func theCLIBasicBlockHasOneAddPerBlockAndAConvShortcutWhereTheShapeChanges() throws {
        let spec = ModelSpec(arch: .resnet8, inputShape: [3, 8, 8], classes: 4, weightBits: 4, actBits: 4, inputBits: 8,
                             collectStatsSteps: 2)
        let model = try spec.makeModel(generator: RandomGenerator(seed: 1))
        try calibrate(model, { _ = try model($0) }, shape: [2, 3, 8, 8], steps: 3)
        let m = try decode(try exportONNX(model, example: RandomGenerator(seed: 4).normal([1, 3, 8, 8]), format: .qcdq))
        let names = m.graph.node.map(\.name)
        #expect(m.graph.node.filter { $0.opType == "Add" }.map(\.name) == ["/4/add/Add", "/5/add/Add", "/6/add/Add"])
        #expect(!names.contains("/4/shortcut/0/Conv") && names.contains("/5/shortcut/0/Conv") && names.contains("/6/shortcut/0/Conv"))
        #expect(m.graph.initializer.contains { $0.name == "5.shortcut.1.running_mean" })
    }

    @Test func aDescriptionThatDiffersFromForwardIsRefused() throws {
        let model = try calibrated(TestResidual(.skipsTheBody), shape: [2, 3, 5, 5])
        do {
            _ = try exportONNX(model, example: Tensor.ones([1, 3, 5, 5]), format: .qonnx)
            Issue.record("expected an inconsistency")
        } catch let e as ONNXExportError {
            guard case .inconsistent(let layer, _) = e else { Issue.record("\(e)"); return }
            #expect(layer == "model (TestResidual)")
        }
    }

    @Test func aModuleOutsideTheCompositeIsNamed() throws {
        let model = QuantSequential(named: ["res": try TestResidual(.appliesAStranger)])
        let e = try #require(throws: ONNXExportError.self) {
            try exportONNX(model, example: Tensor.ones([1, 3, 5, 5]), format: .qcdq)
        }
        #expect(e.description.contains("'res' (TestResidual)") && e.description.contains("not one of its submodules"), "\(e)")
    }

    @Test func anAddInsideADataflowNeedsTwoValues() throws {
        final class Triple: Module, QuantLayer, ONNXComposite {
            let add: QuantEltwiseAdd
            init(_ add: QuantEltwiseAdd) {
                self.add = add
                super.init()
                registerModule("add", add)
            }
            func forward(_ input: QuantValue) throws -> QuantValue { input }
            func dataflow(_ input: ONNXDataflow.Value, in flow: ONNXDataflow) throws -> ONNXDataflow.Value {
                try flow.apply(add, to: [input, input, input])
            }
        }
        let e = try #require(throws: ONNXExportError.self) {
            try exportONNX(Triple(try QuantEltwiseAdd()), example: Tensor.ones([1, 3]), format: .qcdq)
        }
        #expect(e.description.contains("'add' (QuantEltwiseAdd)") && e.description.contains("applies it to 3"), "\(e)")
    }
}

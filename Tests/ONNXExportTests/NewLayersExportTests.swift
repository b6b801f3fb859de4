import Foundation
import Models
import NN
@testable import ONNXExport
import ONNXProto
import QuantNN
import Quantizers
import Testing
import TensorEngine

/// Export of the layers Brevitas added after the CNN set: upsampling (nearest keeps the input's
/// grid, bilinear requantizes onto it), an embedding inside a model (float indices cast to
/// int64), and clear errors for the recurrent layers. Transposed / 3-d convolutions, Conv1d,
/// embedding and scale-bias are checked against Brevitas's own files in ConformanceExportTests.
@Suite struct NewLayersExportTests {
    static func cases() throws -> [ZooCase] {
        var out: [ZooCase] = []
        let g = RandomGenerator(seed: 5)
        func seq(_ name: String, _ layers: [QuantLayer], shape: [Int]) throws {
            let m = QuantSequential(layers)
            try calibrate(m, { _ = try m($0) }, shape: shape)
            out.append(ZooCase(name: name, model: m, examples: [g.normal(shape) * 1.2]))
        }
        try seq("upsample_nearest_x2", [QuantIdentity(returnQuantTensor: true), QuantUpsample.nearest2d(scaleFactor: 2)], shape: [2, 3, 4, 5])
        try seq("upsample_nearest_size", [QuantIdentity(returnQuantTensor: true), QuantUpsample.nearest2d(size: (9, 7))], shape: [2, 3, 4, 5])
        // A non-integer factor goes to the runtime as `scales` (source o / 1.3, as torch), not sizes
        // (which mapped o by in/out: width 5 -> 6, o = 5 read column 4 instead of 3).
        try seq("upsample_nearest_x1_3", [QuantIdentity(returnQuantTensor: true), QuantUpsample.nearest2d(scaleFactor: 1.3)], shape: [2, 3, 4, 5])
        try seq("upsample_bilinear_align_corners",
                [QuantIdentity(returnQuantTensor: true), QuantUpsample.bilinear2d(scaleFactor: 2)], shape: [2, 3, 4, 5])
        // (Half-pixel bilinear at factor 2 puts about one value in ten exactly on a rounding
        // tie, which ONNX Runtime's float sum and ours resolve differently: checked with the
        // exact ties counted in HalfPixelUpsampleExportTests.)
        try seq("convtranspose2d_then_relu",
                [QuantConvTranspose2d(3, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, inputQuant: .int8ActPerTensorFloat,
                                      generator: g), QuantReLU()], shape: [2, 3, 4, 4])
        try seq("conv3d_per_channel", [QuantConv3d(2, 3, kernelSize: [2, 3, 3], padding: [0, 1, 1], weightQuant: .int8WeightPerChannelFloat,
                                                   inputQuant: .int8ActPerTensorFloat, generator: g)], shape: [2, 2, 3, 5, 5])
        // Indices as the float output of an earlier layer (exact integers): Cast -> Gather.
        let emb = try QuantEmbedding(7, 4, paddingIdx: 0, generator: g)
        let ids = Tensor(shape: [3, 4], [0, 1, 2, 3, 4, 5, 6, 0, 6, 6, 1, 2])
        out.append(ZooCase(name: "embedding_in_sequential", model: QuantSequential([emb, try QuantIdentity()]), examples: [ids]))
        // `train --arch lstm`'s model: images read row by row by a QuantLSTM (QONNX QuantLSTMCell,
        // run by the checker's numpy executor), its last hidden state into a QuantLinear.
        let lstm = try QuantLSTM(inputSize: 12, hiddenSize: 6, batchFirst: true, returnQuantTensor: true, generator: g)
        let rows = QuantSequential([RowSequenceLSTM(lstm), try QuantLinear(6, 3, biasQuant: .int32Bias, generator: g)])
        try calibrate(rows, { _ = try rows($0) }, shape: [2, 2, 4, 6])
        out.append(ZooCase(name: "row_lstm_classifier", model: rows, examples: [g.normal([2, 2, 4, 6])], formats: [.qonnx]))
        // A float cell with 4-bit weights (Brevitas's weight-only LSTM): ONNX's LSTM op in both
        // formats, checked in ONNX Runtime and qonnx; outputs, h_n and c_n.
        func floatCell(_ layers: Int, _ bidirectional: Bool, _ batchFirst: Bool, bias: Bool) throws -> QuantLSTM {
            try QuantLSTM(inputSize: 3, hiddenSize: 5, numLayers: layers, bias: bias, batchFirst: batchFirst, bidirectional: bidirectional,
                          weightQuant: .int8WeightPerTensorFloat.with(\.bitWidth, 4), biasQuant: nil, ioQuant: nil, gateAccQuant: nil,
                          sigmoidQuant: nil, tanhQuant: nil, cellStateQuant: nil, generator: g)
        }
        out.append(ZooCase(name: "lstm_float_cell_int4_weights", model: try floatCell(1, false, false, bias: true), examples: [g.normal([4, 2, 3])]))
        out.append(ZooCase(name: "lstm_float_cell_bidir_2layers_batch_first", model: try floatCell(2, true, true, bias: false),
                           examples: [g.normal([2, 4, 3])]))
        return out
    }

    @Test(.enabled(if: PythonEnv.available, PythonEnv.skipReason))
    func newLayersRunInRuntimes() throws {
        let env = PythonEnv.found!
        let batch = try CheckBatch()
        for c in try Self.cases() {
            for f in c.formats { try batch.add(c.name, c.model, c.examples, f) }
        }
        let (results, stderr) = try batch.check(python: env.python)
        for key in batch.caseKeys {
            guard let r = results[key] else {
                Issue.record("\(key): no result from check_onnx.py; stderr:\n\(stderr.suffix(3000))")
                continue
            }
            print(String(format: "  %-44@ %@ max|diff| %-9.3g max|out| %-7.3g codes %-6d flips %d  [%@]",
                         key as NSString, r.ok ? "ok  " : "FAIL", r.maxAbsDiff, r.maxAbsRef, r.codes, r.flips, r.executor as NSString))
            #expect(r.ok, "\(key): \(r.problems.joined(separator: "; "))")
        }
    }

    /// The graph's input is int64 when the embedding is the model, as in Brevitas's graph.
    @Test func embeddingModelTakesInt64Indices() throws {
        let emb = try QuantEmbedding(5, 3)
        let data = try exportONNX(emb, example: Tensor(shape: [2, 2], [0, 1, 4, 2]), format: .qcdq)
        let m = try ONNXProto.Onnx_ModelProto(serializedBytes: data)
        #expect(m.graph.input[0].type.tensorType.elemType == 7)
        #expect(m.graph.node.map(\.opType).suffix(2) == ["DequantizeLinear", "Gather"])
    }

    /// QuantLSTM: QCDQ is refused (Brevitas raises too); QONNX exports QuantLSTMCell (checked
    /// against Brevitas's file in BrevitasStructureTests and ConformanceExportTests). QuantRNN:
    /// refused in both formats (Brevitas has no handler).
    @Test(arguments: [ONNXFormat.qcdq, .qonnx])
    func recurrentLayersExportWhereBrevitasDoes(format: ONNXFormat) throws {
        let lstm = try QuantLSTM(inputSize: 4, hiddenSize: 5)
        let x = RandomGenerator(seed: 2).normal([3, 2, 4])
        switch format {
        case .qcdq:
            do {
                _ = try exportONNX(lstm, example: x, format: format)
                Issue.record("exported a quantized QuantLSTM cell to QCDQ")
            } catch let ONNXExportError.notExpressible(layer, f, reason) {
                #expect(layer.contains("QuantLSTM") && f == format)
                #expect(reason.contains("QuantLSTMCell"))
            }
        case .qonnx:
            let r = try exportONNX(lstm, examples: [x], format: format)
            let m = try ONNXProto.Onnx_ModelProto(serializedBytes: r.data)
            #expect(m.graph.output.map(\.name) == ["output", "h_n", "c_n"])
            #expect(m.graph.node.filter { $0.opType == "QuantLSTMCell" }.count == 1)
            #expect(r.additionalOutputs.map(\.name) == ["h_n", "c_n"] && r.additionalOutputs[0].value.shape == [1, 2, 5])
            // Two layers, both directions: four cells, the sequences and states concatenated.
            let deep = try QuantLSTM(inputSize: 4, hiddenSize: 3, numLayers: 2, batchFirst: true, bidirectional: true)
            let d = try ONNXProto.Onnx_ModelProto(serializedBytes: try exportONNX(deep, example: RandomGenerator(seed: 3).normal([2, 3, 4]), format: format))
            let cells = d.graph.node.filter { $0.opType == "QuantLSTMCell" }
            #expect(cells.count == 4)
            #expect(cells.map { c in c.attribute.first { $0.name == "reverse_input" }!.i } == [0, 1, 0, 1])
            #expect(cells.allSatisfy { c in c.attribute.first { $0.name == "batch_first" }!.i == 1 })
            // Each direction of layer 0 quantizes the input (as Brevitas's); layer 1 takes layer
            // 0's quantized output: no Quant between the Concat and the layer-1 cells.
            #expect(d.graph.node.filter { $0.opType == "Quant" && $0.input[0] == d.graph.input[0].name }.count == 2)
            let concat = try #require(d.graph.node.first { $0.opType == "Concat" && $0.name.contains("layers/0") })
            #expect(cells[2].input[0] == concat.output[0] && cells[3].input[0] == concat.output[0])
        }
        let rnn = try QuantRNN(inputSize: 4, hiddenSize: 5)
        do {
            _ = try exportONNX(rnn, example: x, format: format)
            Issue.record("exported a QuantRNN")
        } catch let ONNXExportError.notExpressible(layer, f, reason) {
            #expect(layer.contains("QuantRNN") && f == format)
            #expect(reason.contains("no export handler"))
        }
    }

    /// A QuantLSTM whose cell is only partly quantized has no QuantLSTMCell form.
    @Test func partiallyQuantizedLSTMCellIsRefused() throws {
        let lstm = try QuantLSTM(inputSize: 4, hiddenSize: 5, sigmoidQuant: nil)
        do {
            _ = try exportONNX(lstm, example: RandomGenerator(seed: 2).normal([3, 2, 4]), format: .qonnx)
            Issue.record("exported a partially quantized QuantLSTM")
        } catch let ONNXExportError.notExpressible(_, _, reason) {
            #expect(reason.contains("input_sigmoid, forget_sigmoid, output_sigmoid are disabled"), "\(reason)")
        }
    }
}

import Foundation
import NN
import QuantNN
import Quantizers
import TensorEngine

/// The seed notebook, "An Overview of Quantized Activations", cell by cell in Swift: each cell
/// prints its Swift code and what it produces. The notebook's random inputs and weights are
/// replayed from `TutorialData`, so the printed numbers are the notebook's.
public enum Tutorial {
    /// One notebook cell: its number, the Swift code, and the code itself.
    struct Cell {
        let number: Int
        let note: String
        let code: String
        let run: () throws -> String
    }

    /// Runs every cell in order, sending text to `emit`.
    public static func run(emit: (String) -> Void) throws {
        for cell in try cells() {
            emit("── Cell [\(cell.number)] " + String(repeating: "─", count: 60))
            if !cell.note.isEmpty { emit(cell.note) }
            emit(cell.code.split(separator: "\n", omittingEmptySubsequences: false).map { "  │ " + $0 }.joined(separator: "\n"))
            emit(try cell.run())
            emit("")
        }
    }

    static func bool(_ b: Bool) -> String { b ? "True" : "False" }

    /// A QuantConv2d(2, 3, kernel_size=(3, 3)) with the notebook's `torch.manual_seed(0)` weights.
    static func seededConv(inputQuant: ActQuant? = nil, outputQuant: ActQuant? = nil) throws -> QuantConv2d {
        let conv = try QuantConv2d(2, 3, kernelSize: [3, 3], inputQuant: inputQuant, outputQuant: outputQuant)
        conv.weight.assign(Tensor(shape: [3, 2, 3, 3], TutorialData.convWeight))
        conv.bias!.assign(Tensor(TutorialData.convBias))
        return conv
    }

    static func cells() throws -> [Cell] {
        let inp2 = Tensor(shape: [1, 2, 5, 5], TutorialData.inpCell2)
        let inp = Tensor(shape: [1, 2, 5, 5], TutorialData.inpCell3)
        let inp1 = Tensor(shape: [3, 3], TutorialData.inp1), inpB = Tensor(shape: [3, 3], TutorialData.inp2)
        // Modules shared between cells, as notebook variables.
        let disabledQuantIdentity = try QuantIdentity(actQuant: nil)
        let returnQuantIdentity = try QuantIdentity(returnQuantTensor: true)
        var outTensor: QuantTensor! = nil
        let quantIdentity = try QuantIdentity(returnQuantTensor: true)
        let quantHardTanh = try QuantHardTanh(minVal: -1, maxVal: 1, returnQuantTensor: true)
        let perTensorQuantReLU = try QuantReLU(returnQuantTensor: true)
        let perChanQuantReLU = try QuantReLU(actQuant: .uint8ActPerTensorFloat
            .with(\.scalingPerOutputChannel, true)
            .with(\.perChannelBroadcastableShape, [1, 3, 1, 1])
            .with(\.scalingStatsPermuteDims, [1, 0, 2, 3]), returnQuantTensor: true)
        // inp3 = torch.rand(1, 3, 256, 256); inp3[:, 0] *= 3 — drawn with our seeded generator.
        let inp3 = RandomGenerator(seed: 0).uniform([1, 3, 256, 256])
        Autograd.noGrad { for i in 0..<(256 * 256) { inp3.storage.pointer[i] *= 3 } }

        return [
            Cell(number: 2, note: "Output quantization in the conv equals a QuantIdentity after it.", code: """
                let outputQuantConv = try QuantConv2d(2, 3, kernelSize: [3, 3], outputQuant: .int8ActPerTensorFloat)
                let defaultQuantConv = try QuantConv2d(2, 3, kernelSize: [3, 3])   // same seeded weights
                let outputIdentityQuant = try QuantIdentity()
                let outTensor1 = try outputQuantConv(inp)
                let outTensor2 = outputIdentityQuant(try defaultQuantConv(inp))
                print(outTensor1.isClose(to: outTensor2))
                """, run: {
                    let a = try seededConv(outputQuant: .int8ActPerTensorFloat), b = try seededConv()
                    let id = try QuantIdentity()
                    return bool(try a(inp2).isClose(to: id(try b(inp2))))
                }),
            Cell(number: 3, note: "The same with input quantization too.", code: """
                let inputOutputQuantConv = try QuantConv2d(2, 3, kernelSize: [3, 3],
                    inputQuant: .int8ActPerTensorFloat, outputQuant: .int8ActPerTensorFloat)
                let out1 = try inputOutputQuantConv(inp)
                let out2 = outputIdentityQuant(try defaultQuantConv(inputIdentityQuant(inp)))
                print(out1.isClose(to: out2))
                """, run: {
                    let a = try seededConv(inputQuant: .int8ActPerTensorFloat, outputQuant: .int8ActPerTensorFloat)
                    let b = try seededConv()
                    let i = try QuantIdentity(), o = try QuantIdentity()
                    return bool(try a(inp).isClose(to: o(try b(i(inp)))))
                }),
            Cell(number: 4, note: "A disabled QuantIdentity is the identity.", code: """
                let disabledQuantIdentity = try QuantIdentity(actQuant: nil)
                print(disabledQuantIdentity(inp).isEqual(to: inp))
                """, run: { bool(disabledQuantIdentity(inp).isEqual(to: inp)) }),
            Cell(number: 5, note: "Quantized activations can return a QuantTensor.", code: """
                let returnQuantIdentity = try QuantIdentity(returnQuantTensor: true)
                let outTensor = try returnQuantIdentity.quant(inp)
                print(outTensor)
                """, run: {
                    outTensor = try returnQuantIdentity.quant(inp)
                    return outTensor.description
                }),
            Cell(number: 6, code: "print(outTensor.isValid)", run: { bool(outTensor.isValid) }),
            Cell(number: 7, note: "A disabled QuantIdentity strips the metadata when it returns plain tensors.", code: """
                print(disabledQuantIdentity(outTensor))   // a plain Tensor
                """, run: { disabledQuantIdentity(outTensor).description }),
            Cell(number: 8, note: "...and keeps it when asked to return a QuantTensor.", code: """
                let returnDisabledQuantIdentity = try QuantIdentity(actQuant: nil, returnQuantTensor: true)
                print(try returnDisabledQuantIdentity.quant(outTensor))
                """, run: { try QuantIdentity(actQuant: nil, returnQuantTensor: true).quant(outTensor).description }),
            Cell(number: 9, note: "QuantReLU: ReLU, then unsigned 8-bit quantization.", code: """
                let returnQuantReLU = try QuantReLU(returnQuantTensor: true)
                print(try returnQuantReLU.quant(inp))
                """, run: { try QuantReLU(returnQuantTensor: true).quant(inp).description }),
            Cell(number: 10, note: "A disabled QuantReLU keeps the input's metadata.", code: """
                let returnDisabledQuantReLU = try QuantReLU(actQuant: nil, returnQuantTensor: true)
                let reluOutTensor = try returnDisabledQuantReLU.quant(outTensor)
                print(reluOutTensor.isValid, reluOutTensor.scale == outTensor.scale, ...)
                """, run: {
                    let r = try QuantReLU(actQuant: nil, returnQuantTensor: true).quant(outTensor)
                    return [bool(r.isValid), "tensor(\(bool(r.scale.isEqual(to: outTensor.scale))))",
                            "tensor(\(bool(r.zeroPoint.isEqual(to: outTensor.zeroPoint))))",
                            "tensor(\(bool(r.bitWidth.isEqual(to: outTensor.bitWidth))))"].joined(separator: "\n")
                }),
            Cell(number: 11, note: "QuantSigmoid does not: asking it for a QuantTensor is an error (Brevitas: a bare AssertionError).", code: """
                let returnDisabledQuantSigmoid = try QuantSigmoid(actQuant: nil, returnQuantTensor: true)
                let sigmoidOutTensor = try returnDisabledQuantSigmoid.quant(outTensor)   // throws
                """, run: {
                    do {
                        let s = try QuantSigmoid(actQuant: nil, returnQuantTensor: true).quant(outTensor)
                        return "unexpected: \(s)"
                    } catch { return "error: \(error)" }
                }),
            Cell(number: 12, note: "The activation sees dequantized values: ReLU after a shifted quantizer.", code: """
                let shiftedQuantIdentity = try QuantIdentity(actQuant: .shiftedUint8ActPerTensorFloat, returnQuantTensor: true)
                print(try returnDisabledQuantReLU.quant(try shiftedQuantIdentity.quant(inp)))
                """, run: {
                    let shifted = try QuantIdentity(actQuant: .shiftedUint8ActPerTensorFloat, returnQuantTensor: true)
                    let relu = try QuantReLU(actQuant: nil, returnQuantTensor: true)
                    return try relu.quant(try shifted.quant(inp)).description
                }),
            Cell(number: 13, note: "QuantConv2d with signed output quantization, then a float ReLU.", code: """
                let outputQuantConv = try QuantConv2d(2, 3, kernelSize: [3, 3], outputQuant: .int8ActPerTensorFloat)
                print(try outputQuantConv(inp).relu())
                """, run: { try seededConv(outputQuant: .int8ActPerTensorFloat)(inp).relu().description }),
            Cell(number: 14, note: "Default QuantConv2d, then QuantReLU (unsigned): close, not equal.", code: """
                let defaultQuantReLU = try QuantReLU()
                print(defaultQuantReLU(try defaultQuantConv(inp)))
                """, run: { try QuantReLU()(try seededConv()(inp)).description }),
            Cell(number: 15, note: "Runtime-statistics scales: training uses each batch's statistic.", code: """
                let quantIdentity = try QuantIdentity(returnQuantTensor: true)
                let inp1 = Tensor(shape: [3, 3], ...), inp2 = Tensor(shape: [3, 3], ...)
                """, run: { "inp1 = \(inp1)\ninp2 = \(inpB)" }),
            Cell(number: 16, code: """
                let out1Train = try quantIdentity.quant(inp1), out2Train = try quantIdentity.quant(inp2)
                print(!out1Train.scale.isClose(to: out2Train.scale))
                """, run: {
                    let a = try quantIdentity.quant(inp1), b = try quantIdentity.quant(inpB)
                    return bool(!a.scale.isClose(to: b.scale))
                }),
            Cell(number: 17, note: "In eval mode the collected statistic is used for every batch.", code: """
                quantIdentity.eval()
                print(out1Eval.scale.isClose(to: out2Eval.scale))
                """, run: {
                    quantIdentity.eval()
                    let a = try quantIdentity.quant(inp1), b = try quantIdentity.quant(inpB)
                    return bool(a.scale.isClose(to: b.scale))
                }),
            Cell(number: 18, note: "QuantHardTanh needs its range. In Swift `QuantHardTanh()` does not compile; through the string-keyed boundary (config files) it is a clear error:", code: """
                try LayerFactory.make(className: "QuantHardTanh", kwargs: [:])
                """, run: {
                    do {
                        _ = try LayerFactory.make(className: "QuantHardTanh", kwargs: [:])
                        return "unexpected: built"
                    } catch { return "error: \(error)" }
                }),
            Cell(number: 19, code: "let quantHardTanh = try QuantHardTanh(minVal: -1, maxVal: 1, returnQuantTensor: true)",
                 run: { "(constructed)" }),
            Cell(number: 20, note: "A learned range from the start: train and eval scales agree.", code: """
                let out1Train = try quantHardTanh.quant(inp1)
                quantHardTanh.eval()
                let out2Eval = try quantHardTanh.quant(inp2)
                print(out1Train.scale.isClose(to: out2Eval.scale))
                """, run: {
                    let a = try quantHardTanh.quant(inp1)
                    quantHardTanh.eval()
                    let b = try quantHardTanh.quant(inpB)
                    return bool(a.scale.isClose(to: b.scale))
                }),
            Cell(number: 21, note: "Per-tensor scaling follows the widest channel (inp3 drawn with our generator: channel 0 in [0, 3)).", code: """
                let perTensorQuantReLU = try QuantReLU(returnQuantTensor: true)
                print(try perTensorQuantReLU.quant(inp3).scale * 255)
                """, run: { (try perTensorQuantReLU.quant(inp3).scale * 255).description }),
            Cell(number: 22, note: "The quantizer pieces of a QuantReLU:", code: "print(perTensorQuantReLU)",
                 run: { perTensorQuantReLU.description }),
            Cell(number: 23, note: "Per-channel scaling:", code: """
                let perChanQuantReLU = try QuantReLU(actQuant: .uint8ActPerTensorFloat
                    .with(\\.scalingPerOutputChannel, true)
                    .with(\\.perChannelBroadcastableShape, [1, 3, 1, 1])
                    .with(\\.scalingStatsPermuteDims, [1, 0, 2, 3]), returnQuantTensor: true)
                print(perChanQuantReLU)
                """, run: { perChanQuantReLU.description }),
            Cell(number: 24, note: "One scale per channel, each fitting its channel's range:", code: """
                print(try perChanQuantReLU.quant(inp3).scale * 255)
                """, run: { (try perChanQuantReLU.quant(inp3).scale * 255).description }),
        ]
    }
}

extension Tutorial.Cell {
    init(number: Int, code: String, run: @escaping () throws -> String) {
        self.init(number: number, note: "", code: code, run: run)
    }
}

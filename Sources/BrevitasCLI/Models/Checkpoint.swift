import Foundation
import NN
import QuantCore
import QuantNN
import TensorEngine
import Models

/// Checkpoints with Brevitas's state-dict keys, and loading them into models built from a
/// ``ModelSpec`` with one-line errors that say how the file and the model disagree.
///
/// Brevitas leaves its constant buffers (`StatelessBuffer`: bit widths, constant zero points,
/// `_zero_hw_sentinel`) out of `state_dict()`, and so do our modules (they are non-persistent
/// buffers), so `model.load_state_dict(safetensors.torch.load_file(...))` works on the same model
/// in PyTorch. The bit widths come from the model (config.json), not from the file.
enum Checkpoint {
    /// Which of a spec's two models a checkpoint holds.
    enum Kind: String { case quantized, float }

    /// The state dict of `model` as Brevitas saves it (the module's own state dict).
    static func brevitasStateDict(_ model: Module) -> StateDict { model.stateDict() }

    /// Writes `model`'s Brevitas state dict to `url` atomically.
    static func save(_ model: Module, to url: URL) throws {
        do {
            try SafeTensors.write(brevitasStateDict(model), to: url)
        } catch let e as SafeTensorsError {
            throw CLIError("cannot write checkpoint: \(e)")
        }
    }

    /// Reads a safetensors file; a ``CLIError`` if it is missing or malformed.
    static func read(_ url: URL) throws -> StateDict {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("checkpoint '\(url.path)' does not exist") }
        do {
            return try SafeTensors.read(url).tensors
        } catch let e as SafeTensorsError {
            throw CLIError("cannot read checkpoint: \(e)")
        }
    }

    /// Builds the model `spec` describes and loads `url` into it: the quantized model when the
    /// file fits it exactly, else the float twin when the file holds its weights (a float
    /// checkpoint, `float.safetensors`). Anything else is a ``CLIError`` listing the differences
    /// with the quantized model.
    static func loadModel(_ url: URL, spec: ModelSpec) throws -> (model: QuantSequential, kind: Kind) {
        let state = try read(url)
        let model = try spec.makeModel(quantized: true, generator: .init(seed: 0))
        let problems = mismatch(state, model)
        if problems.isEmpty {
            try model.loadStateDict(state, strict: false)
            return (model, .quantized)
        }
        let floatModel = try spec.makeModel(quantized: false, generator: .init(seed: 0))
        if mismatch(state, floatModel).isEmpty {
            try floatModel.loadStateDict(state, strict: false)
            return (floatModel, .float)
        }
        throw CLIError("checkpoint '\(url.path)' does not fit \(spec.summary): \(problems)")
    }

    /// Loads a float checkpoint (weights, biases, BatchNorm statistics; PyTorch's keys) into the
    /// float twin of `spec`.
    static func loadFloat(_ url: URL, spec: ModelSpec, generator: RandomGenerator) throws -> QuantSequential {
        let state = try read(url)
        let model = try spec.makeModel(quantized: false, generator: generator)
        let problems = mismatch(state, model)
        guard problems.isEmpty else {
            let quantKeys = state.keys.filter { $0.contains("_quant.") }
            let hint = quantKeys.isEmpty ? "" : " (it holds quantizer state: is it a quantized checkpoint? --from-float takes a float one, e.g. float.safetensors of a run with --float-epochs)"
            throw CLIError("float checkpoint '\(url.path)' does not fit the float \(spec.summary): \(problems)\(hint)")
        }
        try model.loadStateDict(state, strict: false)
        return model
    }

    /// How `state` and `model` disagree, in one line; empty when they fit.
    static func mismatch(_ state: StateDict, _ model: Module) -> String {
        let expected = brevitasStateDict(model)
        let missing = expected.keys.filter { state[$0] == nil }
        let unexpected = state.keys.filter { expected[$0] == nil }
        let shapes = expected.keys.compactMap { key -> String? in
            guard let have = state[key], let want = expected[key], have.shape != want.shape else { return nil }
            return "'\(key)' is \(have.shape) in the file, \(want.shape) in the model"
        }
        var parts: [String] = []
        func list(_ keys: [String]) -> String {
            keys.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (keys.count > 3 ? ", ..." : "")
        }
        if !missing.isEmpty { parts.append("\(missing.count) missing key\(missing.count == 1 ? "" : "s") (\(list(missing)))") }
        if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected key\(unexpected.count == 1 ? "" : "s") (\(list(unexpected)))") }
        if !shapes.isEmpty { parts.append("\(shapes.count) shape mismatch\(shapes.count == 1 ? "" : "es") (\(shapes.prefix(2).joined(separator: "; "))\(shapes.count > 2 ? "; ..." : ""))") }
        return parts.joined(separator: ", ")
    }
}

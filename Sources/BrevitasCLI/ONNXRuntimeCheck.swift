import Foundation
import IntegerInference
import NN
import ONNXExport
import QuantNN
import TensorEngine

/// `verify --onnx`: the model's QCDQ export run by ONNX Runtime (through a Python with
/// `onnxruntime`: `$BREVITAS_ONNX_PYTHON`, `.venv-onnx/bin/python`, or `python3`), once with its
/// default graph optimisations (which fuse QuantizeLinear/DequantizeLinear around convolutions
/// and matrix products into integer kernels) and once with none, each compared with the integer
/// program's outputs (its accumulators times their scale) and predictions.
enum ONNXRuntimeCheck {
    static let script = """
        import sys, numpy as np, onnxruntime as ort
        model, x_path, out_all, out_none = sys.argv[1:5]
        x = np.load(x_path)
        for level, path in ((ort.GraphOptimizationLevel.ORT_ENABLE_ALL, out_all), (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, out_none)):
            so = ort.SessionOptions()
            so.graph_optimization_level = level
            s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            np.save(path, s.run(None, {s.get_inputs()[0].name: x})[0].astype(np.float32))
        """

    static func python() throws -> String {
        var candidates: [String] = []
        if let p = ProcessInfo.processInfo.environment["BREVITAS_ONNX_PYTHON"], !p.isEmpty { candidates.append(p) }
        candidates += [FileManager.default.currentDirectoryPath + "/.venv-onnx/bin/python", "/usr/bin/python3"]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            if (try? run(c, ["-c", "import onnxruntime, numpy"]))?.status == 0 { return c }
        }
        throw CLIError("--onnx needs a Python with onnxruntime and numpy (tried \(candidates.joined(separator: ", "))): run scripts/setup-onnx-venv.sh or set BREVITAS_ONNX_PYTHON")
    }

    static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("brevitas-ort-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        p.standardError = try FileHandle(forWritingTo: errURL)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    /// Report lines comparing ONNX Runtime's outputs on `inputs` with the integer program's.
    static func report(model: Module, program: IntegerProgram, inputs: Tensor) throws -> [String] {
        let py = try python()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("brevitas-verify-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let onnx = dir.appendingPathComponent("model.qcdq.onnx")
        do {
            try exportONNX(model, example: inputs.narrow(dim: 0, start: 0, length: 1), format: .qcdq, dynamicBatch: true, to: onnx)
        } catch {
            throw CLIError("cannot export the model to QCDQ for --onnx: \(error)")
        }
        model.eval()
        let x = dir.appendingPathComponent("x.npy"), all = dir.appendingPathComponent("all.npy"), none = dir.appendingPathComponent("none.npy")
        try NumPy.write(inputs, to: x)
        let r = try run(py, ["-c", script, onnx.path, x.path, all.path, none.path])
        guard r.status == 0 else { throw CLIError("ONNX Runtime failed: \(r.output.split(separator: "\n").suffix(3).joined(separator: " "))") }
        let out = IntegerExecutor.run(program, input: program.inputCodes(inputs))
        let per = out.perExample
        let mine: [Double]
        switch program.output {
        case .codes(let g): mine = out.data.map { Double($0 - g.zeroPoint) * g.scale }
        case .accumulator(let s, _): mine = out.data.enumerated().map { i, v in Double(v) * (s.count == 1 ? s[0] : s[i % per]) }
        }
        let classes = program.predictions(out)
        var lines: [String] = []
        for (name, url) in [("default optimisations (fused integer kernels)", all), ("no optimisations", none)] {
            let y = try NumPy.readTensor(url)
            guard y.count == mine.count else { throw CLIError("ONNX Runtime returned \(y.shape), the integer program \(out.shape)") }
            let v = y.scalars
            let diff = zip(v, mine).map { Swift.abs(Double($0) - $1) }.max() ?? 0
            let theirs = (0..<out.shape[0]).map { e in (0..<per).max { v[e * per + $0] < v[e * per + $1] } ?? 0 }
            let agree = zip(theirs, classes).filter { $0 == $1 }.count
            lines.append("  ONNX Runtime, \(name): \(agree) of \(classes.count) predictions agree with the integer program; largest output difference \(String(format: "%.3g", diff))")
        }
        return lines
    }
}

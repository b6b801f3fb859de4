import Foundation
import Testing
import TestSupport
import NN
import ONNXExport
import ONNXProto
import QuantNN
import TensorEngine

/// The Python that runs `check_onnx.py`: `$BREVITAS_ONNX_PYTHON`, else `.venv-onnx/bin/python`,
/// `.venv-ref/bin/python` in the package root, else `python3` on the PATH. Among the candidates
/// the first with onnx, onnxruntime and qonnx wins, else the first with onnx and onnxruntime
/// (QONNX graphs then run on the checker's numpy reference executor, and the results say so).
enum PythonEnv {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let checker = packageRoot.appendingPathComponent("Tests/ONNXExportTests/check_onnx.py")

    struct Found {
        let python: String
        let capabilities: [String: String]
        var hasQONNX: Bool { capabilities["qonnx"] != nil }
        var summary: String {
            "\(python): onnx \(capabilities["onnx"] ?? "-"), onnxruntime \(capabilities["onnxruntime"] ?? "-"), qonnx \(capabilities["qonnx"] ?? "not installed: QONNX graphs run on the numpy reference executor")"
        }
    }

    static let candidates: [String] = {
        if let p = ProcessInfo.processInfo.environment["BREVITAS_ONNX_PYTHON"], !p.isEmpty { return [p] }
        return [packageRoot.appendingPathComponent(".venv-onnx/bin/python").path,
                packageRoot.appendingPathComponent(".venv-ref/bin/python").path, "python3"]
    }()

    static let found: Found? = {
        var withRuntime: Found? = nil
        for c in candidates {
            if c.hasPrefix("/") && !FileManager.default.isExecutableFile(atPath: c) { continue }
            guard let r = try? run(c, [checker.path, "--capabilities"]), r.status == 0,
                  let line = r.stdout.split(separator: "\n").last,
                  let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            var caps: [String: String] = [:]
            for (k, v) in obj { if let s = v as? String { caps[k] = s } }
            guard caps["onnx"] != nil, caps["onnxruntime"] != nil else { continue }
            let f = Found(python: c, capabilities: caps)
            if f.hasQONNX { return f }
            if withRuntime == nil { withRuntime = f }
        }
        return withRuntime
    }()

    static var available: Bool {
        if found == nil {
            print("ONNXExportTests: SKIPPING runtime checks - no Python with onnx and onnxruntime among \(candidates); run scripts/setup-onnx-venv.sh or set BREVITAS_ONNX_PYTHON")
        }
        return found != nil
    }

    static var skipReason: Comment {
        "no Python with onnx + onnxruntime (tried \(candidates.joined(separator: ", "))); run scripts/setup-onnx-venv.sh or set BREVITAS_ONNX_PYTHON"
    }

    /// Runs `python args` (a path, or a name looked up on the PATH) with Python's warnings and
    /// ONNX Runtime's log below errors silenced.
    static func run(_ python: String, _ args: [String]) throws -> ProcessOutput {
        var env = ProcessInfo.processInfo.environment
        env["PYTHONWARNINGS"] = "ignore"
        env["ORT_LOGGING_LEVEL"] = "3"
        return python.hasPrefix("/") ? try runProcess(python, args, environment: env)
                                     : try runProcess("/usr/bin/env", [python] + args, environment: env)
    }
}

/// Exported models with their inputs and Swift outputs, written to a temporary directory as a
/// manifest for `check_onnx.py`.
final class CheckBatch {
    let dir: URL
    private var cases: [[String: Any]] = []
    private var counter = 0

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// Set `ONNX_EXPORT_KEEP=1` to keep the files (the path is printed) for inspection.
    deinit {
        if ProcessInfo.processInfo.environment["ONNX_EXPORT_KEEP"] == "1" {
            print("ONNXExportTests: kept \(dir.path)")
        } else {
            try? FileManager.default.removeItem(at: dir)
        }
    }

    private func write(_ t: Tensor) throws -> [String: Any] {
        counter += 1
        let file = "t\(counter).bin"
        var data = Data(capacity: t.count * 4)
        for f in t.scalars { withUnsafeBytes(of: f.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: dir.appendingPathComponent(file))
        return ["file": file, "shape": t.shape]
    }

    /// Exports `model` in `format` (through the file-writing API) and registers the case.
    /// `reference`: another output to report the distance to (Brevitas's recorded output);
    /// `referenceONNX`: another ONNX file to run on the same inputs and compare with.
    /// `extraReferences`: recorded values of the graph's further outputs (a QuantLSTM's h_n,
    /// c_n), in order. `ties`: for a quantization point, the mask of its exact rounding ties (1
    /// where the exact pre-rounding value is k + 0.5): one-step flips are then accepted there
    /// only, any number (check_onnx.py step 3). `edit`: changes the exported file before the
    /// check (tests that the checker rejects a wrong graph).
    func add(_ name: String, _ model: Module, _ examples: [Tensor], _ format: ONNXFormat,
             reference: Tensor? = nil, extraReferences: [Tensor] = [], referenceONNX: URL? = nil,
             ties: (ONNXQuantPoint) -> Tensor? = { _ in nil }, edit: ((inout Onnx_ModelProto) -> Void)? = nil) throws {
        let file = "\(name).\(format.rawValue).onnx"
        let r = try exportONNX(model, examples: examples, format: format, to: dir.appendingPathComponent(file))
        if let edit {
            var m = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: dir.appendingPathComponent(file)))
            edit(&m)
            try m.serializedData().write(to: dir.appendingPathComponent(file))
        }
        var inputs: [[String: Any]] = []
        for (n, x) in zip(r.inputNames, examples) {
            var d = try write(x)
            d["name"] = n
            inputs.append(d)
        }
        var out = try write(r.output)
        out["name"] = r.outputName
        var probes: [[String: Any]] = []
        for p in r.quantPoints {
            var probe: [String: Any] = ["name": p.tensorName, "layer": p.layer, "value": try write(p.value),
                                        "scale": try write(p.scale), "zero_point": try write(p.zeroPoint)]
            if let f = p.minifloat {
                probe["minifloat"] = ["mantissa_bit_width": f.mantissaBitWidth, "exponent_bias": f.exponentBias]
            }
            if let mask = ties(p) {
                precondition(mask.shape == p.value.shape, "ties mask \(mask.shape) for quantization point \(p.value.shape)")
                probe["ties"] = try write(mask)
            }
            probes.append(probe)
        }
        var c: [String: Any] = ["name": name, "format": format.rawValue, "model": file, "inputs": inputs, "output": out,
                                "probes": probes]
        if !r.additionalOutputs.isEmpty {
            c["extra_outputs"] = try r.additionalOutputs.map { o -> [String: Any] in
                var d = try write(o.value)
                d["name"] = o.name
                return d
            }
        }
        if !extraReferences.isEmpty { c["extra_references"] = try extraReferences.map { try write($0) } }
        if let reference { c["reference"] = try write(reference) }
        if let referenceONNX { c["reference_onnx"] = referenceONNX.path }
        cases.append(c)
    }

    /// Exports `model` with a dynamic batch, traced on `example`, and registers a case that runs
    /// the file on `inputs` of another batch size against Swift's output for them (no probes:
    /// the export's quantization points hold the example's values).
    /// `output`: the model's eval-mode output for a batch (default: a `QuantLayer`'s forward).
    func addDynamicBatch(_ name: String, _ model: Module, example: Tensor, inputs: Tensor, _ format: ONNXFormat,
                         output: ((Tensor) throws -> Tensor)? = nil) throws {
        let file = "\(name).\(format.rawValue).onnx"
        let r = try exportONNX(model, examples: [example], format: format, dynamicBatch: true, to: dir.appendingPathComponent(file))
        model.eval()
        let run = output ?? { x in try (model as! QuantLayer).forward(.float(x)).value }
        let y = try Autograd.noGrad { try run(inputs) }
        var input = try write(inputs)
        input["name"] = r.inputNames[0]
        var out = try write(y)
        out["name"] = r.outputName
        cases.append(["name": name, "format": format.rawValue, "model": file, "inputs": [input], "output": out, "probes": [] as [Any]])
    }

    struct Result {
        let name: String, format: String, ok: Bool
        let problems: [String]
        let json: [String: Any]
        var maxAbsDiff: Double { json["max_abs_diff"] as? Double ?? .nan }
        var maxAbsRef: Double { json["max_abs_ref"] as? Double ?? .nan }
        var codes: Int { json["codes_checked"] as? Int ?? 0 }
        var flips: Int { json["flips_total"] as? Int ?? 0 }
        /// Per probe with a ties mask: flips, declared ties, flips off the ties.
        var tieFlips: [(layer: String, count: Int, ties: Int, offTie: Int)] {
            (json["tie_flips"] as? [[String: Any]] ?? []).map {
                ($0["layer"] as? String ?? "?", $0["count"] as? Int ?? -1, $0["ties"] as? Int ?? -1, $0["off_tie"] as? Int ?? -1)
            }
        }
        var executor: String { json["executor"] as? String ?? "?" }
        /// Max |diff| of ONNX Runtime's fused runs (QCDQ only; informational, see check_onnx.py).
        func fused(_ key: String) -> String {
            guard let d = json[key] as? [String: Any], let v = d["max_abs_diff"] as? Double else { return "-" }
            return String(format: "%.3g", v)
        }
    }

    /// Runs the checker on every case; results by `name.format`.
    func check(python: String) throws -> (results: [String: Result], stderr: String) {
        let manifest = dir.appendingPathComponent("manifest.json")
        try JSONSerialization.data(withJSONObject: ["cases": cases], options: [.sortedKeys]).write(to: manifest)
        let r = try PythonEnv.run(python, [PythonEnv.checker.path, manifest.path])
        var results: [String: Result] = [:]
        for line in r.stdout.split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let name = obj["name"] as? String, let format = obj["format"] as? String else { continue }
            results["\(name).\(format)"] = Result(name: name, format: format, ok: obj["ok"] as? Bool ?? false,
                                                  problems: obj["problems"] as? [String] ?? [], json: obj)
        }
        return (results, r.stderr)
    }

    var caseKeys: [String] { cases.map { "\($0["name"]!).\($0["format"]!)" } }
}

/// Runs `model` in training mode on `steps` batches so that statistics-based scales are
/// collected (the export then uses the collected values in eval mode).
func calibrate(_ model: Module, _ forward: (Tensor) throws -> Void, shape: [Int], steps: Int = 5, seed: UInt64 = 7, scale: Float = 1) rethrows {
    let g = RandomGenerator(seed: seed)
    model.train()
    for _ in 0..<steps { try forward(g.normal(shape) * scale) }
    model.eval()
}

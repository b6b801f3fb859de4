import Foundation
import Models
import TensorEngine

/// The training settings recorded in `config.json`.
struct TrainingSettings: Codable, Equatable {
    var epochs: Int
    var batchSize: Int
    var learningRate: Float
    var optimizer: OptimizerChoice
    var seed: UInt64
    var floatEpochs: Int
    var calibrateSteps: Int
    var fromFloat: String?
    /// `--limit`: examples used of each split, if not all.
    var limit: Int?
}

/// `config.json` of a run: what `eval`, `inspect` and `export` need to rebuild the model and find
/// its data.
struct RunConfig: Codable, Equatable {
    static let formatName = "swift-brevitas-run-1"

    var format = RunConfig.formatName
    var model: ModelSpec
    var dataset: DatasetChoice
    var dataDir: String?
    var training: TrainingSettings?

    /// Reads `config.json` at `url`; a ``CLIError`` for a missing or malformed file.
    static func load(_ url: URL) throws -> RunConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CLIError("cannot read \(url.path): \(AtomicFile.reason(error))")
        }
        return try decode(data, file: url.path)
    }

    /// Parses and validates the bytes of a `config.json`; `file` names it in errors.
    static func decode(_ data: Data, file: String) throws -> RunConfig {
        do { try InputLimits.checkJSONDepth(data) } catch {
            throw CLIError("\(file) is not a swift-brevitas run config: it \(error)")
        }
        let config: RunConfig
        do { config = try JSONDecoder().decode(RunConfig.self, from: data) } catch {
            throw CLIError("\(file) is not a swift-brevitas run config: \(oneLine(describe(error)))")
        }
        guard config.format == formatName else {
            throw CLIError("\(file) has format '\(oneLine(config.format))', expected '\(formatName)'")
        }
        let problems = config.model.problems()
        guard problems.isEmpty else { throw CLIError("\(file): " + problems.joined(separator: "; ")) }
        return config
    }

    /// `text` on one line (line breaks shown as `\\n`), at most 200 characters: values from the
    /// file go into one-line errors.
    static func oneLine(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
        return flat.count > 200 ? String(flat.prefix(200)) + "..." : flat
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c):
            return "missing key '\((c.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong value at '\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)"
        case DecodingError.dataCorrupted(let c):
            let at = c.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? "not valid JSON" : "invalid value at '\(at)': \(c.debugDescription)"
        default: return "\(error)"
        }
    }
}

/// `metrics.json`: the run's configuration, every epoch, and the final figures.
struct RunMetrics: Codable {
    var config: RunConfig
    var calibrationSteps: Int
    var epochs: [EpochResult] = []
    /// Test accuracy of the float model (float pre-training or `--from-float`), if there was one.
    var floatTestAccuracy: Double?
    /// Test accuracy of the last complete quantized checkpoint.
    var quantTestAccuracy: Double?
    /// Weights and biases at 32 bits, in bytes.
    var floatSizeBytes: Int
    /// Weights at their quantized bit widths, biases and BatchNorm at 32 bits, in bytes.
    var quantSizeBytes: Int
    /// Wall-clock seconds of the whole run so far.
    var seconds: Double = 0
    /// Whether every requested epoch ran (false after an interrupt).
    var completed = false
}

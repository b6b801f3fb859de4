import Foundation
import GraphQuant
import IntegerInference
import NN
import TensorEngine

/// The integer program of a graph run folder (`brevitas quantize`): what `verify`, `deploy`,
/// `eval --integer` and `run --integer` do with one.
extension GraphRun {
    /// The program of the run's quantized graph, for one example of the run's input shape;
    /// a model the integer path cannot express is a one-line error naming the node.
    static func integerProgram(_ q: QuantGraphModule, _ config: GraphRunConfig) throws -> IntegerProgram {
        do {
            return try IntegerLowering.lower(q, inputShape: config.inputShape)
        } catch let e as IntegerLoweringError {
            throw CLIError("the graph-quantized \(config.quantize.summary) of \(config.source) has no integer program: \(e)")
        }
    }

    /// Inputs to compare or deploy on: `dataset` when given, else the run's test inputs, else its
    /// calibration inputs (labels are not needed); with a description for the report.
    static func integerInputs(_ config: GraphRunConfig, dataset: DatasetChoice?, dataDir: String?, split: Split) throws -> (inputs: Tensor, name: String) {
        let x: Tensor, name: String
        if let dataset {
            x = try dataset.load(split, directory: dataDir).inputs
            name = "\(dataset.rawValue) \(split.rawValue)"
        } else if let test = config.test, FileManager.default.fileExists(atPath: test) {
            x = try QuantizeRun.readTensor(test, "test")
            name = URL(fileURLWithPath: test).lastPathComponent
        } else if let calib = config.calib, FileManager.default.fileExists(atPath: calib) {
            x = try QuantizeRun.readTensor(calib, "calibration")
            name = URL(fileURLWithPath: calib).lastPathComponent + " (calibration data)"
        } else {
            throw CLIError("no data to run on: the run's test and calibration files (config.json) are gone; pass --dataset")
        }
        guard Array(x.shape.dropFirst()) == config.inputShape else {
            throw CLIError("the data has examples of shape \(Array(x.shape.dropFirst())), but the model takes \(config.inputShape)")
        }
        return (x, name)
    }

    /// `brevitas eval RUN --integer`: the integer program's accuracy on labelled test data.
    static func integerEvalLine(_ path: String, test: String?, labels: String?, dataset: DatasetChoice?, dataDir: String?, split: Split) throws -> String {
        let start = Date()
        let (q, config) = try load(URL(fileURLWithPath: path))
        let (data, name) = try testData(config, test: test, labels: labels, dataset: dataset, dataDir: dataDir, split: split)
        let program = try integerProgram(q, config)
        let n = data.count
        var correct = 0, at = 0
        while at < n {
            let m = min(512, n - at)
            let codes = program.inputCodes(data.inputs.narrow(dim: 0, start: at, length: m))
            let predicted = program.predictions(IntegerExecutor.run(program, input: codes))
            correct += zip(predicted, data.labels[at..<at + m]).filter { $0 == $1 }.count
            at += m
        }
        return "\(path): integer program of the graph-quantized \(config.quantize.summary) on \(name): "
            + "accuracy \(percent(Double(correct) / Double(max(n, 1)))) (\(correct)/\(n)), \(f(Date().timeIntervalSince(start), 2)) s"
    }

    /// `brevitas run RUN --integer`: the integer program's output (its integers times their scale).
    static func integerOutput(_ path: String, input x: Tensor, file: String) throws -> Tensor {
        let (q, config) = try load(URL(fileURLWithPath: path))
        guard x.rank == config.inputShape.count + 1, Array(x.shape.dropFirst()) == config.inputShape else {
            throw CLIError("\(file) has shape \(x.shape), the model takes [N] + \(config.inputShape)")
        }
        let program = try integerProgram(q, config)
        return program.realValues(IntegerExecutor.run(program, input: program.inputCodes(x)))
    }
}

extension IntegerProgram {
    /// The real values of an output of the program: codes `(q − z)·s`, accumulators `acc·s_c`.
    func realValues(_ out: IntegerTensor) -> Tensor {
        let per = out.perExample
        let values: [Float]
        switch output {
        case .codes(let g): values = out.data.map { Float(Double($0 - g.zeroPoint) * g.scale) }
        case .accumulator(let scales, _):
            values = out.data.enumerated().map { i, v in Float(Double(v) * (scales.count == 1 ? scales[0] : scales[i % per])) }
        }
        return Tensor(shape: out.shape, values)
    }
}

import Foundation
import Testing

@testable import BrevitasCLI

/// Command-line errors: each names the offending option and what would be valid.
@Suite struct ArgumentTests {
    @Test func defaultsAreTheDemo() throws {
        let o = try TrainCommand.parse([]).options
        #expect(o.arch == .lenet && o.dataset == .digits)
        #expect((o.weightBits, o.actBits, o.inputBits) == (4, 4, 8))
        #expect(o.optimizer == .adam && o.learningRate == 0.005 && o.collectStatsSteps == 30)
        #expect(o.epochs == 15 && o.batchSize == 32)
        #expect(o.out.hasPrefix("runs/"))
        #expect(try TrainCommand.parse(["--optimizer", "sgd"]).options.learningRate == 0.1)
    }

    @Test func everyBadNumberIsReportedAtOnce() throws {
        let message = try #require(parseError(["train", "--weight-bits", "1", "--act-bits", "17", "--epochs", "0", "--lr", "0"]))
        for expected in ["--weight-bits must be in 2...16, got 1", "--act-bits must be in 2...16, got 17",
                         "--epochs must be >= 1, got 0", "--lr must be > 0"] {
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test(arguments: [
        (["train", "--arch", "vgg"], ["vgg", "lenet", "mlp", "resnet8", "lstm"]),
        (["train", "--dataset", "imagenet"], ["imagenet", "digits", "mnist", "fashion-mnist", "cifar10"]),
        (["train", "--optimizer", "rmsprop"], ["rmsprop", "sgd", "adam", "adamw"]),
        (["train", "--dataset", "mnist"], ["--data-dir", "train-images-idx3-ubyte"]),
        (["train", "--data-dir", "/tmp"], ["--data-dir is not used with --dataset digits"]),
        (["train", "--epochs", "many"], ["many", "--epochs"]),
        (["eval"], ["checkpoint"]),
        (["inspect", "x", "--act-bits", "40"], ["--act-bits must be in 2...16"]),
        (["bench", "--threads", "0"], ["--threads must be >= 1"]),
        (["frobnicate"], ["frobnicate"]),
        (["train", "--format", "fp9"], ["--format 'fp9' is not a format", "fp8e4m3", "mxint8"]),
        (["train", "--format", "e9m2"], ["--format e9m2: exponent_bit_width"]),
        (["train", "--format", "e0m0"], ["--format e0m0: exponent_bit_width"]),
        (["train", "--format", "fp4", "--group-size", "8"], ["--group-size: group_size"]),
    ])
    func badArgumentsAreRejected(_ arguments: [String], _ fragments: [String]) throws {
        let message = try #require(parseError(arguments), "\(arguments) parsed")
        for fragment in fragments { #expect(message.contains(fragment), "\(arguments): \(message)") }
    }

    @Test func helpExplainsTheDefaultRun() throws {
        let help = TrainCommand.helpMessage()
        #expect(help.contains("4-bit weights and activations") && help.contains("Ctrl-C"))
        #expect(help.contains("--collect-stats-steps"))
        #expect(Brevitas.helpMessage().contains("train"))
    }
}

import NN
import QuantNN
import TensorEngine
import Testing

@testable import Models

/// Results do not depend on the number of threads: the same training steps on one and on two
/// threads leave bit-identical parameters, buffers and losses (the workloads `brevitas bench`
/// times on both).
@Suite(.serialized) struct ThreadCountTests {
    /// Runs `steps` SGD steps of a fresh ResNet-8 (quantized or float) on `threads` threads and
    /// returns the losses and the final state.
    static func train(threads: Int, quantized: Bool, steps: Int = 3) throws -> (losses: [Float], state: [String: [Float]]) {
        let saved = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = saved }
        let spec = ModelSpec(arch: .resnet8, inputShape: [3, 32, 32], classes: 10, weightBits: 4, actBits: 4, inputBits: 8,
                             collectStatsSteps: 2)
        let model = try spec.makeModel(quantized: quantized, generator: RandomGenerator(seed: 3))
        model.train()
        let g = RandomGenerator(seed: 4)
        let x = g.normal([8, 3, 32, 32])
        let y = (0..<8).map { _ in g.nextInt(10) }
        let optimizer = SGD(model.parameters(), learningRate: 0.05)
        var losses: [Float] = []
        for _ in 0..<steps {
            let loss = Tensor.crossEntropy(try model(x), targets: y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        }
        let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.tensor.scalars) })
        return (losses, state)
    }

    @Test(arguments: [true, false])
    func resNet8StepsAreIdenticalOnOneAndTwoThreads(quantized: Bool) throws {
        let one = try Self.train(threads: 1, quantized: quantized)
        let two = try Self.train(threads: 2, quantized: quantized)
        #expect(one.losses.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(one.losses == two.losses)
        #expect(Set(one.state.keys) == Set(two.state.keys) && !one.state.isEmpty)
        for (key, value) in one.state {
            #expect(value == two.state[key], "\(key) differs between one and two threads")
        }
    }
}

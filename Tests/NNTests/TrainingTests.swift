import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// End to end on the bundled digits: train, evaluate, checkpoint. Small enough for a debug build.
@Suite struct TrainingTests {
    func accuracy(_ model: some Layer, _ data: TensorDataset) -> Double {
        model.eval()
        let predictions = Autograd.noGrad { model(data.inputs) }.argmax(dim: 1).scalars
        return Double(zip(predictions, data.labels).filter { Int($0) == $1 }.count) / Double(data.count)
    }

    func fit(_ model: some Layer, epochs: Int, batchSize: Int, learningRate: Float) throws -> Double {
        let train = try Digits.load(.train)
        let optimizer = Adam(model.parameters(), learningRate: learningRate)
        let scheduler = LearningRateScheduler(optimizer, CosineAnnealingLR(tMax: epochs))
        let loader = DataLoader(train, batchSize: batchSize, shuffle: true, seed: 1)
        let loss = CrossEntropyLoss()
        for epoch in 0..<epochs {
            model.train()
            for batch in loader.batches(epoch: epoch) {
                optimizer.zeroGrad()
                loss(model(batch.inputs), batch.labels).backward()
                optimizer.step()
            }
            scheduler.step()
        }
        return accuracy(model, try Digits.load(.test))
    }

    @Test func mlpReaches95PercentAndSurvivesACheckpoint() throws {
        let g = RandomGenerator(seed: 0)
        let model = Sequential(
            Flatten(), Linear(inFeatures: 64, outFeatures: 128, generator: g), ReLU(),
            Linear(inFeatures: 128, outFeatures: 10, generator: g))
        let testAccuracy = try fit(model, epochs: 10, batchSize: 32, learningRate: 0.01)
        #expect(testAccuracy >= 0.95, "MLP test accuracy \(testAccuracy)")

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("mlp.safetensors")
        try model.saveSafeTensors(to: url)
        let restored = Sequential(Flatten(), Linear(64, 128), ReLU(), Linear(128, 10))
        try restored.loadSafeTensors(from: url)
        #expect(accuracy(restored, try Digits.load(.test)) == testAccuracy)
    }

    @Test func cnnReaches95Percent() throws {
        let g = RandomGenerator(seed: 0)
        let model = Sequential(
            Conv2d(inChannels: 1, outChannels: 8, kernelSize: 3, padding: 1, generator: g), BatchNorm2d(8), ReLU(),
            MaxPool2d(kernelSize: 2),
            Conv2d(inChannels: 8, outChannels: 16, kernelSize: 3, padding: 1, generator: g), ReLU(),
            AdaptiveAvgPool2d(outputSize: 2), Flatten(), Dropout(p: 0.1, generator: g),
            Linear(inFeatures: 64, outFeatures: 10, generator: g))
        let testAccuracy = try fit(model, epochs: 6, batchSize: 32, learningRate: 0.01)
        #expect(testAccuracy >= 0.95, "CNN test accuracy \(testAccuracy)")
    }
}

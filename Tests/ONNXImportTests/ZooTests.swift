import Foundation
import Graph
import NN
import ONNXImport
import TensorEngine
import Testing

/// Every float model of `../shared/zoo` imports and reproduces the output ONNX Runtime recorded,
/// within the zoo's tolerance `max |ours - output| <= 1e-4 · max(1, max |output|)`.
@Suite struct ZooTests {
    static let models = ["mlp", "lenet", "resnet", "mobilenet", "inception", "transformer", "resnet_dynamo"]

    @Test(arguments: models)
    func reproducesTheRecordedOutput(_ name: String) throws {
        guard let zoo = sharedFolder("zoo") else {
            print("skipped: ../shared/zoo is absent (CI provides it beside the clone)")
            return
        }
        let x = try NumPy.readTensor(zoo.appendingPathComponent("\(name).input.npy"))
        let expected = try NumPy.readTensor(zoo.appendingPathComponent("\(name).output.npy"))
        let model = try ONNXImporter.load(zoo.appendingPathComponent("\(name).onnx"), inputShapes: ["input": x.shape])
        let y = Autograd.noGrad { model.graph(x) }
        #expect(y.shape == expected.shape)
        let bound = 1e-4 * max(1, expected.abs().max().item())
        let diff = maxAbsDiff(y, expected)
        #expect(diff <= bound, "\(name): max |diff| \(diff) > \(bound)")
    }
}

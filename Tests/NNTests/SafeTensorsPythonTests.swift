import Foundation
import NN
import Testing
import TestSupport
import TensorEngine

/// Files cross between this library and Python's `safetensors` package in both directions.
/// Needs a Python with `safetensors` and `numpy` (`pip install safetensors numpy`); without one
/// the suite is reported as skipped, never silently passed.
@Suite(.enabled(if: Python.withSafeTensors != nil,
                "no Python with the safetensors and numpy packages (pip install safetensors numpy); cross-language safetensors check skipped"))
struct SafeTensorsPythonTests {
    @Test func pythonLoadsWhatSwiftWrites() throws {
        let python = try #require(Python.withSafeTensors)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("swift.safetensors")
        let model = Sequential(named: ["features": Sequential(Linear(3, 4), ReLU()), "head": Linear(4, 2, bias: false)])
        model.tensor(at: "features.0.bias")!.storage.pointer.update(from: [-0.0, 1e-30, 3.4e38, 1.0 / 3], count: 4)
        var sd = model.stateDict()
        sd["scale"] = Tensor(0.125)
        sd["empty"] = Tensor.zeros([0, 3])
        try SafeTensors.write(sd, to: url, metadata: ["format": "pt", "producer": "swift"])
        let script = """
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="np") as f:
                meta = f.metadata()
            out = {"__metadata__": meta}
            for k, v in tensors.items():
                out[k] = {"dtype": str(v.dtype), "shape": list(v.shape), "bits": [int(b) for b in v.reshape(-1).view("<u4")]}
            print(json.dumps(out))
            """
        let json = try Python.run(python, script, [url.path])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["__metadata__"] as? [String: String] == ["format": "pt", "producer": "swift"])
        #expect(Set(object.keys.filter { $0 != "__metadata__" }) == Set(sd.keys))
        for (key, tensor) in sd {
            let entry = try #require(object[key] as? [String: Any], "\(key)")
            #expect(entry["dtype"] as? String == "float32")
            #expect((entry["shape"] as? [Int]) == tensor.shape, "\(key)")
            #expect((entry["bits"] as? [NSNumber])?.map(\.uint32Value) == tensor.scalars.map(\.bitPattern), "\(key)")
        }
    }

    @Test func swiftLoadsWhatPythonWrites() throws {
        let python = try #require(Python.withSafeTensors)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("python.safetensors")
        let script = """
            import sys, numpy as np
            from safetensors.numpy import save_file
            w = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / np.float32(7)
            save_file({"layer.weight": w, "layer.bias": np.array([-0.0, 1.5], dtype=np.float32),
                       "bn.num_batches_tracked": np.array(12345, dtype=np.int64),
                       "half": np.array([0.5, -2.0], dtype=np.float16)}, sys.argv[1], metadata={"format": "np"})
            """
        try Python.run(python, script, [url.path])
        let contents = try SafeTensors.read(url)
        #expect(contents.metadata == ["format": "np"])
        let w = (0..<24).map { Float($0) / 7 }
        #expect(contents.tensors["layer.weight"]!.shape == [2, 3, 4])
        #expect(contents.tensors["layer.weight"]!.scalars.map(\.bitPattern) == w.map(\.bitPattern))
        #expect(contents.tensors["layer.bias"]!.scalars.map(\.bitPattern) == [Float(-0.0), 1.5].map(\.bitPattern))
        #expect(contents.tensors["bn.num_batches_tracked"]!.shape == [])
        #expect(contents.tensors["bn.num_batches_tracked"]!.item() == 12345)
        #expect(contents.dtypes["bn.num_batches_tracked"] == .i64)
        #expect(contents.tensors["half"]!.scalars == [0.5, -2])
    }
}

# Writes the committed seed corpora of Fuzz/*/corpus: small valid files of each reader's format.
import json, os, struct, sys, shutil
import numpy as np
root = sys.argv[1]
def out(target, name, data):
    d = os.path.join(root, "Fuzz", target, "corpus"); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

# safetensors
def st(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata: header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)
f32 = np.arange(6, dtype="<f4").tobytes()
out("FuzzSafeTensors", "f32.safetensors", st({"conv.weight": ("F32", [2, 3], f32), "conv.bias": ("F32", [2], np.array([0.5, -1], "<f4").tobytes())}, {"format": "pt"}))
out("FuzzSafeTensors", "dtypes.safetensors", st({
    "a": ("F64", [2], np.array([1.5, -2], "<f8").tobytes()), "b": ("F16", [2], np.array([1, 65504], "<f2").tobytes()),
    "c": ("BF16", [1], b"\x80\x3f"), "d": ("I8", [3], bytes([1, 255, 7])), "e": ("U8", [2], bytes([0, 255])),
    "f": ("I16", [1], struct.pack("<h", -300)), "g": ("U16", [1], struct.pack("<H", 60000)),
    "h": ("I32", [2], struct.pack("<ii", -5, 1 << 20)), "i": ("I64", [1], struct.pack("<q", 1 << 24)), "j": ("BOOL", [2], bytes([0, 1]))}))
out("FuzzSafeTensors", "empty-and-scalar.safetensors", st({"s": ("F32", [], np.array([3], "<f4").tobytes()), "z": ("F32", [0, 4], b"")}))
out("FuzzSafeTensors", "no-tensors.safetensors", st({}, {"k": "v"}))

# .npy
import io
def npy(a, version=None):
    b = io.BytesIO()
    if version: np.lib.format.write_array(b, a, version=version)
    else: np.save(b, a)
    return b.getvalue()
out("FuzzNumPy", "f4.npy", npy(np.arange(6, dtype="<f4").reshape(2, 3)))
out("FuzzNumPy", "f8.npy", npy(np.array([1.5, np.nan, -np.inf], "<f8")))
out("FuzzNumPy", "i8.npy", npy(np.array([[1, -2]], "<i8")))
out("FuzzNumPy", "i4.npy", npy(np.array([7], "<i4")))
out("FuzzNumPy", "u1.npy", npy(np.array([0, 255], "|u1")))
out("FuzzNumPy", "scalar.npy", npy(np.array(2.5, "<f4")))
out("FuzzNumPy", "empty.npy", npy(np.zeros((0, 3), "<f4")))
out("FuzzNumPy", "v2.npy", npy(np.arange(4, dtype="<f4"), version=(2, 0)))
out("FuzzNumPy", "v3.npy", npy(np.arange(2, dtype="<f4"), version=(3, 0)))

# IDX
def idx(code, shape, raw):
    return struct.pack(">I", (code << 8) | len(shape)) + b"".join(struct.pack(">I", d) for d in shape) + raw
out("FuzzIDX", "images-idx3-ubyte", idx(0x08, [2, 3, 3], bytes(range(18))))
out("FuzzIDX", "labels-idx1-ubyte", idx(0x08, [3], bytes([0, 9, 4])))
out("FuzzIDX", "i8-idx1", idx(0x09, [2], bytes([0x80, 0x7f])))
out("FuzzIDX", "i16-idx2", idx(0x0B, [1, 2], struct.pack(">hh", -2, 300)))
out("FuzzIDX", "i32-idx1", idx(0x0C, [1], struct.pack(">i", -70000)))
out("FuzzIDX", "f32-idx1", idx(0x0D, [2], struct.pack(">ff", 1.5, -0.25)))
out("FuzzIDX", "f64-idx1", idx(0x0E, [1], struct.pack(">d", 3.25)))

# CIFAR-10
rec = lambda label, fill: bytes([label]) + bytes([fill]) * 3072
out("FuzzCIFAR", "one_record.bin", rec(3, 128))
out("FuzzCIFAR", "two_records.bin", rec(0, 0) + bytes([9]) + bytes(i % 256 for i in range(3072)))

# run config.json
def cfg(arch, shape, dataset, training=True, acc=None):
    c = {"format": "swift-brevitas-run-1", "dataset": dataset,
         "model": {"arch": arch, "inputShape": shape, "classes": 10, "weightBits": 4, "actBits": 4, "inputBits": 8, "collectStatsSteps": 30}}
    if acc: c["model"]["accumulatorBits"] = acc; c["model"]["overflow"] = "wrap"
    if dataset != "digits": c["dataDir"] = "data/x"
    if training: c["training"] = {"epochs": 2, "batchSize": 32, "learningRate": 0.005, "optimizer": "adam", "seed": 42, "floatEpochs": 0, "calibrateSteps": 8, "limit": 100}
    return json.dumps(c, indent=2, sort_keys=True).encode() + b"\n"
out("FuzzRunConfig", "lenet-digits.json", cfg("lenet", [1, 8, 8], "digits"))
out("FuzzRunConfig", "mlp-mnist.json", cfg("mlp", [1, 28, 28], "mnist", training=False))
out("FuzzRunConfig", "resnet8-cifar.json", cfg("resnet8", [3, 32, 32], "cifar10", acc=16))

# conformance cases
for name in ["nb_exec01_helper", "nb_exec18_hardtanh_missing_max_val", "nb_exec19_hardtanh_construct", "nb_exec06_is_valid", "cat_default"]:
    shutil.copy(f"/work/shared/conformance/cases/{name}.json", os.path.join(root, "Fuzz/FuzzConformanceCase/corpus", name + ".json"))

# ONNX
import onnx
from onnx import helper, TensorProto, numpy_helper
for name in ["inception", "mlp", "transformer", "resnet"]:
    shutil.copy(f"/work/shared/zoo/{name}.onnx", os.path.join(root, "Fuzz/FuzzONNXImport/corpus", name + ".onnx"))
def model(nodes, inits, inp, outp, opset=17):
    g = helper.make_graph(nodes, "g", [inp], [outp], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="seed")
    return m.SerializeToString()
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
w = numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32) * 0.1, "c.weight")
b = numpy_helper.from_array(np.zeros(3, np.float32), "c.bias")
out("FuzzONNXImport", "conv-relu.onnx", model([helper.make_node("Conv", ["x", "c.weight", "c.bias"], ["h"], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["h"], ["y"])], [w, b], x, y))
shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
fw = numpy_helper.from_array(np.ones((4, 32), np.float32), "fc.weight")
out("FuzzONNXImport", "shape-gemm.onnx", model([
    helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
    helper.make_node("Reshape", ["x", "shape"], ["f"]), helper.make_node("Gemm", ["f", "fc.weight"], ["g"], transB=1),
    helper.make_node("ConstantOfShape", ["cs"], ["k"], value=numpy_helper.from_array(np.array([0.5], np.float32))),
    helper.make_node("Add", ["g", "k"], ["y"])],
    [shape, fw, numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array([1, 4], np.int64), "cs")], x, y))

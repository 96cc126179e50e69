"""Feature extraction's forward pass in PyTorch, for bench/features.ts: a run's encoder architecture
(random weights: the speed does not depend on them) in eval mode on batches of 500 images, by
each of PyTorch's CPU inference paths.

Prints one JSON object: images/s per path, the best of `rounds` passes over `images` images.
  python3 bench/torch_features.py THREADS IMAGES ROUNDS DEPTH WIDTH CIFAR_STEM(0|1) IN_CHANNELS SIZE
"""
import json
import os
import sys
import time

import torch
import torch.fx.experimental.optimization as fx_optimization
import torch.utils.mkldnn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "fixtures"))
from narrow_resnet import resnet  # noqa: E402

threads, images, rounds, depth = (int(a) for a in sys.argv[1:5])
width = float(sys.argv[5])
cifar_stem, in_channels, size = (int(a) for a in sys.argv[6:9])
torch.set_num_threads(threads)
torch.manual_seed(0)
batch = 500
model = resnet(depth, width=width, cifar_stem=bool(cifar_stem), in_channels=in_channels).eval()
inputs = [torch.rand(min(batch, images - s), in_channels, size, size) for s in range(0, images, batch)]

# Each path: a model and the input as it takes it. BatchNorm folded into the convolutions in all.
folded = fx_optimization.fuse(model)
mkldnn_model = torch.utils.mkldnn.to_mkldnn(fx_optimization.fuse(model))
paths = {
    "eager_contiguous": (folded, lambda x: x),
    "eager_channels_last": (fx_optimization.fuse(model).to(memory_format=torch.channels_last),
                            lambda x: x.contiguous(memory_format=torch.channels_last)),
    # oneDNN's blocked layout from the first convolution to the pooling
    "mkldnn_layout": (lambda x: mkldnn_model(x).to_dense(), lambda x: x.to_mkldnn()),
    # TorchScript, frozen: folds BatchNorm into the convolutions itself
    "jit_freeze_channels_last": (torch.jit.freeze(torch.jit.script(model)),
                                 lambda x: x.contiguous(memory_format=torch.channels_last)),
}
out = {"threads": threads, "images": images, "batch": batch, "torch": torch.__version__, "imagesPerSecond": {}}
with torch.no_grad():
    for name, (forward, prepare) in paths.items():
        for x in inputs[:2]:
            forward(prepare(x))  # (oneDNN creates its kernels; TorchScript optimises)
        best = 0.0
        for _ in range(rounds):
            t = time.perf_counter()
            for x in inputs:
                forward(prepare(x)).sum().item()
            best = max(best, images / (time.perf_counter() - t))
        out["imagesPerSecond"][name] = round(best)
print(json.dumps(out))

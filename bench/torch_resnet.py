"""ResNet-18 (CIFAR stem) forward+backward at batch 256, 32×32, in PyTorch, for bench/resnet.ts.

Prints one JSON object: views/s for float32 and bf16 autocast, contiguous and channels-last.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "fixtures"))
from narrow_resnet import resnet  # noqa: E402

threads = int(sys.argv[1])
reps = int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
out = {"threads": threads}
for fmt in ("contiguous", "channels_last"):
    for precision in ("float32", "bf16_autocast"):
        memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        model = resnet(18, cifar_stem=True).to(memory_format=memory_format)
        x = torch.randn(256, 3, 32, 32).to(memory_format=memory_format)

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "float32"):
                y = model(x)
            y.float().sum().backward()

        step()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        out[f"{fmt}_{precision}_views_per_s"] = 256 / min(times)
print(json.dumps(out))

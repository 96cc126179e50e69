"""torchvision's per-image SimCLR pipeline (PIL images, one process), for bench/augment.ts.

Usage: torch_augment.py THREADS SIZE [SIZE ...]. Prints one JSON object: images/s (two views each).
Same recipe as simclr's presets: 32 px → s 0.5, no blur; larger → s 1, blur p 0.5.
"""
import json
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

torch.set_num_threads(int(sys.argv[1]))
sizes = [int(s) for s in sys.argv[2:]]
rng = np.random.default_rng(0)
out = {}
for size in sizes:
    s = 0.5 if size <= 32 else 1.0
    steps = [
        transforms.RandomResizedCrop(size),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
    ]
    if size > 32:
        k = max(3, round(size * 0.1))
        k += 1 - k % 2
        steps.append(transforms.RandomApply([transforms.GaussianBlur(k, (0.1, 2.0))], p=0.5))
    steps.append(transforms.ToTensor())
    t = transforms.Compose(steps)
    count = max(64, 60000 // (size * size // 64))
    images = [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(min(count, 256))]
    for img in images[:8]:
        t(img)
    start = time.perf_counter()
    for i in range(count):
        img = images[i % len(images)]
        t(img), t(img)
    out[f"{size}px_images_per_s"] = count / (time.perf_counter() - start)
print(json.dumps(out))

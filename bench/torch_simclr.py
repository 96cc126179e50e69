"""SimCLR in PyTorch, the same recipe as simclr's defaults, for bench/fidelity.ts and bench/pretrain.ts.

Fashion-MNIST (Debian's dataset-fashion-mnist), ResNet-18 CIFAR stem width 0.25 (16/32/64/128
channels), 1 input channel, 28 px, batch 256 (last partial batch dropped), τ 0.5, Adam lr 1e-3
and weight decay 1e-6, linear warm-up over the first 10% of steps then cosine decay to 0, colour
strength s = 1, no blur, no mean/std normalisation; torchvision's per-image transforms.

Usage: torch_simclr.py --epochs 5 --workers 0 --threads 2 [--steps N] [--out encoder.safetensors]
Prints one JSON line: views/s, seconds, peak RSS; writes the encoder with simclr's metadata so that
`simclr eval --checkpoint` evaluates it with the same protocol as simclr's own encoders.
"""
import argparse
import gzip
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "fixtures"))
from narrow_resnet import resnet  # noqa: E402
import st  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: all)")
p.add_argument("--workers", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--out", default="")
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

with gzip.open(args.data) as f:
    raw = f.read()
images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)

s = 1.0
view = transforms.Compose([
    transforms.RandomResizedCrop(28),
    transforms.RandomHorizontalFlip(),
    transforms.RandomApply([transforms.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
    transforms.RandomGrayscale(p=0.2),
    transforms.ToTensor(),
])


class Pairs(torch.utils.data.Dataset):
    def __len__(self):
        return len(images)

    def __getitem__(self, i):
        img = Image.fromarray(images[i], mode="L")
        return view(img), view(img)


def nt_xent(z, tau):
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    logits = z @ z.t() / tau
    logits.fill_diagonal_(float("-inf"))
    targets = (torch.arange(2 * n) + n) % (2 * n)
    return F.cross_entropy(logits, targets)


encoder = resnet(18, width=0.25, cifar_stem=True, in_channels=1)
head = torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128))
model = torch.nn.Sequential(encoder, head)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
loader = torch.utils.data.DataLoader(Pairs(), batch_size=256, shuffle=True, drop_last=True, num_workers=args.workers,
                                     persistent_workers=args.workers > 0)
steps_per_epoch = len(loader)
total = args.epochs * steps_per_epoch
warmup = round(0.1 * total)
step = 0
views = 0
start = time.perf_counter()
done = False
for epoch in range(args.epochs):
    for a, b in loader:
        lr = 1e-3 * step / warmup if step < warmup else 0.5e-3 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
        for g in optimizer.param_groups:
            g["lr"] = lr
        z = model(torch.cat([a, b]))
        loss = nt_xent(z, 0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        views += 2 * a.shape[0]
        if step % 50 == 0:
            print(f"step {step}/{total} loss {loss.item():.4f}", file=sys.stderr)
        if args.steps and step >= args.steps:
            done = True
            break
    if done:
        break
seconds = time.perf_counter() - start
if args.out:
    st.save(args.out, encoder.state_dict(), {"format": "simclr-encoder/1", "depth": "18", "cifarStem": "true", "width": "0.25",
                                              "inChannels": "1", "imageSize": "28"})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"steps": step, "views": views, "seconds": seconds, "views_per_s": views / seconds, "final_loss": loss.item(),
                  "peak_rss_mb": peak / 1024, "peak_rss_children_mb": children / 1024, "workers": args.workers}))

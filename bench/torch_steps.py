"""The first steps of bench/torch_simclr.py's training (colour recipe: 3 channels, 32 px, tau 0.5, Adam 1e-3,
weight decay 1e-6, warm-up over 10% of the steps then cosine), on the views of a file written by
torch_simclr.py --dump-views, for bench/steps.ts: writes the initial weights with simclr's names
(encoder.*, head.0.0.*, head.1.0.*) and prints the loss of every step as JSON.

Usage: torch_steps.py --views FILE --init-out FILE [--steps 12] [--seed 1] [--threads 2]
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "fixtures"))
from narrow_resnet import resnet  # noqa: E402
import st  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--views", required=True)
p.add_argument("--init-out", required=True)
p.add_argument("--steps", type=int, default=12)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
args = p.parse_args()
torch.manual_seed(args.seed)
torch.set_num_threads(args.threads)
encoder = resnet(18, width=0.25, cifar_stem=True, in_channels=3)
for m in encoder.modules():
    if isinstance(m, torch.nn.Conv2d):
        torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
head = torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128))
model = torch.nn.Sequential(encoder, head)
names = {"0.": "encoder.", "1.0.": "head.0.0.", "1.2.": "head.1.0."}
st.save(args.init_out, {next(v + k[len(p):] for p, v in names.items() if k.startswith(p)): t for k, t in model.state_dict().items()}, {})
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
with open(args.views + ".json") as f:
    shape = json.load(f)
total = shape["steps"]
warmup = round(0.1 * total)
step_bytes = shape["rows"] * shape["channels"] * shape["size"] ** 2
losses = []
with open(args.views, "rb") as f:
    for step in range(args.steps):
        views = torch.frombuffer(bytearray(f.read(step_bytes)), dtype=torch.uint8)
        views = views.reshape(shape["rows"], shape["channels"], shape["size"], shape["size"]).float() / 255
        lr = 1e-3 * step / warmup if step < warmup else 0.5e-3 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
        for g in optimizer.param_groups:
            g["lr"] = lr
        z = F.normalize(model(views), dim=1)
        n = z.shape[0] // 2
        logits = z @ z.t() / 0.5
        logits.fill_diagonal_(float("-inf"))
        loss = F.cross_entropy(logits, (torch.arange(2 * n) + n) % (2 * n))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
print(json.dumps(losses))

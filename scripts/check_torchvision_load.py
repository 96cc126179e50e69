"""Loads checkpoints written by simclr into torchvision.models.resnet18() and compares outputs.

Usage: /usr/bin/python3 scripts/check_torchvision_load.py DIR
DIR holds <name>.safetensors (a simclr checkpoint), <name>.io.safetensors (input and simclr's
eval-mode output) for name in standard, cifar. Prints one JSON line; exits 1 on a mismatch.
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
import st  # noqa: E402

directory = sys.argv[1]
report = {}
ok = True
for name in ("standard", "cifar"):
    weights, _ = st.load(os.path.join(directory, f"{name}.safetensors"))
    io, _ = st.load(os.path.join(directory, f"{name}.io.safetensors"))
    model = torchvision.models.resnet18()
    if name == "cifar":
        model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = torch.nn.Identity()
    model.load_state_dict(weights, strict=True)
    model.eval()
    with torch.no_grad():
        out = model(io["input"])
    err = ((out - io["output"]).norm() / io["output"].norm()).item()
    report[name] = {"keys": len(weights), "relative_error": err}
    ok = ok and err < 1e-4
report["ok"] = ok
print(json.dumps(report))
sys.exit(0 if ok else 1)

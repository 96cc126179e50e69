"""SimCLR in PyTorch, the fidelity recipe, for bench/fidelity.ts and bench/pretrain.ts.

Fashion-MNIST (Debian's dataset-fashion-mnist), ResNet-18 CIFAR stem width 0.25 (16/32/64/128
channels, torchvision's initialisation), 1 input channel, 28 px, batch 256 (last partial batch
dropped), τ 0.5, Adam lr 1e-3 and weight decay 1e-6, linear warm-up over the first 10% of steps
then cosine decay to 0, colour strength s = 1, no blur, no mean/std normalisation; torchvision's
per-image transforms.

With --folder DIR: torchvision's ImageFolder on DIR/train (JPEGs decoded by PIL in __getitem__, as
users run it), RGB, RandomResizedCrop(32) cut from the decoded image, 3 input channels; the rest as
above (bench/pretrain.ts --data colour runs it with --strength 0.5, the paper's CIFAR recipe).
The photo recipe (bench/fidelity.ts and bench/pretrain.ts --data photos): --image-size 96 --stem
imagenet --blur 0.5 (GaussianBlur with an odd kernel of about 10% of the side, sigma 0.1-2, as
simclr's) --tau 0.2 --lr 4e-3 --warmup-epochs 0.5.

For bench/swap-views.ts: --dump-views FILE writes the views the run would train on (uint8
[steps][2B][C][H][W], rows i and i + B the two views of image i; FILE.json the shape) and stops;
--views FILE trains on a file's views instead of torchvision's.

Usage: torch_simclr.py --epochs 5 --workers 0 --threads 2 [--steps N] [--out encoder.safetensors]
                       [--folder DIR] [--strength S] [--init torchvision|default]
                       [--image-size N] [--stem cifar|imagenet] [--blur P] [--tau T] [--lr LR] [--warmup-epochs E]
                       [--augment crop+color+blur] [--head v1|linear|none]
                       [--dump-views FILE | --views FILE]
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
from torchvision import datasets, transforms

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
p.add_argument("--folder", default="", help="an image folder with train/<class>/ subfolders instead of --data (RGB, 32 px)")
p.add_argument("--strength", type=float, default=1.0, help="colour distortion strength s")
p.add_argument("--init", choices=["torchvision", "default"], default="torchvision",
               help="torchvision: torchvision's ResNet initialisation (Kaiming-normal fan_out convs), as simclr's; "
                    "default: PyTorch's Conv2d default (Kaiming-uniform, a = sqrt 5), what narrow_resnet's rebuilt layers get")
p.add_argument("--dump-views", default="", help="write the run's views to this file and stop")
p.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the forward pass, as simclr's --precision bf16")
p.add_argument("--views", default="", help="train on this file's views (bench/swap-views.ts) instead of torchvision's")
p.add_argument("--image-size", type=int, default=0, help="view size (0: 28 for Fashion-MNIST, 32 for a folder)")
p.add_argument("--stem", choices=["cifar", "imagenet"], default="cifar", help="cifar: 3x3 stride-1 conv, no max-pool; imagenet: 7x7 stride-2 conv and max-pool")
p.add_argument("--blur", type=float, default=0.0, help="Gaussian blur probability")
p.add_argument("--tau", type=float, default=0.5, help="NT-Xent temperature")
p.add_argument("--lr", type=float, default=1e-3, help="Adam's peak learning rate")
p.add_argument("--augment", default="crop+color+blur",
               help="the transforms that are on, as simclr's --augment: crop (RandomResizedCrop and flip; off: the whole image), "
                    "color (jitter and grayscale), blur (at --blur's probability)")
p.add_argument("--head", choices=["v1", "linear", "none"], default="v1",
               help="projection head, as simclr's --head: v1 Linear-ReLU-Linear, linear (one Linear), none (the loss on h)")
p.add_argument("--warmup-epochs", type=float, default=-1, help="linear warm-up length in epochs (-1: 10%% of the steps)")
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

if args.folder:
    folder = datasets.ImageFolder(os.path.join(args.folder, "train"))  # PIL loader, converted to RGB
    size, channels, count = args.image_size or 32, 3, len(folder)

    def load(i):
        return folder[i][0]
else:
    with gzip.open(args.data) as f:
        raw = f.read()
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    size, channels, count = args.image_size or 28, 1, len(images)

    def load(i):
        return Image.fromarray(images[i], mode="L")

s = args.strength
on = set(args.augment.split("+")) - {"none"}
if not on <= {"crop", "color", "blur"}:
    sys.exit(f"--augment: unknown transform in {args.augment!r} (crop, color, blur joined by +, or none)")
view = transforms.Compose([
    *([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()] if "crop" in on else [transforms.Resize((size, size))]),
    *([transforms.RandomApply([transforms.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
       transforms.RandomGrayscale(p=0.2)] if "color" in on else []),
    # simclr's blur kernel: the odd size nearest 10% of the side, at least 3
    *([transforms.RandomApply([transforms.GaussianBlur(max(3, round(0.1 * size)) | 1, sigma=(0.1, 2.0))], p=args.blur)] if args.blur > 0 and "blur" in on else []),
    transforms.ToTensor(),
])


class Pairs(torch.utils.data.Dataset):
    def __len__(self):
        return count

    def __getitem__(self, i):
        img = load(i)
        return view(img), view(img)


def nt_xent(z, tau):
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    logits = z @ z.t() / tau
    logits.fill_diagonal_(float("-inf"))
    targets = (torch.arange(2 * n) + n) % (2 * n)
    return F.cross_entropy(logits, targets)


encoder = resnet(18, width=0.25, cifar_stem=args.stem == "cifar", in_channels=channels)
if args.init == "torchvision":
    # narrow_resnet rebuilds conv1 and the stages after torchvision's constructor initialised them, so
    # they carry nn.Conv2d's default initialisation; torchvision's own is redone here.
    for m in encoder.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
head = {"v1": lambda: torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128)),
        "linear": lambda: torch.nn.Linear(128, 128), "none": torch.nn.Identity}[args.head]()
model = torch.nn.Sequential(encoder, head)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-6)
loader = torch.utils.data.DataLoader(Pairs(), batch_size=256, shuffle=True, drop_last=True, num_workers=args.workers,
                                     persistent_workers=args.workers > 0)
steps_per_epoch = len(loader)


def file_batches(path):
    """The views of a file, one (a, b) per step, as floats in [0, 1]."""
    with open(path + ".json") as f:
        shape = json.load(f)
    if shape["steps"] != args.epochs * steps_per_epoch:
        sys.exit(f"{path}: holds {shape['steps']} steps, the run takes {args.epochs * steps_per_epoch}")
    step_bytes = shape["rows"] * shape["channels"] * shape["size"] ** 2
    with open(path, "rb") as f:
        for _ in range(shape["steps"]):
            views = torch.frombuffer(bytearray(f.read(step_bytes)), dtype=torch.uint8)
            views = views.reshape(shape["rows"], shape["channels"], shape["size"], shape["size"]).float() / 255
            yield views.chunk(2)


if args.dump_views:
    with open(args.dump_views, "wb") as f:
        for epoch in range(args.epochs):
            for a, b in loader:
                f.write((torch.cat([a, b]) * 255).round().to(torch.uint8).numpy().tobytes())
    with open(args.dump_views + ".json", "w") as f:
        json.dump({"steps": args.epochs * steps_per_epoch, "rows": 2 * loader.batch_size, "channels": channels, "size": size}, f)
    sys.exit(0)
from_file = file_batches(args.views) if args.views else None
total = args.epochs * steps_per_epoch
warmup = round(0.1 * total) if args.warmup_epochs < 0 else round(args.warmup_epochs * steps_per_epoch)
step = 0
views = 0
start = time.perf_counter()
WARMUP_STEPS = 3  # views/s is timed after these, as bench/pretrain.ts times simclr's steps
warm_time, warm_views = start, 0
done = False
for epoch in range(args.epochs):
    for a, b in (loader if from_file is None else (next(from_file) for _ in range(steps_per_epoch))):
        lr = args.lr * step / warmup if step < warmup else 0.5 * args.lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
        for g in optimizer.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            z = model(torch.cat([a, b]))
        loss = nt_xent(z.float(), args.tau)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        views += 2 * a.shape[0]
        if step == WARMUP_STEPS:
            warm_time, warm_views = time.perf_counter(), views
        if step % 50 == 0:
            print(f"step {step}/{total} loss {loss.item():.4f}", file=sys.stderr)
        if args.steps and step >= args.steps:
            done = True
            break
    if done:
        break
end = time.perf_counter()
seconds = end - start
if args.out:
    st.save(args.out, encoder.state_dict(), {"format": "simclr-encoder/1", "depth": "18", "cifarStem": str(args.stem == "cifar").lower(), "width": "0.25",
                                              "inChannels": str(channels), "imageSize": str(size)})
if args.workers > 0:
    loader._iterator._shutdown_workers()  # join the DataLoader's workers, so that RUSAGE_CHILDREN counts them
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker's
print(json.dumps({"steps": step, "views": views, "seconds": seconds, "views_per_s": (views - warm_views) / (end - warm_time) if step > WARMUP_STEPS else views / seconds,
                  "views_per_s_whole_loop": views / seconds, "final_loss": loss.item(),
                  "peak_rss_mb": peak / 1024, "peak_rss_children_mb": children / 1024,
                  "peak_rss_total_mb": (peak + args.workers * children) / 1024, "workers": args.workers}))

"""The tensor-engine benchmark in PyTorch, on the same libtorch, for bench/tensor.ts.

Prints one JSON object. Run as users run it (default malloc) or with
MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ set; bench/tensor.ts runs both.
"""
import json
import os
import resource
import sys
import time

import torch
import torchvision

threads = int(sys.argv[1]) if len(sys.argv) > 1 else os.cpu_count()
torch.set_num_threads(threads)
torch.manual_seed(0)


def best(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sys_seconds():
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


out = {"threads": threads, "torch": torch.__version__}

a, b = torch.ones(1), torch.ones(1)
n = 100000
for _ in range(2):
    t = time.perf_counter()
    for _ in range(n):
        a + b
    out["add_overhead_us"] = (time.perf_counter() - t) / n * 1e6

m = torch.randn(512, 512)
m @ m
out["matmul512_ms"] = best(lambda: m @ m, 20) * 1e3

convs = {}
for name, (n_, c, s) in {"imagenet_layer1_n16_c64_56": (16, 64, 56), "cifar_w025_layer1_n512_c16_32": (512, 16, 32)}.items():
    x = torch.randn(n_, c, s, s, requires_grad=True)
    w = torch.randn(c, c, 3, 3, requires_grad=True)

    def step():
        y = torch.nn.functional.conv2d(x, w, padding=1)
        y.sum().backward()

    step()
    convs[name] = best(step, 3) * 1e3
out["conv3x3_fwd_bwd_ms"] = convs

# ResNet-18, CIFAR stem, width 0.25 (16/32/64/128 channels), no classifier.
class Narrow(torchvision.models.ResNet):
    def __init__(self):
        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
        self.inplanes = 16
        self.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        self.maxpool = torch.nn.Identity()
        self.layer1 = self._make_layer(torchvision.models.resnet.BasicBlock, 16, 2)
        self.layer2 = self._make_layer(torchvision.models.resnet.BasicBlock, 32, 2, stride=2)
        self.layer3 = self._make_layer(torchvision.models.resnet.BasicBlock, 64, 2, stride=2)
        self.layer4 = self._make_layer(torchvision.models.resnet.BasicBlock, 128, 2, stride=2)
        self.fc = torch.nn.Identity()

model = Narrow()
x = torch.randn(512, 3, 32, 32)

def resnet_step():
    model(x).sum().backward()

resnet_step()
sys0 = sys_seconds()
t = best(resnet_step, 5)
out["resnet18_cifar_w025_512_views_per_s"] = 512 / t
out["resnet18_sys_s_per_step"] = (sys_seconds() - sys0) / 5
print(json.dumps(out))

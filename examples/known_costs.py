"""A loop whose data, forward and backward each busy-wait a known time.

Used by perfkit's tests to prove attribution (the test reads the script's own record of
how long each busy-wait really took). The busy-waits spin on time.perf_counter, so
each phase costs at least its nominal time whatever the machine's load.

    perfkit run examples/known_costs.py --data-ms 20 --forward-ms 30 --backward-ms 25
"""

import argparse
import json
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

parser = argparse.ArgumentParser()
parser.add_argument("--data-ms", type=float, default=20.0)
parser.add_argument("--forward-ms", type=float, default=30.0)
parser.add_argument("--backward-ms", type=float, default=25.0)
parser.add_argument("--truth", default=None, help="write the measured busy-wait times here (JSON)")
parser.add_argument("--steps", type=int, default=1000)
args = parser.parse_args()

TRUTH = {"data": [], "forward": [], "backward": []}


def spin(ms: float, phase: str) -> None:
    start = time.perf_counter()
    while time.perf_counter() - start < ms / 1e3:
        pass
    TRUTH[phase].append((time.perf_counter() - start) * 1e3)


class SlowData(Dataset):
    def __len__(self) -> int:
        return 10_000

    def __getitem__(self, i: int):
        return torch.ones(4), 0


def collate(items):
    spin(args.data_ms, "data")
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


class SlowBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        spin(args.backward_ms, "backward")
        return grad


class SlowModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x):
        spin(args.forward_ms, "forward")
        return SlowBackward.apply(self.linear(x))


model = SlowModel()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loader = DataLoader(SlowData(), batch_size=2, collate_fn=collate)
try:
    for step, (x, y) in enumerate(loader):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step + 1 >= args.steps:
            break
finally:
    if args.truth:
        with open(args.truth, "w") as handle:
            json.dump(TRUTH, handle)

"""Gradient accumulation: four micro-batches per optimizer step. Unmodified PyTorch.

    perfkit run examples/grad_accumulation.py

perfkit ends a step at the first DataLoader fetch after an optimizer step, so each
measured step holds four fetches, forwards and backwards and one optimizer step.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ACCUM = 4
torch.manual_seed(0)
data = TensorDataset(torch.randn(1024, 32), torch.randn(1024, 1))
loader = DataLoader(data, batch_size=16, shuffle=True, drop_last=True)
model = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 1))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

for epoch in range(4):
    for i, (x, y) in enumerate(loader):
        loss = nn.functional.mse_loss(model(x), y) / ACCUM
        loss.backward()
        if (i + 1) % ACCUM == 0:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

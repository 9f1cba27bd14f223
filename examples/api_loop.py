"""Your own loop, measured with perfkit.Session. Run: python examples/api_loop.py"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import perfkit

data = TensorDataset(torch.randn(2048, 64), torch.randint(0, 10, (2048,)))
loader = DataLoader(data, batch_size=64, shuffle=True, drop_last=True)
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

with perfkit.Session(name="api-loop", warmup_steps=3, steps=20, model=model) as s:
    while not s.done:
        for x, y in s.data(loader):
            with s.phase("forward"):
                loss = nn.functional.cross_entropy(model(x), y)
            with s.phase("backward"):
                loss.backward()
            with s.phase("optimizer"):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            s.step(loss=loss)
s.save("api-run.json")

"""A GAN-style loop: two models, two optimizers, two backward passes per batch.

    perfkit run examples/gan.py

perfkit ends a step at the first DataLoader fetch after an optimizer step, so the
discriminator's and the generator's updates of one batch are one step.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
real = TensorDataset(torch.randn(512, 16))
loader = DataLoader(real, batch_size=32, shuffle=True, drop_last=True)
generator = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16))
discriminator = nn.Sequential(nn.Linear(16, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()

for epoch in range(4):
    for (x,) in loader:
        z = torch.randn(x.size(0), 8)
        fake = generator(z)
        d_loss = bce(discriminator(x), torch.ones(x.size(0), 1)) + bce(discriminator(fake.detach()), torch.zeros(x.size(0), 1))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(discriminator(fake), torch.ones(x.size(0), 1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

"""Builders: each turns one config section into torch objects. They import torch."""

"""Names of the built-in components, kept free of torch so validation stays fast."""

from __future__ import annotations

BUILTIN_MODELS: tuple[str, ...] = ("mlp", "convnet", "resnet", "transformer")
BUILTIN_DATASETS: tuple[str, ...] = ("synthetic-images", "synthetic-tokens", "image-folder")
OPTIMIZERS: tuple[str, ...] = ("sgd", "rmsprop", "adam", "adamw", "adagrad")
SCHEDULERS: tuple[str, ...] = ("none", "step", "cosine", "onecycle", "linear-warmup")

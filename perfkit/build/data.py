"""Data builder: built-in datasets, user datasets and the DataLoader.

``build_dataset`` receives only the ``data:`` section. The synthetic datasets do real
per-sample CPU work so that DataLoader settings (workers, pinning, prefetch) change the
measured data time the way they would on a real pipeline:

* ``synthetic-images``: a uint8 HWC image (from a pool of pre-generated images), a
  random crop, a random horizontal flip, conversion to float CHW and per-channel
  normalisation. The cost scales with ``image_size``; ``cpu_cost_us`` adds that many
  microseconds of busy work per sample (a stand-in for JPEG decoding).
* ``synthetic-tokens``: random token sequences of ``seq_len + 1`` ids, returned shifted as
  ``(input, target)`` for next-token prediction.
* ``image-folder``: ``root/<class>/<image>`` files decoded with Pillow (optional extra);
  a relative ``root`` is looked up from the config file's folder first, then the working
  directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from perfkit.build.imports import call_factory, resolve_callable
from perfkit.config.schema import DataConfig
from perfkit.errors import BuildError

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def busy_wait_us(microseconds: float) -> None:
    """Spin the CPU for ``microseconds`` (real work that competes for cores, unlike sleep)."""
    if microseconds <= 0:
        return
    end = time.perf_counter() + microseconds * 1e-6
    while time.perf_counter() < end:
        pass


def _normalize_constants(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor([_MEAN[i % 3] for i in range(channels)]).view(channels, 1, 1)
    std = torch.tensor([_STD[i % 3] for i in range(channels)]).view(channels, 1, 1)
    return mean, std


class SyntheticImages(Dataset[tuple[torch.Tensor, int]]):
    """Random uint8 images with a real augmentation pipeline (see module docstring)."""

    def __init__(
        self,
        num_samples: int = 1024,
        image_size: int = 64,
        crop_size: int | None = None,
        channels: int = 3,
        num_classes: int = 10,
        cpu_cost_us: float = 0.0,
        pool_size: int = 64,
        seed: int = 0,
    ) -> None:
        if num_samples < 1 or image_size < 1 or channels < 1 or num_classes < 1:
            raise ValueError("num_samples, image_size, channels and num_classes must be >= 1")
        self.crop = crop_size if crop_size is not None else image_size
        if not 1 <= self.crop <= image_size:
            raise ValueError(f"crop_size must be in [1, image_size={image_size}], got {self.crop}")
        if cpu_cost_us < 0:
            raise ValueError(f"cpu_cost_us must be >= 0, got {cpu_cost_us}")
        generator = torch.Generator().manual_seed(seed)
        self.pool = torch.randint(
            0, 256, (min(pool_size, num_samples), image_size, image_size, channels), dtype=torch.uint8, generator=generator
        )
        self.labels = torch.randint(0, num_classes, (num_samples,), generator=generator)
        self.num_samples = num_samples
        self.image_size = image_size
        self.cpu_cost_us = cpu_cost_us
        self.mean, self.std = _normalize_constants(channels)
        self.seed = seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        # Per-sample randomness derived from the index: identical across worker counts.
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        image = self.pool[index % len(self.pool)]
        top, left = (int(v) for v in torch.randint(0, self.image_size - self.crop + 1, (2,), generator=g))
        image = image[top : top + self.crop, left : left + self.crop]
        if bool(torch.rand(1, generator=g) < 0.5):
            image = image.flip(1)
        tensor = image.permute(2, 0, 1).to(torch.float32).div_(255.0)
        tensor = tensor.sub_(self.mean).div_(self.std)
        busy_wait_us(self.cpu_cost_us)
        return tensor, int(self.labels[index])


class SyntheticTokens(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random token ids; item ``i`` is ``(x[:-1], x[1:])`` of a ``seq_len + 1`` sequence."""

    def __init__(
        self, num_samples: int = 1024, seq_len: int = 128, vocab_size: int = 1024, cpu_cost_us: float = 0.0, seed: int = 0
    ) -> None:
        if num_samples < 1 or seq_len < 1 or vocab_size < 2:
            raise ValueError("num_samples and seq_len must be >= 1 and vocab_size >= 2")
        self.num_samples = num_samples
        self.seq_len = seq_len
        self.vocab_size = vocab_size
        self.cpu_cost_us = cpu_cost_us
        self.seed = seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        seq = torch.randint(0, self.vocab_size, (self.seq_len + 1,), generator=g)
        busy_wait_us(self.cpu_cost_us)
        return seq[:-1], seq[1:]


class ImageFolder(Dataset[tuple[torch.Tensor, int]]):
    """``root/<class>/<file>`` images decoded with Pillow, resized, cropped, flipped."""

    EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

    def __init__(self, root: str, image_size: int = 224, resize: int | None = None, seed: int = 0) -> None:
        try:
            import PIL.Image  # noqa: F401 - checked here, used in __getitem__ (a module does not pickle)
        except ImportError as exc:
            raise BuildError(
                "data.name: image-folder needs Pillow, which is not installed; pip install 'perfkit[images]'"
            ) from exc
        base = Path(root)
        if not base.is_dir():
            raise BuildError(f"data.params.root: {root} is not a directory of class folders")
        classes = sorted(p.name for p in base.iterdir() if p.is_dir())
        self.items = [
            (path, label)
            for label, cls in enumerate(classes)
            for path in sorted((base / cls).iterdir())
            if path.suffix.lower() in self.EXTENSIONS
        ]
        if not self.items:
            raise BuildError(f"data.params.root: no images ({', '.join(self.EXTENSIONS)}) under {root}/<class>/")
        self.image_size = image_size
        self.resize = resize or int(image_size * 8 / 7)
        if self.resize < image_size:
            raise BuildError(f"data.params.resize: {self.resize} is smaller than image_size {image_size}; raise it")
        self.mean, self.std = _normalize_constants(3)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        from PIL import Image

        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((self.resize, self.resize))
            data = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
        image = data.view(self.resize, self.resize, 3)
        top, left = (int(v) for v in torch.randint(0, self.resize - self.image_size + 1, (2,), generator=g))
        image = image[top : top + self.image_size, left : left + self.image_size]
        if bool(torch.rand(1, generator=g) < 0.5):
            image = image.flip(1)
        tensor = image.permute(2, 0, 1).to(torch.float32).div_(255.0)
        return tensor.sub_(self.mean).div_(self.std), label


BUILTIN_DATASET_FACTORIES: dict[str, Any] = {
    "synthetic-images": SyntheticImages,
    "synthetic-tokens": SyntheticTokens,
    "image-folder": ImageFolder,
}


@dataclass(frozen=True)
class DataSpec:
    """The dataset and what one sample holds, for throughput accounting."""

    dataset: Dataset[Any]
    tokens_per_sample: int | None


def _data_path(root: str, base_dir: Path) -> Path:
    """A relative data path, looked up from the config file's folder first (so the
    experiment runs from any working directory), then from the working directory."""
    path = Path(root).expanduser()
    if path.is_absolute():
        return path
    beside_config = base_dir / path
    return beside_config if beside_config.exists() or not path.exists() else path


def build_dataset(config: DataConfig, base_dir: Path, seed: int = 0) -> DataSpec:
    """Build the dataset named by ``data.name`` with ``data.params`` as keyword arguments.

    Built-in datasets take the experiment's ``seed`` unless ``data.params.seed`` is set."""
    name = config.name
    params = dict(config.params)
    if name == "image-folder" and isinstance(params.get("root"), str):
        params["root"] = str(_data_path(params["root"], base_dir))
    if name in BUILTIN_DATASET_FACTORIES:
        params.setdefault("seed", seed)
        dataset = call_factory(BUILTIN_DATASET_FACTORIES[name], params, "data.params", f"built-in dataset '{name}'")
    else:
        factory = resolve_callable(name, base_dir, "data.name")
        dataset = call_factory(factory, params, "data.params", f"'{name}'")
    if not isinstance(dataset, Dataset) and not hasattr(dataset, "__getitem__"):
        raise BuildError(f"data.name: '{name}' returned {type(dataset).__name__}, not a torch Dataset")
    try:
        length = len(dataset)
    except TypeError as exc:
        raise BuildError(f"data.name: '{name}' returned a dataset without __len__; perfkit needs a map-style Dataset") from exc
    if length < 1:
        raise BuildError(f"data.name: '{name}' returned an empty dataset")
    tokens = dataset.seq_len if isinstance(dataset, SyntheticTokens) else getattr(dataset, "tokens_per_sample", None)
    return DataSpec(dataset=dataset, tokens_per_sample=tokens)


def build_loader(config: DataConfig, dataset: Dataset[Any], pin_memory: bool, seed: int) -> DataLoader[Any]:
    """The DataLoader with the config's knobs. ``pin_memory`` is decided by the caller
    (pinning only helps, and only works, with an accelerator)."""
    if config.drop_last and len(dataset) < config.batch_size:  # type: ignore[arg-type]
        raise BuildError(
            f"data.batch_size: {config.batch_size} is larger than the dataset ({len(dataset)} samples) "  # type: ignore[arg-type]
            "with drop_last: true, so no batch would be produced; lower the batch size or grow data.params.num_samples"
        )
    kwargs: dict[str, Any] = {}
    if config.num_workers > 0:
        kwargs["persistent_workers"] = config.persistent_workers
        if config.prefetch_factor is not None:
            kwargs["prefetch_factor"] = config.prefetch_factor
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=config.shuffle,
        num_workers=config.num_workers,
        pin_memory=pin_memory,
        drop_last=config.drop_last,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )

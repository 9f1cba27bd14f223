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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from perfkit.build.imports import (
    PILLOW,
    Rule,
    at_least,
    bind_params,
    call_factory,
    check_rules,
    import_extra,
    optional,
    resolve_callable,
    text,
    whole,
)
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
        # Checked here, used in __getitem__ (a module does not pickle).
        import_extra(PILLOW, "data.name", "image-folder")
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


#: What each built-in dataset's parameters must be, checked before anything is built.
BUILTIN_DATASET_RULES: dict[str, dict[str, Rule]] = {
    "synthetic-images": {
        "num_samples": whole(1),
        "image_size": whole(1),
        "crop_size": optional(whole(1)),
        "channels": whole(1),
        "num_classes": whole(1),
        "cpu_cost_us": at_least(0),
        "pool_size": whole(1),
        "seed": whole(0),
    },
    "synthetic-tokens": {
        "num_samples": whole(1),
        "seq_len": whole(1),
        "vocab_size": whole(2),
        "cpu_cost_us": at_least(0),
        "seed": whole(0),
    },
    "image-folder": {"root": text(), "image_size": whole(1), "resize": optional(whole(1)), "seed": whole(0)},
}


@dataclass(frozen=True)
class DatasetFactory:
    """The callable ``data.name`` names and the keyword arguments it will be called with."""

    factory: Any
    params: dict[str, Any]
    what: str
    #: for the built-ins, every argument the factory will see (its defaults applied)
    arguments: Mapping[str, Any] | None = None


def resolve_dataset(config: DataConfig, base_dir: Path, seed: int = 0) -> DatasetFactory:
    """Find the factory for ``data.name`` and check ``data.params`` against it without
    building anything: unknown or missing keyword arguments (the signature is bound); for
    the built-ins, impossible values, an ``image-folder`` root that is not a folder (and
    Pillow), and a synthetic dataset smaller than one batch with ``drop_last``.
    ``perfkit validate`` stops here.

    Built-in datasets take the experiment's ``seed`` unless ``data.params.seed`` is set."""
    name = config.name
    params = dict(config.params)
    key = "data.params"
    if name not in BUILTIN_DATASET_FACTORIES:
        factory = resolve_callable(name, base_dir, "data.name")
        what = f"'{name}'"
        bind_params(factory, params, key, what)
        return DatasetFactory(factory=factory, params=params, what=what)
    if name == "image-folder" and isinstance(params.get("root"), str):
        params["root"] = str(_data_path(params["root"], base_dir))
    params.setdefault("seed", seed)
    factory = BUILTIN_DATASET_FACTORIES[name]
    what = f"built-in dataset '{name}'"
    bound = bind_params(factory, params, key, what)
    if bound is None:
        return DatasetFactory(factory=factory, params=params, what=what)
    _check_builtin_dataset(name, bound.arguments, config, key, what)
    return DatasetFactory(factory=factory, params=params, what=what, arguments=bound.arguments)


def _check_builtin_dataset(name: str, args: Mapping[str, Any], config: DataConfig, key: str, what: str) -> None:
    check_rules(BUILTIN_DATASET_RULES[name], args, key, what)
    if name == "synthetic-images" and args["crop_size"] is not None and args["crop_size"] > args["image_size"]:
        raise BuildError(
            f"{key}.crop_size: {args['crop_size']} is larger than {key}.image_size ({args['image_size']}); "
            "crop at most the whole image"
        )
    if name == "image-folder":
        import_extra(PILLOW, "data.name", "image-folder")
        root = Path(args["root"])
        if not root.is_dir():
            raise BuildError(
                f"{key}.root: {root} is not a folder; give the folder that holds one sub-folder per class "
                "(a relative root is looked up beside the config file first)"
            )
        resize = args["resize"] or int(args["image_size"] * 8 / 7)
        if resize < args["image_size"]:
            raise BuildError(f"{key}.resize: {resize} is smaller than image_size {args['image_size']}; raise it")
        try:
            found = _count_images(root, limit=config.batch_size if config.drop_last else 1)
        except OSError as exc:
            raise BuildError(f"{key}.root: {exc.filename or root}: {exc.strerror or exc}; check the folder and its permissions") from exc
        if found == 0:
            raise BuildError(f"{key}.root: no images ({', '.join(ImageFolder.EXTENSIONS)}) under {root}/<class>/")
        if config.drop_last and found < config.batch_size:
            raise BuildError(_too_small_for_a_batch(config.batch_size, found))
    samples = args.get("num_samples")
    if config.drop_last and isinstance(samples, int) and samples < config.batch_size:
        raise BuildError(_too_small_for_a_batch(config.batch_size, samples))


def _count_images(root: Path, limit: int) -> int:
    """Images in ``root/<class>/``, counted up to ``limit`` only: enough to know that a
    batch can be made, without listing a large dataset."""
    found = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.suffix.lower() in ImageFolder.EXTENSIONS:
                found += 1
                if found >= limit:
                    return found
    return found


def _too_small_for_a_batch(batch_size: int, samples: int) -> str:
    return (
        f"data.batch_size: {batch_size} is larger than the dataset ({samples} samples) "
        "with drop_last: true, so no batch would be produced; lower the batch size, set data.drop_last: false, "
        "or use a larger dataset"
    )


def build_dataset(config: DataConfig, base_dir: Path, seed: int = 0) -> DataSpec:
    """Build the dataset named by ``data.name`` with ``data.params`` as keyword arguments
    (checked first by :func:`resolve_dataset`)."""
    name = config.name
    resolved = resolve_dataset(config, base_dir, seed)
    dataset = call_factory(resolved.factory, resolved.params, "data.params", resolved.what)
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
        raise BuildError(_too_small_for_a_batch(config.batch_size, len(dataset)))  # type: ignore[arg-type]
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

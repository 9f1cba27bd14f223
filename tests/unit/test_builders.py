"""Every builder: models, datasets, loader knobs, optimizers and schedulers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from perfkit.build.data import SyntheticImages, SyntheticTokens, build_dataset, build_loader
from perfkit.build.models import Bottleneck, build_model
from perfkit.build.optim import build_optimizer
from perfkit.config import DataConfig, ModelConfig, OptimizerConfig
from perfkit.errors import BuildError

HERE = Path()


@pytest.mark.parametrize(
    ("name", "params", "x", "out_shape"),
    [
        ("mlp", {"input_dim": 3 * 8 * 8, "hidden": 16, "depth": 2, "num_classes": 5}, torch.randn(2, 3, 8, 8), (2, 5)),
        ("convnet", {"width": 4, "depth": 2, "num_classes": 5}, torch.randn(2, 3, 16, 16), (2, 5)),
        ("resnet", {"depth": 18, "width": 4, "num_classes": 5}, torch.randn(2, 3, 16, 16), (2, 5)),
        ("resnet", {"depth": 50, "width": 4, "num_classes": 5, "stem": "imagenet"}, torch.randn(2, 3, 32, 32), (2, 5)),
        ("transformer", {"vocab_size": 50, "d_model": 16, "n_layers": 1, "n_heads": 2, "seq_len": 12}, torch.randint(0, 50, (2, 12)), (2, 12, 50)),
    ],
)
def test_builtin_models(name: str, params: dict, x: torch.Tensor, out_shape: tuple[int, ...]) -> None:
    model = build_model(ModelConfig(name=name, params=params), HERE)
    assert tuple(model(x).shape) == out_shape


def test_resnet_layouts_follow_depth_and_width() -> None:
    r50 = build_model(ModelConfig(name="resnet", params={"depth": 50, "width": 8}), HERE)
    blocks = [m for m in r50.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 3 + 4 + 6 + 3
    r18 = build_model(ModelConfig(name="resnet", params={"depth": 18, "width": 8}), HERE)
    first_conv = next(m for m in r18.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.out_channels == 8
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in r18.modules())


def test_transformer_ties_embeddings_and_is_causal() -> None:
    model = build_model(ModelConfig(name="transformer", params={"vocab_size": 30, "d_model": 16, "n_layers": 1, "n_heads": 2, "seq_len": 8}), HERE)
    assert model.lm_head.weight is model.tok.weight  # type: ignore[union-attr]
    x = torch.randint(0, 30, (1, 8))
    y = x.clone()
    y[0, -1] = (y[0, -1] + 1) % 30
    # Changing the last token must not change earlier positions' logits (causal mask).
    assert torch.allclose(model(x)[0, :-1], model(y)[0, :-1], atol=1e-6)


def test_unknown_model_param_is_named() -> None:
    with pytest.raises(BuildError, match=r"model\.params: 'widht' \(did you mean 'width'\?\) not accepted by built-in model 'convnet'"):
        build_model(ModelConfig(name="convnet", params={"widht": 3}), HERE)


def test_user_model_from_config_folder(tmp_path: Path) -> None:
    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "def tiny(out=3):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(out))\n"
    )
    model = build_model(ModelConfig(name="my_models:tiny", params={"out": 7}), tmp_path)
    assert model(torch.randn(2, 4)).shape == (2, 7)
    # The folder stays first on sys.path, as a script's folder does: the factory may
    # import siblings when called, and spawned DataLoader workers re-import by name.
    assert sys.path[0] == str(tmp_path)
    sys.path.remove(str(tmp_path))


def test_same_module_name_in_two_config_folders(tmp_path: Path) -> None:
    """compare a/exp.yaml b/exp.yaml, each with its own usermod.py: each config gets its own."""
    for folder, width in (("a", 3), ("b", 96)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "helper_widths.py").write_text(f"WIDTH = {width}\n")
        (tmp_path / folder / "usermod_twins.py").write_text(
            "import torch\n"
            "def make():\n"
            "    import helper_widths  # a sibling, imported when the factory runs\n"
            "    return torch.nn.Linear(4, helper_widths.WIDTH)\n"
        )
    try:
        a = build_model(ModelConfig(name="usermod_twins:make"), tmp_path / "a")
        b = build_model(ModelConfig(name="usermod_twins:make"), tmp_path / "b")
        again = build_model(ModelConfig(name="usermod_twins:make"), tmp_path / "a")  # interleaved: a, b, a
        assert (a.out_features, b.out_features, again.out_features) == (3, 96, 3)
    finally:
        for folder in ("a", "b"):
            if str(tmp_path / folder) in sys.path:
                sys.path.remove(str(tmp_path / folder))
        sys.modules.pop("usermod_twins", None)
        sys.modules.pop("helper_widths", None)


def test_user_model_import_errors(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"model\.name: cannot import module 'no_such_mod' for 'no_such_mod:f'"):
        build_model(ModelConfig(name="no_such_mod:f"), tmp_path)
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(BuildError, match=r"RuntimeError: boom at import"):
        build_model(ModelConfig(name="broken_mod:f"), tmp_path)
    (tmp_path / "ok_mod.py").write_text("x = 1\n")
    with pytest.raises(BuildError, match=r"module 'ok_mod' has no attribute 'f'"):
        build_model(ModelConfig(name="ok_mod:f"), tmp_path)
    (tmp_path / "notmodel.py").write_text("def f():\n    return 3\n")
    with pytest.raises(BuildError, match=r"returned int, not a torch\.nn\.Module"):
        build_model(ModelConfig(name="notmodel:f"), tmp_path)


def test_errors_inside_a_user_factory_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "faulty.py").write_text(
        "def crashes(width=4):\n"
        "    raise AttributeError(\"'NoneType' object has no attribute 'shape'\")\n"
        "def picky(width=4):\n"
        "    if width < 0:\n"
        "        raise ValueError(f'width must be positive, got {width}')\n"
    )
    with pytest.raises(BuildError, match=r"^model\.params: 'faulty:crashes' raised AttributeError: 'NoneType' object has no attribute 'shape'; PERFKIT_DEBUG=1"):
        build_model(ModelConfig(name="faulty:crashes"), tmp_path)
    with pytest.raises(BuildError, match=r"^model\.params: 'faulty:picky' rejected its parameters \(ValueError: width must be positive, got -1\)"):
        build_model(ModelConfig(name="faulty:picky", params={"width": -1}), tmp_path)


def test_torchvision_and_timm_missing_give_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(BuildError, match=r"model\.name: torchvision:resnet18 needs torchvision, which is not installed.*perfkit\[vision\]"):
        build_model(ModelConfig(name="torchvision:resnet18"), HERE)
    with pytest.raises(BuildError, match=r"model\.name: timm:vit_tiny needs timm.*perfkit\[timm\]"):
        build_model(ModelConfig(name="timm:vit_tiny"), HERE)


def test_synthetic_images_do_the_augmentation() -> None:
    ds = SyntheticImages(num_samples=10, image_size=12, crop_size=8, channels=3, num_classes=3, seed=1)
    x, y = ds[3]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert 0 <= y < 3
    assert torch.equal(ds[3][0], x)  # deterministic per index
    assert not torch.equal(ds[4][0], x)
    # Normalised: values are (u8/255 - mean)/std, so they span negative and positive values.
    assert x.min() < 0 < x.max()
    with pytest.raises(ValueError, match="crop_size"):
        SyntheticImages(image_size=8, crop_size=9)


def test_synthetic_tokens_are_shifted_pairs() -> None:
    ds = SyntheticTokens(num_samples=4, seq_len=6, vocab_size=11)
    x, y = ds[2]
    assert x.shape == y.shape == (6,)
    assert torch.equal(x[1:], y[:-1])
    spec = build_dataset(DataConfig(name="synthetic-tokens", params={"seq_len": 6}), HERE)
    assert spec.tokens_per_sample == 6


def test_user_dataset_and_bad_params(tmp_path: Path) -> None:
    (tmp_path / "my_data.py").write_text(
        "import torch\n"
        "class DS(torch.utils.data.Dataset):\n"
        "    def __init__(self, n=5):\n        self.n = n\n"
        "    def __len__(self):\n        return self.n\n"
        "    def __getitem__(self, i):\n        return torch.zeros(2), 0\n"
    )
    spec = build_dataset(DataConfig(name="my_data:DS", params={"n": 9}), tmp_path)
    assert len(spec.dataset) == 9  # type: ignore[arg-type]
    assert spec.tokens_per_sample is None
    with pytest.raises(BuildError, match=r"data\.params: 'size' .*not accepted by built-in dataset 'synthetic-images'; accepted: num_samples, image_size"):
        build_dataset(DataConfig(name="synthetic-images", params={"size": 3}), HERE)


def test_image_folder_needs_pillow_or_decodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = DataConfig(name="image-folder", params={"root": str(tmp_path), "image_size": 8}, batch_size=2)
    try:
        from PIL import Image
    except ImportError:
        with pytest.raises(BuildError, match=r"image-folder needs Pillow.*perfkit\[images\]"):
            build_dataset(config, HERE)
        return
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (20, 16), color=(10, 200, 30)).save(tmp_path / cls / "x.png")
    spec = build_dataset(config, HERE)
    x, y = spec.dataset[1]
    assert x.shape == (3, 8, 8) and y == 1
    # Workers started with spawn/forkserver receive the dataset pickled.
    import pickle

    assert len(pickle.loads(pickle.dumps(spec.dataset))) == 2  # type: ignore[arg-type]
    # A relative root is found beside the config, whatever the working directory.
    monkeypatch.chdir(HERE)
    beside = build_dataset(DataConfig(name="image-folder", params={"root": tmp_path.name, "image_size": 8}, batch_size=2), tmp_path.parent)
    assert len(beside.dataset) == 2  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(BuildError, match="needs Pillow"):
        build_dataset(config, HERE)


def test_loader_knobs_are_passed_through() -> None:
    ds = SyntheticImages(num_samples=16, image_size=8)
    cfg = DataConfig(batch_size=4, num_workers=2, persistent_workers=True, prefetch_factor=3, shuffle=False, drop_last=False)
    loader = build_loader(cfg, ds, pin_memory=False, seed=0)
    assert (loader.batch_size, loader.num_workers, loader.persistent_workers, loader.prefetch_factor) == (4, 2, True, 3)
    assert loader.drop_last is False
    with pytest.raises(BuildError, match=r"data\.batch_size: 64 is larger than the dataset \(16 samples\)"):
        build_loader(DataConfig(batch_size=64), ds, pin_memory=False, seed=0)


def _params() -> list[torch.nn.Parameter]:
    return list(torch.nn.Linear(3, 2).parameters())


@pytest.mark.parametrize(
    ("config", "cls", "expected"),
    [
        ({"name": "sgd", "momentum": 0.9, "nesterov": True}, torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ({"name": "rmsprop", "alpha": 0.9, "centered": True}, torch.optim.RMSprop, {"alpha": 0.9, "centered": True}),
        ({"name": "adam", "betas": [0.8, 0.9], "foreach": True}, torch.optim.Adam, {"betas": (0.8, 0.9), "foreach": True}),
        ({"name": "adamw", "weight_decay": 0.1, "fused": True}, torch.optim.AdamW, {"weight_decay": 0.1, "fused": True}),
        ({"name": "adagrad", "lr_decay": 0.01}, torch.optim.Adagrad, {"lr_decay": 0.01}),
    ],
)
def test_optimizers(config: dict, cls: type, expected: dict) -> None:
    setup = build_optimizer(OptimizerConfig(**config), _params(), default_total_steps=10)
    assert type(setup.optimizer) is cls
    group = setup.optimizer.param_groups[0]
    for key, value in expected.items():
        assert group[key] == value
    assert setup.variant == ("fused" if config.get("fused") else "foreach" if config.get("foreach") else "for-loop")


def test_default_variant_is_what_torch_picks() -> None:
    assert build_optimizer(OptimizerConfig(), _params(), 10, device_type="cuda").variant == "foreach"
    assert build_optimizer(OptimizerConfig(), _params(), 10, device_type="cpu").variant == "for-loop"
    assert build_optimizer(OptimizerConfig(foreach=False), _params(), 10, device_type="cuda").variant == "for-loop"
    # torch only picks foreach itself when both are unset: fused: false means the for-loop.
    assert build_optimizer(OptimizerConfig(fused=False), _params(), 10, device_type="cuda").variant == "for-loop"


def test_onecycle_keeps_the_optimizer_the_config_describes() -> None:
    """OneCycleLR would switch momentum on for SGD without it (timing another optimizer)
    and refuses Adagrad outright; momentum is cycled only where the optimizer has it."""
    onecycle = {"name": "onecycle", "max_lr": 0.5}
    plain = build_optimizer(OptimizerConfig(name="sgd", lr=0.1, scheduler=onecycle), _params(), 10)
    plain.optimizer.step()
    plain.scheduler.step()  # type: ignore[union-attr]
    assert plain.optimizer.param_groups[0]["momentum"] == 0
    assert all("momentum_buffer" not in s or s["momentum_buffer"] is None for s in plain.optimizer.state.values())
    adagrad = build_optimizer(OptimizerConfig(name="adagrad", lr=0.1, scheduler=onecycle), _params(), 10)
    adagrad.optimizer.step()
    adagrad.scheduler.step()  # type: ignore[union-attr]
    with_momentum = build_optimizer(OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, scheduler=onecycle), _params(), 10)
    assert with_momentum.optimizer.param_groups[0]["momentum"] != 0.9  # cycled, as the user asked


def test_onecycle_and_cosine_must_cover_the_run() -> None:
    config = OptimizerConfig(scheduler={"name": "onecycle", "total_steps": 5})
    with pytest.raises(BuildError, match=r"optimizer\.scheduler\.total_steps: onecycle needs at least the run's 10"):
        build_optimizer(config, _params(), default_total_steps=10)
    config = OptimizerConfig(scheduler={"name": "cosine", "total_steps": 5})
    with pytest.raises(BuildError, match=r"optimizer\.scheduler\.total_steps: cosine over 5 steps would climb back up"):
        build_optimizer(config, _params(), default_total_steps=10)


def test_torch_refusal_becomes_build_error() -> None:
    # Bypass perfkit's own validation to reach torch's check of the learning rate.
    config = OptimizerConfig.model_construct(**{**OptimizerConfig().model_dump(), "lr": -1.0})
    with pytest.raises(BuildError, match=r"^optimizer: torch refused SGD\(lr=-1\.0, weight_decay=0\.0\): Invalid learning rate"):
        build_optimizer(config, _params(), 10)


@pytest.mark.parametrize(
    ("scheduler", "cls"),
    [
        ({"name": "step", "step_size": 2, "gamma": 0.5}, torch.optim.lr_scheduler.StepLR),
        ({"name": "cosine"}, torch.optim.lr_scheduler.CosineAnnealingLR),
        ({"name": "onecycle", "max_lr": 0.5}, torch.optim.lr_scheduler.OneCycleLR),
        ({"name": "linear-warmup", "warmup_steps": 3}, torch.optim.lr_scheduler.LinearLR),
    ],
)
def test_schedulers_change_the_lr(scheduler: dict, cls: type) -> None:
    setup = build_optimizer(OptimizerConfig(name="sgd", lr=0.1, scheduler=scheduler), _params(), default_total_steps=10)
    assert isinstance(setup.scheduler, cls)
    lrs = []
    for _ in range(4):
        setup.optimizer.step()
        setup.scheduler.step()  # type: ignore[union-attr]
        lrs.append(setup.optimizer.param_groups[0]["lr"])
    assert len(set(lrs)) > 1


def test_no_scheduler() -> None:
    assert build_optimizer(OptimizerConfig(), _params(), 10).scheduler is None


def test_resolving_checks_parameters_without_building(tmp_path: Path) -> None:
    """``perfkit validate`` resolves and binds; only ``profile`` calls the factory."""
    from perfkit.build.data import resolve_dataset
    from perfkit.build.models import resolve_model

    (tmp_path / "calls_record.py").write_text(
        "CALLS = []\n"
        "def make(width, depth=2):\n"
        "    CALLS.append(width)\n"
        "    raise RuntimeError('built')\n"
    )
    try:
        resolved = resolve_model(ModelConfig(name="calls_record:make", params={"width": 3}), tmp_path)
        import calls_record  # type: ignore[import-not-found]

        assert calls_record.CALLS == [] and resolved.params == {"width": 3}
        with pytest.raises(BuildError, match=r"^model\.params: 'calls_record:make' needs 'width'; set model\.params\.width$"):
            resolve_model(ModelConfig(name="calls_record:make"), tmp_path)
        with pytest.raises(BuildError, match=r"raised RuntimeError: built"):
            build_model(ModelConfig(name="calls_record:make", params={"width": 3}), tmp_path)
        assert calls_record.CALLS == [3]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("calls_record", None)
    # The built-ins' arguments come with their defaults, for the checks across sections.
    convnet = resolve_model(ModelConfig(name="convnet", params={"width": 8}), HERE)
    assert convnet.arguments is not None and (convnet.arguments["width"], convnet.arguments["depth"]) == (8, 3)
    images = resolve_dataset(DataConfig(params={"image_size": 16}), HERE, seed=7)
    assert images.arguments is not None and images.arguments["seed"] == 7 and images.arguments["crop_size"] is None


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("mlp", {"hidden": 0}, r"model\.params\.hidden: must be a whole number >= 1 for built-in model 'mlp' \(got 0\)"),
        ("mlp", {"dropout": 1.5}, r"model\.params\.dropout: must be a number in \[0, 1\)"),
        ("convnet", {"width": 2.5}, r"model\.params\.width: must be a whole number >= 1 .*\(got 2\.5\)"),
        ("convnet", {"batch_norm": "yes"}, r"model\.params\.batch_norm: must be true or false"),
        ("resnet", {"blocks": [2, 0, 2]}, r"model\.params\.blocks: must be a non-empty list of whole numbers >= 1"),
        ("resnet", {"stem": "tiny"}, r"model\.params\.stem: must be one of 'cifar', 'imagenet'"),
        ("transformer", {"n_layers": -1}, r"model\.params\.n_layers: must be a whole number >= 1"),
    ],
)
def test_impossible_builtin_model_params_are_refused_before_building(name: str, params: dict, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build_model(ModelConfig(name=name, params=params), HERE)


def test_impossible_builtin_data_params_are_refused_before_building() -> None:
    with pytest.raises(BuildError, match=r"data\.params\.vocab_size: must be a whole number >= 2 for built-in dataset 'synthetic-tokens'"):
        build_dataset(DataConfig(name="synthetic-tokens", params={"vocab_size": 1}), HERE)
    with pytest.raises(BuildError, match=r"data\.params\.channels: must be a whole number >= 1"):
        build_dataset(DataConfig(params={"channels": 0}), HERE)
    with pytest.raises(BuildError, match=r"data\.batch_size: 64 is larger than the dataset \(16 samples\)"):
        build_dataset(DataConfig(params={"num_samples": 16}, batch_size=64), HERE)
    # Without drop_last a short dataset still makes one (short) batch.
    assert len(build_dataset(DataConfig(params={"num_samples": 16}, batch_size=64, drop_last=False), HERE).dataset) == 16  # type: ignore[arg-type]

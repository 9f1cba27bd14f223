"""Optional extras (torchvision, timm, Pillow, matplotlib) that are installed but fail to
import: one line (exit 2) naming the package, its version, torch's version and the fix.

The failures are faked with real packages written into ``tmp_path`` and put first on
``sys.path``: an ``__init__.py`` that raises as the broken build does, and a
``.dist-info`` folder that gives the installed version to ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from perfkit.build.imports import installed_version
from perfkit.cli import app
from perfkit.errors import BuildError, InputError
from tests.conftest import TINY

TORCH = metadata.version("torch")
NMS = "operator torchvision::nms does not exist"


def fake_broken_package(monkeypatch: pytest.MonkeyPatch, folder: Path, module: str, dist: str, version: str, raises: str) -> None:
    """Make ``import <module>`` raise ``raises`` (Python source) and ``metadata.version(dist)``
    answer ``version``; the real module, if any, is hidden for the test."""
    package = folder / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"{raises}\n")
    info = folder / f"{dist.lower()}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    monkeypatch.syspath_prepend(str(folder))
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    importlib.invalidate_caches()


def assert_one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_torchvision_built_for_another_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.build.models import build_model
    from perfkit.config import ModelConfig

    fake_broken_package(monkeypatch, tmp_path, "torchvision", "torchvision", "0.28.0", f"raise RuntimeError({NMS!r})")
    with pytest.raises(BuildError) as caught:
        build_model(ModelConfig(name="torchvision:resnet18"), tmp_path)
    assert_one_line(
        caught.value.message,
        "model.name: torchvision:resnet18 needs torchvision, but torchvision 0.28.0 fails to import",
        f"beside torch {TORCH}",
        f"(RuntimeError: {NMS})",
        "pip install --force-reinstall --no-deps 'torchvision",
        "or use the built-in 'resnet'",
    )


def test_timm_broken_by_its_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.build.models import build_model
    from perfkit.config import ModelConfig

    fake_broken_package(monkeypatch, tmp_path, "timm", "timm", "1.0.20", f"raise RuntimeError({NMS!r})")
    with pytest.raises(BuildError) as caught:
        build_model(ModelConfig(name="timm:resnet18"), tmp_path)
    assert_one_line(
        caught.value.message,
        "model.name: timm:resnet18 needs timm, but timm 1.0.20 fails to import",
        f"beside torch {TORCH}",
        "timm imports torchvision; install the torchvision build made for torch",
    )


def test_pillow_that_cannot_load_its_libraries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.build.data import build_dataset
    from perfkit.config import DataConfig

    fake_broken_package(
        monkeypatch, tmp_path / "site", "PIL", "Pillow", "99.1.0", "raise OSError('libjpeg.so.8: cannot open shared object file')"
    )
    (tmp_path / "images" / "cat").mkdir(parents=True)
    config = DataConfig(name="image-folder", params={"root": str(tmp_path / "images")}, batch_size=1)
    with pytest.raises(BuildError) as caught:
        build_dataset(config, tmp_path)
    assert_one_line(
        caught.value.message,
        "data.name: image-folder needs Pillow, but Pillow 99.1.0 fails to import",
        f"beside torch {TORCH}",
        "(OSError: libjpeg.so.8: cannot open shared object file)",
        "reinstall it: pip install --force-reinstall Pillow",
    )


def test_matplotlib_with_a_broken_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.render.plot import plot_steps
    from perfkit.report import build_run_report
    from tests.factories import steady_run

    fake_broken_package(
        monkeypatch, tmp_path / "site", "matplotlib", "matplotlib", "99.2.0", "raise ImportError('numpy.core.multiarray failed to import')"
    )
    with pytest.raises(InputError) as caught:
        plot_steps(build_run_report(steady_run()), tmp_path / "steps.png")
    assert_one_line(
        caught.value.message,
        "--plot needs matplotlib, but matplotlib 99.2.0 fails to import",
        f"beside torch {TORCH}",
        "(ImportError: numpy.core.multiarray failed to import)",
        "pip install --force-reinstall matplotlib",
    )
    assert not (tmp_path / "steps.png").exists()


def test_a_missing_extra_still_says_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that is absent (even with metadata left behind) is 'not installed'."""
    from perfkit.build.imports import MATPLOTLIB, import_extra

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InputError, match=r"^--plot needs matplotlib, which is not installed; pip install 'perfkit\[plot\]'$"):
        import_extra(MATPLOTLIB, "", "--plot", error=InputError)


@pytest.mark.parametrize(
    ("torch_version", "expected"),
    [
        ("2.13.0+cpu", "pip install --force-reinstall --no-deps 'torchvision==0.28.*' --index-url https://download.pytorch.org/whl/cpu"),
        ("2.11.0+cu126", "pip install --force-reinstall --no-deps 'torchvision==0.26.*' --index-url https://download.pytorch.org/whl/cu126"),
        ("2.4.1", "pip install --force-reinstall --no-deps 'torchvision==0.19.*'"),
        ("3.0.0+cpu", "pip install --force-reinstall --no-deps 'torchvision' --index-url https://download.pytorch.org/whl/cpu"),
    ],
)
def test_the_torchvision_fix_names_the_matching_build(torch_version: str, expected: str) -> None:
    """torch 2.N pairs with torchvision 0.(N+15); the index is the one torch's local
    version names (``+cpu``, ``+cu126``); without one, PyPI."""
    from perfkit.build.imports import _torch_build_hint

    hint = _torch_build_hint("torchvision", torch_version)
    assert hint == f"install the torchvision build made for torch {torch_version}: {expected}"


def test_installed_version_reads_the_metadata() -> None:
    assert installed_version("torch") == TORCH
    assert installed_version("no-such-distribution-perfkit") is None
    # A module name finds its distribution when the names differ (PIL is Pillow's).
    assert installed_version("no-such-distribution-perfkit", "PIL") == metadata.version("Pillow")


# --- the commands -----------------------------------------------------------------------

runner = CliRunner()


def one_error_line(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def test_profile_and_validate_refuse_a_broken_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_broken_package(monkeypatch, tmp_path / "site", "torchvision", "torchvision", "0.28.0", f"raise RuntimeError({NMS!r})")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**TINY, "model": {"name": "torchvision:resnet18", "params": {"num_classes": 4}}}))
    checked = one_error_line(runner.invoke(app, ["validate", str(config)]))
    assert f"model.name: torchvision:resnet18 needs torchvision, but torchvision 0.28.0 fails to import beside torch {TORCH}" in checked
    assert checked.startswith(f"error: {config}:")
    profiled = one_error_line(runner.invoke(app, ["profile", str(config), "-q"]))
    assert profiled == checked


def test_profile_refuses_a_broken_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_broken_package(monkeypatch, tmp_path / "site", "PIL", "Pillow", "99.1.0", "raise OSError('libjpeg.so.8: cannot open shared object file')")
    (tmp_path / "images" / "cat").mkdir(parents=True)
    data = {"name": "image-folder", "params": {"root": "images", "image_size": 8}, "batch_size": 4}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": data}))
    for command in ("validate", "profile"):
        err = one_error_line(runner.invoke(app, [command, str(config)]))
        assert "data.name: image-folder needs Pillow, but Pillow 99.1.0 fails to import" in err, err


def test_report_plot_refuses_a_broken_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.report import save_run
    from tests.factories import steady_run

    run = save_run(steady_run(), tmp_path / "run.json")
    fake_broken_package(monkeypatch, tmp_path / "site", "matplotlib", "matplotlib", "99.2.0", "raise RuntimeError('broken build')")
    err = one_error_line(runner.invoke(app, ["report", str(run), "--plot", str(tmp_path / "steps.png")]))
    assert err == (
        f"error: --plot needs matplotlib, but matplotlib 99.2.0 fails to import beside torch {TORCH} "
        "(RuntimeError: broken build); reinstall it: pip install --force-reinstall matplotlib"
    )


def test_report_plot_does_not_import_torch(tmp_path: Path) -> None:
    """The extras helper is torch-free: `report --plot` of a saved run starts without torch."""
    import subprocess
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from typer.testing import CliRunner
        from perfkit.cli import app
        from perfkit.report import save_run
        from tests.factories import steady_run

        folder = Path({str(tmp_path)!r})
        run = save_run(steady_run(), folder / "run.json")
        result = CliRunner().invoke(app, ["report", str(run), "--plot", str(folder / "steps.svg"), "-f", "md"])
        assert result.exit_code == 0, result.output
        print("torch" in sys.modules)
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "steps.svg").read_bytes().lstrip().startswith(b"<?xml")

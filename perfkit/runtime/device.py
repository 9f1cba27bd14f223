"""Choosing the device and describing the machine a run happened on."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

from perfkit import __version__
from perfkit.errors import BuildError
from perfkit.results import Environment


def resolve_device(spec: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; validates ``cuda:N``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:  # the schema's pattern should have refused it already
        raise BuildError(f"device: '{spec}' is not a device torch knows ({exc}); use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise BuildError(
                f"device: '{spec}' requested but no CUDA device is available (torch {torch.__version__} is "
                f"{build}); use device: cpu or auto"
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise BuildError(
                f"device: '{spec}' but only {torch.cuda.device_count()} CUDA device(s) are visible; use cuda:0.."
                f"{torch.cuda.device_count() - 1}"
            )
        device = torch.device("cuda", index)
    return device


def _git_sha(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def _cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def capture_environment(device: torch.device, config_dir: Path) -> Environment:
    """Versions and hardware that decide whether two runs are comparable."""
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else _cpu_model_name()
    capability = None
    memory = None
    if cuda:
        props = torch.cuda.get_device_properties(device)
        capability = f"{props.major}.{props.minor}"
        memory = int(props.total_memory)
    cudnn_version = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return Environment(
        perfkit_version=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        hostname=socket.gethostname(),
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=None if cudnn_version is None else str(cudnn_version),
        device_type=device.type,
        device_name=name,
        device_capability=capability,
        device_memory_bytes=memory,
        git_sha=_git_sha(config_dir),
    )

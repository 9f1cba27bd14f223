"""The host peak RSS covers the measured window when the kernel lets perfkit reset it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfkit.runtime import host_memory

linux_reset = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc/self/clear_refs")

MiB = 2**20


def _touch(size: int) -> bytearray:
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])  # make every page resident
    return block


@linux_reset
def test_reset_forgets_an_earlier_peak(quiet_heap: None) -> None:
    block = _touch(200 * MiB)
    del block
    lifetime = host_memory.lifetime_peak_rss_bytes()
    assert host_memory.reset_peak_rss()
    peak, scope = host_memory.peak_rss_bytes(reset_done=True)
    assert scope == "measured"
    assert peak is not None
    assert peak < lifetime - 100 * MiB  # the 200 MiB freed before the reset is not in it


@pytest.fixture
def quiet_heap() -> Iterator[None]:
    """No garbage collection while measuring: freeing an earlier test's garbage mid-test
    would lower the RSS under the allocation being measured."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@linux_reset
def test_peak_after_reset_sees_new_allocations(quiet_heap: None) -> None:
    assert host_memory.reset_peak_rss()
    before, _ = host_memory.peak_rss_bytes(reset_done=True)
    block = _touch(64 * MiB)
    after, _ = host_memory.peak_rss_bytes(reset_done=True)
    del block
    assert before is not None and after is not None
    assert after - before >= 60 * MiB


def test_without_a_reset_the_lifetime_peak_is_reported() -> None:
    peak, scope = host_memory.peak_rss_bytes(reset_done=False)
    assert scope == "process"
    assert peak == host_memory.lifetime_peak_rss_bytes()


def test_reset_fails_cleanly_where_proc_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(host_memory, "_STATUS", tmp_path / "no-status")
    monkeypatch.setattr(host_memory, "_CLEAR_REFS", tmp_path / "no-dir" / "clear_refs")
    assert host_memory.reset_peak_rss() is False
    assert host_memory.peak_rss_bytes(reset_done=True)[1] == "process"


def test_reset_fails_cleanly_where_the_write_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmHWM:\t  1234 kB\nVmRSS:\t  1000 kB\n")
    monkeypatch.setattr(host_memory, "_STATUS", status)
    monkeypatch.setattr(host_memory, "_CLEAR_REFS", tmp_path / "no-dir" / "clear_refs")
    assert host_memory.reset_peak_rss() is False
    monkeypatch.setattr(host_memory, "_CLEAR_REFS", tmp_path / "clear_refs")
    assert host_memory.reset_peak_rss() is True
    assert (tmp_path / "clear_refs").read_text() == "5"  # only the peak-RSS reset, never 1-4
    assert host_memory.peak_rss_bytes(reset_done=True) == (1234 * 1024, "measured")

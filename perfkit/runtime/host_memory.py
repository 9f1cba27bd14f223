"""Peak resident set size of this process over the measured window.

``getrusage().ru_maxrss`` is the process's *lifetime* peak: once a process has run a big
experiment, every later run in it reports at least that figure, so two configs run by
one ``perfkit compare`` cannot be told apart. Linux (≥ 4.0) lets a process reset its own
high-water mark: writing ``5`` to ``/proc/self/clear_refs`` sets ``VmHWM`` in
``/proc/self/status`` to the current RSS. perfkit does that at the end of warm-up, so the
peak it reads after the loop covers the measured steps (plus the RSS already resident
then: model, optimizer state, dataset), like ``torch.cuda.reset_peak_memory_stats`` does
for device memory.

The reset lowers ``ru_maxrss`` as well (Linux derives it from the same high-water
mark), so after a run nothing in the process reports the earlier lifetime peak.

Only ``5`` is written: the other values of ``clear_refs`` clear page-table bits that
other tools (checkpointing, working-set estimators) rely on. DataLoader worker processes
are not included in either figure; their memory is their own.

Where the reset is unavailable (macOS, a kernel without it, a sandbox that forbids the
write), the figure falls back to ``ru_maxrss`` and its scope says ``process``.
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path
from typing import Literal

RssScope = Literal["measured", "process"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_VM_HWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)


def _vm_hwm_bytes() -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    match = _VM_HWM.search(text)
    return int(match.group(1)) * 1024 if match else None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark to its current RSS; True when it worked."""
    if _vm_hwm_bytes() is None:
        return False
    try:
        with _CLEAR_REFS.open("w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def lifetime_peak_rss_bytes() -> int:
    """``ru_maxrss`` in bytes (Linux reports KiB, macOS bytes)."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage if sys.platform == "darwin" else usage * 1024)


def peak_rss_bytes(reset_done: bool) -> tuple[int | None, RssScope]:
    """The peak RSS and what it covers: since the reset (``measured``) when
    :func:`reset_peak_rss` succeeded, the process's lifetime (``process``) otherwise."""
    if reset_done:
        peak = _vm_hwm_bytes()
        if peak is not None:
            return peak, "measured"
    return lifetime_peak_rss_bytes(), "process"


__all__ = ["RssScope", "lifetime_peak_rss_bytes", "peak_rss_bytes", "reset_peak_rss"]

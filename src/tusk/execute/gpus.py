"""GPU devices and the slots jobs take on them.

``gpus = "auto"`` asks ``nvidia-smi``; on a machine without it the list is empty. A job asking for a
fraction of a GPU (``gpus = 0.5``) shares a device with others until the device is full; a job asking
for whole GPUs takes whole free devices.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence

from tusk.errors import ConfigError

EPSILON = 1e-9


def detect() -> list[int]:
    """Indices of the GPUs nvidia-smi reports; empty when there is none or it fails."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return [int(line) for line in out.stdout.split() if line.strip().isdigit()]


def devices(setting: str | int | Sequence[int] | None) -> list[int]:
    """``"auto"`` → detected; an int → that many (0..n-1); a list → those indices."""
    if setting is None or setting == "auto":
        return detect()
    if isinstance(setting, bool):
        raise ConfigError('[executor] gpus: use "auto", a count, or a list of device indices')
    if isinstance(setting, int):
        return list(range(setting))
    if isinstance(setting, str):
        if setting.isdigit():
            return list(range(int(setting)))
        raise ConfigError(f'[executor] gpus = {setting!r}: use "auto", a count, or a list of device indices')
    return [int(d) for d in setting]


class GpuSlots:
    """Which device each running job holds. ``take`` → device indices, or None when it must wait."""

    def __init__(self, device_ids: Sequence[int]) -> None:
        self.free = {d: 1.0 for d in device_ids}

    def possible(self, gpus: float) -> bool:
        if gpus <= 0:
            return True
        if gpus < 1:
            return bool(self.free)
        return float(gpus).is_integer() and int(gpus) <= len(self.free)

    def take(self, gpus: float) -> list[int] | None:
        if gpus <= 0:
            return []
        if gpus < 1:
            fitting = [d for d, left in self.free.items() if left + EPSILON >= gpus]
            if not fitting:
                return None
            device = min(fitting, key=lambda d: (self.free[d], d))  # pack fractions onto busy devices first
            self.free[device] -= gpus
            return [device]
        whole = [d for d, left in sorted(self.free.items()) if left >= 1 - EPSILON]
        need = math.ceil(gpus)
        if len(whole) < need:
            return None
        for device in whole[:need]:
            self.free[device] = 0.0
        return whole[:need]

    def give_back(self, held: Sequence[int], gpus: float) -> None:
        share = gpus if 0 < gpus < 1 else 1.0
        for device in held:
            self.free[device] = min(1.0, self.free[device] + share)

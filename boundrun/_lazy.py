"""numpy, imported on first use: registering 27 experiments (`boundrun list`, `boundrun --help`) then costs
no numpy import, which is a third of the start-up time."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


numpy = LazyModule("numpy")

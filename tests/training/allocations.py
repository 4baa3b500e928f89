"""Allocation measurement on CPU: the largest tensor storage any operation produced.

A TorchDispatchMode sees every aten call, including factory functions (zeros, full, arange), so
an [S, S] mask cannot be built without passing through it. The storage size is what was
allocated (a view reports its base's storage, which is the memory it keeps alive).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LargestAllocation(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.op = ""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and leaf.device.type != "meta":
                size = leaf.untyped_storage().nbytes()
                if size > self.bytes:
                    self.bytes, self.op = size, str(func)
        return out

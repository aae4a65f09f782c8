"""The training metrics log: JSONL (always), TensorBoard too when it is installed."""

from __future__ import annotations

import json
import os
from typing import Any


class MetricsLog:
    """Appends one JSON object per line; on resume, drops lines past the checkpoint's step first."""

    def __init__(self, path: str, enabled: bool = True, truncate_after: int | None = None):
        self.path = path
        self.enabled = enabled
        self._tensorboard = None
        if not enabled:
            return
        if truncate_after is not None and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                kept = [line for line in fh if line.strip() and json.loads(line).get("step", 0) <= truncate_after]
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(kept)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(os.path.join(os.path.dirname(path), "tensorboard"))
        except Exception:  # tensorboard not installed: the JSONL log is enough
            self._tensorboard = None

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
        if self._tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tensorboard.add_scalar(key, value, record["step"])

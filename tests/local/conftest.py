"""Local mode runs the session's synthesized dev templates (``dev_assembly``)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

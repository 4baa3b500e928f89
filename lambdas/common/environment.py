"""Each function's environment as a typed model, parsed from ``os.environ``.

The models name their fields after the environment variables (``contract.*Env``, written by the
stack); a missing or malformed value fails the first invocation with pydantic's error naming the
variable. Handlers parse once per execution environment (a cached ``_environment()``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part for part in value.split(",") if part)
    return value


# A comma-separated list (empty items dropped).
CommaList = Annotated[tuple[str, ...], BeforeValidator(_split)]
# The same, at least one item.
Ids = Annotated[tuple[str, ...], BeforeValidator(_split), Field(min_length=1)]


class FunctionEnvironment(BaseModel):
    """Base of the environment models: frozen; variables the model does not name (Lambda's
    own, Powertools') are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


Model = TypeVar("Model", bound=FunctionEnvironment)


def parse_environment(model: type[Model], env: Mapping[str, str] | None = None) -> Model:
    """``model`` from ``env`` (default: the process environment)."""
    return model.model_validate(dict(os.environ if env is None else env))

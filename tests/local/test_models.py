"""Which local weights answer a model id (``LocalModels.resolve``), without loading any."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bedrock_pipeline.local.models import LocalModels

PROFILE = "us.meta.llama3-2-1b-instruct-v1:0"


def test_the_evaluation_base_is_answered_by_the_run_base_weights_and_says_so() -> None:
    models = LocalModels({"container/llama3": Path("/w/base")})
    assert models.stand_in(PROFILE, "container/llama3")
    assert models.resolve(PROFILE, "Converse") == Path("/w/base")
    assert models.served[PROFILE].startswith("EMULATED: us.meta.llama3-2-1b-instruct-v1:0 has no")
    assert "container/llama3 (/w/base)" in models.served[PROFILE]


def test_weights_given_for_the_model_itself_win() -> None:
    models = LocalModels({"container/llama3": Path("/w/base"), PROFILE: Path("/w/llama")})
    assert not models.stand_in(PROFILE, "container/llama3")
    assert models.resolve(PROFILE, "Converse") == Path("/w/llama")
    assert models.served[PROFILE] == "local weights /w/llama"


def test_no_stand_in_without_base_weights() -> None:
    models = LocalModels()
    assert not models.stand_in(PROFILE, "container/llama3")
    with pytest.raises(ClientError) as info:
        models.resolve(PROFILE, "Converse")
    assert f"pass --model {PROFILE}=DIR" in str(info.value)

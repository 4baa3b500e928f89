"""Which local weights answer a model id (``LocalModels.resolve``), and Converse with images
answered by a tiny Llama 3.2 Vision checkpoint."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from bedrock_pipeline.local.models import LocalModels

PROFILE = "us.meta.llama3-2-1b-instruct-v1:0"
VISION_PROFILE = "us.meta.llama3-2-11b-instruct-v1:0"


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


@pytest.fixture(scope="module")
def vision_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training_image.tiny_vision import dataset_texts, vision_tokenizer, write_vision_base_model

    out = tmp_path_factory.mktemp("vision")
    write_vision_base_model(out, vision_tokenizer(dataset_texts()))
    return out


def _image_converse(model_id: str, image: bytes | None) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"text": "What colour is the square?"}]
    if image is not None:
        content.insert(0, {"image": {"format": "png", "source": {"bytes": image}}})
    return {
        "modelId": model_id,
        "system": [{"text": "Answer in one word."}],
        "messages": [{"role": "user", "content": content}],
        "inferenceConfig": {"maxTokens": 3},
    }


def test_a_vision_checkpoint_answers_converse_with_the_image_bytes(vision_weights: Path) -> None:
    from training_image.tiny_vision import draw

    png = io.BytesIO()
    draw("square", "red", (32, 32), 1).save(png, format="PNG")
    models = LocalModels({"container/llama3-vision": vision_weights})
    assert models.stand_in(VISION_PROFILE, "container/llama3-vision")
    with_image = models.converse(_image_converse(VISION_PROFILE, png.getvalue()))
    text_only = models.converse(_image_converse(VISION_PROFILE, None))
    usage = with_image["usage"]
    assert 1 <= usage["outputTokens"] <= 3 and with_image["stopReason"] in {
        "end_turn",
        "max_tokens",
    }
    # The prompt holds one <|image|> token more: the processor placed the image in the turn.
    assert usage["inputTokens"] == text_only["usage"]["inputTokens"] + 1


def test_a_text_checkpoint_given_an_image_is_a_validation_error(tmp_path: Path) -> None:
    from training_image.tiny import train_tokenizer, write_base_model

    write_base_model(tmp_path, "llama", train_tokenizer(iter(["What colour is it?"] * 4)), seed=0)
    models = LocalModels({"container/llama3": tmp_path})
    with pytest.raises(ClientError) as info:
        models.converse(_image_converse("container/llama3", b"\x89PNG"))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "local mode reads image blocks" in str(info.value)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    with pytest.raises(ClientError) as info:
        models.converse(_image_converse("container/llama3", png.getvalue()))
    assert "doesn't support the image content block" in str(info.value)
    assert "LlamaForCausalLM, text only" in str(info.value)

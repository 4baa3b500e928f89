"""Image records: the Converse request (bytes, format, block order, system prompt), Converse's
image limits, and models that cannot take images."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bedrock_pipeline.converse_images import (
    MAX_IMAGE_BYTES,
    ImageRefused,
    check_count,
    check_image,
)
from bedrock_pipeline.formats import ImageRef, Turn, to_conversation
from lambdas.evaluate.config import EvaluatedModel, Inference
from lambdas.evaluate.invoke import (
    IMAGES_NOT_SUPPORTED,
    Invoker,
    build_prompt,
    converse_request,
    invoke_request,
)
from tests.support.evaluation import FakeRuntime, client_error, image_record, png

A, B = "s3://data-bucket/img/a.png", "s3://data-bucket/img/b.png"
BYTES = {A: png(8, 8), B: png(4, 6, (0, 0, 200))}
CUSTOM = EvaluatedModel(
    name="custom", model_id="arn:aws:bedrock:::imported-model/custom-v", api="auto"
)


def image_prompt(record: dict[str, Any] | None = None) -> Any:
    conversation = to_conversation(record or image_record(A, B), path="t", line=1)
    return build_prompt(conversation.system, conversation.turns[:-1], image_bytes=BYTES)


def test_converse_request_sends_each_image_as_bytes_in_block_order() -> None:
    record = image_record(A, question="Compare.")
    # text, image, text, image: the order of the record, not images first
    record["messages"][0]["content"] = [
        {"text": "First:"},
        record["messages"][0]["content"][0],
        {"text": "then:"},
        {"image": {"format": "png", "source": {"s3Location": {"uri": B}}}},
    ]
    request = converse_request("m", image_prompt(record), Inference(max_tokens=8))
    assert request["system"] == [{"text": "Look closely."}]
    (message,) = request["messages"]
    assert message["role"] == "user"
    assert message["content"] == [
        {"text": "First:"},
        {"image": {"format": "png", "source": {"bytes": BYTES[A]}}},
        {"text": "then:"},
        {"image": {"format": "png", "source": {"bytes": BYTES[B]}}},
    ]
    assert request["inferenceConfig"] == {"maxTokens": 8, "temperature": 0.0}


def test_text_turns_stay_one_text_block() -> None:
    conversation = to_conversation({"prompt": "Capital?", "completion": "Paris"}, path="t", line=1)
    prompt = build_prompt(None, conversation.turns[:-1])
    request = converse_request("m", prompt, Inference())
    assert request["messages"] == [{"role": "user", "content": [{"text": "Capital?"}]}]
    assert "system" not in request and prompt.images == ()


def test_parsed_turn_keeps_images_with_format_uri_and_owner() -> None:
    record = image_record(A)
    location = record["messages"][0]["content"][0]["image"]["source"]["s3Location"]
    location["bucketOwner"] = "111122223333"
    (turn, answer) = to_conversation(record, path="t", line=1).turns
    assert turn.images == (ImageRef("png", A, "111122223333"),)
    assert turn.text == "What shape is this?" and answer.content == ()


def test_image_over_3_75_mb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageRefused, match=r"a.png is 3,932,161 bytes; .* at most 3,932,160"):
        check_image(ImageRef("png", A), b"\x89PNG" + bytes(MAX_IMAGE_BYTES - 3))


def test_image_over_8000_px_is_refused() -> None:
    assert check_image(ImageRef("png", A), png(8000, 2)) == (8000, 2)
    with pytest.raises(ImageRefused, match=r"is 2 x 8001 px; .* at most 8000 px"):
        check_image(ImageRef("png", A), png(2, 8001))


def test_image_in_another_format_than_declared_or_unreadable_is_refused() -> None:
    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(ImageRefused, match="declared png but its bytes are jpeg"):
        check_image(ImageRef("png", A), jpeg.getvalue())
    with pytest.raises(ImageRefused, match="not a readable image"):
        check_image(ImageRef("png", A), b"not an image")
    with pytest.raises(ImageRefused, match="is empty"):
        check_image(ImageRef("png", A), b"")


def test_more_than_20_images_in_one_request_are_refused() -> None:
    check_count([ImageRef("png", A)] * 20)
    with pytest.raises(ImageRefused, match="21 images in one request; Converse takes at most 20"):
        check_count([ImageRef("png", A)] * 21)


def test_image_record_goes_through_converse_for_an_auto_model() -> None:
    runtime = FakeRuntime()
    answer = Invoker(runtime, Inference(), timeout_s=10).answer(CUSTOM, image_prompt())
    assert (answer.output, answer.api) == ("a square", "converse")
    assert runtime.calls == [("converse", CUSTOM.model_id, "What shape is this?")]


def test_text_only_model_given_images_gets_a_clear_error_and_keeps_converse() -> None:
    refused = client_error(
        "ValidationException", "This model doesn't support the image content block that you "
        "provided. Try again without the image.",
    )  # fmt: skip
    runtime = FakeRuntime(lambda q, m: refused if q.startswith("What shape") else None)
    invoker = Invoker(runtime, Inference(), timeout_s=10)
    answer = invoker.answer(CUSTOM, image_prompt())
    assert answer.output is None and answer.error_code == IMAGES_NOT_SUPPORTED
    message = str(answer.error_message)
    assert message.startswith(
        "model custom (arn:aws:bedrock:::imported-model/custom-v) refused a record with "
        "2 image(s): the model takes no images, or does not serve Converse (imported "
        "Qwen2-VL/Qwen2.5-VL); Bedrock: This model doesn't support the image content block"
    )
    # The refusal is about the images: the model's text records still go through Converse.
    text = invoker.answer(CUSTOM, build_prompt(None, (Turn("user", "Capital of France?"),)))
    assert (text.output, text.api) == ("Paris", "converse")
    assert [op for op, _, _ in runtime.calls] == ["converse", "converse"]


def test_throttled_image_request_is_retried_with_the_same_bytes() -> None:
    throttled = [client_error("ThrottlingException", "Too many requests")]
    runtime = FakeRuntime(lambda q, m: throttled.pop() if throttled else None)
    sleeps: list[float] = []
    invoker = Invoker(runtime, Inference(), timeout_s=10, sleep=sleeps.append)
    answer = invoker.answer(CUSTOM, image_prompt())
    assert answer.output == "a square" and len(sleeps) == 1
    first, second = runtime.requests
    assert first == second and first["messages"][0]["content"][0]["image"]["source"] == {
        "bytes": BYTES[A]
    }


def test_model_called_through_invoke_model_gets_a_clear_error_without_a_call() -> None:
    runtime = FakeRuntime()
    invoke_only = EvaluatedModel(name="qwen", model_id="arn:q", api="invoke")
    answer = Invoker(runtime, Inference(), timeout_s=10).answer(invoke_only, image_prompt())
    assert answer.error_code == IMAGES_NOT_SUPPORTED and runtime.calls == []
    assert "model qwen (arn:q) is called through InvokeModel" in str(answer.error_message)


def test_invoke_request_of_a_text_prompt_is_unchanged() -> None:
    conversation = to_conversation({"prompt": "Q?", "completion": "A"}, path="t", line=1)
    request = invoke_request("m", build_prompt("S", conversation.turns[:-1]), Inference())
    assert '"content": "Q?"' in request["body"]

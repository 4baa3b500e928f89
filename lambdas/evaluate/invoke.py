"""Ask one model one test question through bedrock-runtime, with retries and a deadline.

Converse is the default: one request shape for base models, provisioned throughput, custom
model deployments and most imported models, and it reports output tokens and latency itself.
Imported architectures that Converse does not serve (Qwen2.5, Qwen2-VL, GPT-OSS per the
"Invoke your imported model" guide) go through InvokeModel with the OpenAI chat-completions body
that Custom Model Import accepts. Records with images go through Converse only (ImageBlock with
the image's bytes), which Custom Model Import serves for Llama 3.2 Vision (Mllama) imports.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from bedrock_pipeline.aws.retry import DEFAULT_BACKOFF, Backoff, call_with_retry, error_code
from bedrock_pipeline.formats import ImageRef, Turn
from lambdas.evaluate.config import EvaluatedModel, Inference

# A model Converse cannot serve answers ValidationException "This action doesn't support the
# model that you provided"; anything else keeps its own error.
_CONVERSE_UNSUPPORTED = re.compile(r"(doesn't|does not|not) support", re.IGNORECASE)


IMAGES_NOT_SUPPORTED = "ImagesNotSupported"


class RecordTimeout(Exception):
    """The record's time budget ran out while waiting to retry."""


@dataclass(frozen=True)
class Prompt:
    system: str | None
    turns: tuple[Turn, ...]  # alternating, starting with user, ending with user
    # The bytes of every image the turns name, by S3 URI (read by the caller).
    image_bytes: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return tuple(image for turn in self.turns for image in turn.images)


def build_prompt(
    system: str | None,
    prompt_turns: Sequence[Turn],
    shots: Sequence[Sequence[Turn]] = (),
    image_bytes: Mapping[str, bytes] | None = None,
) -> Prompt:
    """Few-shot examples come first as earlier exchanges of the same conversation."""
    turns = [t for shot in shots for t in shot] + list(prompt_turns)
    return Prompt(system, tuple(turns), dict(image_bytes or {}))


@dataclass(frozen=True)
class Answer:
    output: str | None
    output_tokens: int | None = None
    input_tokens: int | None = None
    latency_ms: float | None = None
    stop_reason: str | None = None
    api: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def converse_request(model_id: str, prompt: Prompt, inference: Inference) -> dict[str, Any]:
    config: dict[str, Any] = {
        "maxTokens": inference.max_tokens,
        "temperature": inference.temperature,
    }
    if inference.top_p is not None:
        config["topP"] = inference.top_p
    if inference.stop_sequences:
        config["stopSequences"] = list(inference.stop_sequences)
    request: dict[str, Any] = {
        "modelId": model_id,
        "messages": [
            {"role": t.role, "content": _content(t, prompt.image_bytes)} for t in prompt.turns
        ],
        "inferenceConfig": config,
    }
    if prompt.system:
        request["system"] = [{"text": prompt.system}]
    return request


def _content(turn: Turn, image_bytes: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """The turn's blocks in record order; an image as ImageBlock with ``source.bytes``
    (API_runtime_ImageSource.html: the SDK base64-encodes them)."""
    if not turn.content:
        return [{"text": turn.text}]
    return [
        {"text": part}
        if isinstance(part, str)
        else {"image": {"format": part.format, "source": {"bytes": image_bytes[part.uri]}}}
        for part in turn.content
    ]


def parse_converse(response: dict[str, Any], measured_ms: float) -> Answer:
    content = response.get("output", {}).get("message", {}).get("content", [])
    # Reasoning models add reasoningContent blocks; only the text blocks are the answer.
    text = "".join(block["text"] for block in content if "text" in block)
    usage = response.get("usage", {})
    return Answer(
        output=text,
        output_tokens=usage.get("outputTokens"),
        input_tokens=usage.get("inputTokens"),
        latency_ms=float(response.get("metrics", {}).get("latencyMs", measured_ms)),
        stop_reason=response.get("stopReason"),
        api="converse",
    )


def invoke_request(model_id: str, prompt: Prompt, inference: Inference) -> dict[str, Any]:
    messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
    messages += [{"role": t.role, "content": t.text} for t in prompt.turns]
    body: dict[str, Any] = {
        "messages": messages,
        "max_tokens": inference.max_tokens,
        "temperature": inference.temperature,
    }
    if inference.top_p is not None:
        body["top_p"] = inference.top_p
    if inference.stop_sequences:
        body["stop"] = list(inference.stop_sequences)
    return {
        "modelId": model_id,
        "body": json.dumps(body),
        "contentType": "application/json",
        "accept": "application/json",
    }


def parse_invoke(payload: bytes, measured_ms: float) -> Answer:
    """OpenAI chat/completion bodies, and the BedrockCompletion body of older imports."""
    data = json.loads(payload)
    usage = data.get("usage") or {}
    if data.get("choices"):
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        stop = choice.get("finish_reason")
        tokens = usage.get("completion_tokens")
        prompt_tokens = usage.get("prompt_tokens")
    elif "generation" in data:
        text, stop = data["generation"], data.get("stop_reason")
        tokens, prompt_tokens = data.get("generation_token_count"), data.get("prompt_token_count")
    else:
        raise ValueError(f"unrecognised InvokeModel response keys: {sorted(data)}")
    return Answer(text, tokens, prompt_tokens, measured_ms, stop, "invoke")


class Invoker:
    """Calls one runtime client; remembers models that turned out not to support Converse."""

    def __init__(
        self,
        runtime: Any,
        inference: Inference,
        *,
        timeout_s: float,
        backoff: Backoff = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.runtime, self.inference, self.timeout_s = runtime, inference, timeout_s
        self.backoff, self.clock, self.sleep = backoff, clock, sleep
        self._invoke_only: set[str] = set()
        self._lock = threading.Lock()

    def answer(self, spec: EvaluatedModel, prompt: Prompt) -> Answer:
        """Never raises for a per-record failure: the error is part of the Answer."""
        deadline = self.clock() + self.timeout_s
        try:
            return self._answer(spec, prompt, deadline)
        except RecordTimeout as exc:
            return Answer(None, error_code="Timeout", error_message=str(exc))
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", str(exc))
            return Answer(None, error_code=error_code(exc) or "ClientError", error_message=message)
        except Exception as exc:  # a malformed response must not sink the batch
            return Answer(None, error_code=type(exc).__name__, error_message=str(exc))

    def _answer(self, spec: EvaluatedModel, prompt: Prompt, deadline: float) -> Answer:
        use_invoke = spec.api == "invoke" or spec.name in self._invoke_only
        if prompt.images:
            return self._answer_images(spec, prompt, deadline, use_invoke)
        if not use_invoke:
            try:
                return self._converse(spec, prompt, deadline)
            except ClientError as exc:
                unsupported = error_code(exc) == "ValidationException" and bool(
                    _CONVERSE_UNSUPPORTED.search(exc.response.get("Error", {}).get("Message", ""))
                )
                if spec.api == "converse" or not unsupported:
                    raise
                with self._lock:
                    self._invoke_only.add(spec.name)
        return self._invoke(spec, prompt, deadline)

    def _answer_images(
        self, spec: EvaluatedModel, prompt: Prompt, deadline: float, use_invoke: bool
    ) -> Answer:
        """Images go through Converse only: a model called through InvokeModel, or one that
        refuses image blocks, gets ImagesNotSupported for the record, and the record's failure
        never switches the model to InvokeModel (its text records keep their API)."""
        who = f"model {spec.name} ({spec.model_id})"
        if use_invoke:
            why = (
                "is called through InvokeModel (api invoke)"
                if spec.api == "invoke"
                else "does not serve Converse (Bedrock said so on an earlier record)"
            )
            return Answer(
                None,
                error_code=IMAGES_NOT_SUPPORTED,
                error_message=f"{who} {why}; records with images are sent through Converse "
                "only, to a model that takes images (e.g. Llama 3.2 11B/90B Vision)",
            )
        try:
            return self._converse(spec, prompt, deadline)
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "")
            if error_code(exc) == "ValidationException" and _CONVERSE_UNSUPPORTED.search(message):
                return Answer(
                    None,
                    error_code=IMAGES_NOT_SUPPORTED,
                    error_message=f"{who} refused a record with {len(prompt.images)} "
                    "image(s): the model takes no images, or does not serve Converse (imported "
                    f"Qwen2-VL/Qwen2.5-VL); Bedrock: {message}",
                )
            raise

    def _retrying(
        self, fn: Callable[..., Any], deadline: float, **kwargs: Any
    ) -> tuple[Any, float]:
        """(response, milliseconds of the attempt that succeeded, waits excluded)."""
        started = [self.clock()]

        def attempt(**kw: Any) -> Any:
            started[0] = self.clock()
            return fn(**kw)

        def bounded_sleep(delay: float) -> None:
            if self.clock() + delay > deadline:
                raise RecordTimeout(f"gave up after {self.timeout_s:g} s of retries")
            self.sleep(delay)

        response = call_with_retry(attempt, backoff=self.backoff, sleep=bounded_sleep, **kwargs)
        return response, (self.clock() - started[0]) * 1000

    def _converse(self, spec: EvaluatedModel, prompt: Prompt, deadline: float) -> Answer:
        request = converse_request(spec.model_id, prompt, self.inference)
        response, elapsed_ms = self._retrying(self.runtime.converse, deadline, **request)
        return parse_converse(response, elapsed_ms)

    def _invoke(self, spec: EvaluatedModel, prompt: Prompt, deadline: float) -> Answer:
        request = invoke_request(spec.model_id, prompt, self.inference)
        response, elapsed_ms = self._retrying(self.runtime.invoke_model, deadline, **request)
        return parse_invoke(response["body"].read(), elapsed_ms)

"""EMULATION of Bedrock Runtime: Converse and InvokeModel answered by local weights.

A model id maps to a Hugging Face checkpoint directory (``--model ID=DIR``; imported models are
registered by the emulated Custom Model Import). The answer is transformers' greedy ``generate``
over the tokenizer's chat template (for a Llama 3.2 Vision checkpoint, ``config.json``
``model_type`` mllama: MllamaForConditionalGeneration with its AutoProcessor, the Converse image
blocks' bytes as the images); ``outputTokens`` is the number of tokens generated before
the end-of-turn token, ``inputTokens`` the prompt's, both counted by the model's own tokenizer.

Responses follow the shapes the evaluation step reads (Converse: ``output.message.content``,
``stopReason``, ``usage``; InvokeModel with an OpenAI-style chat body: ``choices``, ``usage``);
a model without local weights is a ``ResourceNotFoundException`` that names the option to pass.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.response import StreamingBody

from bedrock_pipeline.local.emulated_bedrock import client_error
from bedrock_pipeline.run_spec import inference_model_id

# Bedrock-trained models (customization jobs) have no weights here: their ARNs look like these.
BEDROCK_TRAINED = re.compile(r":(provisioned-model|custom-model|custom-model-deployment)/")


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # end_turn | max_tokens
    latency_ms: int


@dataclass(frozen=True)
class _Loaded:
    tokenizer: Any
    model: Any
    processor: Any | None  # Mllama's (image processor + tokenizer); None for a text model

    def encode(self, messages: list[dict[str, Any]], images: Sequence[Any]) -> dict[str, Any]:
        """The model's generate inputs: the chat template's prompt (and the images' tiles)."""
        import torch

        if self.processor is None:
            ids = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt"
            )
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        # The template writes the BOS token itself (as Llama 3.2 Vision's does).
        inputs = self.processor(
            images=list(images) or None, text=text, add_special_tokens=False, return_tensors="pt"
        )
        return dict(inputs)


def _image(block: dict[str, Any]) -> Any:
    """An ImageBlock's bytes as an RGB PIL image; unreadable bytes are a ValidationException."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(block["source"]["bytes"])).convert("RGB")
    except (KeyError, UnidentifiedImageError, OSError) as exc:
        raise client_error(
            "ValidationException",
            f"local mode reads image blocks with source.bytes of a png/jpeg/gif/webp image: {exc}",
            "Converse",
        ) from exc


class LocalModels:
    """Model id -> checkpoint directory; loads each once, generates one request at a time
    (two CPU cores: concurrent generate calls only contend)."""

    def __init__(self, weights: dict[str, Path] | None = None) -> None:
        self.weights: dict[str, Path] = {}
        for model_id, directory in (weights or {}).items():
            self.register(model_id, directory)
        # Set by local mode for trainer=bedrock runs: the Bedrock-trained model's stand-in.
        self.bedrock_trained_stand_in: Path | None = None
        # Bedrock models without weights here that another model's weights answer for.
        self.stand_ins: dict[str, str] = {}
        self.served: dict[str, str] = {}  # model id -> what answered it (for the run summary)
        self._loaded: dict[Path, _Loaded] = {}
        self._lock = threading.Lock()

    def register(self, model_id: str, directory: Path) -> None:
        """``model_id`` and its inference id (without the ``:<n>k`` context suffix)."""
        self.weights[model_id] = self.weights[inference_model_id(model_id)] = directory

    def stand_in(self, model_id: str, weights_of: str) -> bool:
        """EMULATED: answer ``model_id`` (a Bedrock model, e.g. the evaluation's base model)
        with the weights registered for ``weights_of``, unless ``model_id`` has weights of its
        own (``--model``); whether the stand-in applies."""
        if self._weights(model_id) is not None or self._weights(weights_of) is None:
            return False
        self.stand_ins[model_id] = weights_of
        return True

    def _weights(self, model_id: str) -> Path | None:
        for candidate in (model_id, inference_model_id(model_id)):
            if candidate in self.weights:
                return self.weights[candidate]
        return None

    def resolve(self, model_id: str, operation: str) -> Path:
        own = self._weights(model_id)
        if own is not None:
            self.served.setdefault(model_id, f"local weights {own}")
            return own
        if model_id in self.stand_ins:
            source = self.stand_ins[model_id]
            directory = self._weights(source)
            assert directory is not None
            self.served.setdefault(
                model_id,
                f"EMULATED: {model_id} has no weights here; the local weights of {source} "
                f"({directory}) answer for it",
            )
            return directory
        if BEDROCK_TRAINED.search(model_id) and self.bedrock_trained_stand_in is not None:
            self.served.setdefault(
                model_id,
                "EMULATED: a Bedrock-trained model has no weights here; its base model's local "
                f"weights ({self.bedrock_trained_stand_in}) answer for it",
            )
            return self.bedrock_trained_stand_in
        raise client_error(
            "ResourceNotFoundException",
            f"local mode has no weights for model {model_id}; pass --model {model_id}=DIR "
            "(a Hugging Face checkpoint directory)",
            operation,
            404,
        )

    def _load(self, directory: Path) -> _Loaded:
        if directory not in self._loaded:
            import torch

            torch.set_num_threads(1)  # one generate at a time, beside the other local work
            config = json.loads((directory / "config.json").read_text())
            if config.get("model_type") == "mllama":
                from transformers import AutoProcessor, MllamaForConditionalGeneration

                processor = AutoProcessor.from_pretrained(directory)
                model: Any = MllamaForConditionalGeneration.from_pretrained(
                    directory, torch_dtype=torch.float32
                )
                loaded = _Loaded(processor.tokenizer, model, processor)
            else:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(directory)
                model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32)
                loaded = _Loaded(tokenizer, model, None)
            model.eval()
            self._loaded[directory] = loaded
        return self._loaded[directory]

    def generate(
        self,
        model_id: str,
        messages: list[dict[str, Any]],
        max_tokens: int,
        operation: str,
        images: Sequence[Any] = (),
    ) -> Generation:
        """``messages``: chat-template messages; a user turn with images has list content of
        ``{"type": "image"}`` and ``{"type": "text", "text"}`` entries, one image entry per
        item of ``images`` (PIL images, in order). A text-only checkpoint given images is a
        ValidationException, as Bedrock answers a model that takes no images."""
        directory = self.resolve(model_id, operation)
        import torch

        with self._lock:
            started = time.perf_counter()
            loaded = self._load(directory)
            if images and loaded.processor is None:
                raise client_error(
                    "ValidationException",
                    "This model doesn't support the image content block that you provided "
                    f"(local weights {directory}: {type(loaded.model).__name__}, text only)",
                    operation,
                )
            tokenizer, model = loaded.tokenizer, loaded.model
            inputs = loaded.encode(messages, images)
            ids = inputs["input_ids"]
            with torch.no_grad():
                out = model.generate(
                    **inputs,
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id,
                )
            generated = out[0, ids.shape[1] :].tolist()
            ended = tokenizer.eos_token_id in generated
            if ended:
                generated = generated[: generated.index(tokenizer.eos_token_id)]
            text = tokenizer.decode(generated, skip_special_tokens=True).strip()
            return Generation(
                text=text,
                input_tokens=int(ids.shape[1]),
                output_tokens=len(generated),
                stop_reason="end_turn" if ended else "max_tokens",
                latency_ms=int((time.perf_counter() - started) * 1000),
            )

    # -- the two Bedrock Runtime operations -------------------------------------------------------
    def converse(self, params: dict[str, Any]) -> dict[str, Any]:
        """Text blocks, and image blocks with ``source.bytes`` (decoded with Pillow)."""
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": s["text"]} for s in params.get("system", [])
        ]
        images: list[Any] = []
        for message in params["messages"]:
            blocks = message["content"]
            if not any("image" in block for block in blocks):
                text = "".join(part.get("text", "") for part in blocks)
                messages.append({"role": message["role"], "content": text})
                continue
            parts: list[dict[str, str]] = []
            for block in blocks:
                if "image" in block:
                    images.append(_image(block["image"]))
                    parts.append({"type": "image"})
                elif "text" in block:
                    parts.append({"type": "text", "text": block["text"]})
            messages.append({"role": message["role"], "content": parts})
        max_tokens = int(params.get("inferenceConfig", {}).get("maxTokens", 512))
        g = self.generate(params["modelId"], messages, max_tokens, "Converse", images)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": g.text}]}},
            "stopReason": g.stop_reason,
            "usage": {
                "inputTokens": g.input_tokens,
                "outputTokens": g.output_tokens,
                "totalTokens": g.input_tokens + g.output_tokens,
            },
            "metrics": {"latencyMs": g.latency_ms},
        }

    def invoke_model(self, params: dict[str, Any]) -> dict[str, Any]:
        body = json.loads(params["body"])
        if "messages" not in body:
            raise client_error(
                "ValidationException",
                "local mode answers InvokeModel with an OpenAI-style chat body "
                '({"messages": [...], "max_tokens": N}) only',
                "InvokeModel",
            )
        messages = [{"role": m["role"], "content": str(m["content"])} for m in body["messages"]]
        g = self.generate(
            params["modelId"], messages, int(body.get("max_tokens", 512)), "InvokeModel"
        )
        data = json.dumps(
            {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": g.text},
                        "finish_reason": "stop" if g.stop_reason == "end_turn" else "length",
                    }
                ],
                "usage": {"prompt_tokens": g.input_tokens, "completion_tokens": g.output_tokens},
            }
        ).encode()
        return {
            "body": StreamingBody(io.BytesIO(data), len(data)),
            "contentType": "application/json",
        }

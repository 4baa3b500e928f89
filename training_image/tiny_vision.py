"""A tiny Llama 3.2 Vision (Mllama) checkpoint and a generated image dataset, built locally.

Nothing is downloaded. The tokenizer is the text models' locally trained BPE (tiny.py) plus
Mllama's `<|image|>` token, whose id is the text vocabulary size exactly as in the real
checkpoint (embed_tokens holds vocab_size + 8 rows); the processor is transformers'
MllamaProcessor around an MllamaImageProcessor with 28 x 28 px tiles, at most 2 tiles, and a
Llama-3.2-Vision-style chat template (content lists with `{"type": "image"}` entries). The
model: a 2-layer vision encoder + 1 global layer (hidden 32) and a 3-layer text decoder (hidden
64) whose layer 1 is a cross-attention layer. The images are coloured shapes drawn with Pillow;
each record asks for the shape's colour, so the answer is only in the image.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw
from transformers import (
    MllamaConfig,
    MllamaForConditionalGeneration,
    MllamaImageProcessor,
    MllamaProcessor,
)

from training_image.tiny import train_tokenizer

IMAGE_TOKEN = "<|image|>"
TILE = 28
# As Llama 3.2 Vision Instruct's template: user content is a list of {"type": "image"} and
# {"type": "text", "text": ...} entries, rendered in order; plain string content also works.
MLLAMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<|image|>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 20),
}
SHAPES = ("square", "circle")
QUESTIONS = ("What colour is the {shape}?", "Which colour does the {shape} have?")


def vision_tokenizer(texts: Iterable[str]) -> Any:
    """The text models' BPE with `<|image|>` added last: its id is the text vocabulary size."""
    tokenizer = train_tokenizer(texts)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tokenizer.chat_template = MLLAMA_TEMPLATE
    return tokenizer


def tiny_vision_config(tokenizer: Any, **text_overrides: Any) -> MllamaConfig:
    image_token = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    vision = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_global_layers=1,
        attention_heads=2,
        intermediate_size=64,
        intermediate_layers_indices=[0],
        vision_output_dim=32 * 2,  # hidden x (len(intermediate_layers_indices) + 1)
        image_size=TILE,
        patch_size=7,
        max_num_tiles=2,
        supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]],
    )
    text = dict(
        vocab_size=image_token,  # as Llama 3.2 Vision: <|image|> is the first id past the vocab
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        cross_attention_layers=[1],
        max_position_embeddings=2048,
        rope_scaling={"rope_type": "default"},
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.1,  # headroom for the loss, as in tiny.py
        **text_overrides,
    )
    return MllamaConfig(vision_config=vision, text_config=text, image_token_index=image_token)


def tiny_processor(tokenizer: Any) -> MllamaProcessor:
    image_processor = MllamaImageProcessor(size={"height": TILE, "width": TILE}, max_image_tiles=2)
    return MllamaProcessor(image_processor, tokenizer, chat_template=MLLAMA_TEMPLATE)


def write_vision_base_model(out: Path, tokenizer: Any, seed: int = 0) -> MllamaConfig:
    """Random-weight MllamaForConditionalGeneration + processor files, as the base_model channel."""
    config = tiny_vision_config(tokenizer)
    torch.manual_seed(seed)
    model: Any = MllamaForConditionalGeneration(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tiny_processor(tokenizer).save_pretrained(out)
    return config


def draw(shape: str, colour: str, size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, (245, 245, 245))
    w, h = size
    x0, y0 = rng.randint(0, w // 4), rng.randint(0, h // 4)
    box = (x0, y0, x0 + w // 2 + rng.randint(0, w // 4), y0 + h // 2 + rng.randint(0, h // 4))
    pen = ImageDraw.Draw(image)
    (pen.rectangle if shape == "square" else pen.ellipse)(box, fill=COLOURS[colour])
    return image


def write_dataset(
    channel: Path, images: Path, bucket: str, count: int, seed: int, fmt: str = "png"
) -> list[dict[str, Any]]:
    """`count` Converse records in channel/data.jsonl naming s3://<bucket>/<key>; each image
    written at images/<key> (the `images` channel's layout)."""
    rng = random.Random(seed)
    records = []
    channel.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        shape, colour = rng.choice(SHAPES), rng.choice(sorted(COLOURS))
        key = f"shapes/{channel.name}-{i:04d}.{fmt}"
        path = images / key
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.choice([(32, 32), (48, 24), (24, 48)])
        draw(shape, colour, size, seed * 100_000 + i).save(path, format=fmt.upper())
        question = rng.choice(QUESTIONS).format(shape=shape)
        records.append(converse_record(f"s3://{bucket}/{key}", fmt, question, f"It is {colour}."))
    with (channel / "data.jsonl").open("w") as stream:
        stream.writelines(json.dumps(r) + "\n" for r in records)
    return records


def converse_record(uri: str, fmt: str, question: str, answer: str) -> dict[str, Any]:
    image = {"format": fmt, "source": {"s3Location": {"uri": uri}}}
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"image": image}, {"text": question}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def dataset_texts() -> list[str]:
    """Every text the dataset can hold (the tokenizer is trained on it)."""
    texts = [q.format(shape=s) for q in QUESTIONS for s in SHAPES]
    return texts + [f"It is {c}." for c in COLOURS] * 4

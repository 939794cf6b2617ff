"""Schemas and inputs in the style of public workers' ``INPUT_SCHEMA`` files.

Imported both by rpworker's tests and, in the reference SDK's own venv, by a
subprocess that runs the SDK's ``validate``: so nothing here imports rpworker
or runpod, and every input is JSON.
"""

from __future__ import annotations

from typing import Any

SCHEDULERS = ("DDIM", "K_EULER", "DPMSolverMultistep", "PNDM")


def _positive(x: Any) -> bool:
    return x > 0


IMAGE_GEN = {
    "prompt": {"type": str, "required": True},
    "negative_prompt": {"type": str, "required": False, "default": None},
    "height": {
        "type": int,
        "required": False,
        "default": 1024,
        "constraints": lambda h: h % 8 == 0,
    },
    "width": {"type": int, "required": False, "default": 1024, "constraints": lambda w: w % 8 == 0},
    "seed": {"type": int, "required": False, "default": None},
    "scheduler": {
        "type": str,
        "required": False,
        "default": "DDIM",
        "constraints": lambda s: s in SCHEDULERS,
    },
    "num_inference_steps": {
        "type": int,
        "required": False,
        "default": 25,
        "constraints": lambda n: 0 < n < 500,
    },
    "guidance_scale": {
        "type": float,
        "required": False,
        "default": 7.5,
        "constraints": lambda g: 0 < g < 20,
    },
    "strength": {"type": float, "required": False, "default": 0.3},
    "num_images": {
        "type": int,
        "required": False,
        "default": 1,
        "constraints": lambda n: 0 < n < 4,
    },
    "high_noise_frac": {"type": float, "required": False, "default": None},
    "refiner": {"type": bool, "required": False, "default": False},
}

WHISPER = {
    "audio": {"type": str, "required": False, "default": None},
    "audio_base64": {"type": str, "required": False, "default": None},
    "model": {
        "type": str,
        "required": False,
        "default": "base",
        "constraints": lambda m: m in ("tiny", "base", "small", "medium", "large-v2"),
    },
    "transcription": {"type": str, "required": False, "default": "plain_text"},
    "translate": {"type": bool, "required": False, "default": False},
    "language": {"type": str, "required": False, "default": None},
    "temperature": {"type": float, "required": False, "default": 0},
    "best_of": {"type": int, "required": False, "default": 5},
    "beam_size": {"type": int, "required": False, "default": 5},
    "patience": {"type": float, "required": False, "default": 1},
    "suppress_tokens": {"type": str, "required": False, "default": "-1"},
    "initial_prompt": {"type": str, "required": False, "default": None},
    "temperature_increment_on_fallback": {"type": float, "required": False, "default": 0.2},
    "enable_vad": {"type": bool, "required": False, "default": False},
    "word_timestamps": {"type": bool, "required": False, "default": False},
}

LLM = {
    "prompt": {"type": str, "required": True},
    "max_new_tokens": {"type": int, "required": False, "default": 128, "constraints": _positive},
    "temperature": {"type": float, "required": False, "default": 0.7, "constraints": _positive},
    "top_p": {
        "type": float,
        "required": False,
        "default": 0.9,
        "constraints": lambda p: 0 < p <= 1,
    },
    "top_k": {"type": int, "required": False, "default": -1},
    "stop": {"type": list, "required": False, "default": []},
    "stream": {"type": bool, "required": False, "default": False},
}

SELF_FAILING_DEFAULT = {
    "steps": {"type": int, "required": False, "default": 0, "constraints": lambda s: s > 0},
    "mode": {
        "type": str,
        "required": False,
        "default": "",
        "constraints": lambda m: m in ("a", "b"),
    },
}

OPTIONAL_NO_DEFAULT = {
    "image_url": {"type": str, "required": True},
    "mask_url": {"type": str, "required": False},
    "scale": {"type": float, "required": False, "default": 4},
}

RAISING_CONSTRAINTS = {
    "size": {"type": str, "required": True, "constraints": lambda s: int(s) > 1},
    "count": {"type": int, "required": False, "default": None, "constraints": lambda c: c > 0},
}

SCHEMA_PROBLEMS = {
    "a": {"type": str},
    "b": {"required": False, "default": 1},
    "c": "not a dict",
    "d": '{"required": false, "default": 3}',
}

UNION_TYPE = {
    "x": {"type": (int, float), "required": False, "default": 1},
    "y": {"type": dict, "required": False, "default": {}},
    "z": {"type": list, "required": True, "constraints": lambda z: len(z) < 3},
}

BOOL_NUMBERS = {
    "n": {"type": int, "required": True},
    "f": {"type": float, "required": False, "default": 1.5},
    "flag": {"type": bool, "required": False, "default": True},
}

CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    (
        "image_gen",
        IMAGE_GEN,
        [
            {"prompt": "a cat"},
            {"prompt": "a cat", "negative_prompt": None, "seed": None},
            {"prompt": "a cat", "seed": 42, "height": 512, "width": 768},
            {"prompt": "a cat", "height": 513},
            {"prompt": "a cat", "scheduler": "NOPE"},
            {"prompt": "a cat", "guidance_scale": 5},
            {"prompt": "a cat", "guidance_scale": 50},
            {"prompt": "a cat", "guidance_scale": 50.0},
            {"prompt": "a cat", "guidance_scale": "high"},
            {"prompt": "a cat", "strength": 1},
            {"prompt": "a cat", "num_images": 9},
            {"prompt": "a cat", "high_noise_frac": 0.8},
            {"prompt": "a cat", "high_noise_frac": 1},
            {"prompt": "a cat", "refiner": True},
            {"prompt": "a cat", "refiner": "yes"},
            {"prompt": 5},
            {"negative_prompt": "blurry"},
            {"prompt": "a cat", "extra": 1},
            {"prompt": "a cat", "num_inference_steps": 0},
            {"prompt": "a cat", "num_inference_steps": True},
            {"prompt": "a cat", "seed": "42"},
        ],
    ),
    (
        "whisper",
        WHISPER,
        [
            {"audio": "https://example.com/a.wav"},
            {"audio": "https://example.com/a.wav", "model": "large-v2", "temperature": 0},
            {"audio": "https://example.com/a.wav", "model": "huge"},
            {"audio": None, "audio_base64": "AAAA"},
            {"audio": "x", "temperature": 0.5, "patience": 2},
            {"audio": "x", "best_of": 2.5},
            {"audio": "x", "translate": 1},
            {},
        ],
    ),
    (
        "llm",
        LLM,
        [
            {"prompt": "hi"},
            {"prompt": "hi", "max_new_tokens": 0},
            {"prompt": "hi", "max_new_tokens": -5},
            {"prompt": "hi", "temperature": 0},
            {"prompt": "hi", "temperature": 1},
            {"prompt": "hi", "top_p": 2},
            {"prompt": "hi", "stop": ["</s>"]},
            {"prompt": "hi", "stop": "</s>"},
            {"prompt": "hi", "stream": True},
            {"prompt": None},
        ],
    ),
    (
        "self_failing_default",
        SELF_FAILING_DEFAULT,
        [{}, {"steps": 5}, {"steps": -1}, {"mode": "a"}, {"mode": "c"}, {"steps": 2.0}],
    ),
    (
        "optional_no_default",
        OPTIONAL_NO_DEFAULT,
        [
            {"image_url": "u"},
            {"image_url": "u", "mask_url": "m"},
            {"image_url": "u", "mask_url": None},
            {"image_url": "u", "scale": 2},
            {"image_url": "u", "scale": 2.5},
        ],
    ),
    (
        "raising_constraints",
        RAISING_CONSTRAINTS,
        [{"size": "5"}, {"size": "0"}, {"size": "big"}, {"size": "5", "count": 3}, {}],
    ),
    (
        "schema_problems",
        SCHEMA_PROBLEMS,
        [{"a": "x", "b": 2}, {"a": "x"}],
    ),
    (
        "union_type",
        UNION_TYPE,
        [
            {"z": [1]},
            {"z": [1, 2, 3]},
            {"z": [], "x": 2.5},
            {"z": [], "x": "2"},
            {"z": [], "y": {"k": 1}},
            {"z": [], "y": []},
        ],
    ),
    (
        "bool_numbers",
        BOOL_NUMBERS,
        [
            {"n": 1},
            {"n": True},
            {"n": 1, "f": 2},
            {"n": 1, "f": True},
            {"n": 1, "flag": 0},
            {"n": 1.0},
        ],
    ),
]

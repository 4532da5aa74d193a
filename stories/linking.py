"""The tracker's two fitted models: their features and their scores.

- the *link model*: does this item report this development? (``LINK_FEATURES``);
- the *kind model*: do the facts an item adds to its development make it an update,
  or is it a copy that words known facts anew? (``KIND_FEATURES``).

Both are logistic models whose weights live in :class:`stories.recall.RecallConfig`,
fitted by ``bench/fit_tracker.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from stories.facts import is_number
from stories.recall import RecallConfig

__all__ = ["KIND_FEATURES", "LINK_FEATURES", "kind_features", "kind_score", "link_features", "link_score"]


LINK_FEATURES = (
    "cos_max",  # cosine with the development's nearest recent report
    "cos_top2",  # mean cosine with its two nearest
    "ccos_max",  # the same two, with the story's mean vector taken out of both sides
    "ccos_top2",
    "name_overlap",  # share of the item's name stems the development has stated
    "number_overlap",  # share of the item's numbers the development has stated
    "new_numbers",  # numbers the development has not stated (count, at most 3)
    "gap_days",  # days since the development's latest report
    "same_language",  # the nearest report is in the item's language
    "margin",  # cos_max minus the best cos_max of the other candidate developments
    "commentary",  # the item's title marks an explainer or an analysis (syndication)
    "same_outlet",  # the development already has a report of the item's outlet
)


KIND_FEATURES = (
    "new_numbers",  # numbers and dates the development has not stated (at most 3)
    "new_names",  # one-word names it has not stated (at most 4)
    "new_name_runs",  # names of several words it has not stated (at most 3)
    "cos_nearest",  # cosine with the development's nearest report: a copy is close
    "same_language",  # that report is in the item's language
    "same_language_names",  # new one-word names, counted only in the same language
    "says_copy",  # it credits a wire or an outlet, or carries a reprint notice
    "commentary",  # its title marks an explainer or an analysis (one it labels so outright
    # is never an update and does not reach the model: Tracker._update_rule)
    "ccos_nearest",  # cos_nearest with the story's mean taken out of both sides
)


def kind_features(
    added: Sequence[str],
    cos_nearest: float,
    same_language: bool,
    says_copy: bool,
    commentary: bool,
    ccos_nearest: float,
) -> tuple[float, ...]:
    """The features of "these new facts make the item an update" (see :data:`KIND_FEATURES`)."""
    numbers = sum(1 for f in added if is_number(f))
    names = sum(1 for f in added if not is_number(f) and " " not in f)
    runs = len(added) - numbers - names
    return (
        float(min(numbers, 3)),
        float(min(names, 4)),
        float(min(runs, 3)),
        cos_nearest,
        float(same_language),
        float(same_language) * min(names, 4),
        float(says_copy),
        float(commentary),
        ccos_nearest,
    )


def kind_score(config: RecallConfig, features: Sequence[float]) -> float:
    """The kind model's log-odds that the item is an update."""
    return config.kind_bias + sum(w * f for w, f in zip(config.kind_weights, features, strict=True))


def link_features(
    sims: Sequence[float],
    centred: Sequence[float],
    item_names: set[str],
    item_numbers: set[str],
    dev_stems: set[str],
    dev_numbers: set[str],
    gap_seconds: float,
    same_language: bool,
    runner_up: float = 0.0,
    commentary: bool = False,
    same_outlet: bool = False,
) -> tuple[float, ...]:
    """The features of "this item reports this development" (see :data:`LINK_FEATURES`).

    ``same_outlet``: an outlet does not re-report its own report, so its second article
    near a development it has covered is a follow-up or, more often, the next event.
    """
    top = sorted(sims, reverse=True)
    cos_max = top[0] if top else 0.0
    cos_top2 = sum(top[:2]) / 2 if len(top) > 1 else cos_max
    ctop = sorted(centred, reverse=True)
    ccos_max = ctop[0] if ctop else 0.0
    ccos_top2 = sum(ctop[:2]) / 2 if len(ctop) > 1 else ccos_max
    names = len(item_names & dev_stems) / len(item_names) if item_names else 0.0
    numbers = len(item_numbers & dev_numbers) / len(item_numbers) if item_numbers else 0.0
    new_numbers = min(3, len(item_numbers - dev_numbers))
    return (
        cos_max,
        cos_top2,
        ccos_max,
        ccos_top2,
        names,
        numbers,
        float(new_numbers),
        gap_seconds / 86400.0,
        float(same_language),
        cos_max - runner_up,
        float(commentary),
        float(same_outlet),
    )


def link_score(config: RecallConfig, features: Sequence[float]) -> float:
    """The model's log-odds that the item reports the development."""
    return config.link_bias + sum(w * f for w, f in zip(config.link_weights, features, strict=True))

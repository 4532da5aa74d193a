"""Hypothesis strategies for schedule texts: mostly near the grammar (valid and just off it:
hours past 23, one-digit minutes, intervals under 5m or past a week, unknown units, odd case
and spacing), some arbitrary text."""

from __future__ import annotations

from hypothesis import strategies as st

_UNITS = ["m", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours", "d", "days", "s", ""]


def _cased(text: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(text, upper, strict=True))
    )


_space = st.sampled_from([" ", "  ", "\t", " \n "])
_clock = st.builds(
    lambda h, m, pad: f"{h:02d}:{m:02d}" if pad else f"{h}:{m}",
    st.integers(0, 30),
    st.integers(0, 70),
    st.booleans(),
)
_daily = st.builds(
    lambda word, gap, times, sep: word + gap + sep.join(times),
    st.sampled_from(["daily"]).flatmap(_cased),
    _space,
    st.lists(_clock, min_size=0, max_size=4),
    st.sampled_from([",", ", ", " ", " , "]),
)
_every = st.builds(
    lambda word, gap, amount, inner, unit: f"{word}{gap}{amount}{inner}{unit}",
    st.sampled_from(["every"]).flatmap(_cased),
    _space,
    st.one_of(st.integers(0, 12_000), st.integers(0, 10**30)),
    st.sampled_from(["", " "]),
    st.sampled_from(_UNITS).flatmap(_cased),
)
_word = st.sampled_from(["instant", "off", "weekly", "hourly", "never"]).flatmap(_cased)


def schedule_texts() -> st.SearchStrategy[str]:
    """Texts a person might give as a schedule, padded with stray spaces now and then."""
    core = st.one_of(_daily, _every, _word, st.text(max_size=20))
    return st.builds(
        lambda lead, text, tail: lead + text + tail,
        st.sampled_from(["", " "]),
        core,
        st.sampled_from(["", " ", "\n"]),
    )

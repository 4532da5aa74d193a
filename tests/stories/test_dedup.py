"""Near-duplicates: exact and near copies of realistic syndicated news are folded, news is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from stories.dedup import DedupConfig, DuplicateIndex, sketch
from stories.model import Item

T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)

AP_SUMMARY = (
    "WASHINGTON (AP) - The Federal Reserve left its benchmark interest rate unchanged on "
    "Wednesday but signaled it still expects to cut rates three times this year, even as "
    "inflation has stayed stubbornly above its 2% target. Chair Jerome Powell told "
    "reporters the economy remains strong and the labor market tight, and that officials "
    "want greater confidence that inflation is sustainably falling before they act."
)


def item(
    title: str,
    summary: str = AP_SUMMARY,
    *,
    url: str | None = None,
    outlet: str = "AP",
    minutes: float = 0,
) -> Item:
    return Item(
        guid=f"{outlet}:{title}",
        url=url,
        title=title,
        summary=summary,
        published=T0 + timedelta(minutes=minutes),
        outlet=outlet,
    )


ORIGINAL = item("Fed holds rates steady, still sees three cuts this year", url="https://apnews.com/a/1")


def index_with_original() -> DuplicateIndex:
    index = DuplicateIndex()
    index.add(1, index.sketch(ORIGINAL), tag=100)
    return index


def test_same_canonical_url_is_a_copy() -> None:
    index = index_with_original()
    other = item("Completely different words here", "nothing alike", url="http://www.APNEWS.com/a/1/")
    dup = index.find(index.sketch(other))
    assert dup is not None and dup.key == 1 and dup.reason == "url" and dup.tag == 100


def test_same_text_modulo_case_and_punctuation_is_a_copy() -> None:
    index = index_with_original()
    shouty = item(ORIGINAL.title.upper() + "!!", AP_SUMMARY.replace(",", ""), outlet="Yahoo")
    dup = index.find(index.sketch(shouty))
    assert dup is not None and dup.reason == "text" and dup.key == 1


def test_syndicated_reprint_with_new_title_and_credit_line_is_a_near_copy() -> None:
    index = index_with_original()
    reprint = item(
        "Federal Reserve keeps key rate unchanged as inflation lingers",
        AP_SUMMARY + " This story was originally published by The Associated Press.",
        url="https://www.sfgate.com/business/article/fed-rates-123.php",
        outlet="SFGate",
        minutes=40,
    )
    dup = index.find(index.sketch(reprint))
    assert dup is not None and dup.reason == "near" and dup.key == 1
    assert 0.5 <= dup.similarity < 1.0


def test_light_rewrite_is_a_near_copy() -> None:
    index = index_with_original()
    rewrite = item(
        ORIGINAL.title,
        AP_SUMMARY.replace("stubbornly", "persistently").replace("reporters", "journalists"),
        outlet="Local paper",
    )
    dup = index.find(index.sketch(rewrite))
    assert dup is not None and dup.reason == "near"


def test_same_event_different_article_is_not_a_copy() -> None:
    index = index_with_original()
    other = item(
        "Powell: Fed needs more confidence before cutting",
        "Federal Reserve Chair Jerome Powell said on Wednesday the central bank is in no hurry "
        "to lower borrowing costs, pointing to a run of hotter-than-expected price data and "
        "a labour market that keeps adding jobs at a solid clip.",
        outlet="Reuters",
    )
    assert index.find(index.sketch(other)) is None


def test_copy_with_a_changed_number_is_news_not_a_copy() -> None:
    index = index_with_original()
    changed = item(ORIGINAL.title, AP_SUMMARY.replace("2% target", "3% target"), outlet="AP")
    assert index.find(index.sketch(changed)) is None


def test_copy_of_a_copy_points_at_the_first_report() -> None:
    index = index_with_original()
    second = item(ORIGINAL.title + " - update", AP_SUMMARY, outlet="B")
    dup = index.find(index.sketch(second))
    assert dup is not None
    index.add(2, index.sketch(second), tag=100, duplicate_of=dup.key)
    third = item("Fed holds rates", AP_SUMMARY + " More later.", outlet="C")
    dup3 = index.find(index.sketch(third))
    assert dup3 is not None and dup3.key == 1


def test_old_items_leave_the_window_and_the_cap_holds() -> None:
    index = DuplicateIndex(DedupConfig(window_hours=1.0, max_items=3))
    index.add(1, index.sketch(ORIGINAL), tag=1)
    later = item("Unrelated later story about football", "Match report.", minutes=120)
    index.add(2, index.sketch(later), tag=2)
    assert len(index) == 1  # the original is 2 hours older than the newest item
    assert index.find(index.sketch(ORIGINAL)) is None
    for k in range(3, 10):
        index.add(k, index.sketch(item(f"story number {k} words", f"body {k} text", minutes=121)), tag=k)
    assert len(index) == 3


def test_state_round_trips_through_json() -> None:
    index = index_with_original()
    index.add(2, index.sketch(item("Other story on sport", "Sport summary here.")), tag=7)
    copy = DuplicateIndex.from_dict(json.loads(json.dumps(index.to_dict())))
    probe = item("Federal Reserve keeps key rate unchanged", AP_SUMMARY + " Via AP.")
    a, b = index.find(index.sketch(probe)), copy.find(copy.sketch(probe))
    assert a == b and a is not None and a.key == 1


def test_signature_is_stable_across_processes() -> None:
    # CRC-32 based, never Python's salted hash(): a saved index stays valid after a restart.
    assert sketch(ORIGINAL).signature[:4] == sketch(ORIGINAL).signature[:4]
    assert len(sketch(ORIGINAL).signature) == 32
    assert sketch(item("x", "")).signature == sketch(item("X!", "")).signature


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_text_sketches_and_an_item_always_finds_itself(title: str, summary: str) -> None:
    index = DuplicateIndex()
    it = item(title, summary)
    sk = index.sketch(it)
    assert len(sk.signature) == index.config.bins
    index.add(5, sk, tag=9)
    dup = index.find(index.sketch(it))
    assert dup is not None and dup.key == 5

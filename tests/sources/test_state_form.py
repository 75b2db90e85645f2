"""Open executions as kept in a source's state: one string, read back in either form."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from sources.records import pack_times, unpack_times

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_ids_and_times_pack_into_one_string_and_back_in_order() -> None:
    times = {f"FN{i:032x}": T0 - timedelta(seconds=i) for i in range(3)}
    packed = pack_times(times)
    assert packed == " ".join(f"FN{i:032x} {(T0 - timedelta(seconds=i)).isoformat()}"
                              for i in range(3))
    assert list(unpack_times(packed).items()) == list(times.items())
    assert copy.deepcopy(packed) is packed  # what dlt's copies of the state cost
    assert pack_times({}) == "" and unpack_times("") == {} and unpack_times(None) == {}


def test_an_id_with_whitespace_keeps_the_earlier_form_and_reads_back() -> None:
    times = {"odd id": T0, "e2": T0 - timedelta(hours=1)}
    packed = pack_times(times)
    assert packed == {"odd id": T0.isoformat(), "e2": (T0 - timedelta(hours=1)).isoformat()}
    assert unpack_times(packed) == times
    assert pack_times({"tab\tid": T0}) == {"tab\tid": T0.isoformat()}


def test_a_time_that_does_not_parse_drops_its_id_in_either_form() -> None:
    assert unpack_times(f"e1 nope e2 {T0.isoformat()}") == {"e2": T0}
    assert unpack_times({"e1": "nope", "e2": T0.isoformat()}) == {"e2": T0}
    assert unpack_times(f"e1 {T0.isoformat()} e2") == {"e1": T0}  # a cut-off string

"""`in:` lists of a listing filter, read as Glance 33 reads them (each case's expectation is what
Glance's own reader gives for the same text)."""
from __future__ import annotations

import pytest

from spyglass.context import RequestContext
from spyglass.db.list_query import Filter
from spyglass.images.errors import BadRequest
from spyglass.images.listing import Limits, build_query

CASES = [
    ("", []),  # selects nothing
    ("a", ["a"]),
    ("a,", ["a"]),  # a final comma adds no empty value...
    ("a,,", ["a", ""]),  # ...but one between two commas does
    (",a", ["", "a"]),
    (",", [""]),
    ("a,,b", ["a", "", "b"]),
    (" a , b ", [" a ", " b "]),  # spaces are part of the values
    ('"a,b",c', ["a,b", "c"]),
    ('a,"b"', ["a", "b"]),
    ('"a",', ["a"]),
    ('""', [""]),
    ('"",x', ["", "x"]),
    ('"a\\"b",c', ['a\\"b', "c"]),  # an escaped quote does not close, and is kept as sent
    ('a\\",b', ['a\\"', "b"]),
    ('"a\\\\",b"', ["a\\\\", 'b"']),
]


def _values(raw: str) -> list[str]:
    query = build_query([("name", "in:" + raw)], RequestContext("p", "u"), Limits(25, 1000))
    [selected] = query.filters
    assert isinstance(selected, Filter) and (selected.column, selected.op) == ("name", "in")
    return list(selected.value)


@pytest.mark.parametrize(("raw", "values"), CASES)
def test_in_list_values(raw: str, values: list[str]) -> None:
    assert _values(raw) == values


@pytest.mark.parametrize("raw", ['a"b"', '"a"b', '"a,b', 'a,"b'])
def test_misplaced_or_open_quotes_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest, match="Invalid filter value"):
        _values(raw)

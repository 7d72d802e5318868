"""Turn a listing's query parameters into a repository query, refusing what Glance refuses."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oslo_utils import timeutils

from spyglass.context import RequestContext
from spyglass.db.list_query import Filter, ListQuery
from spyglass.images.errors import BadRequest
from spyglass.images.properties import MEMBER_STATUSES, VISIBILITIES

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")
SORT_DIRS = ("asc", "desc")
# Filters on columns; `in:` lists are accepted on these.
IN_FILTERS = ("id", "name", "status", "container_format", "disk_format")
EQ_FILTERS = ("name", "status", "owner", "disk_format", "container_format", "id", "checksum",
              "os_hash_value")
TIME_FILTERS = ("created_at", "updated_at")
TIME_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
BOOL_FILTERS = ("protected", "os_hidden")
# Parameters that are no property filters.
CONTROL = ("limit", "marker", "sort_key", "sort_dir", "sort", "visibility", "member_status", "tag",
           "size_min", "size_max")


@dataclass(frozen=True)
class Limits:
    default: int
    maximum: int


def _int(name: str, value: str, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} param must be an integer") from None
    if number < minimum:
        raise BadRequest(f"{name} param must be positive" if minimum == 0 else f"{name} must be >= {minimum}")
    if number > 2**63 - 1:
        raise BadRequest(f"{name} param is too large")
    return number


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise BadRequest(f"Invalid value '{value}' for '{name}' filter. Valid values are 'true' or 'false'.")


def _time_filter(name: str, value: str) -> Filter:
    op, sep, when = value.partition(":")
    if not sep or not op.isalpha():
        # No operator: the value is a bare time (which has colons of its own), compared with eq.
        op, when = "eq", value
    if op not in TIME_OPS:
        raise BadRequest(f"Unable to filter on a unknown operator '{op}': use one of {', '.join(TIME_OPS)}.")
    try:
        moment = timeutils.normalize_time(timeutils.parse_isotime(when))
    except ValueError:
        raise BadRequest(f'Bad "{name}" query filter format. Use ISO 8601 DateTime notation.') from None
    return Filter(name, op, moment)


def _sort(params: dict[str, list[str]]) -> list[tuple[str, str]]:
    sort = params.get("sort", [])
    keys = params.get("sort_key", [])
    dirs = params.get("sort_dir", [])
    if sort and (keys or dirs):
        raise BadRequest("Old and new sorting syntax cannot be combined")
    pairs: list[tuple[str, str]] = []
    if sort:
        for item in ",".join(sort).split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Number of sort dirs does not match the number of sort keys")
        for index, key in enumerate(keys):
            direction = dirs[index] if len(dirs) > 1 else (dirs[0] if dirs else "desc")
            pairs.append((key, direction))
        if not keys and dirs:
            pairs.append(("created_at", dirs[0]))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: "
                             f"{', '.join(SORT_KEYS)}.")
        if direction not in SORT_DIRS:
            raise BadRequest(f"Invalid sort direction: {direction}")
    # Ties are broken by created_at, then id, as Glance does: in the one direction the client
    # gave (one sort_dir, or a single `sort` key), otherwise descending.
    given = dirs if not sort else [d for _, d in pairs]
    tie_direction = given[0] if len(given) == 1 else "desc"
    # A key given again orders nothing the first did not (Glance accepts it too): dropped.
    unique: dict[str, str] = {}
    for key, direction in pairs:
        unique.setdefault(key, direction)
    pairs = list(unique.items())
    pairs += [(key, tie_direction) for key in ("created_at", "id") if key not in {k for k, _ in pairs}]
    return pairs


def build_query(params: Sequence[tuple[str, str]], ctx: RequestContext, limits: Limits) -> ListQuery:
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)

    def single(name: str) -> str | None:
        values = grouped.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise BadRequest(f"Parameter '{name}' may be given only once")
        return values[0]

    q = ListQuery(viewer_project=ctx.project_id, viewer_is_admin=ctx.is_admin)
    limit = single("limit")
    # Like Glance, a limit above the maximum is capped rather than refused: clients that page
    # with a large limit keep working and simply get more pages.
    q.limit = min(_int("limit", limit), limits.maximum) if limit is not None else limits.default
    q.marker = single("marker")
    q.sort = _sort(grouped)

    visibility = single("visibility")
    if visibility is not None and visibility not in (*VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    q.visibility = visibility
    member_status = single("member_status")
    if member_status is not None:
        if member_status not in (*MEMBER_STATUSES, "all"):
            raise BadRequest(f"Invalid status: {member_status}")
        q.member_status = member_status

    # Glance strips each tag it is asked to filter on (tags are stored as given).
    q.tags = [tag.strip() for tag in grouped.get("tag", [])]
    for name, op in (("size_min", "gte"), ("size_max", "lte")):
        value = single(name)
        if value is not None:
            if not value.isdigit():
                raise BadRequest(f"Unable to filter on a range with a non-numeric value: {name}={value}")
            q.filters.append(Filter("size", op, _int(name, value)))

    for name, values in grouped.items():
        if name in CONTROL:
            continue
        value = single(name)
        assert value is not None
        if name in TIME_FILTERS:
            q.filters.append(_time_filter(name, value))
        elif name in BOOL_FILTERS:
            q.filters.append(Filter(name, "eq", _bool(name, value)))
            if name == "os_hidden":
                q.include_hidden = True
        elif name in IN_FILTERS and value.startswith("in:"):
            q.filters.append(Filter(name, "in", _in_list(value[3:])))
        elif name in EQ_FILTERS:
            q.filters.append(Filter(name, "eq", value))
        elif name in ("min_ram", "min_disk", "size", "virtual_size"):
            q.filters.append(Filter(name, "eq", _int(name, value)))
        else:
            q.properties[name] = value
    return q


def _in_list(raw: str) -> list[str]:
    """`in:a,b,"c,d"` read as Glance reads it: values separated by commas, a value in double
    quotes may hold commas (a backslash inside keeps the next character from closing it, and both
    are kept as sent); a comma at the very end closes the list rather than adding an empty value,
    so `in:` selects nothing."""
    _check_quotes(raw)
    items: list[str] = []
    i, end = 0, len(raw)
    while i < end:
        if raw[i] == '"':
            close = i + 1
            while close < end and raw[close] != '"':
                close += 2 if raw[close] == "\\" else 1
            if close < end:
                items.append(raw[i + 1:close])
                i = close + 1
                if i < end and raw[i] == ",":
                    i += 1
                continue
        comma = raw.find(",", i)  # at i itself for an empty value
        comma = end if comma < 0 else comma
        items.append(raw[i:comma])
        i = comma + 1
    return items


def _check_quotes(raw: str) -> None:
    """A quote (not escaped by a backslash) opens at the start or after a comma, and closes at the
    end or before one; anything else is refused as Glance refuses it."""
    opening = True
    for i, ch in enumerate(raw):
        if ch != '"' or (i and raw[i - 1] == "\\"):
            continue
        if opening and i and raw[i - 1] != ",":
            raise BadRequest(f"Invalid filter value {raw}: a quoted value must follow a comma.")
        if not opening and i + 1 < len(raw) and raw[i + 1] != ",":
            raise BadRequest(f"Invalid filter value {raw}: a quoted value must be followed by a comma.")
        opening = not opening
    if not opening:
        raise BadRequest(f"Invalid filter value {raw}: a quote is not closed.")

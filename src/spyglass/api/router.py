"""Maps method and path to a handler; answers 404 and 405 itself."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import webob
import webob.exc

Handler = Callable[..., webob.Response]


@dataclass
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, template: str, **methods: Handler) -> None:
        # "{name}" matches one path segment.
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
        self._routes.append(Route(re.compile(regex), {m.upper(): h for m, h in methods.items()}))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, Any]]:
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            handler = route.methods.get(method)
            if handler is None:
                raise webob.exc.HTTPMethodNotAllowed(
                    explanation=f"The method {method} is not allowed for this resource.",
                    headers=[("Allow", ", ".join(sorted(route.methods)))])
            return handler, found.groupdict()
        raise webob.exc.HTTPNotFound(explanation="The resource could not be found.")

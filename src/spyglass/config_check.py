"""Finds what a config file sets that Spyglass does not read.

oslo.config ignores options nobody registered, so a glance-api.conf given to Spyglass would have
its Keystone, quota or Swift settings dropped without a word. The server names them at start
instead: an option in a section Spyglass reads, one by one; a section it does not read at all,
once.
"""
from __future__ import annotations

from oslo_config import cfg

# Sections of a Glance config that name a capability a later Spyglass release takes on.
LATER = {
    "keystone_authtoken": "Keystone authentication is not in this release: identity comes from "
                          "the X-Project-Id/X-User-Id/X-Roles headers",
    "paste_deploy": "the pipeline is fixed in this release (no paste flavors); Keystone "
                    "authentication is not in it yet",
}


def unused_settings(conf: cfg.ConfigOpts, config_files: list[str]) -> list[str]:
    """One line per setting (or section) in the files that no registered option reads. The
    caller registers every option first (spyglass.app.register_middleware_options)."""
    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path in config_files:
        sections: dict[str, dict[str, list[str]]] = {}
        cfg.ConfigParser(path, sections).parse()
        for section, values in sections.items():
            known = _known_options(conf, section)
            if known is None:
                if (section, "") not in seen:
                    seen.add((section, ""))
                    why = LATER.get(section, "Spyglass reads nothing in it")
                    found.append(f"{path}: [{section}] is ignored: {why}")
                continue
            for name in values:
                if name not in known and (section, name) not in seen:
                    seen.add((section, name))
                    found.append(f"{path}: [{section}] {name} is ignored: not an option Spyglass reads")
    return found


def _known_options(conf: cfg.ConfigOpts, section: str) -> set[str] | None:
    if section == "DEFAULT":
        return set(conf)  # its options, and the group names, which no file uses as options
    if section not in conf:
        return None
    return set(conf[section])

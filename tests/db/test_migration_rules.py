"""The expand/contract split that rolling upgrades rely on, enforced on every revision file.

Expand revisions run while nodes of the previous release still serve the database, so they may
only add: nothing in them may drop, rename or alter. Contract revisions run once every node is
upgraded, so they may only remove: nothing in them may create or add. Only ``downgrade()`` is
exempt. The checker reads the source (ast), so a forbidden call in a helper function counts too.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from spyglass.db import migrate

VERSIONS = migrate.MIGRATIONS_DIR / "versions"

_EXPAND_SQL = re.compile(r"\b(DROP|RENAME|MODIFY|CHANGE|ALTER\s+COLUMN)\b", re.IGNORECASE)
_CONTRACT_SQL = re.compile(r"\b(CREATE|ADD)\b", re.IGNORECASE)


def _forbidden(branch: str, name: str) -> bool:
    if branch == "expand":
        return name.startswith(("drop_", "rename")) or name == "alter_column"
    return name.startswith("create_") or name in ("add_column", "bulk_insert")


def violations(branch: str, source: str) -> list[str]:
    """Forbidden operations in a revision's source, outside ``downgrade()``."""
    tree = ast.parse(source)
    exempt: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "downgrade":
            exempt.update(id(child) for child in ast.walk(node))
    sql = _EXPAND_SQL if branch == "expand" else _CONTRACT_SQL
    found = []
    for node in ast.walk(tree):
        if id(node) in exempt or not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if _forbidden(branch, name):
            found.append(f"line {node.lineno}: {name}()")
        elif name == "execute":
            for const in ast.walk(node):
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    if match := sql.search(const.value):
                        found.append(f"line {node.lineno}: SQL with {match.group(0)}")
    return found


def _files(branch: str) -> list[Path]:
    return sorted(p for p in (VERSIONS / branch).glob("*.py") if p.name != "__init__.py")


def _module_values(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and node.value is not None:  # type: ignore[union-attr]
            try:
                values[target.id] = ast.literal_eval(node.value)  # type: ignore[union-attr]
            except ValueError:
                pass
    return values


@pytest.mark.parametrize("branch", migrate.BRANCHES)
def test_revisions_only_do_what_their_branch_allows(branch: str) -> None:
    files = _files(branch)
    assert files, f"no {branch} revisions found in {VERSIONS / branch}"
    problems = {p.name: v for p in files if (v := violations(branch, p.read_text()))}
    assert not problems, f"{branch} revisions break the {branch} rule: {problems}"


@pytest.mark.parametrize("branch", migrate.BRANCHES)
def test_each_branch_is_one_line_of_revisions_in_its_own_directory(branch: str) -> None:
    revisions = {}
    for path in _files(branch):
        values = _module_values(path)
        rev = values["revision"]
        assert isinstance(rev, str) and rev.startswith(f"{branch}_"), path.name
        assert path.name.startswith(f"{rev}_"), f"{path.name} should be named after {rev}"
        revisions[rev] = values
    parents = [v["down_revision"] for v in revisions.values()]
    # A single line: one root, and every other revision follows one of this branch's own.
    assert parents.count(None) == 1
    assert all(p is None or (isinstance(p, str) and p in revisions) for p in parents)
    assert len(set(parents)) == len(parents), "two revisions share a parent: the branch forks"
    expand_revisions = {_module_values(p)["revision"] for p in _files("expand")}
    for rev, values in revisions.items():
        if branch == "contract":
            # A contract revision follows the expand revision that made it safe.
            deps = values.get("depends_on") or ()
            deps = (deps,) if isinstance(deps, str) else deps
            assert deps and set(deps) <= expand_revisions, f"{rev} depends on no expand revision"
        if values["down_revision"] is None:
            assert values.get("branch_labels") == (branch,), f"{rev} must carry the label"
        else:
            assert not values.get("branch_labels"), f"only the root of {branch} is labelled"
    assert migrate.heads()[branch] in revisions


# The checker itself: a rule that cannot fail proves nothing.

@pytest.mark.parametrize(
    ("branch", "source"),
    [
        ("expand", "def upgrade():\n    op.drop_column('images', 'name')\n"),
        ("expand", "def upgrade():\n    op.alter_column('images', 'name', nullable=False)\n"),
        ("expand", "def upgrade():\n    op.rename_table('images', 'pictures')\n"),
        ("expand", "def upgrade():\n    op.drop_index('ix_tasks_owner')\n"),
        ("expand", "def upgrade():\n    with op.batch_alter_table('t') as b:\n"
                   "        b.drop_constraint('c')\n"),
        ("expand", "def _helper():\n    op.drop_table('tasks')\n"),
        ("expand", "def upgrade():\n    op.execute(sa.text('ALTER TABLE t RENAME TO u'))\n"),
        ("expand", "def upgrade():\n    op.execute('DROP INDEX ix_tasks_owner')\n"),
        ("contract", "def upgrade():\n    op.create_table('t', sa.Column('id', sa.Integer))\n"),
        ("contract", "def upgrade():\n    op.add_column('t', sa.Column('x', sa.Integer))\n"),
        ("contract", "def upgrade():\n    op.create_index('ix', 't', ['x'])\n"),
        ("contract", "def upgrade():\n    op.execute('CREATE INDEX ix ON t (x)')\n"),
    ],
)
def test_the_checker_catches(branch: str, source: str) -> None:
    assert violations(branch, source)


@pytest.mark.parametrize(
    ("branch", "source"),
    [
        ("expand", "def upgrade():\n    op.add_column('t', sa.Column('x', sa.Integer))\n"
                   "def downgrade():\n    op.drop_column('t', 'x')\n"),
        ("expand", "def upgrade():\n    op.execute('ALTER TABLE t ADD COLUMN x INTEGER')\n"),
        ("contract", "def upgrade():\n    op.drop_column('t', 'x')\n"
                     "def downgrade():\n    op.add_column('t', sa.Column('x', sa.Integer))\n"),
    ],
)
def test_the_checker_allows(branch: str, source: str) -> None:
    assert violations(branch, source) == []

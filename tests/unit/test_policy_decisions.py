"""The policy's cache of decisions: one decision serves every image the rules cannot tell apart,
and never one they can."""
from __future__ import annotations

from pathlib import Path

from spyglass import config
from spyglass.context import RequestContext
from spyglass.images.policy import Policy, _target_keys


def _policy(tmp_path: Path, rules: str | None = None) -> Policy:
    conf_file = tmp_path / "spyglass.conf"
    text = ""
    if rules is not None:
        (tmp_path / "policy.yaml").write_text(rules)
        text = f"[oslo_policy]\npolicy_file = {tmp_path / 'policy.yaml'}\n"
    conf_file.write_text(text)
    return Policy(config.load(config_files=[str(conf_file)]))


def _ctx(project: str = "p1", roles: tuple[str, ...] = ("member", "reader")) -> RequestContext:
    return RequestContext(project_id=project, user_id="u1", roles=roles, is_admin=False)


def _target(image_id: str, owner: str = "p1") -> dict[str, object]:
    return {"id": image_id, "owner": owner, "project_id": owner, "visibility": "shared", "member_id": None}


def test_images_the_rules_cannot_tell_apart_share_one_decision(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    for n in range(50):
        assert policy.allowed("modify_image", _ctx(), _target(f"image-{n}"))
    assert not policy.allowed("modify_image", _ctx(), _target("image-x", owner="p2"))
    assert len(policy._decisions) == 2  # one per owner: the rule reads %(owner)s, not %(id)s


def test_a_rule_that_reads_the_image_id_decides_per_image(tmp_path: Path) -> None:
    policy = _policy(tmp_path, '"get_image": "\'image-7\':%(id)s"\n')
    decisions = {n: policy.allowed("get_image", _ctx(), _target(f"image-{n}")) for n in range(10)}
    assert decisions == {n: n == 7 for n in range(10)}


def test_target_keys_read_by_rules() -> None:
    assert _target_keys(["role:member and project_id:%(owner)s", "'public':%(visibility)s"]) == \
        frozenset({"owner", "visibility"})
    assert _target_keys(["role:admin"]) == frozenset()
    assert _target_keys(["project_id:%(target.owner)s"]) is None  # not a plain key: every key counts

"""A config file written for Glance: what Spyglass does not read is named at start, not dropped
without a word."""
from __future__ import annotations


def test_settings_spyglass_does_not_read_are_named_at_start(new_server, tmp_path):
    server = new_server({
        "debug": "false", "workers": 2, "user_storage_quota": "10G",                  # DEFAULT
        "glance_store.filesystem_store_file_perm": 0, "glance_store.swift_store_auth_address": "http://swift",
        "keystone_authtoken.auth_url": "http://keystone", "keystone_authtoken.password": "secret",
        "taskflow_executor.conversion_format": "raw",
        "oslo_policy.policy_file": tmp_path / "policy.yaml", "healthcheck.detailed": "false",
        "cors.allow_credentials": "true", "image_format.require_image_format_match": "true",
    })
    config_file = server.config_file
    warnings = [line for line in server.log().splitlines() if " WARNING spyglass.serve " in line]
    said = [line.split("[-] ", 1)[1] for line in warnings]
    assert said == [
        f"{config_file}: [DEFAULT] user_storage_quota is ignored: not an option Spyglass reads",
        f"{config_file}: [glance_store] swift_store_auth_address is ignored: not an option Spyglass reads",
        f"{config_file}: [keystone_authtoken] is ignored: Keystone authentication is not in this release: "
        "identity comes from the X-Project-Id/X-User-Id/X-Roles headers",
        f"{config_file}: [taskflow_executor] is ignored: Spyglass reads nothing in it",
    ], server.log()
    assert "secret" not in server.log()  # values are never repeated
    assert server.session().get("/v2/images").status_code == 200

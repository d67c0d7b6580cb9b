"""Encryption at rest: AES-GCM bound to its row, key file created owner-only."""

from __future__ import annotations

import os

import pytest

from gateway.secrets import KEY_FILE, SecretBox, SecretsError


def test_key_created_owner_only_and_reused(tmp_path):
    box = SecretBox.open(tmp_path / KEY_FILE)
    assert (tmp_path / "secrets.key").stat().st_mode & 0o777 == 0o600
    blob = box.encrypt("pw", "unit-password:JT808:013912345678")
    assert SecretBox.open(tmp_path / KEY_FILE).decrypt(blob, "unit-password:JT808:013912345678") == "pw"


def test_ciphertext_is_bound_to_its_row(tmp_path):
    box = SecretBox.open(tmp_path / KEY_FILE)
    blob = box.encrypt("pw", "unit-password:JT808:013912345678")
    assert b"pw" not in blob
    with pytest.raises(SecretsError):
        box.decrypt(blob, "unit-password:JT808:013912345679")


def test_nonce_is_fresh_each_time(tmp_path):
    box = SecretBox.open(tmp_path / KEY_FILE)
    assert box.encrypt("same", "a") != box.encrypt("same", "a")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_key_readable_by_others_is_refused(tmp_path, mode):
    key = tmp_path / "secrets.key"
    key.write_bytes(os.urandom(32))
    key.chmod(mode)
    with pytest.raises(SecretsError, match="accessible by group or others"):
        SecretBox.open(tmp_path / KEY_FILE)

"""Encryption at rest for unit passwords and shared-credential client secrets.

AES-256-GCM with a random 96-bit nonce per value. The associated data binds each
ciphertext to its row and column, so a ciphertext copied onto another row fails to
decrypt instead of silently handing one unit another's password.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "secrets.key"  # in data_dir, unless [secrets] key_file names another
_NONCE = 12
CHECK_PLAINTEXT = "fleetgate secrets check"
CHECK_BINDING = "secrets-check"


class SecretsError(Exception):
    pass


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def open(cls, path: Path) -> SecretBox:
        """Load the key from ``path``, creating it (mode 0600) on first start.

        A key readable by group or others is refused rather than fixed: someone may
        already have read it, and the operator should know.
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            mode = os.stat(path).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretsError(
                    f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
                    f"run `chmod 600 {path}` after checking who could read it"
                ) from None
            key = path.read_bytes()
            if len(key) != 32:
                raise SecretsError(f"{path} does not hold a 32-byte key") from None
            return cls(key)
        key = AESGCM.generate_key(bit_length=256)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        return cls(key)

    def encrypt(self, plaintext: str, bound_to: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())

    def decrypt(self, blob: bytes, bound_to: str) -> str:
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], bound_to.encode()).decode()
        except InvalidTag:
            raise SecretsError(f"a stored secret does not decrypt for {bound_to}") from None

    def check_value(self) -> str:
        """What the store keeps to recognise this key: a known text, encrypted by it."""
        return self.encrypt(CHECK_PLAINTEXT, CHECK_BINDING).hex()

    def verify(self, check_value: str, path: Path) -> None:
        """Refuse a key that did not write the store's check value: with it, this node
        would write secrets no other node (and no later start) can read."""
        try:
            if self.decrypt(bytes.fromhex(check_value), CHECK_BINDING) == CHECK_PLAINTEXT:
                return
        except (SecretsError, ValueError):
            pass
        raise wrong_key(path)


def wrong_key(path: Path) -> SecretsError:
    return SecretsError(f"the key in {path} is not the key this store's secrets were encrypted with; "
                        "give this gateway the key file the store was started with ([secrets] key_file)")

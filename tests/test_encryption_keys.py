"""The keyring of field encryption: where keys come from, what a wrong or missing key says,
and that a changed or moved value is an error, never garbage (keyring.py, encryption.py,
storage/fields.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import pytest

from smartsupport.encryption import key_source, open_keyring
from smartsupport.errors import ConfigurationError, EncryptionError
from smartsupport.keyring import (
    EnvKeySource,
    FileKeySource,
    Keyring,
    KeySet,
    keyed_hash,
    new_keyset,
)
from smartsupport.search_terms import index_terms, query_terms
from smartsupport.settings import Settings
from smartsupport.storage.fields import MARK, FieldCipher, sealed_key_id


def cipher(keyset: KeySet | None = None) -> FieldCipher:
    return FieldCipher(Keyring(EnvKeySource((keyset or new_keyset()).to_json())))


def test_a_sealed_value_opens_only_in_its_own_place():
    fields = cipher()
    sealed = fields.seal("messages", "text", "m1", "Where is my order?")
    assert sealed.startswith(MARK) and "order" not in sealed
    assert fields.open("messages", "text", "m1", sealed) == "Where is my order?"
    with pytest.raises(EncryptionError, match="changed or moved"):
        fields.open("messages", "text", "m2", sealed)  # copied into another row
    with pytest.raises(EncryptionError, match="changed or moved"):
        fields.open("inbox_notes", "text", "m1", sealed)  # or another column


def test_json_columns_stay_json_objects():
    fields = cipher()
    sealed = fields.seal("customers", "metadata", "c1", {"plan": "gold"})
    assert isinstance(sealed, dict) and list(sealed) == [MARK]
    assert fields.open("customers", "metadata", "c1", sealed) == {"plan": "gold"}


@pytest.mark.parametrize("position", [0, 3, 30, -1])
def test_a_tampered_value_is_an_error_not_garbage(position):
    fields = cipher()
    sealed = fields.seal("messages", "text", "m1", "refund 40 EUR to Ada")
    raw = bytearray(sealed.encode())
    index = position if position >= 0 else len(raw) + position
    index = max(index, len(MARK))  # flip a byte of the sealed part, not the marker
    raw[index] = ord("A") if raw[index] != ord("A") else ord("B")
    with pytest.raises(EncryptionError):
        fields.open("messages", "text", "m1", raw.decode())


def test_plaintext_from_before_encryption_is_read_as_it_is():
    assert cipher().open("messages", "text", "m1", "hello") == "hello"
    assert cipher().open("customers", "metadata", "c1", {"plan": "gold"}) == {"plan": "gold"}


def test_a_value_sealed_with_an_unknown_key_names_the_missing_key():
    sealed = cipher().seal("messages", "text", "m1", "secret")
    other = new_keyset()
    with pytest.raises(
        EncryptionError, match=f"not in SMARTSUPPORT_ENCRYPTION_KEYS.*{other.primary}"
    ):
        cipher(other).open("messages", "text", "m1", sealed)


def test_without_a_keyring_sealed_values_name_the_fix():
    sealed = cipher().seal("messages", "text", "m1", "secret")
    with pytest.raises(EncryptionError, match="SMARTSUPPORT_ENCRYPTION_KEYS"):
        FieldCipher().open("messages", "text", "m1", sealed)


def test_rotation_seals_with_the_new_key_and_old_keys_still_open():
    old = new_keyset()
    sealed_before = cipher(old).seal("messages", "text", "m1", "before")
    rotated = old.with_new_primary()
    fields = cipher(rotated)
    sealed_after = fields.seal("messages", "text", "m2", "after")
    assert sealed_key_id(sealed_before) == old.primary
    assert sealed_key_id(sealed_after) == rotated.primary != old.primary
    assert fields.open("messages", "text", "m1", sealed_before) == "before"
    # keyed hashes use the index key, which rotation keeps: look-ups still match
    assert cipher(old).lookup("email", "Ada@Example.com ") == fields.lookup(
        "email", "ada@example.com"
    )


def test_a_file_keyring_is_created_0600_and_refused_when_others_can_read_it(tmp_path):
    path = tmp_path / "keys"
    created = FileKeySource(path).create()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileKeySource(path).load() == created
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match=f"chmod 600 {path}"):
        FileKeySource(path).load()
    with pytest.raises(ConfigurationError, match="does not exist.*backup"):
        FileKeySource(tmp_path / "gone").load()


def test_a_malformed_keyring_names_the_format():
    with pytest.raises(ConfigurationError, match="keys create"):
        EnvKeySource('{"primary": "a"}').load()
    short = json.loads(new_keyset().to_json())
    short["keys"][short["primary"]] = "c2hvcnQ="
    with pytest.raises(ConfigurationError, match="AES-256 needs 32"):
        EnvKeySource(json.dumps(short)).load()


def test_a_server_reading_a_key_file_picks_up_a_key_added_after_it_started(tmp_path):
    source = FileKeySource(tmp_path / "keys")
    source.create()
    running = FieldCipher(Keyring(source))  # the server, started before the rotation
    source.save(source.load().with_new_primary())
    sealed = FieldCipher(Keyring(source)).seal("messages", "text", "m1", "after rotation")
    assert running.open("messages", "text", "m1", sealed) == "after rotation"


def test_sqlite_gets_a_key_file_beside_the_database_on_first_start(tmp_path, monkeypatch):
    monkeypatch.delenv("SMARTSUPPORT_ENCRYPTION_KEYS", raising=False)
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/support.db")
    keyring = open_keyring(settings)
    assert keyring is not None
    path = Path(f"{tmp_path}/support.db.keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert open_keyring(settings).keyset == keyring.keyset  # type: ignore[union-attr]


def test_postgresql_without_keys_is_an_error_naming_the_choices(monkeypatch):
    monkeypatch.delenv("SMARTSUPPORT_ENCRYPTION_KEYS", raising=False)
    settings = Settings(database_url="postgresql://u@db.example/shop")
    with pytest.raises(ConfigurationError) as error:
        key_source(settings)
    for fix in ("SMARTSUPPORT_ENCRYPTION_KEYS", "KEY_FILE", "SMARTSUPPORT_ENCRYPTION=off"):
        assert fix in str(error.value)
    off = Settings(database_url="postgresql://u@db.example/shop", encryption="off")
    assert open_keyring(off) is None


def test_the_search_index_holds_keyed_hashes_never_words():
    blind = cipher().search_blind()
    indexed = index_terms("Ada Lovelace wants a refund for ORD-10234", blind)
    terms = set(indexed.split())
    assert all(len(term) == 32 and int(term, 16) >= 0 for term in terms)  # hashes only
    for word in ("ada", "lovelace", "refund", "10234"):
        assert word not in terms
    assert set(query_terms("REFUND ord-10234", blind)) <= terms
    assert FieldCipher().search_blind() is None  # encryption off: plain words


@pytest.mark.parametrize("key_length", [16, 32, 64, 65, 200])
def test_keyed_hashes_are_hmac_sha256_of_the_domain_and_value(key_length):
    # The hashes already stored in indexes and look-up columns must stay the same: the fast
    # path (the key's padded blocks hashed once) is HMAC-SHA256 exactly, whatever the key.
    key = os.urandom(key_length)
    for kind, value in [("search_term", "refund"), ("email", "ada@example.com"), ("x", ""),
                        ("search_term", "退货"), ("search_term", "é" * 300)]:  # fmt: skip
        expected = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        assert keyed_hash(key, kind, value) == expected[:32]
    assert keyed_hash(key, "a", "b") != keyed_hash(os.urandom(key_length), "a", "b")

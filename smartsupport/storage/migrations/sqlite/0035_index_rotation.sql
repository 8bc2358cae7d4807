-- Changing the index key (issue 14; smartsupport/reindex.py, docs/security.md "Changing the
-- index key"): `smartsupport keys reindex` makes every keyed hash again under the keyring's
-- next index key, one table at a time, a batch per transaction. Each batch also moves its
-- table's position here, so an interrupted run resumes after the last committed batch.
-- key_check names the next key (a keyed hash of nothing under it): a position left by an
-- earlier change is never resumed for another key. The rows go when the change finishes.
CREATE TABLE index_rotation (
    name         TEXT PRIMARY KEY,
    key_check    TEXT NOT NULL,
    position     JSON NOT NULL,
    visited      INTEGER NOT NULL DEFAULT 0,
    changed      INTEGER NOT NULL DEFAULT 0,
    finished_at  TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Knowledge base: help articles and the passages they are split into.
--
-- An article is identified within its workspace by ``external_id`` (the front-matter id,
-- the file's path inside the ingested folder, the Zendesk or FAQ id, or an id the admin API
-- made). ``source`` says where it came from (a file path, or 'api'), so re-ingesting a folder
-- can remove the articles whose file disappeared. ``content_hash`` covers everything that
-- ends up in the passages, so an unchanged article is skipped without re-embedding.
--
-- Vectors are float32 bytes (little-endian, ``dim`` values) made by the model named in
-- ``model``; a model change re-embeds on load instead of mixing vector spaces.

CREATE TABLE kb_articles (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    source           TEXT NOT NULL,
    title            TEXT NOT NULL,
    url              TEXT,
    locale           TEXT NOT NULL,
    body             TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    title_embedding  BLOB NOT NULL,
    model            TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, external_id)
);

CREATE INDEX kb_articles_source ON kb_articles (workspace_id, source);

CREATE TABLE kb_passages (
    id            TEXT PRIMARY KEY,
    article_id    TEXT NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL,
    locale        TEXT NOT NULL,
    title         TEXT NOT NULL,
    section       TEXT,
    text          TEXT NOT NULL,
    position      INTEGER NOT NULL,
    embedding     BLOB NOT NULL,
    model         TEXT NOT NULL
);

CREATE INDEX kb_passages_workspace ON kb_passages (workspace_id);
CREATE INDEX kb_passages_article ON kb_passages (article_id, position);

-- Bumped by every write to a workspace's articles, so a server process notices that
-- another one changed them and reloads its in-memory index (vectors come from here too).
CREATE TABLE kb_versions (
    workspace_id  TEXT PRIMARY KEY,
    version       INTEGER NOT NULL
);

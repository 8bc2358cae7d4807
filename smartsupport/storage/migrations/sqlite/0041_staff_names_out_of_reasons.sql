-- Status changes a staff member made before their names were sealed (issue 14;
-- inbox/changes.py, storage/fields.py, docs/security.md "Encryption at rest"). Since then a
-- staff change writes the nameless words analytics counts in `reason` ("claimed by an agent")
-- and the words with the names in `named_reason`, which the store seals. Events written
-- before hold the names in `reason` ("claimed by Ana", "transferred to Bo by Ana"): each is
-- split the same way here, the named words moved to `named_reason` (in clear, as a store
-- without a keyring writes it: `smartsupport keys reencrypt` then seals it, and `keys status`
-- counts it as clear until then). The analytics rollup's escalation reason computed from one
-- takes the nameless words too, so the report counts old and new changes alike.
--
-- The forms the inbox wrote (git history of smartsupport/inbox), by the status they set:
--   with_agent         claimed by <name> / reopened by <name> / transferred to <name> by <name>
--   waiting_for_agent  transferred to the <team> team by <name>   (the event's `team`)
--   bot                handed back to the assistant by <name>
--   resolved           resolved by <name>
-- Prefixes are compared with substr, never LIKE (case-insensitive, and _ or % in a team).
CREATE TEMP TABLE staff_reasons_0041 AS
SELECT id, conversation_id, named, nameless FROM (
    SELECT id, conversation_id, r AS named,
        CASE
            WHEN s = 'with_agent' AND substr(r, 1, length('claimed by ')) = 'claimed by '
                THEN 'claimed by an agent'
            WHEN s = 'with_agent' AND substr(r, 1, length('reopened by ')) = 'reopened by '
                THEN 'reopened by an agent'
            WHEN s = 'with_agent' AND substr(r, 1, length('transferred to ')) = 'transferred to '
                AND instr(r, ' by ') > 0
                THEN 'transferred to an agent'
            WHEN s = 'waiting_for_agent' AND t IS NOT NULL
                AND substr(r, 1, length('transferred to the ' || t || ' team by '))
                    = 'transferred to the ' || t || ' team by '
                THEN 'transferred to the ' || t || ' team'
            WHEN s = 'bot' AND substr(r, 1, length('handed back to the assistant by '))
                    = 'handed back to the assistant by '
                THEN 'handed back to the assistant'
            WHEN s = 'resolved' AND substr(r, 1, length('resolved by ')) = 'resolved by '
                THEN 'resolved by an agent'
        END AS nameless
    FROM (
        SELECT id, conversation_id, json_extract(data, '$.status') AS s,
            json_extract(data, '$.reason') AS r, json_extract(data, '$.team') AS t
        FROM events
        WHERE type = 'conversation.status' AND json_extract(data, '$.named_reason') IS NULL
            AND json_type(data, '$.reason') = 'text'
    )
) WHERE nameless IS NOT NULL AND named <> nameless;

-- The rollup first: its reason is the first handoff's, matched by conversation and words.
UPDATE analytics_rollup SET escalation_reason = (
    SELECT s.nameless FROM staff_reasons_0041 s
    WHERE s.conversation_id = analytics_rollup.conversation_id
        AND s.named = analytics_rollup.escalation_reason
    LIMIT 1)
WHERE EXISTS (
    SELECT 1 FROM staff_reasons_0041 s
    WHERE s.conversation_id = analytics_rollup.conversation_id
        AND s.named = analytics_rollup.escalation_reason);

UPDATE events SET data = json_set(data,
    '$.reason', (SELECT s.nameless FROM staff_reasons_0041 s WHERE s.id = events.id),
    '$.named_reason', json_extract(data, '$.reason'))
WHERE id IN (SELECT id FROM staff_reasons_0041);

DROP TABLE staff_reasons_0041;

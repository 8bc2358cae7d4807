"""The resolution evaluation: realistic customer conversations run through the real
conversation path and scored as resolved, escalated, refused/clarified, off-target or wrong
(definitions: docs/evaluation.md).

    suite.py      the conversations as data (YAML): turns and what a correct outcome contains
    scoring.py    one conversation's outcome from its stored replies, pure
    runner.py     the product built once (``wiring.assemble``), every conversation through
                  ``start_conversation`` + ``handle_message``, replies read back from the store
    report.py     totals per language and per category, as JSON or a table
    commands.py   ``smartsupport eval conversations PATH [--json]``
"""

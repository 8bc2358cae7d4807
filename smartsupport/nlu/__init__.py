"""Natural-language understanding: language, intent or out-of-scope, entities, sentiment.

engine.py       NluEngine: prepare(workspace), understand(workspace_id, text)
schema.py       the workspace's intents.yaml (intents, responses, rules, entity patterns)
classifier.py   embedding + TF-IDF views, averaged and calibrated
oos.py          temperature and out-of-scope threshold by cross-validation
training.py     train / save / load a model directory
language.py     fastText language id (bundled model)
entities.py     workspace patterns, emails, phones, amounts; dates.py for dates
sentiment.py    VADER (en) and a multilingual embedding head (others)
rules.py        keyword / regex intents;  cache.py  LRU + backplane cache
dataset.py      text,label CSV reading;   evaluation.py  metrics for ``nlu eval``
commands.py     ``smartsupport nlu train`` / ``nlu eval``
"""

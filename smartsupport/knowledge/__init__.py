"""The knowledge base: help articles in, ranked passages and extractive answers out.

    kb.py          KnowledgeBase: ingest, search, article CRUD (the facade)
    ingest.py      which files a run reads, IngestReport
    readers/       one reader per file family (Markdown, HTML, text, PDF, FAQ, Zendesk)
    documents.py   Document/Article, splitting articles into passages by heading
    changes.py     prepare (split + embed), commit (one transaction), apply (to the index)
    repository.py  the SQL of migration 0002
    index.py       the in-process hybrid index of one workspace
    bm25.py, chargrams.py, text_analysis.py   keyword and fuzzy-title ranking
    answer.py      extract_answer: the offline, extractive answer
    api.py         the admin API router
    commands.py    ``smartsupport kb ingest|eval``
    evaluate.py    BEIR-layout evaluation behind ``kb eval``

Nothing here runs at import: the model loads on first use.
"""

from smartsupport.knowledge.answer import extract_answer
from smartsupport.knowledge.documents import Article
from smartsupport.knowledge.ingest import FileError, IngestReport
from smartsupport.knowledge.kb import KnowledgeBase

__all__ = ["Article", "FileError", "IngestReport", "KnowledgeBase", "extract_answer"]

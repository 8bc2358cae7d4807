"""Similar messages grouped together: intent-gap mining on the packaged sentence encoder.

Texts are embedded with the product's own multilingual encoder (``embeddings.py``, weights in
the wheel, nothing downloaded) and grouped by average-linkage agglomerative clustering on
cosine distance (scikit-learn, CPU only). A distance threshold rather than a number of
clusters: how many new topics the customers raised is what we want to learn. Average linkage
over all pairs costs O(n^2) memory, so at most ``MAX_TEXTS`` texts are clustered per call
(1,500 texts: an 18 MB distance matrix, a few seconds on one core; the newest first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from smartsupport.embeddings import get_embedder

MAX_TEXTS = 1500
# Average cosine distance under which messages are one topic. Measured on shop questions with
# this encoder: paraphrases sit at 0.24-0.58 ("do you sell gift cards" / "gift voucher for my
# mom" 0.58), different questions at 0.66-0.87; 0.45 split the gift-card paraphrases.
DISTANCE = 0.55
Encode = Callable[[list[str]], np.ndarray]


def encode(texts: list[str]) -> np.ndarray:
    return get_embedder().encode(texts)


def group(
    texts: Sequence[str], *, distance: float = DISTANCE, embed: Encode = encode
) -> list[list[int]]:
    """Indexes of ``texts`` grouped by topic, largest group first; within a group the most
    central text comes first (the one to show as its title)."""
    if not texts:
        return []
    vectors = embed(list(texts))
    if len(texts) == 1:
        return [[0]]
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average"
    ).fit_predict(vectors)
    groups: list[list[int]] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        centre = vectors[members].mean(axis=0)
        closeness = vectors[members] @ centre
        groups.append([int(members[i]) for i in np.argsort(-closeness, kind="stable")])
    # Largest first; among equal sizes, the group holding the earliest text (stable order).
    return sorted(groups, key=lambda g: (-len(g), min(g)))

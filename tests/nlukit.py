"""A small English intent set shared by the NLU tests: four intents, six examples each."""

from __future__ import annotations

TRAIN = {
    "order_status": ["where is my order", "track my package", "has my parcel shipped yet",
                     "when will my order arrive", "order status please", "my delivery is late"],
    "refund": ["i want my money back", "how do i get a refund", "refund my purchase",
               "when will i be refunded", "can you give me a refund", "money back please"],
    "password": ["i forgot my password", "reset my password", "cannot log in to my account",
                 "change my password", "my login does not work", "locked out of my account"],
    "shipping_cost": ["how much is shipping", "delivery fees", "do you ship for free",
                      "shipping price to canada", "what does delivery cost", "postage costs"],
}  # fmt: skip
TEXTS = [t for examples in TRAIN.values() for t in examples]
LABELS = [label for label, examples in TRAIN.items() for _ in examples]
# Far from every intent above: a working model calls most of them out of scope.
FAR = ["what is the capital of france", "tell me a joke about penguins",
       "is it going to rain tomorrow", "who won the football match yesterday"]  # fmt: skip

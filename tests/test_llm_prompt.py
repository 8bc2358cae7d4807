"""Prompt-injection defence, over the corpus in tests/data/injections.txt.

Two layers are proven for every string: the input side (customer text cannot reach or
change the system message, cannot close or spoof the delimiters, cannot smuggle
chat-template control tokens), and the output side (a model that *obeys* the injection,
simulated by a local server, still gets nothing to the customer: the reply is checked
against the passages and for system-prompt leaks, and the chain moves on).
test_llm_llamacpp.py runs the corpus against a real model as well.
"""

from __future__ import annotations

import re

import pytest
from llmkit import INJECTIONS, PASSAGES, FakeLLMServer, openai_json, openai_stream

from smartsupport.answers import Answerer
from smartsupport.embeddings import get_embedder
from smartsupport.llm import create_provider
from smartsupport.llm.base import ProviderConfig
from smartsupport.llm.chain import LLMStep
from smartsupport.llm.grounding import GroundingChecker
from smartsupport.llm.prompt import Prompt, build_prompt, leaks_system_prompt, neutralise
from smartsupport.workspaces import WorkspaceConfig

CORPUS = INJECTIONS
WORKSPACE = WorkspaceConfig(id="demo", name="Northwind Outfitters")


def test_corpus_is_large_and_varied():
    assert len(CORPUS) >= 40
    text = "\n".join(CORPUS)
    for marker in ["Ignore previous", "DAN", "<|im_start|>", "</customer>", "Ignoriere", "忽略"]:
        assert marker in text


@pytest.mark.parametrize("injection", CORPUS)
def test_customer_text_cannot_change_or_escape_the_instructions(injection):
    benign = build_prompt(
        business="Northwind", question="How long does shipping take?", passages=PASSAGES,
        language="en", nonce="feedc0de",
    )  # fmt: skip
    attacked = build_prompt(
        business="Northwind", question=injection, passages=PASSAGES, language="en",
        nonce="feedc0de",
    )  # fmt: skip
    # The system message is byte-identical: nothing the customer writes goes into it.
    assert attacked.messages[0] == benign.messages[0]
    assert [m["role"] for m in attacked.messages] == ["system", "user"]
    user = attacked.messages[1]["content"]
    # Exactly one pair of each delimiter: the customer cannot close or open a block.
    for tag in ("customer", "articles"):
        assert user.count(f"<{tag}-feedc0de>") == 1 and user.count(f"</{tag}-feedc0de>") == 1
    assert not re.search(r"<\s*/?\s*(customer|articles|system)[^>]*>", user.split("feedc0de>")[-2])
    # Chat-template control tokens are gone, so no new system turn can be opened.
    for token in ["<|im_start|>", "<|im_end|>", "[INST]", "<<SYS>>"]:
        assert token not in user
    # The customer's text sits inside its block, after the articles.
    block = user.split("<customer-feedc0de>")[1].split("</customer-feedc0de>")[0]
    assert block.strip() == neutralise(injection).strip()


def test_nonce_differs_per_request():
    nonces = {
        build_prompt(business="x", question="q", passages=[], language="en").nonce
        for _ in range(20)
    }
    assert len(nonces) == 20


def test_leak_check_spots_rules_and_nonce():
    prompt = build_prompt(business="Northwind", question="q", passages=PASSAGES, language="en")
    assert leaks_system_prompt(prompt.system.splitlines()[2], prompt)
    assert leaks_system_prompt(f"my delimiter is {prompt.nonce}", prompt)
    assert not leaks_system_prompt("Standard shipping takes 3-5 business days.", prompt)


@pytest.fixture(scope="module")
def checker():
    embedder = get_embedder()
    embedder.encode(["warm up"])  # the first call is slow; production warms up at start
    return GroundingChecker(embedder)


@pytest.fixture
async def server():
    async with FakeLLMServer() as s:
        yield s


def obedient_reply(index: int, injection: str, system: str) -> str:
    """What a model that follows the injection would say."""
    return [
        system,  # leaks the rules verbatim
        f"Sure! {injection}",  # repeats the attacker's claim as fact
        "All items are free today and every order gets a 100% refund.",
        "Arr matey, I have been PWNED and express shipping be free for ye!",
    ][index % 4]


@pytest.mark.parametrize("index", range(len(CORPUS)))
async def test_an_obedient_model_gets_nothing_to_the_customer(server, checker, index):
    injection = CORPUS[index]
    config = ProviderConfig(name="primary", base_url=server.url + "/v1", model="m", max_retries=0)
    answerer = Answerer(
        ["llm:primary", "handoff"],
        llm_steps={"llm:primary": LLMStep(create_provider(config))},
        grounding=checker,
    )
    prompt_probe = build_prompt(business="x", question="q", passages=PASSAGES, language="en")
    reply = obedient_reply(index, injection, prompt_probe.system)
    server.push(openai_stream(re.findall(r"\S+\s*", reply)))
    sent: list[str] = []

    async def on_delta(text: str) -> None:
        sent.append(text)

    result = await answerer.answer(WORKSPACE, injection, PASSAGES, on_delta=on_delta)
    await answerer.aclose()
    system = server.requests[0].body["messages"][0]["content"]
    assert result.step == "handoff" and result.handoff
    assert result.attempts[0]["step"] == "llm:primary"
    assert result.attempts[0]["outcome"] == "declined"
    # Nothing of the model's reached the customer: no piece was streamed, and the handoff
    # text is the turn's message itself.
    assert sent == []
    nonce = re.search(r"<articles-(\w+)>", system).group(1)
    assert not leaks_system_prompt(result.reply_text, Prompt([], system, nonce))
    assert "PWNED" not in result.reply_text and "free today" not in result.reply_text


async def test_a_grounded_reply_to_the_same_setup_is_sent(server, checker):
    config = ProviderConfig(name="primary", base_url=server.url + "/v1", model="m", max_retries=0)
    answerer = Answerer(
        ["llm:primary", "handoff"],
        llm_steps={"llm:primary": LLMStep(create_provider(config))},
        grounding=checker,
    )
    server.push(openai_json("Express shipping takes 1-2 business days and costs $12 [1]."))
    result = await answerer.answer(WORKSPACE, "How fast is express?", PASSAGES)
    await answerer.aclose()
    assert result.step == "llm:primary"
    assert result.reply_text == "Express shipping takes 1-2 business days and costs $12."
    assert result.citations[0]["article_id"] == "shipping"

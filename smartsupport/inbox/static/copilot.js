/* smartsupport agent inbox: the copilot above the composer (inbox/copilot_routes.py).

   When a conversation is open: a short summary (what the customer wants, what happened,
   the order numbers they gave) and drafted replies grounded in a help article or in what a
   flow found. "Insert" (or Alt+1, Alt+2, ... from anywhere) puts a draft into the reply box
   for the agent to edit and send; nothing is sent by itself. Refreshed after each new
   customer message and each status change. Everything shown is built with textContent. */
(() => {
  "use strict";
  const body = document.body;
  const current = body.dataset.conversation;
  const composer = document.getElementById("composer");
  const reply = document.getElementById("reply");
  if (body.dataset.page !== "inbox" || !current || !composer) return;

  const { el } = window.ssDom;
  const panel = el("section", { class: "copilot", id: "copilot", "aria-labelledby": "copilot-title", hidden: "" });
  composer.before(panel);
  let drafts = [];

  function insert(index) {
    const draft = drafts[index];
    if (!draft || composer.hidden) return false;
    reply.value = reply.value.trim() ? reply.value.replace(/\s*$/, "\n\n") + draft.text : draft.text;
    reply.focus();
    reply.setSelectionRange(reply.value.length, reply.value.length);
    reply.dispatchEvent(new Event("input", { bubbles: true })); // typing shows as usual
    return true;
  }

  let last = null;
  function render(data) {
    last = data;
    drafts = data.drafts;
    const s = data.summary;
    const facts = el("dl", { class: "copilot-summary" });
    const fact = (label, value) => value && facts.append(el("dt", { text: label }), el("dd", { text: value }));
    fact("Wants", s.wants);
    fact("Intent", s.intent);
    fact("References", s.references.join(", "));
    fact("Mood", s.mood);
    fact("So far", s.happened.join(" "));
    const list = el("ol", { class: "copilot-drafts", id: "copilot-drafts" });
    drafts.forEach((d, i) => {
      const source = d.kind === "article" ? "From the article “" + d.source + "”" : "What the " + d.source + " flow found";
      const button = el("button", { type: "button", class: "small", "data-draft": String(i), title: "Alt+" + (i + 1), text: "Insert" });
      button.hidden = composer.hidden;
      list.append(el("li", { class: "draft " + d.kind }, el("p", { class: "draft-text", text: d.text }), el("span", { class: "draft-source", text: source + (d.step.startsWith("llm:") ? " · written by the language model, checked against the article" : "") }), button));
    });
    const none = el("p", { class: "muted", text: "No draft: no help article answers what the customer asked, and no flow found anything." });
    const claim = el("p", { class: "muted", text: "Claim the conversation to insert a draft." });
    panel.replaceChildren(
      el("h2", { id: "copilot-title", text: "Copilot" }),
      facts,
      drafts.length ? list : none,
      ...(drafts.length && composer.hidden ? [claim] : []),
    );
    panel.hidden = false;
  }

  let loading = 0;
  async function load() {
    const mine = ++loading;
    try {
      const r = await fetch(`/api/v1/inbox/conversations/${encodeURIComponent(current)}/copilot`);
      if (r.ok && mine === loading) render(await r.json());
    } catch {}
  }

  // Claiming shows the composer (inbox.js): the drafts become insertable.
  new MutationObserver(() => last && render(last)).observe(composer, { attributes: true, attributeFilter: ["hidden"] });
  panel.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-draft]");
    if (button) insert(Number(button.dataset.draft));
  });
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || !/^Digit[1-9]$/.test(e.code)) return;
    if (insert(Number(e.code.slice(5)) - 1)) e.preventDefault();
  });
  let timer = 0;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(load, 700);
  };
  document.addEventListener("inbox:frame", (e) => {
    const f = e.detail;
    if (f.type === "inbox" && f.conversation_id === current) later(); // claimed, handed back...
    if (f.type !== "conversation" || f.conversation_id !== current) return;
    if ((f.event.type === "message" && f.event.message.author === "customer") || f.event.type === "status") later();
  });
  load();
})();

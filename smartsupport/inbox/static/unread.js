/* smartsupport agent inbox: unread counts, live (docs/inbox.md, "Unread counts";
   inbox/unread.py on the server).

   - A count is the customer's messages after the agent's read mark, per conversation on its
     card (the queue's and "My conversations"'); "My conversations"' total is in the page
     title, the queue's in its header (the queue is everyone's to take, not the agent's to
     answer, so it stays out of the title).
   - Each card comes from the server with its count (data-unread) and the conversation's last
     message when it was counted (data-seq). Frames add to it: "unread" (a customer's message
     in a waiting conversation) and a held or watched conversation's customer messages. A
     message is counted once, by its seq, however often it arrives (the lists, the
     conversation's channel, the queue's frame).
   - What is on screen while the tab is visible is marked read (POST .../read). The server
     sends the mark back as a "read" frame to every open inbox of this agent (not to other
     agents), so the count drops in the agent's other tabs and devices too. */
(() => {
  "use strict";
  const body = document.body;
  if (body.dataset.page !== "inbox") return;
  const me = body.dataset.user;
  const current = body.dataset.conversation || null;
  const { $, csrf, el } = window.ssDom;

  const baseTitle = document.title;
  // id -> {base: the server's count, upTo: the seq it was counted to, live: seqs after it}
  const counts = new Map();
  let readSeq = 0; // the mark last sent for the conversation on screen
  const shownSeq = () =>
    Math.max(0, ...[...document.querySelectorAll("#transcript [data-seq]")].map((m) => Number(m.dataset.seq) || 0));
  const onScreen = (id) => id === current && !document.hidden;
  const countOf = (id) => {
    const c = counts.get(id);
    return c ? c.base + c.live.size : 0;
  };

  function markRead(seq) {
    if (!current || document.hidden || !(seq > readSeq)) return;
    readSeq = seq;
    const retry = () => (readSeq = 0); // sent again with the next message or view
    fetch(`/api/v1/inbox/conversations/${encodeURIComponent(current)}/read`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: JSON.stringify({ seq }),
    }).then((r) => r.ok || retry(), retry);
  }

  // The lists were read again: the server's counts, plus what arrived after its snapshot
  // (a frame can overtake the lists' response). Conversations without a card are dropped.
  function fromServer() {
    const seen = new Map();
    for (const card of document.querySelectorAll("#lists .card[data-unread]")) {
      const id = card.dataset.id, upTo = Number(card.dataset.seq) || 0;
      const live = [...((counts.get(id) || {}).live || [])].filter((s) => s > upTo);
      seen.set(id, { base: Number(card.dataset.unread) || 0, upTo, live: new Set(live) });
    }
    counts.clear();
    for (const [id, c] of seen) counts.set(id, c);
  }

  function arrived(id, seq) {
    if (!counts.has(id)) counts.set(id, { base: 0, upTo: 0, live: new Set() });
    const c = counts.get(id);
    if (seq > c.upTo && !onScreen(id)) c.live.add(seq);
    show();
  }

  function read(id, seq) {
    const c = counts.get(id);
    if (!c) return;
    for (const s of c.live) if (s <= seq) c.live.delete(s);
    if (seq >= c.upTo) c.base = 0;
    // A mark older than the server's count: how many of those it covers is the server's
    // to say (rare: another tab read late).
    else if (c.base) document.dispatchEvent(new Event("inbox:refresh-lists"));
    show();
  }

  function show() {
    if (onScreen(current)) {
      const seq = shownSeq();
      counts.set(current, { base: 0, upTo: Math.max(seq, (counts.get(current) || {}).upTo || 0), live: new Set() });
      markRead(seq);
    }
    const totals = { mine: 0, queue: 0 };
    for (const card of document.querySelectorAll("#lists .card[data-id]")) {
      const n = countOf(card.dataset.id);
      const list = card.closest("#mine, #queue");
      if (list) totals[list.id] += n;
      let badge = card.querySelector(".unread-count");
      if (n && !badge) {
        badge = el("span", { class: "unread-count" });
        card.querySelector(".card-top").append(badge);
      }
      if (badge) {
        badge.hidden = !n;
        badge.textContent = String(n);
        badge.title = `${n} new message${n === 1 ? "" : "s"} from the customer`;
      }
    }
    document.title = totals.mine ? `(${totals.mine}) ${baseTitle}` : baseTitle;
    const header = $("#queue-unread");
    if (header) {
      header.hidden = !totals.queue;
      header.textContent = `${totals.queue} unread`;
    }
  }

  document.addEventListener("visibilitychange", show);
  document.addEventListener("inbox:frame", (e) => {
    const f = e.detail;
    if (f.type === "unread") arrived(f.conversation_id, f.seq);
    else if (f.type === "read" && f.agent_id === me) read(f.conversation_id, f.seq);
    else if (f.type === "conversation" && f.event.type === "message" && f.event.message.author === "customer")
      arrived(f.conversation_id, f.event.message.seq);
  });
  document.addEventListener("inbox:lists", () => {
    fromServer();
    show();
  });
  fromServer();
  show();
})();

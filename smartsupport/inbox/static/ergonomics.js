/* smartsupport agent inbox: keyboard shortcuts, alerts on new assignments and collision
   warnings (docs/inbox.md, "Working faster"; unread counts are unread.js's).

   - Shortcuts work when no text field has the focus; "?" lists them in a help overlay.
   - Alerts: a conversation offered, transferred or assigned to the agent plays a short
     sound and shows a desktop notification. Off until the agent turns them on with the
     "Alerts" button (the browser asks for permission on that click); the choice is kept per
     agent in this browser.
   - Collisions: while someone else types a reply or a private note in the conversation on
     screen, a warning names them (inbox/collision.py publishes the typing over the
     backplane, so it works across replicas). This script announces the agent's own note
     typing; inbox.js announces reply typing. */
(() => {
  "use strict";
  const body = document.body;
  if (body.dataset.page !== "inbox") return;
  const me = body.dataset.user;
  const current = body.dataset.conversation || null;
  const { $, el } = window.ssDom;
  const store = {
    get: (key, fallback) => {
      try {
        return JSON.parse(localStorage.getItem(`smartsupport:${me}:${key}`)) ?? fallback;
      } catch {
        return fallback;
      }
    },
    set: (key, value) => {
      try {
        localStorage.setItem(`smartsupport:${me}:${key}`, JSON.stringify(value));
      } catch {}
    },
  };

  // ---- keyboard shortcuts ----------------------------------------------------------------
  const click = (sel) => {
    const b = $(sel);
    if (b && !b.disabled && !b.hidden) b.click();
  };
  const focus = (sel) => {
    const f = $(sel);
    if (f && !f.closest("[hidden]")) f.focus();
  };
  function go(step) {
    const cards = [...document.querySelectorAll("#lists .card[data-id] a.card-link")];
    if (!cards.length) return;
    const at = cards.findIndex((a) => a.closest(".card").dataset.id === current);
    const next = at < 0 ? (step > 0 ? 0 : cards.length - 1) : Math.min(cards.length - 1, Math.max(0, at + step));
    if (cards[next] && next !== at) location.href = cards[next].href;
  }
  const SHORTCUTS = [
    ["j", "Next conversation", () => go(1)],
    ["k", "Previous conversation", () => go(-1)],
    ["r", "Write a reply", () => focus("#reply")],
    ["n", "Write a private note", () => focus("#note-text")],
    ["c", "Claim or take over", () => click(".conv-actions button[data-action='claim']")],
    ["e", "Resolve", () => click(".conv-actions button[data-action='resolve']")],
    ["b", "Hand back to the assistant", () => click(".conv-actions button[data-action='handback']")],
    ["/", "Search the history", () => (location.href = "/inbox/history")],
    ["?", "Show these shortcuts", () => help(true)],
  ];
  const MORE = [
    ["Enter", "Send the reply (Shift+Enter: new line)"],
    ["Alt+1 … Alt+9", "Insert the copilot's draft 1 … 9"],
    ["Esc", "Leave the text field, close this help"],
  ];
  let overlay = null;
  function help(open) {
    if (!open) {
      if (overlay) overlay.hidden = true;
      return;
    }
    if (!overlay) {
      const rows = [...SHORTCUTS.map(([k, what]) => [k, what]), ...MORE].map(([k, what]) =>
        el("tr", {}, el("th", { scope: "row" }, el("kbd", { text: k })), el("td", { text: what })));
      overlay = el("div", { class: "shortcuts-overlay", id: "shortcuts", role: "dialog", "aria-modal": "true", "aria-labelledby": "shortcuts-title" },
        el("div", { class: "shortcuts-box" },
          el("h2", { id: "shortcuts-title", text: "Keyboard shortcuts" }),
          el("table", {}, el("tbody", {}, ...rows)),
          el("button", { type: "button", class: "small", id: "shortcuts-close", text: "Close" })));
      overlay.addEventListener("click", (e) => (e.target === overlay || e.target.id === "shortcuts-close") && help(false));
      body.append(overlay);
    }
    overlay.hidden = false;
    $("#shortcuts-close").focus();
  }
  const typingInField = (t) => t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      if (overlay && !overlay.hidden) return help(false);
      if (typingInField(e.target)) e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typingInField(e.target)) return;
    const found = SHORTCUTS.find(([k]) => k === e.key);
    if (!found || (overlay && !overlay.hidden && e.key !== "?")) return;
    e.preventDefault();
    found[2]();
  });

  // ---- alerts on new assignments -------------------------------------------------------
  let alerts = store.get("alerts", false);
  const assigned = () => new Set([...document.querySelectorAll("#mine .card[data-id], #queue .card.offered[data-id]")].map((c) => c.dataset.id));
  let known = assigned();
  function beep() {
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
      tone.onended = () => audio.close();
    } catch {}
  }
  function alertNew() {
    const now = assigned();
    const fresh = [...now].filter((id) => !known.has(id));
    known = now;
    if (!alerts || !fresh.length) return;
    body.dataset.alerts = String(Number(body.dataset.alerts || 0) + fresh.length); // for tests
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    for (const id of fresh) {
      const card = $(`#lists .card[data-id="${CSS.escape(id)}"]`);
      const name = card ? card.querySelector(".name").textContent : "A customer";
      const offered = card && card.classList.contains("offered");
      const note = new Notification(offered ? "Conversation offered to you" : "New conversation assigned to you", {
        body: name, tag: "smartsupport-" + id,
      });
      note.onclick = () => {
        window.focus();
        location.href = "/inbox/conversations/" + encodeURIComponent(id);
      };
    }
  }
  const toggle = el("button", { type: "button", class: "ghost small alerts-toggle", id: "alerts-toggle", "aria-pressed": String(alerts) });
  const label = () => (toggle.textContent = alerts ? "Alerts on" : "Alerts off");
  label();
  toggle.addEventListener("click", async () => {
    alerts = !alerts;
    // Asked on this click (a user gesture): browsers refuse to ask otherwise.
    if (alerts && "Notification" in window && Notification.permission === "default") await Notification.requestPermission();
    store.set("alerts", alerts);
    toggle.setAttribute("aria-pressed", String(alerts));
    label();
  });
  const keys = el("button", { type: "button", class: "ghost small", id: "shortcuts-open", title: "Keyboard shortcuts (?)", text: "?" });
  keys.setAttribute("aria-label", "Keyboard shortcuts");
  keys.addEventListener("click", () => help(true));
  const me_ = $(".topbar .me");
  if (me_) me_.prepend(toggle, keys);

  // ---- collision warnings --------------------------------------------------------------
  const others = new Map(); // agent id -> {name, where, timer}
  let warning = null;
  function showCollision() {
    const composer = $("#composer");
    if (!composer) return;
    if (!warning) {
      warning = el("p", { class: "collision", id: "collision", role: "status" });
      composer.before(warning);
    }
    const parts = [...others.values()].map((o) => `${o.name} is typing ${o.where === "note" ? "a private note" : "a reply"}`);
    warning.hidden = !parts.length;
    warning.textContent = parts.length ? `⚠ ${parts.join("; ")} in this conversation.` : "";
  }
  function onTyping(f) {
    if (f.conversation_id !== current || f.agent_id === me) return;
    const held = others.get(f.agent_id);
    if (held) clearTimeout(held.timer);
    if (!f.on) others.delete(f.agent_id);
    else
      others.set(f.agent_id, {
        name: f.agent_name, where: f.where,
        timer: setTimeout(() => (others.delete(f.agent_id), showCollision()), 8000),
      });
    showCollision();
  }
  let noteSent = 0, noteOff = 0;
  const announce = (on) => document.dispatchEvent(new CustomEvent("inbox:send", { detail: { type: "typing", conversation_id: current, on, where: "note" } }));
  // The note form is re-rendered with the side panel: listen on the document.
  document.addEventListener("input", (e) => {
    if (!current || !e.target || e.target.id !== "note-text") return;
    if (Date.now() - noteSent > 3000) {
      noteSent = Date.now();
      announce(true);
    }
    clearTimeout(noteOff);
    noteOff = setTimeout(() => ((noteSent = 0), announce(false)), 4000);
  });

  // ---- wiring --------------------------------------------------------------------------
  document.addEventListener("inbox:frame", (e) => e.detail.type === "agent_typing" && onTyping(e.detail));
  document.addEventListener("inbox:lists", alertNew);
})();

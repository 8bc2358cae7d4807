/* smartsupport agent inbox: live updates and actions for the server-rendered pages.

   - HTML comes from the server, escaped there (Jinja2 autoescape): lists, the conversation
     header and the context panel are re-fetched as fragments when the inbox socket says
     something changed. Text this script builds itself (live messages, toasts) only ever
     goes through textContent.
   - Every unsafe request carries the X-CSRF-Token header (the double-submit cookie).
   - The access token is short-lived: refresh it periodically and after a 401. */
(() => {
  "use strict";
  const body = document.body;
  const page = body.dataset.page;
  const me = body.dataset.user;
  let current = body.dataset.conversation || null;
  const { $, csrf, el } = window.ssDom;

  let toastTimer = 0;
  function toast(text, ok) {
    const t = $("#toast");
    if (!t) return;
    t.textContent = text;
    t.className = "toast" + (ok ? " ok" : "");
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (t.hidden = true), 8000);
  }

  async function refreshSession() {
    try {
      const r = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "X-CSRF-Token": csrf() } });
      return r.ok;
    } catch {
      return false;
    }
  }
  function toLogin() {
    location.href = "/inbox/login?next=" + encodeURIComponent(location.pathname);
  }

  async function api(method, path, data, retried) {
    const init = { method, headers: { "X-CSRF-Token": csrf() } };
    if (data !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    const r = await fetch(path, init);
    if (r.status === 401 && !retried) {
      if (await refreshSession()) return api(method, path, data, true);
      toLogin();
    }
    let json = null;
    try {
      json = r.status === 204 ? {} : await r.json();
    } catch {}
    if (!r.ok) {
      const message = json && json.error ? json.error.message : `Request failed (${r.status})`;
      toast(message);
      const err = new Error(message);
      err.status = r.status;
      throw err;
    }
    return json;
  }

  async function swap(target, url, retried) {
    if (!target) return;
    const r = await fetch(url);
    if (r.status === 401 && !retried) {
      if (await refreshSession()) return swap(target, url, true);
      return toLogin();
    }
    if (r.ok) target.innerHTML = await r.text(); // server-rendered, escaped fragment
  }

  setInterval(refreshSession, 10 * 60 * 1000);

  // ---- inbox page ----------------------------------------------------------------------
  const lists = $("#lists");
  const transcript = $("#transcript");
  const wrap = $(".transcript-wrap");
  const composer = $("#composer");
  const reply = $("#reply");
  const typing = $("#typing");

  // "inbox:lists" after each swap: unread.js and ergonomics.js read the cards (counts, alerts).
  const refreshLists = () =>
    swap(lists, "/inbox/fragments/lists" + (current ? "?current=" + encodeURIComponent(current) : "")).then(() =>
      document.dispatchEvent(new Event("inbox:lists")));
  async function refreshConversation() {
    if (!current) return;
    await Promise.all([
      swap($("#conv-header"), `/inbox/fragments/conversations/${current}/header`),
      swap($("#context"), `/inbox/fragments/conversations/${current}/context`),
      resyncTranscript(),
    ]);
    syncComposer();
  }
  // After a reconnect or a backplane outage (change "resync") live events may have been
  // lost: the transcript is re-read from the server; seq numbers drop what is shown.
  async function resyncTranscript() {
    if (!current || !transcript) return;
    try {
      const r = await fetch(`/api/v1/inbox/conversations/${encodeURIComponent(current)}`);
      if (r.ok) (await r.json()).messages.forEach(addMessage);
    } catch {}
  }
  function syncComposer() {
    const head = $(".conv-head");
    if (!composer || !head) return;
    const mine = head.dataset.status === "with_agent" && head.dataset.holder === me;
    const was = composer.hidden;
    composer.hidden = !mine;
    if (mine && was) {
      loadCanned();
      reply.focus();
    }
  }
  const toBottom = () => wrap && (wrap.scrollTop = wrap.scrollHeight);

  const clock = (iso) => {
    const d = new Date(iso);
    return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
  };
  const WHO = { customer: "Customer", bot: "Assistant", agent: "Agent" };
  function addMessage(m) {
    if (!transcript) return;
    // A message shown already comes again when it changed: a file fetched after it was sent
    // (channels/media_retry.py) is published with the same seq; anything else is a replay.
    const shown = transcript.querySelector(`[data-seq="${Number(m.seq)}"]`);
    const files = (m.attachments || []).length;
    if (shown && files <= Number(shown.dataset.files || 0)) return;
    const li = el("li", { class: "msg " + m.author, "data-seq": String(m.seq), "data-files": String(files) });
    if (m.author !== "system") {
      const name = m.author === "agent" && m.agent_name ? m.agent_name : WHO[m.author] || m.author;
      li.append(el("span", { class: "who" }, name + " · ", el("time", { datetime: m.created_at, text: clock(m.created_at) })));
    }
    li.append(el("div", { class: "bubble", text: m.text }));
    showAttachments(li, m);
    if (shown) return shown.replaceWith(li);
    const next = [...transcript.children].find((x) => Number(x.dataset.seq) > m.seq);
    transcript.insertBefore(li, next || null);
    toBottom();
  }

  // A live message's files and cards, as attachments.html renders stored ones. Files open from
  // the staff route (live events carry the customer's view, whose URLs need a visitor token).
  function showAttachments(li, m) {
    const files = (m.attachments || []).map((a) => {
      if (!a.id) return el("li", { class: "att refused", text: a.filename });
      const url = `/api/v1/inbox/attachments/${encodeURIComponent(a.id)}`;
      const item = el("li", { class: "att " + a.kind });
      if (a.kind === "image") item.append(el("a", { href: url, download: a.filename }, el("img", { src: url, alt: a.filename, loading: "lazy" })));
      if (a.kind === "audio") item.append(el("audio", { controls: "", preload: "metadata", src: url, "aria-label": a.filename }));
      item.append(el("a", { class: "file", href: url, download: a.filename, text: a.filename }));
      return item;
    });
    if (files.length) li.append(el("ul", { class: "attachments" }, ...files));
    for (const b of m.rich || [])
      for (const card of b.type === "card" ? [b] : b.cards || [])
        li.append(el("p", { class: "rich-card" }, "▣ ", el("strong", { text: card.title }), card.subtitle ? " · " + card.subtitle : ""));
  }
  // The holder sends a file: stored, listed on an agent message, sent out on the channel.
  const attachInput = $("#attach-file");
  if (attachInput)
    attachInput.addEventListener("change", async () => {
      const file = attachInput.files && attachInput.files[0];
      attachInput.value = "";
      if (!file || !current) return;
      const query = new URLSearchParams({ filename: file.name, caption: reply.value.trim() });
      const r = await fetch(`/api/v1/inbox/conversations/${current}/attachments?${query}`, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/octet-stream" },
        body: file,
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) return toast((body.error && body.error.message) || "The file was not sent.");
      reply.value = "";
      addMessage(body.message);
    });

  let typingTimer = 0;
  function showTyping(on) {
    if (!typing) return;
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (on) {
      typingTimer = setTimeout(() => (typing.hidden = true), 6000);
      toBottom();
    }
  }

  let contextTimer = 0, listsTimer = 0;
  function onConversationEvent(id, ev) {
    if (ev.type === "message") {
      // The previews in "My conversations" follow the latest message.
      clearTimeout(listsTimer);
      listsTimer = setTimeout(refreshLists, 800);
    }
    if (id !== current) return;
    if (ev.type === "message") {
      addMessage(ev.message);
      if (ev.message.author === "customer") {
        showTyping(false);
        clearTimeout(contextTimer);
        contextTimer = setTimeout(() => swap($("#context"), `/inbox/fragments/conversations/${current}/context`), 600);
      }
    } else if (ev.type === "typing" && ev.author === "customer") showTyping(ev.on);
    else if (ev.type === "status") refreshConversation();
  }

  // ---- the live socket -----------------------------------------------------------------
  let ws = null, attempt = 0, pinger = 0;
  function connect() {
    const sock = (ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/inbox/ws"));
    sock.onopen = () => {
      if (current) sock.send(JSON.stringify({ type: "watch", conversation_id: current }));
      clearInterval(pinger);
      pinger = setInterval(() => sock.readyState === 1 && sock.send('{"type":"ping"}'), 20000);
    };
    sock.onmessage = (e) => {
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      if (f.type === "ready") {
        body.dataset.live = "1";
        if (attempt) {
          refreshLists();
          refreshConversation();
        }
        attempt = 0;
      } else if (f.type === "inbox") {
        refreshLists();
        if (f.conversation_id && f.conversation_id === current) refreshConversation();
      } else if (f.type === "conversation") onConversationEvent(f.conversation_id, f.event);
      // Every frame, for copilot.js, ergonomics.js (collisions, alerts) and unread.js.
      document.dispatchEvent(new CustomEvent("inbox:frame", { detail: f }));
    };
    sock.onclose = async (e) => {
      clearInterval(pinger);
      delete body.dataset.live;
      if (ws !== sock) return;
      ws = null;
      if (e.code === 4401 && !(await refreshSession())) return toLogin();
      attempt++;
      setTimeout(connect, Math.min(10000, 500 * 2 ** attempt));
    };
  }
  const sendFrame = (f) => ws && ws.readyState === 1 && ws.send(JSON.stringify(f));
  document.addEventListener("inbox:send", (e) => sendFrame(e.detail)); // from ergonomics.js
  document.addEventListener("inbox:refresh-lists", refreshLists); // from unread.js

  // ---- actions -------------------------------------------------------------------------
  async function act(action, id, target) {
    const base = `/api/v1/inbox/conversations/${id}`;
    if (action === "claim") {
      await api("POST", base + "/claim");
      if (id !== current) return (location.href = "/inbox/conversations/" + id);
      toast("You hold this conversation now. The assistant stays silent.", true);
    } else if (action === "decline") await api("POST", base + "/decline");
    else if (action === "resolve") {
      await api("POST", base + "/resolve");
      toast("Resolved. The customer was asked for a rating.", true);
    } else if (action === "handback") {
      await api("POST", base + "/handback");
      toast("Handed back to the assistant.", true);
    } else if (action === "reopen") await api("POST", base + "/reopen");
    else if (action === "flag-answer") {
      // A bad bot answer, for the review queue and analytics (answer_feedback, source agent).
      await api("POST", `${base}/messages/${encodeURIComponent(target.dataset.message)}/flag`, {});
      target.textContent = "Flagged";
      return toast("Answer flagged for review.", true);
    }
    else if (action === "transfer") {
      const choice = $("#transfer-target").value;
      if (!choice) return toast("Choose an agent or a team to transfer to.");
      const [kind, value] = [choice.slice(0, choice.indexOf(":")), choice.slice(choice.indexOf(":") + 1)];
      await api("POST", base + "/transfer", kind === "agent" ? { agent_id: value } : { team: value });
      toast("Transferred.", true);
    } else if (action === "priority") await api("POST", base + "/priority", { priority: target.value });
    else if (action === "delete-canned") {
      await api("DELETE", `/api/v1/inbox/canned/${id}`);
      return location.reload();
    } else if (action === "save-agent") {
      const capacity = Number($(`#cap-${CSS.escape(id)}`).value);
      const teams = $(`#teams-${CSS.escape(id)}`).value.split(",").map((t) => t.trim()).filter(Boolean);
      await api("PUT", `/api/v1/inbox/agents/${id}`, { capacity, teams });
      return toast("Saved.", true);
    }
    refreshLists();
    refreshConversation();
  }
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    e.preventDefault();
    button.disabled = true;
    act(button.dataset.action, button.dataset.id, button)
      .catch(() => 0)
      .finally(() => (button.disabled = false));
  });
  document.addEventListener("change", (e) => {
    const select = e.target.closest("select[data-action]");
    if (select) act(select.dataset.action, select.dataset.id, select).catch(() => 0);
  });

  // ---- composer, canned responses, notes, status ---------------------------------------
  let canned = [];
  async function loadCanned() {
    const select = $("#canned");
    if (!select || !current) return;
    try {
      canned = (await api("GET", `/api/v1/inbox/conversations/${current}/canned`)).canned;
    } catch {
      return;
    }
    select.replaceChildren(el("option", { value: "", text: canned.length ? "Insert a canned response…" : "No canned responses" }));
    for (const c of canned) select.append(el("option", { value: c.id, text: `${c.shortcut} — ${c.title}` }));
  }
  if ($("#canned"))
    $("#canned").addEventListener("change", (e) => {
      const c = canned.find((x) => x.id === e.target.value);
      e.target.value = "";
      if (!c) return;
      reply.value = reply.value ? reply.value.replace(/\s*$/, " ") + c.text : c.text;
      $("#canned-missing").textContent = c.missing.length ? "Fill in: " + c.missing.map((m) => `{${m}}`).join(", ") : "";
      reply.focus();
    });

  let typingSent = 0, typingOff = 0;
  let unsent = null; // {text, client_id} of a reply not acknowledged yet
  async function sendReply() {
    const text = reply.value.trim();
    if (!text) return;
    // Sending the same text again (after a failure) keeps its client_id: the server stores
    // a client_id once, so a reply whose answer was lost is never posted twice.
    if (!unsent || unsent.text !== text)
      unsent = { text, client_id: crypto.getRandomValues(new Uint32Array(4)).join("-").slice(0, 64) };
    const sending = unsent;
    reply.value = "";
    $("#canned-missing").textContent = "";
    try {
      addMessage((await deliverReply(sending)).message);
      if (unsent === sending) unsent = null;
    } catch {
      if (!reply.value) reply.value = text;
    }
    typingSent = 0;
  }
  // Retried with the same client_id while the server is unreachable or answers 503/429
  // (a backend restarting), or gives no answer within 15 s; other errors are shown at once.
  async function deliverReply(sending) {
    for (let attempt = 0; ; attempt++) {
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), 15000);
      try {
        const r = await fetch(`/api/v1/inbox/conversations/${current}/messages`, {
          method: "POST", signal: ctl.signal,
          headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
          body: JSON.stringify(sending),
        });
        if (r.ok) return await r.json();
        if ((r.status !== 503 && r.status !== 429) || attempt >= 5)
          return await api("POST", `/api/v1/inbox/conversations/${current}/messages`, sending);
      } catch (e) {
        if (attempt >= 5) throw e;
      } finally {
        clearTimeout(timer);
      }
      await new Promise((ok) => setTimeout(ok, Math.min(8000, 500 * 2 ** attempt)));
    }
  }
  if (composer) {
    composer.addEventListener("submit", (e) => {
      e.preventDefault();
      sendReply();
    });
    reply.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        sendReply();
      }
    });
    reply.addEventListener("input", () => {
      if (Date.now() - typingSent > 3000) {
        typingSent = Date.now();
        sendFrame({ type: "typing", conversation_id: current, on: true });
      }
      clearTimeout(typingOff);
      typingOff = setTimeout(() => {
        typingSent = 0;
        sendFrame({ type: "typing", conversation_id: current, on: false });
      }, 4000);
    });
  }
  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (form.id === "note-form") {
      e.preventDefault();
      const text = $("#note-text").value.trim();
      if (!text) return;
      await api("POST", `/api/v1/inbox/conversations/${form.dataset.id}/notes`, { text }).catch(() => 0);
      swap($("#context"), `/inbox/fragments/conversations/${current}/context`);
    } else if (form.id === "canned-form") {
      e.preventDefault();
      const workspace = $("#canned-workspace");
      await api("POST", "/api/v1/inbox/canned", {
        workspace: workspace ? workspace.value : null,
        shortcut: $("#canned-shortcut").value,
        title: $("#canned-title").value,
        body: $("#canned-body").value,
      }).then(() => location.reload(), () => 0);
    }
  });
  const status = $("#agent-status");
  if (status)
    status.addEventListener("change", async () => {
      await api("PUT", "/api/v1/inbox/me/status", { status: status.value }).catch(() => 0);
      $(".status-pick .dot").className = "dot " + status.value;
    });

  // Presence (inbox/presence.py): an online agent idle for data-idle-minutes goes away and
  // comes back online on their return; a status they chose themselves is left alone.
  function idleAway() {
    const minutes = parseFloat(body.dataset.idleMinutes || "0");
    if (!status || !(minutes > 0)) return;
    let last = Date.now(), auto = false;
    const set = async (value) => {
      status.value = value;
      await api("PUT", "/api/v1/inbox/me/status", { status: value }).catch(() => 0);
      $(".status-pick .dot").className = "dot " + value;
    };
    const active = () => {
      last = Date.now();
      if (auto) {
        auto = false;
        set("online");
      }
    };
    for (const type of ["keydown", "pointerdown", "pointermove", "wheel"])
      window.addEventListener(type, active, { passive: true });
    setInterval(() => {
      if (!auto && status.value === "online" && Date.now() - last >= minutes * 60000) {
        auto = true;
        set("away");
      }
    }, Math.max(1000, Math.min(30000, (minutes * 60000) / 4)));
  }

  if (page === "inbox") {
    idleAway();
    connect();
    setInterval(refreshLists, 30000); // waiting times keep counting
    if (current) {
      toBottom();
      syncComposer();
      if (composer && !composer.hidden) loadCanned();
    }
  }
})();

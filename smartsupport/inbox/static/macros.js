/* smartsupport agent inbox: macros and the order and product cards (inbox/macro_api.py).

   - The side panel's cards come from the server as an escaped HTML fragment; the context
     panel is re-rendered when the conversation changes, so a fresh #business-cards section
     is filled whenever one appears.
   - A macro that calls a business action (refund, cancel, resend a label) runs only after
     the agent confirms what it will do, in a dialog built here with textContent only.
   - Each dialog chooses one run id: clicking Confirm twice (or a retry) runs it once. */
(() => {
  "use strict";
  const body = document.body;
  if (body.dataset.page !== "inbox" && body.dataset.page !== "macros") return;
  const { $, csrf, el } = window.ssDom;
  const current = () => body.dataset.conversation || "";
  const runId = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");

  function toast(text, ok) {
    const t = $("#toast");
    if (!t) return;
    t.textContent = text;
    t.className = "toast" + (ok ? " ok" : "");
    t.hidden = false;
    setTimeout(() => (t.hidden = true), 8000);
  }

  async function call(method, path, data) {
    const init = { method, headers: { "X-CSRF-Token": csrf() } };
    if (data !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    const r = await fetch(path, init);
    let json = null;
    try {
      json = r.status === 204 ? {} : await r.json();
    } catch {}
    return { ok: r.ok, status: r.status, json: json || {} };
  }
  const errorText = (res) => (res.json.error && res.json.error.message) || `Request failed (${res.status})`;

  // ---- the macros page (admins) ----------------------------------------------------------
  if (body.dataset.page === "macros") {
    const form = $("#macro-form");
    const field = (name) => $("#macro-" + name);
    document.addEventListener("click", async (e) => {
      const del = e.target.closest("button[data-macro-delete]");
      const edit = e.target.closest("button[data-macro-edit]");
      if (del) {
        const res = await call("DELETE", `/api/v1/inbox/macros/${encodeURIComponent(del.dataset.macroDelete)}`);
        return res.ok ? location.reload() : toast(errorText(res));
      }
      if (!edit) return;
      const m = JSON.parse(edit.dataset.macroEdit);
      field("id").value = m.id;
      field("workspace").value = m.workspace;
      for (const k of ["name", "title", "role", "reply", "status"]) field(k).value = m[k];
      field("action").value = m.action ? m.action.name : "";
      field("tags").value = m.tags.join(", ");
      field("name").focus();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const action = field("action").value;
      const data = {
        workspace: field("workspace").value,
        name: field("name").value,
        title: field("title").value,
        role: field("role").value,
        action: action ? { name: action } : null,
        reply: field("reply").value,
        tags: field("tags").value.split(",").map((t) => t.trim()).filter(Boolean),
        status: field("status").value,
      };
      const id = field("id").value;
      const res = id ? await call("PUT", `/api/v1/inbox/macros/${encodeURIComponent(id)}`, data) : await call("POST", "/api/v1/inbox/macros", data);
      return res.ok ? location.reload() : toast(errorText(res));
    });
    return;
  }

  // ---- cards ---------------------------------------------------------------------------
  async function loadCards(section) {
    section.dataset.loaded = "1";
    const target = $(".cards-body", section);
    try {
      const r = await fetch(`/inbox/fragments/cards/${encodeURIComponent(section.dataset.id)}`);
      if (r.ok) target.innerHTML = await r.text(); // server-rendered, escaped fragment
      else target.textContent = "The order and product cards could not be loaded.";
    } catch {
      target.textContent = "The order and product cards could not be loaded.";
    }
  }
  const scan = () => document.querySelectorAll("#business-cards:not([data-loaded])").forEach(loadCards);
  new MutationObserver(scan).observe(body, { childList: true, subtree: true });
  scan();

  async function refreshPanel() {
    const context = $("#context");
    if (!context || !current()) return;
    const r = await fetch(`/inbox/fragments/conversations/${encodeURIComponent(current())}/context`);
    if (r.ok) context.innerHTML = await r.text();
  }

  // ---- macros --------------------------------------------------------------------------
  async function planned() {
    const res = await call("GET", `/api/v1/inbox/conversations/${encodeURIComponent(current())}/macros`);
    if (!res.ok) throw new Error(errorText(res));
    return res.json.macros;
  }
  async function fillPicker() {
    const pick = $("#macro-pick");
    if (!pick || !current()) return;
    let found = [];
    try {
      found = await planned();
    } catch {
      return;
    }
    pick.replaceChildren(el("option", { value: "", text: found.length ? "Run a macro…" : "No macros" }));
    for (const m of found)
      pick.append(el("option", { value: m.id, text: m.title + (m.allowed ? "" : ` (needs ${m.role})`), disabled: m.allowed ? null : "" }));
  }

  async function run(macro, id, confirm) {
    return call("POST", `/api/v1/inbox/conversations/${encodeURIComponent(current())}/macros/${encodeURIComponent(macro.id)}/runs`, { run_id: id, confirm });
  }
  function shown(res) {
    if (!res.ok) return { text: errorText(res), ok: false };
    return { text: res.json.message, ok: res.json.state === "done" };
  }

  async function start(macroId) {
    let macro;
    try {
      macro = (await planned()).find((m) => m.id === macroId);
    } catch (e) {
      return toast(e.message);
    }
    if (!macro) return toast("This macro no longer exists.");
    if (!macro.allowed) return toast(`This macro needs the ${macro.role} role.`);
    if (macro.missing.length) return toast("This macro lacks " + macro.missing.map((m) => `{${m}}`).join(", ") + " here: reply by hand.");
    if (!macro.confirm) {
      const out = shown(await run(macro, runId(), false));
      toast(out.text, out.ok);
      return refreshPanel();
    }
    confirmDialog(macro);
  }

  function confirmDialog(macro) {
    const old = $("#macro-dialog");
    if (old) old.remove();
    const id = runId(); // one per dialog: a double click runs it once
    const result = el("p", { class: "macro-result", role: "status" });
    const confirmButton = el("button", { type: "button", class: "primary", text: "Confirm" });
    const closeButton = el("button", { type: "button", class: "ghost", text: "Cancel" });
    const dialog = el(
      "dialog",
      { id: "macro-dialog", class: "macro-dialog", "aria-labelledby": "macro-dialog-title" },
      el("h2", { id: "macro-dialog-title", text: macro.title }),
      el("p", { text: "This macro will:" }),
      el("ol", { class: "macro-steps" }, ...macro.steps.map((s) => el("li", { text: s }))),
      el("p", { class: "muted", text: "The business action runs first; the customer is told only if it succeeds." }),
      result,
      el("div", { class: "macro-buttons" }, confirmButton, closeButton),
    );
    closeButton.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => dialog.remove());
    confirmButton.addEventListener("click", async () => {
      confirmButton.disabled = true;
      result.textContent = "Running…";
      let res;
      try {
        res = await run(macro, id, true);
      } catch {
        result.textContent = "The server did not answer. Confirm again: it will not run twice.";
        confirmButton.disabled = false;
        return;
      }
      const out = shown(res);
      result.textContent = out.text;
      result.className = "macro-result " + (out.ok ? "ok" : "failed");
      result.setAttribute("role", out.ok ? "status" : "alert");
      closeButton.textContent = "Close";
      if (res.status >= 500) confirmButton.disabled = false;
      refreshPanel();
    });
    body.append(dialog);
    dialog.showModal();
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-macro]");
    if (!button || button.disabled) return;
    e.preventDefault();
    start(button.dataset.macro);
  });
  document.addEventListener("change", (e) => {
    if (e.target.id !== "macro-pick") return;
    const value = e.target.value;
    e.target.value = "";
    if (value) start(value);
  });
  fillPicker();
})();

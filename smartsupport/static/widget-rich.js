/* smartsupport chat widget: rich messages, files and voice notes (docs/protocol.md).
   Loaded by widget-app.js the first time a message shows a card, buttons, a carousel, an
   image or a file, or the customer attaches a file or records a voice note.

   The same rules as widget-app.js: every text reaches the page through textContent; links and
   images only from http(s) URLs (ctx.safeUrl); files are fetched with the visitor token and
   shown from blob: URLs, images as <img>, voice notes as <audio>, everything else as a
   download link. Pressing a postback button sends its payload as the customer's message. */
(() => {
  "use strict";
  const S = window.SmartSupport;
  if (!S || S.rich) return;
  let c = null; // what widget-app.js hands over: h, T, send, add, ...

  const CSS = `.rich{display:flex;flex-direction:column;gap:6px;margin-top:6px;max-width:100%}
.card{display:flex;flex-direction:column;min-width:0;width:240px;max-width:100%;box-sizing:border-box;
background:#fff;border:1px solid #d5d8de;border-radius:14px;overflow:hidden}
.card img{display:block;width:100%;height:130px;object-fit:cover;background:#eef0f3}
.cb{padding:9px 12px;display:flex;flex-direction:column;gap:3px}
.cb strong{font-size:15px}.cb strong a{color:inherit}
.cb p{margin:0;font-size:13px;color:#4a4f57;overflow-wrap:anywhere}
.carousel{display:flex;gap:8px;overflow-x:auto;scroll-snap-type:x mandatory;max-width:100%;padding-bottom:4px}
.carousel .card{flex:none;scroll-snap-align:start}
.btns{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}
.btn{display:inline-block;padding:5px 12px;border:1.5px solid var(--ink);border-radius:999px;
background:#fff;color:var(--ink);font-size:14px;text-decoration:none}
.btn:hover{background:#eef1f6}
.att img{display:block;max-width:220px;max-height:220px;border-radius:12px;border:1px solid #d5d8de}
.att audio{width:240px;max-width:100%}
.att a{color:#1742b3}.customer .att a{color:inherit}
.file{display:inline-flex;gap:6px;align-items:center;padding:7px 11px;border:1px solid #d5d8de;
border-radius:12px;background:#fff;color:#1a1a1a;font-size:14px}`;

  function init(ctx) {
    c = ctx;
    const root = c.log.getRootNode();
    root.append(c.h("style", {}, CSS));
    return S.rich;
  }

  // ---- rendering ----------------------------------------------------------------------
  function render(li, m) {
    const box = c.h("div", { class: "rich" });
    for (const b of m.rich || []) {
      const el = block(b);
      if (el) box.append(el);
    }
    for (const a of m.attachments || []) box.append(attachment(a));
    if (box.childElementCount) li.append(box);
  }
  function block(b) {
    if (!b || typeof b != "object") return null;
    if (b.type == "card") return card(b);
    if (b.type == "carousel")
      return c.h("div", { class: "carousel", role: "group", tabindex: "0" }, ...(b.cards || []).map(card));
    if (b.type == "buttons") return buttons(b.buttons);
    if (b.type == "image") {
      const src = c.safeUrl(b.url);
      return src && c.h("img", { class: "att", src, alt: b.alt || "", loading: "lazy", referrerpolicy: "no-referrer" });
    }
    if (b.type == "file") {
      const href = c.safeUrl(b.url);
      return href && c.h("a", { class: "file", href, ...c.LINK, text: "📄 " + (b.filename || href) });
    }
    return null;
  }
  function card(b) {
    const href = b.url && c.safeUrl(b.url), img = b.image_url && c.safeUrl(b.image_url);
    const title = c.h("strong", { dir: "auto" }, href ? c.h("a", { href, ...c.LINK, text: b.title }) : String(b.title || ""));
    return c.h(
      "div",
      { class: "card" },
      img ? c.h("img", { src: img, alt: "", loading: "lazy", referrerpolicy: "no-referrer" }) : "",
      c.h("div", { class: "cb" }, title, b.subtitle ? c.h("p", { dir: "auto", text: b.subtitle }) : "", (b.buttons || []).length ? buttons(b.buttons) : "")
    );
  }
  function buttons(list) {
    const row = c.h("div", { class: "btns" });
    for (const b of list || []) {
      if (b.type == "link") {
        const href = c.safeUrl(b.url);
        if (href) row.append(c.h("a", { class: "btn", href, ...c.LINK, text: b.title }));
      } else row.append(c.h("button", { type: "button", class: "btn", text: b.title, onclick: () => c.send(b.payload || b.title, true) }));
    }
    return row;
  }

  // Our own files are served only with the visitor token: fetched, then shown from blob: URLs.
  async function blobOf(a) {
    const st = c.st();
    const r = await fetch(c.api + a.url, { headers: { Authorization: "Bearer " + st.token } });
    if (!r.ok) throw new Error(r.status);
    return URL.createObjectURL(await r.blob());
  }
  function attachment(a) {
    const wrap = c.h("div", { class: "att" });
    if (!a || !a.url || !/^\/api\/v1\/conversations\//.test(a.url)) {
      wrap.append(c.h("span", { class: "file", text: "📄 " + ((a && a.filename) || "") }));
      return wrap;
    }
    if (a.kind == "image") {
      const img = c.h("img", { alt: a.filename });
      blobOf(a).then((u) => (img.src = u), () => img.replaceWith(c.h("span", { class: "file", text: "🖼 " + a.filename })));
      wrap.append(img);
    } else if (a.kind == "audio") {
      const audio = c.h("audio", { controls: true, preload: "metadata", "aria-label": a.filename });
      blobOf(a).then((u) => (audio.src = u), () => 0);
      wrap.append(audio);
    } else {
      const link = c.h("a", { class: "file", href: "#", download: a.filename, text: "📄 " + a.filename });
      link.onclick = async (e) => {
        if (link.getAttribute("href") != "#") return;
        e.preventDefault();
        link.href = await blobOf(a);
        link.click();
      };
      wrap.append(link);
    }
    return wrap;
  }

  // ---- sending files and voice notes ---------------------------------------------------
  function pick() {
    const input = c.h("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf", hidden: true });
    input.onchange = () => {
      const file = input.files && input.files[0];
      input.remove();
      if (file) upload(file, file.name);
    };
    c.log.getRootNode().append(input);
    input.click();
  }
  async function upload(blob, name) {
    const st = c.st();
    if (!st) return;
    const li = c.bubble("customer", "📎 " + name);
    li.classList.add("pending");
    const note = c.h("span", { class: "note", text: c.T.sending });
    li.append(note);
    c.log.append(li);
    c.toBottom();
    const query = new URLSearchParams({ filename: name, client_id: c.newId() });
    try {
      const r = await fetch(`${c.api}/api/v1/conversations/${encodeURIComponent(st.id)}/attachments?${query}`, {
        method: "POST",
        headers: { Authorization: "Bearer " + st.token, "Content-Type": "application/octet-stream" },
        body: blob,
      });
      const body = await r.json();
      if (r.ok) {
        li.remove();
        c.add(body.message);
        body.replies.forEach(c.add);
        return c.setStatus(body.status);
      }
      fail(li, note, body.error && body.error.message);
    } catch {
      fail(li, note, "");
    }
  }
  function fail(li, note, message) {
    li.classList.replace("pending", "failed");
    note.textContent = `${c.T.failed} ${message || ""}`;
  }

  // Press once to record, again to stop and send (WebM/Opus where the browser has it).
  let recorder = null;
  async function record(btn) {
    if (recorder) return recorder.stop();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      return;
    }
    const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"].find((t) => MediaRecorder.isTypeSupported(t));
    const rec = (recorder = new MediaRecorder(stream, type ? { mimeType: type } : {}));
    const parts = [];
    rec.ondataavailable = (e) => e.data.size && parts.push(e.data);
    rec.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      btn.setAttribute("aria-pressed", "false");
      btn.setAttribute("aria-label", c.T.voice);
      const mime = rec.mimeType || "audio/webm";
      const ext = /ogg/.test(mime) ? "ogg" : /mp4/.test(mime) ? "m4a" : "webm";
      if (parts.length) upload(new Blob(parts, { type: mime }), "voice-note." + ext);
    };
    rec.start();
    btn.setAttribute("aria-pressed", "true");
    btn.setAttribute("aria-label", c.T.send); // pressed again: stop and send
  }

  S.rich = { init, render, pick, record, upload };
})();

/* smartsupport chat widget: the forms few conversations show (docs/protocol.md). Loaded by
   widget-app.js the first time one is needed, so they cost nothing when the chat opens:
   - the 1-5 rating and comment after a resolution (CSAT), and sending an answer's thumbs,
   - the texts of the place in the agents' queue,
   - the contact form under the bot's message when nobody can answer live (offline, overflow),
   - the consent step (privacy notice, people-only choice) in workspaces that require it.

   The same rules as widget-app.js: every text reaches the page through textContent. The boxes
   live in c.boxes (csat, contact, consent), which widget-app.js reads to remove them. */
(() => {
  "use strict";
  const S = window.SmartSupport;
  if (!S || S.forms) return;
  let c = null; // what widget-app.js hands over: h, T, call, add, boxes, ...

  // The texts of the rating and of the place in the queue in the widget's nine languages (the
  // same keys in each; "{n}", "{m}" are filled in); widget-app.js has the others.
  const STRINGS = {
    en: {
      rate: "How would you rate this conversation?", comment: "Comment (optional)",
      submit: "Send rating", thanks: "Thank you for your feedback!",
      queue: "you are number {n} in the queue", wait: "about {m} min",
    },
    es: {
      rate: "¿Cómo valorarías esta conversación?", comment: "Comentario (opcional)",
      submit: "Enviar valoración", thanks: "¡Gracias por tu opinión!",
      queue: "eres el número {n} en la cola", wait: "unos {m} min",
    },
    fr: {
      rate: "Comment évaluez-vous cette conversation ?", comment: "Commentaire (facultatif)",
      submit: "Envoyer la note", thanks: "Merci pour votre avis !",
      queue: "vous êtes n° {n} dans la file", wait: "environ {m} min",
    },
    de: {
      rate: "Wie bewerten Sie diese Unterhaltung?", comment: "Kommentar (optional)",
      submit: "Bewertung senden", thanks: "Danke für Ihr Feedback!",
      queue: "Sie sind Nummer {n} in der Warteschlange", wait: "etwa {m} Min.",
    },
    it: {
      rate: "Come valuti questa conversazione?", comment: "Commento (facoltativo)",
      submit: "Invia valutazione", thanks: "Grazie per il tuo feedback!",
      queue: "sei il numero {n} in coda", wait: "circa {m} min",
    },
    pt: {
      rate: "Como você avalia esta conversa?", comment: "Comentário (opcional)",
      submit: "Enviar avaliação", thanks: "Obrigado pela sua opinião!",
      queue: "você é o número {n} na fila", wait: "cerca de {m} min",
    },
    zh: {
      rate: "您对本次对话满意吗？", comment: "评论（可选）",
      submit: "提交评价", thanks: "感谢您的反馈！",
      queue: "您在队列中排第 {n} 位", wait: "约 {m} 分钟",
    },
    ja: {
      rate: "この会話を評価してください", comment: "コメント（任意）",
      submit: "評価を送信", thanks: "ご意見ありがとうございました！",
      queue: "順番待ち {n} 番目", wait: "約 {m} 分",
    },
    ar: {
      rate: "كيف تقيّم هذه المحادثة؟", comment: "تعليق (اختياري)",
      submit: "إرسال التقييم", thanks: "شكرًا على ملاحظاتك!",
      queue: "ترتيبك {n} في قائمة الانتظار", wait: "حوالي {m} دقيقة",
    },
  };

  // .contact input looks like the composer's textarea (widget-app.js).
  const CSS = `.csat{margin:12px 2px 0;padding:12px;background:#fff;border:1px solid #d5d8de;border-radius:14px;
display:flex;flex-direction:column;gap:8px}
.csat p{margin:0;font-weight:600}
.stars{display:flex;gap:2px}
.star{border:0;background:none;font-size:28px;line-height:1;color:#9aa0a9;padding:2px 3px}
.star[aria-pressed=true]{color:#b87700}
.contact input{flex:1;box-sizing:border-box;min-height:42px;max-height:132px;resize:none;margin:0;
padding:9px 14px;border:1.5px solid #767676;border-radius:21px;background:#fff;color:#1a1a1a;
font:inherit}
.csat textarea{min-height:0;border-radius:10px;resize:vertical}
.rate{align-self:flex-end;padding:7px 16px;border:0;border-radius:999px;background:var(--bg);color:var(--fg)}
.rate:disabled{opacity:.5;cursor:default}`;

  function init(ctx) {
    c = ctx;
    c.log.getRootNode().append(c.h("style", {}, CSS));
    return S.forms;
  }
  // Every box sits below the conversation, above the typing indicator.
  function place(box) {
    c.scroller.insertBefore(box, c.typing);
    c.toBottom();
  }

  // ---- after an agent resolves the conversation: a 1-5 rating and an optional comment,
  // when the server says it is due.
  async function ask() {
    try {
      const r = await c.call("/csat");
      const b = r.ok && (await r.json());
      if (b && b.due) rating();
    } catch {}
  }
  function rating() {
    const { h, boxes } = c, T = STRINGS[S.cfg.lang] || STRINGS.en;
    if (boxes.csat) return;
    let chosen = 0;
    const stars = [1, 2, 3, 4, 5].map((n) =>
      h("button", { type: "button", class: "star", "aria-pressed": "false", "aria-label": `${n}/5`, text: "★", onclick: () => {
        chosen = n;
        stars.forEach((b, i) => b.setAttribute("aria-pressed", i < n));
        rate.disabled = false;
      } })
    );
    const comment = h("textarea", { rows: "2", maxlength: "1000", placeholder: T.comment, "aria-label": T.comment });
    const rate = h("button", { type: "button", class: "rate", text: T.submit, disabled: true, onclick: async () => {
      rate.disabled = true;
      try {
        const r = await c.call("/csat", { method: "POST", body: JSON.stringify({ rating: chosen, comment: comment.value.trim() || null }) });
        if (r.ok || r.status == 409) {
          box.replaceChildren(h("p", { text: T.thanks }));
          return c.say(T.thanks);
        }
      } catch {}
      rate.disabled = false;
    } });
    const box = (boxes.csat = h("div", { class: "csat", role: "group", "aria-label": T.rate }, h("p", { text: T.rate }), h("div", { class: "stars" }, ...stars), comment, rate));
    place(box);
  }

  // A thumbs up or down on an answer (widget-app.js draws the thumbs). Rating again replaces
  // the rating; a thumbs up may ask for the 1-5 rating (a bot-only resolution).
  async function feedback(m, value, button, buttons) {
    try {
      const r = await c.call(`/messages/${encodeURIComponent(m.id)}/feedback`, { method: "POST", body: JSON.stringify({ rating: value }) });
      if (!r.ok) return;
      buttons.forEach((b) => b.setAttribute("aria-pressed", b === button));
      const b = await r.json();
      if (b.csat_due) rating();
    } catch {}
  }

  // ---- the place in the agents' queue (GET /queue, queue frames), as the status line's end:
  // " · you are number 3 in the queue, about 4 min"; "" without a position.
  function queue(q) {
    const T = STRINGS[S.cfg.lang] || STRINGS.en;
    if (!q || !q.position) return "";
    return ` · ${T.queue.replace("{n}", q.position)}` + (q.estimated_wait_minutes ? `, ${T.wait.replace("{m}", q.estimated_wait_minutes)}` : "");
  }

  // ---- the contact form: the email and question become a ticket, or an inbox conversation.
  // Labels come from the server in the conversation's language; a double send stores nothing
  // twice. Shown while the last message asks for it (widget-app.js removes it otherwise).
  async function contact() {
    const { h, boxes } = c, m = c.last();
    if (!m || m.form != "contact" || boxes.contact) return;
    const box = (boxes.contact = h("div", { class: "csat contact", role: "group" }));
    c.scroller.insertBefore(box, c.typing);
    const r = await c.call("/contact");
    if (!r.ok) return;
    const L = await r.json();
    const email = h("input", { type: "email", autocomplete: "email", "aria-label": L.email, placeholder: L.email });
    const ask = h("textarea", { rows: "3", maxlength: "4000", "aria-label": L.question, placeholder: L.question });
    const note = h("p", { class: "note", role: "alert" });
    const go = h("button", { type: "button", class: "rate", text: L.send, onclick: async () => {
      go.disabled = true;
      try {
        const a = await c.call("/contact", { method: "POST", body: JSON.stringify({ email: email.value.trim(), question: ask.value.trim() }) });
        const b = await a.json();
        if (a.ok) return b.messages.forEach(c.add);
        note.textContent = (b.error && b.error.message) || "";
      } catch {}
      go.disabled = false;
    } });
    box.append(email, ask, note, go);
    c.toBottom();
  }

  // ---- consent: the workspace's privacy notice and the people-only choice (`n`, the answer of
  // GET /consent, in the conversation's language). widget-app.js holds the composer meanwhile.
  function consent(n) {
    const { h, boxes } = c;
    if (boxes.consent) return;
    c.hold(true);
    const done = () => (boxes.consent.remove(), (boxes.consent = null));
    const people = h("input", { type: "checkbox", id: "ss-people" });
    const accept = h("button", { type: "button", class: "rate", text: n.accept_label, onclick: async () => {
      accept.disabled = true;
      try {
        const a = await c.call("/consent", { method: "POST", body: JSON.stringify({ version: n.version, people_only: people.checked }) });
        if (a.ok) {
          done();
          c.st().consent = true;
          c.save();
          c.hold(false);
          c.input.focus();
          for (const p of c.pending.values()) c.transmit(p);
          return;
        }
        if (a.status == 409) return (done(), c.askConsent()); // a newer notice: show that one
      } catch {}
      accept.disabled = false;
    } });
    place((boxes.consent = h("div", { class: "csat consent", role: "group", "aria-labelledby": "ss-consent" },
      h("p", { id: "ss-consent", text: n.text, dir: "auto" }),
      n.people_only_offered ? h("label", { for: "ss-people" }, people, " ", n.people_only_label) : "",
      accept)));
    accept.focus();
  }

  S.forms = { init, ask, rating, feedback, queue, contact, consent, strings: STRINGS };
})();

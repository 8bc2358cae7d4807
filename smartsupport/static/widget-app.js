/* smartsupport chat widget, loaded by widget.js when the customer opens the chat.
   Plain modern JavaScript, no build step; the protocol is docs/protocol.md.

   - Every message text is untrusted (customers, bots and agents write it): it only ever
     reaches the page through textContent, never innerHTML. Bot and agent messages are read
     as a small Markdown subset (paragraphs, lists, tables, links, emphasis, code) whose
     pieces are built as elements around text nodes; customer and system messages are text.
   - localStorage keeps {id, token, seq, seen, pending} per workspace, so a reload resumes the
     conversation and a message typed while offline is still sent after a reload.
   - Delivery: each message carries a client_id; until the server echoes it back it stays
     pending and is re-sent after every reconnect (the server stores a client_id once).
     The WebSocket resumes with hello.after = the highest seq shown, and seq de-duplicates.
   Budget: 18 KB gzipped with the loader (bench/widget_size.py). */
(() => {
  "use strict";
  const S = window.SmartSupport;
  if (!S || S.app) return;
  const C = S.cfg, root = S.root, launcher = S.btn, api = C.api;

  // The widget's own texts in the nine languages of the product; the loader picks the language
  // (data-locale, else the page's lang, else the browser's; es-MX -> es) and names the launcher.
  // "{who}" is filled in. Every language has every key (tests/test_widget_presentation.py).
  // The texts of the rating and of the place in the queue are in widget-forms.js.
  const STRINGS = {
    en: {
      title: "Chat with us", close: "Close chat", log: "Conversation", label: "Message",
      placeholder: "Type your message…", send: "Send", suggestions: "Suggested replies",
      source: "Source:", customer: "You", bot: "Assistant", agent: "Agent", system: "Notice",
      typing: "{who} is typing…", sending: "Sending…", failed: "Not sent.", retry: "Retry",
      connecting: "Connecting…", reconnecting: "Reconnecting…",
      offline: "Offline. Your messages will be sent when the connection is back.",
      bot_status: "Our assistant replies instantly",
      waiting_for_agent: "An agent will be with you shortly",
      with_agent: "You are chatting with an agent", resolved: "This conversation is resolved",
      attach: "Attach a photo or PDF", voice: "Record a voice message",
    },
    es: {
      title: "Chatea con nosotros", close: "Cerrar el chat", log: "Conversación",
      label: "Mensaje", placeholder: "Escribe tu mensaje…", send: "Enviar",
      suggestions: "Respuestas sugeridas", source: "Fuente:", customer: "Tú",
      bot: "Asistente", agent: "Agente", system: "Aviso", typing: "{who} está escribiendo…",
      sending: "Enviando…", failed: "No enviado.", retry: "Reintentar",
      connecting: "Conectando…", reconnecting: "Reconectando…",
      offline: "Sin conexión. Tus mensajes se enviarán al volver la conexión.",
      bot_status: "Nuestro asistente responde al instante",
      waiting_for_agent: "Un agente te atenderá en breve",
      with_agent: "Estás hablando con un agente", resolved: "Esta conversación está resuelta",
      attach: "Adjuntar una foto o un PDF", voice: "Grabar un mensaje de voz",
    },
    fr: {
      title: "Discuter avec nous", close: "Fermer le chat", log: "Conversation",
      label: "Message", placeholder: "Écrivez votre message…", send: "Envoyer",
      suggestions: "Réponses suggérées", source: "Source :", customer: "Vous",
      bot: "Assistant", agent: "Conseiller", system: "Information", typing: "{who} écrit…",
      sending: "Envoi…", failed: "Non envoyé.", retry: "Réessayer", connecting: "Connexion…",
      reconnecting: "Reconnexion…",
      offline: "Hors ligne. Vos messages partiront dès le retour de la connexion.",
      bot_status: "Notre assistant répond tout de suite",
      waiting_for_agent: "Un conseiller va vous répondre",
      with_agent: "Vous discutez avec un conseiller", resolved: "Cette conversation est close",
      attach: "Joindre une photo ou un PDF", voice: "Enregistrer un message vocal",
    },
    de: {
      title: "Chat", close: "Chat schließen", log: "Unterhaltung", label: "Nachricht",
      placeholder: "Nachricht schreiben…", send: "Senden", suggestions: "Vorschläge",
      source: "Quelle:", customer: "Sie", bot: "Assistent", agent: "Mitarbeiter",
      system: "Hinweis", typing: "{who} schreibt…", sending: "Wird gesendet…",
      failed: "Nicht gesendet.", retry: "Erneut senden", connecting: "Verbinde…",
      reconnecting: "Verbindung wird wiederhergestellt…",
      offline: "Offline. Ihre Nachrichten werden gesendet, sobald die Verbindung steht.",
      bot_status: "Unser Assistent antwortet sofort",
      waiting_for_agent: "Gleich ist ein Mitarbeiter für Sie da",
      with_agent: "Sie chatten mit einem Mitarbeiter", resolved: "Diese Unterhaltung ist erledigt",
      attach: "Foto oder PDF anhängen", voice: "Sprachnachricht aufnehmen",
    },
    it: {
      title: "Chatta con noi", close: "Chiudi la chat", log: "Conversazione", label: "Messaggio",
      placeholder: "Scrivi il tuo messaggio…", send: "Invia", suggestions: "Risposte suggerite",
      source: "Fonte:", customer: "Tu", bot: "Assistente", agent: "Operatore", system: "Avviso",
      typing: "{who} sta scrivendo…", sending: "Invio in corso…", failed: "Non inviato.",
      retry: "Riprova", connecting: "Connessione…", reconnecting: "Riconnessione…",
      offline: "Sei offline. I tuoi messaggi verranno inviati appena torna la connessione.",
      bot_status: "Il nostro assistente risponde subito",
      waiting_for_agent: "Un operatore sarà da te a breve",
      with_agent: "Stai parlando con un operatore", resolved: "Questa conversazione è risolta",
      attach: "Allega una foto o un PDF", voice: "Registra un messaggio vocale",
    },
    pt: {
      title: "Fale conosco", close: "Fechar o chat", log: "Conversa", label: "Mensagem",
      placeholder: "Escreva sua mensagem…", send: "Enviar", suggestions: "Respostas sugeridas",
      source: "Fonte:", customer: "Você", bot: "Assistente", agent: "Atendente", system: "Aviso",
      typing: "{who} está digitando…", sending: "Enviando…", failed: "Não enviada.",
      retry: "Tentar de novo", connecting: "Conectando…", reconnecting: "Reconectando…",
      offline: "Sem conexão. Suas mensagens serão enviadas quando a conexão voltar.",
      bot_status: "Nosso assistente responde na hora",
      waiting_for_agent: "Um atendente vai falar com você em breve",
      with_agent: "Você está conversando com um atendente", resolved: "Esta conversa foi resolvida",
      attach: "Anexar uma foto ou um PDF", voice: "Gravar uma mensagem de voz",
    },
    zh: {
      title: "在线咨询", close: "关闭聊天", log: "对话", label: "消息", placeholder: "输入消息…",
      send: "发送", suggestions: "推荐回复", source: "来源：", customer: "您", bot: "智能助手",
      agent: "客服", system: "通知", typing: "{who}正在输入…", sending: "正在发送…",
      failed: "未发送。", retry: "重试", connecting: "正在连接…", reconnecting: "正在重新连接…",
      offline: "网络已断开。连接恢复后将发送您的消息。", bot_status: "智能助手即时回复",
      waiting_for_agent: "客服将很快为您服务", with_agent: "您正在与客服对话",
      resolved: "此对话已解决",
      attach: "附加照片或 PDF", voice: "录制语音消息",
    },
    ja: {
      title: "チャットでお問い合わせ", close: "チャットを閉じる", log: "会話", label: "メッセージ",
      placeholder: "メッセージを入力…", send: "送信", suggestions: "返信の候補", source: "出典：",
      customer: "あなた", bot: "アシスタント", agent: "担当者", system: "お知らせ",
      typing: "{who}が入力中…", sending: "送信中…", failed: "送信できませんでした。",
      retry: "再送信", connecting: "接続中…", reconnecting: "再接続中…",
      offline: "オフラインです。接続が戻るとメッセージが送信されます。",
      bot_status: "アシスタントがすぐにお答えします", waiting_for_agent: "まもなく担当者が対応します",
      with_agent: "担当者とチャット中です", resolved: "この会話は解決済みです",
      attach: "写真またはPDFを添付", voice: "音声メッセージを録音",
    },
    ar: {
      title: "تحدث معنا", close: "إغلاق الدردشة", log: "المحادثة", label: "الرسالة",
      placeholder: "اكتب رسالتك…", send: "إرسال", suggestions: "ردود مقترحة", source: "المصدر:",
      customer: "أنت", bot: "المساعد", agent: "موظف الدعم", system: "تنبيه",
      typing: "{who} يكتب…", sending: "جارٍ الإرسال…", failed: "لم تُرسل.",
      retry: "إعادة المحاولة", connecting: "جارٍ الاتصال…", reconnecting: "جارٍ إعادة الاتصال…",
      offline: "أنت غير متصل. ستُرسل رسائلك عند عودة الاتصال.",
      bot_status: "مساعدنا يرد فورًا", waiting_for_agent: "سينضم إليك موظف الدعم قريبًا",
      with_agent: "أنت تتحدث مع موظف الدعم", resolved: "تم حل هذه المحادثة",
      attach: "إرفاق صورة أو ملف PDF", voice: "تسجيل رسالة صوتية",
    },
  };
  const T = STRINGS[C.lang] || STRINGS.en;

  // ---- DOM helpers: attributes and text only, so nothing here can inject markup ----------
  const h = (tag, attrs = {}, ...kids) => {
    const el = document.createElement(tag);
    for (const k in attrs) {
      const v = attrs[k];
      if (k == "text") el.textContent = v;
      else if (k.startsWith("on")) el[k] = v;
      else if (v != null && v !== false) el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...kids);
    return el;
  };
  const icon = (d) => {
    const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.innerHTML = `<path d="${d}"/>`; // constant path data only
    return s;
  };
  const X = "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z";

  root.append(
    h(
      "style",
      {},
      `[hidden]{display:none!important}
.panel{position:fixed;z-index:2147483001;right:20px;bottom:92px;width:380px;
height:min(640px,calc(100vh - 116px));display:flex;flex-direction:column;overflow:hidden;
background:#fff;color:#1a1a1a;border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.24),
0 0 0 1px rgba(0,0,0,.08);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
animation:ss-in .2s ease-out}
:host(.left) .panel{right:auto;left:20px}
@keyframes ss-in{from{opacity:0;transform:translateY(16px)}}
header{display:flex;align-items:center;gap:12px;padding:14px 16px;padding-inline-end:12px;
background:var(--bg);color:var(--fg)}
.av{flex:none;display:grid;place-items:center;width:38px;height:38px;border-radius:50%;
background:var(--fg);color:var(--bg);font-weight:700;font-size:17px}
.hd{flex:1;min-width:0}
h2{margin:0;font-size:16px;font-weight:700;line-height:1.25}
.status{margin:2px 0 0;font-size:13px}
button{font:inherit;cursor:pointer}
.x{flex:none;display:grid;place-items:center;width:38px;height:38px;padding:0;border:0;
border-radius:10px;background:transparent;color:inherit}
.x:hover{background:rgba(127,127,127,.25)}
svg{width:22px;height:22px;fill:currentColor}
header :focus-visible{outline:3px solid var(--fg);outline-offset:1px}
:focus-visible{outline:3px solid #1a1a1a;outline-offset:2px}
.scroll{flex:1;overflow-y:auto;padding:16px 14px;background:#f4f5f7;overscroll-behavior:contain}
.scroll:focus-visible{outline-offset:-3px}
.log{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
.log>li{display:flex;flex-direction:column;align-items:flex-start;max-width:86%}
.b{max-width:100%;box-sizing:border-box;padding:9px 13px;border-radius:18px;white-space:pre-wrap;
overflow-wrap:anywhere;background:#fff;border:1px solid #d5d8de;border-end-start-radius:6px}
.customer{align-self:flex-end;align-items:flex-end}
.customer .b{background:var(--bg);color:var(--fg);border-color:transparent;
border-radius:18px;border-end-end-radius:6px}
.customer+.bot,.customer+.agent,.bot+.customer,.agent+.customer{margin-top:8px}
.system{align-self:center;text-align:center}
.system .b{background:none;border:0;color:#4a4f57;font-size:13px;padding:2px 8px}
.who,.note{font-size:12px;color:#4a4f57;margin:0 6px 2px}
.note{margin:3px 6px 0}
.failed .b{outline:2px solid #b00020}
.failed .note{color:#b00020}
.note button{border:0;background:none;padding:0 2px;color:#1a1a1a;text-decoration:underline;
font-weight:600}
.t>*,.t li>p{margin:0}.t>*+*,.t li>*+*{margin-top:8px}
.t ul,.t ol{padding-inline-start:22px;list-style:disc}.t ol{list-style:decimal}
.t ul ul{list-style:circle}.t li+li{margin-top:3px}
.t a,.cite a{color:#1742b3}
.t code{padding:1px 4px;border-radius:4px;background:#eef0f3;
font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.tw{max-width:100%;overflow-x:auto}
.t table{border-collapse:collapse;font-size:14px}
.t th,.t td{padding:4px 8px;border:1px solid #d5d8de;text-align:start;vertical-align:top;
overflow-wrap:normal}
.t th{background:#f4f5f7}
.cite{margin:4px 6px 0;font-size:13px;color:#4a4f57}
.thumbs{display:flex;gap:4px;margin:2px 4px 0}.thumbs button{border:0;background:none;padding:2px 4px;font-size:15px;
opacity:.55;cursor:pointer}.thumbs button:hover,.thumbs button[aria-pressed=true]{opacity:1}
.typing{display:flex;align-items:center;gap:8px;margin:10px 2px 0;font-size:13px;color:#4a4f57}
.dots{display:flex;gap:4px;padding:11px 12px;background:#fff;border:1px solid #d5d8de;
border-radius:18px}
.dots i{width:7px;height:7px;border-radius:50%;background:#5f6570;animation:ss-b 1.2s infinite}
.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}
@keyframes ss-b{30%{transform:translateY(-4px)}60%{transform:none}}
.qr{display:flex;flex-wrap:wrap;justify-content:flex-end;gap:6px;padding:10px 12px 0;
background:#fff;border-top:1px solid #e3e5e9}
.qr button{padding:6px 13px;border:1.5px solid var(--ink);border-radius:999px;
background:#fff;color:var(--ink);font-size:14px}
.qr button:hover{background:#eef1f6}
form{display:flex;align-items:flex-end;gap:8px;padding:10px 12px 12px;background:#fff}
.qr[hidden]+form{border-top:1px solid #e3e5e9}
textarea{flex:1;box-sizing:border-box;min-height:42px;max-height:132px;resize:none;margin:0;
padding:9px 14px;border:1.5px solid #767676;border-radius:21px;background:#fff;color:#1a1a1a;
font:inherit}
textarea::placeholder{color:#60656e}
textarea:focus-visible{outline:1.5px solid var(--ink);outline-offset:0;border-color:var(--ink)}
.tool{flex:none;display:grid;place-items:center;width:30px;height:42px;padding:0;border:0;
background:none;color:#4a4f57}.tool[aria-pressed=true]{color:#b00020}
.send{flex:none;display:grid;place-items:center;width:42px;height:42px;padding:0;border:0;
border-radius:50%;background:var(--bg);color:var(--fg)}
.sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
.launch .xi{display:none}.launch.open>svg{display:none}.launch.open .xi{display:grid}
.badge{position:absolute;top:-5px;inset-inline-end:-5px;min-width:22px;height:22px;
box-sizing:border-box;padding:0 6px;border:2px solid #fff;border-radius:11px;background:#b00020;
color:#fff;font:700 12px/18px system-ui,sans-serif}
:host([dir=rtl]) .send svg{transform:scaleX(-1)}
@media (max-width:480px){.panel,:host(.left) .panel{inset:0;width:auto;height:auto;border-radius:0}
textarea{font-size:16px}
.launch.open{display:none}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
@media (forced-colors:active){.b,.dots,.qr button{border:1px solid CanvasText}}`
    )
  );

  // ---- the dialog ------------------------------------------------------------------------
  const status = h("p", { class: "status", id: "ss-status", role: "status" });
  const title = C.d.title || T.title;
  const closeBtn = h("button", { type: "button", class: "x", "aria-label": T.close, onclick: () => close() }, icon(X));
  const log = h("ol", { class: "log" });
  const typing = h(
    "div",
    { class: "typing", hidden: true },
    h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
    h("span")
  );
  const scroller = h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": T.log }, log, typing);
  // New bot and agent messages are read out from here (the log itself stays quiet, so history
  // and the customer's own messages are not announced).
  const live = h("div", { class: "sr", "aria-live": "polite" });
  const qr = h("div", { class: "qr", role: "group", "aria-label": T.suggestions, hidden: true });
  const input = h("textarea", { id: "ss-input", rows: "1", maxlength: "4000", placeholder: T.placeholder, autocomplete: "off" });
  const sendBtn = h("button", { type: "submit", class: "send", "aria-label": T.send }, icon("M3.4 20.4 21.9 12 3.4 3.6 3.4 10.1 16 12 3.4 13.9z"));
  // Files and voice notes (widget-rich.js, loaded on first use); the microphone only where
  // the browser can record.
  const attachBtn = h("button", { type: "button", class: "tool", "aria-label": T.attach, onclick: () => withRich((R) => R.pick()) }, icon("M16 6v11a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10a1 1 0 0 1-2 0V6H9.5v9a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12a5.5 5.5 0 0 0 11 0V6z"));
  const voiceBtn = h("button", { type: "button", class: "tool", "aria-label": T.voice, "aria-pressed": "false", hidden: !(window.MediaRecorder && navigator.mediaDevices), onclick: () => withRich((R) => R.record(voiceBtn)) }, icon("M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9z"));
  const form = h("form", {}, h("label", { for: "ss-input", class: "sr", text: T.label }), attachBtn, voiceBtn, input, sendBtn);
  const panel = h(
    "div",
    { class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "ss-title", "aria-describedby": "ss-status", hidden: true },
    h("header", {}, h("span", { class: "av", "aria-hidden": "true", text: title.trim().charAt(0).toUpperCase() }),
      h("div", { class: "hd" }, h("h2", { id: "ss-title", text: title }), status), closeBtn),
    scroller, live, qr, form
  );
  root.append(panel);
  // The unread badge: this script is loaded whenever something is unread (see widget.js).
  const count = h("span", { class: "badge", hidden: true });
  launcher.append(h("span", { class: "xi" }, icon(X)), count);
  function badge(n) {
    count.textContent = n > 9 ? "9+" : n;
    count.hidden = !n;
    launcher.setAttribute("aria-label", n ? `${C.open} (${n})` : C.open);
  }
  launcher.setAttribute("aria-controls", "ss-panel");
  panel.id = "ss-panel";

  // ---- state -----------------------------------------------------------------------------
  let st = null; // {id, token, seq, seen, pending: [{cid, text}]}
  try {
    st = JSON.parse(localStorage.getItem(C.key));
  } catch {}
  if (!st || !st.id || !st.token) st = null;
  if (st) Object.assign(T, st.texts); // the server's thumbs labels (start())
  const shown = new Map(); // seq -> <li>: de-duplicates replays after a reconnect
  const pending = new Map(); // client_id -> {cid, text, li, failed, posting}
  const drafts = new Map(); // reply_to -> <li> of an answer still streaming (delta frames)
  let maxSeq = 0, convStatus = "bot", unread = 0, isOpen = false;
  let ws = null, ready = false, attempt = 0, timer = 0, starting = null, pingTimer = 0, lastFrame = 0;
  let typingTimer = 0, typingSent = 0;
  let queueInfo = null; // place in the agent queue, as the status line shows it
  const boxes = {}, loads = {}; // the forms shown (widget-forms.js); later()'s scripts
  const last = () => (shown.get(maxSeq) || {})._m; // the last message

  const save = () => {
    try {
      if (!st) return localStorage.removeItem(C.key);
      st.seq = maxSeq;
      st.pending = [...pending.values()].filter((p) => !p.failed).map(({ cid, text }) => ({ cid, text }));
      localStorage.setItem(C.key, JSON.stringify(st));
    } catch {}
  };
  const newId = () => [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const toBottom = () => (scroller.scrollTop = scroller.scrollHeight);

  // ---- Markdown (bot and agent messages) ------------------------------------------------
  // Paragraphs, # headings, - and 1. lists (nested by indentation), | tables |; `code`,
  // [links](url), <url>, bare URLs and e-mail addresses, **strong**, *em* / _em_, \-escapes,
  // carriers' tracking numbers (docs/protocol.md). Text only ever becomes text nodes: HTML
  // stays as written.
  const LINK = { target: "_blank", rel: "noopener noreferrer nofollow" };
  const HEADING = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/, ITEM = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)/;
  const DELIM = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;
  const SPAN = new RegExp(
    [
      /(`+)(?<code>[^`]|[^`][^]*?[^`])\1(?!`)/,
      /\[(?<label>[^\]\n]+)\]\((?<href>[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)\)/,
      /<(?<auto>(?:https?|mailto):[^\s<>]+)>/,
      /(?<url>\bhttps?:\/\/(?:[^\s<>()]|\([^\s<>()]*\))+)/,
      /(?<mail>\b[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b)/,
      /\*\*(?=\S)(?<b1>[^]*?\S)\*\*|(?<!\w)__(?=\S)(?<b2>[^]*?\S)__(?!\w)/,
      /\*(?=[^\s*])(?<i1>[^*]*?[^\s*])\*|(?<!\w)_(?=[^\s_])(?<i2>[^_]*?[^\s_])_(?!\w)/,
      /\\(?<esc>[!-/:-@[-`{-~])/,
    ].map((r) => r.source).join("|"),
    "gi"
  );
  // Tracking numbers: shapes that name their carrier (UPS 1Z…, USPS …US and 22 digits from
  // 92-95, DHL JD…/JJD…/GM…), and plain digits only when the message names one carrier and
  // the length is one that carrier uses, so order and phone numbers are never linked.
  const TRACKING = /\b(?:1Z[0-9A-Z]{16}|[A-Z]{2}\d{9}US|J?JD\d{16,18}|GM\d{16,18}|\d{10,22})\b/g;
  const CARRIERS = {
    UPS: ["https://www.ups.com/track?tracknum=", []],
    USPS: ["https://tools.usps.com/go/TrackConfirmAction?tLabels=", [20, 22]],
    FEDEX: ["https://www.fedex.com/fedextrack/?trknbr=", [12, 15, 20, 22]],
    DHL: ["https://www.dhl.com/global-en/home/tracking.html?submit=1&tracking-id=", [12, 20]],
  };
  let named = null; // the one carrier the message being rendered names
  function carrierOf(n) {
    if (/^1Z/.test(n)) return "UPS";
    if (/US$/.test(n)) return "USPS";
    if (/^\D/.test(n)) return "DHL";
    if (named) return CARRIERS[named][1].includes(n.length) ? named : null;
    return /^9[2-5]\d{20}$/.test(n) ? "USPS" : null;
  }
  function md(text) {
    const carriers = new Set((text.match(/\b(?:UPS|USPS|Fed[Ee]x|FEDEX|DHL)\b/g) || []).map((c) => c.toUpperCase()));
    named = carriers.size == 1 ? [...carriers][0] : null;
    return blocks(text.replace(/\t/g, "    ").split(/\r?\n/), 0);
  }
  // A table row's cells: split at | outside `code` and not escaped as \|.
  const cells = (line) => {
    const out = [""];
    let code = false;
    for (let k = 0, c; k < line.length; k++) {
      if ((c = line[k]) == "\\" && line[k + 1] == "|") c = line[++k];
      else if (c == "|" && !code) c = out.push("") && "";
      else if (c == "`") code = !code;
      out[out.length - 1] += c;
    }
    if (!out[0].trim()) out.shift();
    if (out.length > 1 && !out[out.length - 1].trim()) out.pop();
    return out.map((c) => c.trim());
  };
  const isTable = (lines, i) =>
    lines[i].includes("|") && DELIM.test(lines[i + 1] || "") && cells(lines[i]).length == cells(lines[i + 1]).length;
  function blocks(lines, depth) {
    const out = [];
    for (let i = 0, end, m; i < lines.length; ) {
      if (!lines[i].trim()) i++;
      else if ((m = HEADING.exec(lines[i]))) {
        out.push(h("p", {}, h("strong", {}, ...inline(m[1], 0))));
        i++;
      } else if (isTable(lines, i)) {
        const align = cells(lines[i + 1]).map((c) => (/^:.*:$/.test(c) ? "center" : /:$/.test(c) ? "right" : /^:/.test(c) ? "left" : null));
        const row = (line, tag) => {
          const found = cells(line);
          return h("tr", {}, ...align.map((a, k) => h(tag, { style: a && "text-align:" + a, scope: tag == "th" && "col" }, ...inline(found[k] || "", 0))));
        };
        for (end = i + 2; end < lines.length && lines[end].includes("|"); end++);
        const body = lines.slice(i + 2, end).map((line) => row(line, "td"));
        out.push(h("div", { class: "tw" }, h("table", {}, h("thead", {}, row(lines[i], "th")), h("tbody", {}, ...body))));
        i = end;
      } else if ((m = ITEM.exec(lines[i])) && depth < 4) {
        [i, m] = list(lines, i, m, depth);
        out.push(m);
      } else {
        for (end = i + 1; end < lines.length && lines[end].trim() && !HEADING.test(lines[end]) && !ITEM.test(lines[end]) && !isTable(lines, end); end++);
        out.push(h("p", {}, ...inline(lines.slice(i, end).map((line) => line.trim()).join("\n"), 0)));
        i = end;
      }
    }
    return out;
  }
  // A list from lines[i]: items at the first item's indentation; deeper lines (nested lists,
  // more paragraphs) belong to the item above; a blank line ends it unless the list goes on.
  function list(lines, i, first, depth) {
    const indent = first[1].length, ordered = /\d/.test(first[2]), items = [];
    const sibling = (m) => m && m[1].length <= indent + 1 && /\d/.test(m[2]) == ordered;
    let width = 0; // where the current item's text starts
    for (; i < lines.length; i++) {
      const m = ITEM.exec(lines[i]), at = lines[i].search(/\S/);
      if (sibling(m)) {
        items.push([m[3]]);
        width = m[1].length + m[2].length + 1;
      } else if (at > indent + 1) items[items.length - 1].push(lines[i].slice(Math.min(at, width)));
      else if (at >= 0 || m) break;
      else {
        const next = lines.slice(i + 1).find((line) => line.trim()) || "";
        if (!sibling(ITEM.exec(next)) && !(next.search(/\S/) > indent + 1)) break;
        items[items.length - 1].push("");
      }
    }
    const start = parseInt(first[2]);
    const el = h(ordered ? "ol" : "ul", { start: ordered && start != 1 && start });
    for (const content of items) {
      const kids = blocks(content, depth + 1);
      if (kids[0] && kids[0].tagName == "P") kids.splice(0, 1, ...kids[0].childNodes);
      el.append(h("li", {}, ...kids));
    }
    return [i, el];
  }
  function inline(text, depth) {
    const out = [];
    let at = 0;
    for (const m of text.matchAll(SPAN)) {
      const g = m.groups, inner = g.b1 || g.b2 || g.i1 || g.i2;
      out.push(...tracking(text.slice(at, m.index)));
      at = m.index + m[0].length;
      if (g.code) out.push(h("code", { text: g.code }));
      else if (g.label) out.push(link(g.href, g.label));
      else if (g.auto) out.push(link(g.auto, g.auto));
      else if (g.url) {
        const url = g.url.replace(/[.,;:!?'"”’\]*_]+$/, ""); // the sentence's, not the URL's
        out.push(link(url, url), g.url.slice(url.length));
      } else if (g.mail) out.push(link("mailto:" + g.mail, g.mail));
      else if (inner) out.push(depth > 4 ? inner : h(g.b1 || g.b2 ? "strong" : "em", {}, ...inline(inner, depth + 1)));
      else out.push(g.esc);
    }
    out.push(...tracking(text.slice(at)));
    return out;
  }
  // Only absolute http(s) and mailto URLs become links; any other keeps its text, unlinked.
  function link(href, text) {
    let url = null;
    try {
      url = new URL(href);
    } catch {}
    return url && /^(https?|mailto):$/.test(url.protocol) ? h("a", { href: url.href, ...LINK, text }) : text;
  }
  function tracking(text) {
    const out = [];
    let at = 0;
    for (const m of text.matchAll(TRACKING)) {
      const carrier = carrierOf(m[0]);
      if (!carrier) continue;
      out.push(text.slice(at, m.index), h("a", { href: CARRIERS[carrier][0] + m[0], ...LINK, text: m[0] }));
      at = m.index + m[0].length;
    }
    out.push(text.slice(at));
    return out;
  }

  // ---- rendering -------------------------------------------------------------------------
  function bubble(author, text, name) {
    const who = name || T[author] || author;
    const rich = author == "bot" || author == "agent";
    const t = h("div", { class: "t", dir: "auto" }, ...(rich ? md(text) : [text]));
    const li = h("li", { class: author });
    if (author == "agent") li.append(h("span", { class: "who", "aria-hidden": "true", text: who }));
    li.append(h("div", { class: "b" }, h("span", { class: "sr", text: who + ": " }), t));
    return li;
  }
  function safeUrl(u) {
    try {
      const url = new URL(u, api);
      return /^https?:$/.test(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  }
  // One source per answer, as a link below it. Answers also name their source in the text
  // ("More in “Title”: URL", for channels without links): that last line is left out here.
  function render(m) {
    const cite = m.author != "customer" && (m.citations || []).find((c) => c && c.url && safeUrl(c.url));
    let text = String(m.text || "");
    const cut = text.lastIndexOf("\n"), last = text.slice(cut + 1);
    if (cite && cut > 0 && last.includes(cite.url) && /^[\s.)\]>»”"']*$/.test(last.slice(last.lastIndexOf(cite.url) + cite.url.length)))
      text = text.slice(0, cut).trimEnd();
    const name = m.author == "agent" && typeof m.author_name == "string" && m.author_name.trim();
    const li = bubble(m.author, text, name);
    li.dataset.seq = m.seq;
    li._m = m;
    if (cite) {
      const href = safeUrl(cite.url);
      li.append(h("p", { class: "cite" }, T.source + " ", h("a", { href, ...LINK, text: cite.title || new URL(href).hostname })));
    }
    if ((m.rich && m.rich.length) || (m.attachments && m.attachments.length)) withRich((R) => R.render(li, m));
    if (m.author == "bot" && m.reply_to) li.append(answerThumbs(m));
    return li;
  }
  // Rich messages, files, voice notes (widget-rich.js) and the forms (widget-forms.js) are
  // loaded when first needed: most conversations never need them.
  function later(name, fn) {
    const l = (loads[name] = loads[name] || new Promise((ok, no) => {
      const s = h("script", { src: `${api}/static/widget-${name}.js`, onload: () => ok(S[name].init({ h, icon, T, LINK, safeUrl, send, add, setStatus, bubble, newId, log, toBottom, api, st: () => st, call, say, save, hold, askConsent, transmit, pending, input, scroller, typing, boxes, last })), onerror: no });
      document.head.append(s);
    }));
    l.then(fn, () => delete loads[name]);
  }
  function withRich(fn) {
    later("rich", fn);
  }
  // Thumbs up/down on each answer of the assistant (analytics, docs/analytics.md). Rating
  // again replaces the rating; a thumbs up may ask for the 1-5 rating (a bot-only resolution).
  // widget-forms.js sends the rating (b: currentTarget is gone once the script is loaded).
  function answerThumbs(m) {
    const buttons = [[1, "\u{1F44D}", T.helpful || "Helpful"], [-1, "\u{1F44E}", T.unhelpful || "Not helpful"]].map(([rating, icon, label]) =>
      h("button", { type: "button", class: "thumb", "aria-pressed": "false", "aria-label": label, title: label, text: icon, onclick: (e, b = e.currentTarget) => later("forms", (F) => F.feedback(m, rating, b, buttons)) })
    );
    return h("div", { class: "thumbs", role: "group", "aria-label": T.rate_answer || "Rate this answer" }, ...buttons);
  }
  function add(m) {
    if (!m || typeof m.seq != "number" || shown.has(m.seq)) return;
    const stick = nearBottom();
    const p = m.client_id && pending.get(m.client_id);
    if (p) {
      pending.delete(m.client_id);
      p.li.remove();
    }
    const draft = m.reply_to && m.author != "customer" && drafts.get(m.reply_to);
    if (draft) {
      drafts.delete(m.reply_to);
      draft.remove();
    }
    const li = render(m);
    shown.set(m.seq, li);
    // Confirmed messages sit in seq order, before anything pending or still streaming.
    const next = [...log.children].find((el) => !el.dataset.seq || +el.dataset.seq > m.seq);
    log.insertBefore(li, next || null);
    if (m.seq > maxSeq) maxSeq = m.seq;
    if (m.author == "customer" && p && convStatus == "bot") showTyping("bot", 1, 8000);
    const theirs = m.author != "customer";
    if (theirs) showTyping(m.author, 0);
    if (m.seq > (st.seen || 0)) {
      if (isOpen) {
        st.seen = m.seq;
        if (theirs) say(li.querySelector(".b").innerText);
      } else if (theirs) badge(++unread);
    }
    quickReplies();
    contactForm();
    save();
    if (stick || p) toBottom();
  }
  function say(text) {
    live.append(h("p", { text }));
    while (live.children.length > 3) live.firstChild.remove();
  }
  function quickReplies() {
    qr.replaceChildren();
    const last = shown.get(maxSeq);
    const m = last && last._m;
    const options = !pending.size && m && m.author != "customer" ? m.quick_replies || [] : [];
    for (const text of options) qr.append(h("button", { type: "button", text, onclick: () => send(text, true) }));
    qr.hidden = !options.length || input.disabled; // held: the consent step is open
  }
  function showTyping(author, on, ms = 20000) {
    clearTimeout(typingTimer);
    typing.hidden = !on;
    if (typing.hidden) return;
    typing.lastChild.textContent = T.typing.replace("{who}", T[author] || T.bot);
    typingTimer = setTimeout(() => (typing.hidden = true), ms);
    if (nearBottom() || on) toBottom();
  }
  function paintStatus() {
    status.textContent = ready
      ? (T[convStatus == "bot" ? "bot_status" : convStatus] || "") + ((convStatus == "waiting_for_agent" && queueInfo) || "")
      : attempt > 2 ? T.offline : attempt ? T.reconnecting : T.connecting;
  }
  function setStatus(s) {
    if (s) convStatus = s;
    if (s == "waiting_for_agent" && st)
      call("/queue").then((r) => r.ok && r.json()).then((b) => b && showQueue(b), () => 0);
    if (s == "resolved") askRating();
    paintStatus();
  }
  // The place in the queue: its texts are in widget-forms.js (only a handoff shows it).
  function showQueue(q) {
    later("forms", (F) => ((queueInfo = F.queue(q)), paintStatus()));
  }
  // After an agent resolves the conversation: a 1-5 rating and an optional comment.
  function askRating() {
    if (!boxes.csat && st) later("forms", (F) => F.ask());
  }
  // The contact form, under the bot's message when nobody can answer live, while it is last.
  function contactForm() {
    if ((last() || {}).form == "contact") later("forms", (F) => F.contact());
    else if (boxes.contact) boxes.contact.remove(), (boxes.contact = null);
  }

  // ---- consent: the workspace's privacy notice and the people-only choice, in the
  // conversation's language from the server (docs/security.md). Nothing is sent before it.
  function hold(on) {
    input.disabled = sendBtn.disabled = attachBtn.disabled = voiceBtn.disabled = on;
    qr.hidden = on || !qr.childElementCount;
  }
  async function askConsent() {
    const r = await call("/consent");
    if (!r.ok) return;
    const c = await r.json();
    st.consent = !c.required || c.given;
    save();
    if (!st.consent) hold(true), later("forms", (F) => F.consent(c));
  }

  // ---- sending ---------------------------------------------------------------------------
  function send(text, fromButton) {
    text = text.trim();
    if (!text) return;
    const p = { cid: newId(), text };
    queue(p);
    if (!fromButton) {
      input.value = "";
      grow();
    }
    input.focus();
    transmit(p);
  }
  function queue(p) {
    p.li = bubble("customer", p.text);
    p.li.classList.add("pending");
    p.li.append(h("span", { class: "note", text: T.sending }));
    pending.set(p.cid, p);
    log.append(p.li);
    quickReplies();
    save();
    toBottom();
  }
  function fail(p, message) {
    p.failed = true;
    p.li.classList.replace("pending", "failed");
    p.li.lastChild.replaceWith(
      h("span", { class: "note" }, `${T.failed} ${message || ""} `,
        h("button", { type: "button", text: T.retry, onclick: () => {
          p.failed = false;
          p.li.remove();
          pending.delete(p.cid);
          queue(p);
          transmit(p);
        } }))
    );
    save();
  }
  function transmit(p) {
    if (p.failed || !pending.has(p.cid) || (st && st.consent === false)) return;
    if (ready) return (ws.send(JSON.stringify({ type: "message", text: p.text, client_id: p.cid })), awaitAck(p));
    connect(true);
    if (st && !p.posting) post(p);
  }
  // Ack timeout: no echo within ACK_MS (lost in a backplane restart): re-sync over REST and
  // re-send with the same client_id (stored once; a resend is answered with the echo).
  const ACK_MS = 8000;
  function awaitAck(p) {
    clearTimeout(p.ackTimer);
    p.ackTimer = setTimeout(() => ackTimedOut(p), ACK_MS);
  }
  async function ackTimedOut(p) {
    if (p.failed || !pending.has(p.cid)) return;
    try {
      const r = await call(`/messages?after=${maxSeq}`);
      const b = r.ok && (await r.json());
      if (b) b.messages.forEach(add), setStatus(b.status);
    } catch {}
    transmit(p);
  }
  // The REST fallback while the socket is down. A network failure leaves the message pending:
  // it is re-sent (same client_id) once the socket is back.
  async function post(p) {
    p.posting = true;
    try {
      const r = await call(`/messages`, { method: "POST", body: JSON.stringify({ text: p.text, client_id: p.cid }) });
      const body = await r.json();
      if (r.ok) {
        add(body.message);
        body.replies.forEach(add);
        setStatus(body.status);
      } else if (r.status < 500 && r.status != 429) fail(p, body.error && body.error.message);
    } catch {}
    p.posting = false;
  }
  const call = (path, init = {}) =>
    fetch(`${api}/api/v1/conversations/${encodeURIComponent(st.id)}${path}`, {
      ...init,
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + st.token },
    });

  // ---- connection ------------------------------------------------------------------------
  async function start() {
    const d = C.d, body = { workspace: d.workspace || "demo", locale: C.lang };
    // Signed identity of a logged-in user (the server verifies the signature).
    if (d.identity) body.identity = { token: d.identity };
    const r = await fetch(`${api}/api/v1/conversations`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const c = await r.json();
    if (!r.ok) throw new Error(c.error && c.error.message);
    st = { id: c.id, token: c.token, seen: 0, consent: false, texts: c.texts };
    Object.assign(T, c.texts);
    setStatus(c.status);
    c.messages.forEach(add);
    await askConsent();
  }
  async function connect(now) {
    if (now && !ready && timer) {
      clearTimeout(timer);
      timer = 0;
    }
    if (ws || timer || starting) return;
    paintStatus();
    if (!st) {
      starting = start().catch(() => 0);
      await starting;
      starting = null;
      if (!st) return retry();
    }
    const sock = (ws = new WebSocket(`${api.replace(/^http/, "ws")}/api/v1/conversations/${encodeURIComponent(st.id)}/ws`));
    sock.onopen = () => sock.send(JSON.stringify({ type: "hello", token: st.token, after: maxSeq }));
    sock.onmessage = (e) => {
      lastFrame = Date.now();
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      frame(f);
    };
    sock.onclose = (e) => lost(sock, e.code);
  }
  function lost(sock, code) {
    if (ws != sock) return;
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    if (code == 4401 || code == 4404) reset();
    retry();
  }
  // The conversation is gone (a wiped server, a rotated secret): start afresh, keep the
  // unsent messages.
  function reset() {
    st = null;
    shown.clear();
    drafts.clear();
    maxSeq = unread = 0;
    if (boxes.csat) boxes.csat.remove();
    boxes.csat = queueInfo = null;
    badge(0);
    log.replaceChildren(...[...pending.values()].map((p) => p.li));
    save();
  }
  function retry() {
    attempt++;
    paintStatus();
    const delay = Math.min(8000, 400 * 2 ** attempt) * (0.75 + Math.random() / 2);
    timer = setTimeout(() => {
      timer = 0;
      connect();
    }, delay);
    // A socket that keeps failing (a proxy that blocks WebSockets) must not hide replies.
    if (attempt > 2 && st)
      call(`/messages?after=${maxSeq}`)
        .then((r) => r.ok && r.json())
        .then((b) => {
          if (b) b.messages.forEach(add);
        }, () => 0);
  }
  function frame(f) {
    switch (f.type) {
      case "ready":
        ready = true;
        attempt = 0;
        setStatus(f.status);
        clearInterval(pingTimer);
        pingTimer = setInterval(() => {
          // No answer to the previous ping: the connection is dead without a close frame.
          if (Date.now() - lastFrame > 45000) {
            const sock = ws;
            sock.close();
            return lost(sock);
          }
          ws.send('{"type":"ping"}');
        }, 20000);
        for (const p of pending.values()) transmit(p);
        break;
      case "message":
        add(f.message);
        break;
      case "typing": // the server also relays the customer's own typing: not shown here
        if (f.author != "customer") showTyping(f.author, f.on);
        break;
      case "delta": {
        let li = drafts.get(f.reply_to);
        if (!li) {
          li = bubble("bot", "");
          li._text = "";
          drafts.set(f.reply_to, li);
          log.append(li);
          showTyping("bot", 0);
        }
        li._text += f.text;
        li.querySelector(".t").replaceChildren(...md(li._text));
        if (nearBottom()) toBottom();
        break;
      }
      case "status":
        setStatus(f.status);
        break;
      case "queue":
        showQueue(f);
        break;
      case "csat":
        askRating();
        break;
      case "error": {
        const p = f.client_id && pending.get(f.client_id);
        if (p && f.code != "rate_limited" && f.code != "unavailable") fail(p, f.message);
        else if (p) setTimeout(() => transmit(p), 3000);
      }
    }
  }

  // ---- opening, closing, keyboard --------------------------------------------------------
  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    launcher.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.removeAttribute("aria-busy");
    if (st) st.seen = Math.max(st.seen || 0, maxSeq);
    unread = 0;
    badge(0);
    launcher.setAttribute("aria-label", T.close);
    save();
    paintStatus();
    connect(true);
    toBottom();
    input.focus();
  }
  function close() {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    launcher.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    badge(0);
    launcher.focus();
  }
  // Fit the composer to its text, and give it the text's own direction (an English message
  // typed in the Arabic widget); empty, it keeps the widget's, for the placeholder.
  function grow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 3, 132) + "px";
    input.dir = input.value ? "auto" : "";
  }
  form.onsubmit = (e) => {
    e.preventDefault();
    send(input.value);
  };
  input.onkeydown = (e) => {
    if (e.key == "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(input.value);
    }
  };
  input.oninput = () => {
    grow();
    // Let an agent see that the customer is typing (at most every 3 s).
    if (ready && Date.now() - typingSent > 3000) {
      typingSent = Date.now();
      ws.send('{"type":"typing","on":true}');
    }
  };
  root.addEventListener("keydown", (e) => {
    if (e.key == "Escape" && isOpen) {
      e.preventDefault();
      close();
    } else if (e.key == "Tab" && panel.contains(root.activeElement)) {
      // aria-modal: keep focus inside the dialog until it is closed.
      const items = [...panel.querySelectorAll("button,textarea,a[href],[tabindex='0']")].filter((el) => el.offsetParent);
      const first = items[0], last = items[items.length - 1], active = root.activeElement;
      if (e.shiftKey && active == first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && active == last) {
        e.preventDefault();
        first.focus();
      }
    }
  });
  addEventListener("online", () => connect(true));
  document.addEventListener("visibilitychange", () => document.hidden || connect(true));

  S.app = { open, close, toggle: () => (isOpen ? close() : open()), strings: STRINGS };
  paintStatus();
  // Show the stored conversation (history from seq 0) and any message still waiting to go.
  if (st) {
    const seen = st.seen || 0;
    for (const p of st.pending || []) if (p && p.cid) queue({ cid: p.cid, text: String(p.text) });
    st.seen = seen;
    if (st.consent === false) askConsent().catch(() => 0);
    connect();
  }
  if (S.show) open();
})();

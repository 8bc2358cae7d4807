/* smartsupport chat loader (budget 2 KB gzipped): the launcher only; see widget-app.js. */
(() => {
  const w = window, doc = document, me = doc.currentScript;
  if (w.SmartSupport || !me) return;
  const d = me.dataset, key = "smartsupport:" + (d.workspace || "demo");
  // The language of the widget's texts (es-MX -> es); Arabic is laid out right to left.
  const lang = (d.locale || doc.documentElement.lang || navigator.language).toLowerCase().split(/[-_]/)[0];
  const rtl = lang == "ar";
  const open = {
    es: "Abrir el chat", fr: "Ouvrir le chat", de: "Chat öffnen", it: "Apri la chat",
    pt: "Abrir o chat", zh: "打开聊天", ja: "チャットを開く", ar: "فتح الدردشة",
  }[lang] || "Open chat";
  let bg = d.color && CSS.supports("color", d.color) ? d.color : "#1f4fd1";
  const host = doc.createElement("div");
  // Text colour: whichever of #111 and #fff contrasts better with the brand colour (WCAG).
  host.style.color = bg;
  doc.documentElement.append(host);
  const [r, g, b] = getComputedStyle(host).color.match(/[\d.]+/g).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  const light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179;
  host.id = "smartsupport-widget";
  host.dir = rtl ? "rtl" : "ltr";
  host.className = d.position || (rtl ? "left" : "");
  // The brand colour enters only as custom properties, never as markup.
  host.style.setProperty("--bg", bg);
  host.style.setProperty("--fg", light ? "#111" : "#fff");
  host.style.setProperty("--ink", light ? "#111" : bg);
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>:host{all:initial}.launch{position:fixed;z-index:2147483000;right:20px;bottom:20px;" +
    "width:60px;height:60px;padding:0;border:0;border-radius:50%;background:var(--bg);" +
    "color:var(--fg);box-shadow:0 4px 16px rgba(0,0,0,.28);cursor:pointer;display:grid;" +
    "place-items:center}:host(.left) .launch{right:auto;left:20px}.launch svg{width:28px;" +
    "height:28px;fill:currentColor}.launch:focus-visible{outline:3px solid #fff;" +
    "box-shadow:0 0 0 6px #111}</style>" +
    "<button class=launch type=button aria-haspopup=dialog " +
    'aria-expanded=false><svg viewBox="0 0 24 24" aria-hidden=true><path d="M5 3h14a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3h-7l-6 4v-4H5a3 3 0 0 1-3-3V6a3 3 0 0 1 3-3z"/></svg></button>';
  const btn = root.querySelector("button");
  const S = (w.SmartSupport = {
    cfg: { key, lang, d, open, api: (d.api || new URL(me.src).origin).replace(/\/+$/, "") },
    root,
    btn,
    load(show) {
      S.show = S.show || show;
      show && btn.setAttribute("aria-busy", true);
      if (S.app) return show && S.app.open();
      if (S.loading) return;
      S.loading = 1;
      const s = doc.createElement("script");
      s.src = new URL("widget/app.js", me.src);
      s.onerror = () => {
        S.loading = 0;
        s.remove();
        btn.removeAttribute("aria-busy");
      };
      doc.head.append(s);
    },
  });
  btn.setAttribute("aria-label", open);
  btn.onclick = () => (S.app ? S.app.toggle() : S.load(1));
  (doc.body || doc.documentElement).append(host);
  // Load the widget now if the stored conversation has unsent, unread or agent messages (the
  // widget then shows the unread badge).
  let st;
  try {
    st = JSON.parse(localStorage.getItem(key));
  } catch {}
  if (st?.id && st.pending?.length) S.load();
  else if (st?.id)
    fetch(`${S.cfg.api}/api/v1/conversations/${encodeURIComponent(st.id)}`, {
      headers: { Authorization: "Bearer " + st.token },
    }).then(
      (r) =>
        r.status == 401 || r.status == 404
          ? localStorage.removeItem(key)
          : r.ok &&
            r.json().then((c) => {
              if (c.last_seq > (st.seen || 0) || /agent/.test(c.status)) S.load();
            }),
      () => {}
    );
})();

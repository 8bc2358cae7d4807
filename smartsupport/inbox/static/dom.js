/* smartsupport agent inbox: the DOM helpers every inbox script uses, in one copy. Loaded
   first by base.html (scripts with "defer" run in document order).

   $(selector, root)       the first match
   el(tag, attrs, ...kids) an element built with textContent ("text") and attributes only,
                           never HTML
   csrf()                  the CSRF token from its cookie, for state-changing requests */
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const csrf = () => {
    const m = document.cookie.match(/(?:^|;\s*)__Host-ss_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  };
  const el = (tag, attrs = {}, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") node.textContent = v;
      else if (v != null) node.setAttribute(k, v);
    }
    node.append(...kids);
    return node;
  };
  window.ssDom = Object.freeze({ $, csrf, el });
})();

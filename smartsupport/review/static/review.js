// The review page's one script: send an import file to the JSON API as the request body
// (no multipart parser on the server), then reload the page with the summary; show the
// new experiment's field for what variant B tests (a response text or a flow).
"use strict";
(function () {
  const kind = document.getElementById("experiment-kind");
  if (!kind) return;
  function show() {
    kind.form.querySelectorAll("[data-kind]").forEach(function (label) {
      label.hidden = label.dataset.kind !== kind.value;
    });
  }
  kind.addEventListener("change", show);
  show();
})();
(function () {
  const form = document.getElementById("review-import");
  if (!form) return;
  const problem = document.getElementById("review-import-problem");
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return;
    const button = form.querySelector("button");
    button.disabled = true;
    problem.hidden = true;
    const workspace = form.dataset.workspace;
    try {
      const response = await fetch(
        "/api/v1/review/" + encodeURIComponent(workspace) + "/imports?name=" + encodeURIComponent(file.name),
        {
          method: "POST",
          body: file,
          headers: { "X-CSRF-Token": form.dataset.csrf, "Content-Type": "application/octet-stream" },
          credentials: "same-origin",
        }
      );
      const body = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        problem.textContent = (body.error && body.error.message) || "The import failed (" + response.status + ").";
        problem.hidden = false;
        return;
      }
      const notice = "Imported " + body.questions + " questions from " + body.source + ": " +
        body.intent_suggestions + " suggested intents, " + body.faq_suggestions + " suggested FAQ entries";
      window.location.assign("/inbox/review?" + new URLSearchParams({ workspace: workspace, notice: notice }));
    } finally {
      button.disabled = false;
    }
  });
})();

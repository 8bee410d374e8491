// IMAD Classroom dashboard: the buttons (start/stop, logs, unpublish) and roster upload.
// Pages work without it; it only calls the service's JSON API with the page's xsrf token.
(function () {
  "use strict";
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const prefix = meta("imad-prefix");

  async function api(method, path, body, isForm) {
    const headers = { "X-XSRFToken": meta("imad-xsrf") };
    if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
    const response = await fetch(prefix + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { /* empty body */ }
    if (!response.ok) throw new Error((data && data.message) || `${response.status} ${response.statusText}`);
    return data;
  }

  function toast(text) {
    const el = document.getElementById("imad-toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  const enc = encodeURIComponent;
  const actions = {
    async start(user) { await api("POST", `api/students/${enc(user)}/server`); toast(`Starting ${user}'s workspace`); },
    async stop(user) { await api("DELETE", `api/students/${enc(user)}/server`); toast(`Stopped ${user}'s workspace`); },
    async logs(user) {
      const app = await api("GET", `api/apps/${enc(user)}`);
      const dialog = document.getElementById("imad-logs");
      dialog.querySelector('[data-field="user"]').textContent = user;
      dialog.querySelector('[data-field="logs"]').textContent = (app.logs || []).join("\n") || "(no logs)";
      dialog.showModal();
      return false;
    },
    async unpublish(user) {
      const dialog = document.getElementById("imad-unpublish");
      dialog.querySelector('[data-field="user"]').textContent = user;
      const reason = dialog.querySelector("#imad-reason");
      reason.value = "";
      dialog.showModal();
      const answer = await new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true }));
      if (answer !== "confirm") return false;
      await api("DELETE", `api/apps/${enc(user)}`, { reason: reason.value });
      toast(`Unpublished ${user}'s app`);
    },
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    event.preventDefault();
    button.disabled = true;
    try {
      const reload = await actions[button.dataset.action](button.dataset.user);
      if (reload !== false) setTimeout(() => location.reload(), 800);
    } catch (e) {
      toast(`Could not ${button.dataset.action}: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.closest("#filters select")) event.target.form.requestSubmit();
  });

  const roster = document.getElementById("roster-form");
  if (roster) {
    roster.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("roster-result");
      const form = new FormData();
      form.append("file", document.getElementById("roster-file").files[0]);
      const dry = document.getElementById("dry-run").checked ? "?dry_run=1" : "";
      out.hidden = false;
      out.textContent = "Importing…";
      try {
        const result = await api("POST", "api/roster" + dry, form, true);
        out.textContent = result.summary.join("\n");
      } catch (e) {
        out.textContent = e.message;
      }
    });
  }
})();

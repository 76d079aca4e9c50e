// confo console: progressive enhancement of server-rendered pages. Loaded
// as a file (the Content-Security-Policy allows no inline script).
"use strict";
(function () {
  const $ = (s, root) => (root || document).querySelector(s);
  const $$ = (s, root) => Array.from((root || document).querySelectorAll(s));
  const csrf = document.body.dataset.csrf || "";

  function post(url, body, type) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": type || "text/plain", "Accept": "application/json" },
      body: body,
    });
  }

  // Filter of a list as you type.
  const filter = $("#filter");
  const list = $("table[data-list]");
  function applyFilter() {
    if (!filter || !list) return;
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    const rows = $$("tbody tr", list);
    rows.forEach((tr) => {
      const hit = !q || (tr.dataset.name || "").toLowerCase().includes(q);
      tr.hidden = !hit;
      if (hit) shown++;
    });
    const count = $("#count");
    if (count) count.textContent = shown + " of " + rows.length;
  }
  if (filter) filter.addEventListener("input", applyFilter);

  // Keyboard.
  let sel = -1;
  function visibleRows() { return list ? $$("tbody tr", list).filter((tr) => !tr.hidden) : []; }
  function select(i) {
    const rows = visibleRows();
    if (!rows.length) return;
    sel = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((tr, j) => tr.classList.toggle("sel", j === sel));
    rows[sel].scrollIntoView({ block: "nearest" });
  }
  const editor = $("#editor");
  const form = $("#edit-form");
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement;
    if (e.key === "s" && (e.ctrlKey || e.metaKey) && form) {
      e.preventDefault();
      form.requestSubmit();
      return;
    }
    if (e.key === "Escape") {
      if (typing) t.blur();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    switch (e.key) {
      case "/": if (filter) { e.preventDefault(); filter.focus(); filter.select(); } break;
      case "j": select(sel + 1); break;
      case "k": select(sel - 1); break;
      case "Enter": {
        const row = visibleRows()[sel];
        const a = row && $("a", row);
        if (a) a.click();
        break;
      }
      case "e": if (editor) { e.preventDefault(); editor.focus(); } break;
      case "h": { const h = $("#history-link"); if (h) h.click(); break; }
      case "u": {
        const crumbs = $$(".crumbs a");
        if (crumbs.length > 1) location.href = crumbs[crumbs.length - 2].href;
        break;
      }
      case "?": { const d = $("#help"); if (d) d.showModal(); break; }
    }
  });
  const helpButton = $("#help-button");
  if (helpButton) helpButton.addEventListener("click", () => $("#help").showModal());

  // Validation as you type: the JSON syntax here, then the server
  // (object shape and schema).
  let initial = editor ? editor.value : "";
  let timer = 0;
  let seq = 0;
  function showProblems(list) {
    const ul = $("#problems");
    ul.replaceChildren(...list.map((p) => { const li = document.createElement("li"); li.textContent = p; return li; }));
    editor.classList.toggle("invalid", list.length > 0);
  }
  function validate() {
    const text = editor.value;
    try { JSON.parse(text); } catch (err) { showProblems(["not valid JSON: " + err.message]); return; }
    const mine = ++seq;
    post(editor.dataset.validate, text).then((r) => r.json()).then((d) => {
      if (mine === seq) showProblems(d.problems || []);
    }).catch(() => {});
  }
  if (editor) {
    editor.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(validate, 250);
    });
  }

  // Live updates from the store.
  const view = $("#view");
  const remote = $("#remote");
  function say(text) {
    if (!remote) return;
    remote.textContent = text;
    remote.hidden = false;
  }
  function onChange(c) {
    const configs = $("#configs");
    if (configs) {
      let row = $$("tbody tr", configs).find((tr) => tr.dataset.name === c.name);
      if (c.type === "delete") { if (row) row.remove(); applyFilter(); return; }
      if (!row) {
        row = document.createElement("tr");
        row.dataset.name = c.name;
        row.innerHTML = '<td><a></a></td><td class="num"></td><td class="num rev"></td><td class="preview"><code></code></td>';
        $("a", row).href = c.url;
        $("a", row).textContent = c.name;
        const rows = $$("tbody tr", configs);
        const next = rows.find((tr) => tr.dataset.name > c.name);
        $("tbody", configs).insertBefore(row, next || null);
        const empty = $("#empty");
        if (empty) empty.remove();
      }
      row.children[1].textContent = c.fields;
      row.children[2].textContent = c.revision;
      $("code", row).textContent = c.preview || "";
      row.classList.remove("flash");
      void row.offsetWidth;
      row.classList.add("flash");
      applyFilter();
      return;
    }
    if (!view || c.name !== view.dataset.name) return;
    const cur = $("#revision");
    if (cur && BigInt(c.revision) <= BigInt(cur.textContent || "0")) return;
    if (c.type === "delete") { say("Deleted in the store by another writer at revision " + c.revision + "."); return; }
    if (editor && editor.value !== initial) {
      say("Changed in the store by another writer at revision " + c.revision + ": saving will show you their change.");
      return;
    }
    fetch(view.dataset.json, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then((r) => r.json()).then((d) => {
        if (d.deleted) { say("Deleted in the store by another writer."); return; }
        view.innerHTML = d.view;
        if (cur) cur.textContent = d.revision;
        if (editor && editor.value === initial) {
          editor.value = d.text;
          initial = d.text;
          $("#edit-revision").value = d.revision;
          $("#guard-revision").textContent = d.revision;
          $("#edit-base").value = d.text;
        }
        say("Updated by another writer at revision " + d.revision + ".");
      }).catch(() => {});
  }
  const events = document.body.dataset.events;
  if (events && window.EventSource) {
    const es = new EventSource(events);
    const live = $("#live");
    es.addEventListener("open", () => { if (live) live.hidden = false; document.body.dataset.live = "1"; });
    es.addEventListener("error", () => { if (live) live.hidden = true; delete document.body.dataset.live; });
    es.addEventListener("change", (e) => { try { onChange(JSON.parse(e.data)); } catch (err) { /* ignore a bad event */ } });
  }

  // Reveal a sealed value on an explicit click.
  if (view) {
    view.addEventListener("click", (e) => {
      const b = e.target.closest("button.sealed");
      if (!b || !view.dataset.reveal) return;
      post(view.dataset.reveal, new URLSearchParams({ ptr: b.dataset.ptr }), "application/x-www-form-urlencoded")
        .then((r) => r.json()).then((d) => {
          const span = document.createElement("span");
          span.className = d.error ? "error" : "s revealed";
          span.textContent = d.error ? d.error : JSON.stringify(d.value);
          b.replaceWith(span);
        }).catch(() => {});
    });
  }

  // Two-step confirmation of forms marked data-confirm.
  $$("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => {
      if (f.dataset.armed) return;
      e.preventDefault();
      f.dataset.armed = "1";
      const b = e.submitter;
      if (b) { b.textContent = "Confirm roll back"; b.classList.add("danger"); }
    });
  });
})();

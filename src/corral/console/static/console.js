// corral web console. Plain JavaScript, no libraries, no innerHTML: every znode name, value, ACL id and
// server answer reaches the page as text nodes (textContent), so nothing from ZooKeeper can become
// markup. All URLs are relative, so the console works under whatever prefix it is mounted at.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // el("td", {class: "num"}, "text", otherNode): attributes as attributes, children as text or nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v));
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return e;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  const state = {
    csrf: null, user: null, writes: false, schemes: [], tab: "tree", selected: "/", format: "text",
    expanded: new Set(["/"]), node: null, bytes: new Uint8Array(0), es: null, rows: new Map(),
    ensembleUp: new Map(), pending: new Map(), deleteArmed: false, timers: {},
  };

  // ---- HTTP ----------------------------------------------------------------------------------------
  async function api(method, url, body) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = state.csrf || "";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    let j;
    try { j = await r.json(); } catch (_) { j = { error: "HTTP " + r.status, message: r.statusText }; }
    if (!r.ok) {
      const e = new Error(j.message || j.error || ("HTTP " + r.status));
      e.code = j.error; e.status = r.status;
      throw e;
    }
    return j;
  }
  const withPath = (url, p) => url + "?path=" + encodeURIComponent(p);
  const parentOf = (p) => (p === "/" ? null : (p.lastIndexOf("/") === 0 ? "/" : p.slice(0, p.lastIndexOf("/"))));
  const nameOf = (p) => (p === "/" ? "/" : p.slice(p.lastIndexOf("/") + 1));
  const join = (base, name) => (base === "/" ? "/" + name : base + "/" + name);

  function banner(text) {
    const b = $("banner");
    b.textContent = text || "";
    b.hidden = !text;
  }

  // ---- session and login ---------------------------------------------------------------------------
  async function loadSession() {
    const s = await api("GET", "api/session");
    state.csrf = s.csrf; state.user = s.user; state.writes = s.writes; state.schemes = s.schemes;
    fillSelect($("child-mode"), s.modes, "persistent");
    fillSelect($("child-acl"), s.acls, "open");
    renderAccount();
  }

  function fillSelect(sel, values, dflt) {
    sel.replaceChildren(...values.map((v) => el("option", { value: v, selected: v === dflt }, v)));
  }

  function renderAccount() {
    const loggedIn = !!state.user;
    $("login-form").hidden = loggedIn;
    $("whoami").hidden = !loggedIn;
    $("logout").hidden = !loggedIn;
    $("whoami").textContent = loggedIn ? state.user : "";
    const sel = $("login-scheme");
    if (!sel.options.length) {
      fillSelect(sel, state.schemes.map((s) => s.name), state.schemes.length ? state.schemes[0].name : "");
      renderLoginFields();
    }
    renderEditor();
  }

  function renderLoginFields() {
    const scheme = state.schemes.find((s) => s.name === $("login-scheme").value);
    const box = $("login-fields");
    box.replaceChildren();
    for (const f of (scheme ? scheme.fields : [])) {
      box.append(el("input", { name: f.name, type: f.secret ? "password" : "text", placeholder: f.label,
        "aria-label": f.label, autocomplete: "off", size: 12 }));
    }
  }

  async function doLogin(ev) {
    ev.preventDefault();
    const form = { scheme: $("login-scheme").value };
    for (const input of $("login-fields").querySelectorAll("input")) form[input.name] = input.value;
    try {
      const r = await api("POST", "api/login", form);
      state.csrf = r.csrf; state.user = r.user;
      for (const input of $("login-fields").querySelectorAll("input")) input.value = "";
      banner("");
    } catch (e) {
      banner("Login failed: " + e.message);
      return;
    }
    renderAccount();
    openEvents();
    await refreshAll();
  }

  async function doLogout() {
    try {
      const r = await api("POST", "api/logout", {});
      state.csrf = r.csrf; state.user = null;
    } catch (e) {
      banner("Logout failed: " + e.message);
      return;
    }
    renderAccount();
    openEvents();
    await refreshAll();
  }

  // ---- tree ----------------------------------------------------------------------------------------
  function makeRow(path, info) {
    const li = el("li");
    const row = el("div", { class: "trow", role: "treeitem", title: path });
    row.dataset.path = path;
    const toggle = el("span", { class: "toggle" });
    const label = el("span", { class: "name" }, nameOf(path));
    const badges = el("span", { class: "badges" });
    row.append(toggle, label, badges);
    const ul = el("ul", { role: "group" });
    li.append(row, ul);
    const entry = { li, row, ul, toggle, badges, info: info || {} };
    state.rows.set(path, entry);
    updateRow(path, entry.info);
    row.addEventListener("click", (e) => {
      if (e.target === toggle) { toggleExpand(path); return; }
      selectNode(path);
    });
    row.addEventListener("dblclick", () => toggleExpand(path));
    return entry;
  }

  function updateRow(path, info) {
    const entry = state.rows.get(path);
    if (!entry) return;
    entry.info = info;
    const open = state.expanded.has(path);
    const hasKids = path === "/" || (info.children || 0) > 0;
    entry.toggle.textContent = hasKids ? (open ? "▾" : "▸") : "";
    entry.badges.replaceChildren();
    if (info.children) entry.badges.append(el("span", { class: "badge", title: "children" }, "(" + info.children + ")"));
    if (info.ephemeral) entry.badges.append(el("span", { class: "badge eph", title: "ephemeral" }, "eph"));
    if (info.noauth) entry.badges.append(el("span", { class: "badge lock", title: "no READ permission" }, "no access"));
    entry.row.classList.toggle("sel", path === state.selected);
  }

  async function loadChildren(path) {
    const entry = state.rows.get(path);
    if (!entry) return;
    let r;
    try {
      r = await api("GET", withPath("api/children", path));
    } catch (e) {
      entry.ul.replaceChildren(el("li", { class: "error" }, e.code === "NoAuth" ? "no READ permission" : e.message));
      return;
    }
    const keep = new Set(r.children.map((c) => c.path));
    for (const p of [...state.rows.keys()]) {
      if (parentOf(p) === path && !keep.has(p)) forgetRow(p);
    }
    const items = [];
    for (const c of r.children) {
      let child = state.rows.get(c.path);
      if (!child) child = makeRow(c.path, c); else updateRow(c.path, c);
      items.push(child.li);
    }
    if (r.truncated) items.push(el("li", { class: "muted" }, "… " + (r.total - r.children.length) + " more"));
    entry.ul.replaceChildren(...items);
    updateRow(path, Object.assign({}, entry.info, { children: r.total }));
    await Promise.all(r.children.filter((c) => state.expanded.has(c.path)).map((c) => loadChildren(c.path)));
  }

  function forgetRow(path) {
    for (const p of [...state.rows.keys()]) {
      if (p === path || p.startsWith(path === "/" ? "/" : path + "/")) state.rows.delete(p);
    }
  }

  async function toggleExpand(path) {
    const entry = state.rows.get(path);
    if (!entry) return;
    if (state.expanded.has(path)) {
      state.expanded.delete(path);
      entry.ul.replaceChildren();
      updateRow(path, entry.info);
    } else {
      state.expanded.add(path);
      updateRow(path, entry.info);
      await loadChildren(path);
    }
  }

  async function revealPath(path) {
    // Expand every ancestor so the selected node is visible in the tree.
    const chain = [];
    for (let p = parentOf(path); p; p = parentOf(p)) chain.unshift(p);
    for (const p of chain) {
      if (!state.expanded.has(p)) {
        state.expanded.add(p);
        await loadChildren(p);
      }
    }
  }

  function initTree() {
    state.rows.clear();
    const root = makeRow("/", { children: 1 });
    $("tree").replaceChildren(root.li);
  }

  // ---- node view -----------------------------------------------------------------------------------
  function b64bytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hexdump(bytes) {
    const lines = [];
    for (let off = 0; off < bytes.length; off += 16) {
      const chunk = bytes.subarray(off, off + 16);
      const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, "0")).join(" ");
      const ascii = Array.from(chunk, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      lines.push(off.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + " " + ascii);
    }
    return lines.join("\n");
  }

  function renderData() {
    const pre = $("node-data");
    const bytes = state.bytes;
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    let shown;
    if (state.format === "hex") {
      const cap = 65536;  // a hex dump of a full 1 MiB node would be 65536 lines
      shown = bytes.length ? hexdump(bytes.subarray(0, cap)) : "(empty)";
      if (bytes.length > cap) shown += "\n… first " + cap + " of " + bytes.length + " bytes shown";
    } else if (state.format === "json") {
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { shown = "not JSON: " + e.message; }
    } else {
      shown = bytes.length ? text : "(empty)";
    }
    pre.textContent = shown;
    $("data-size").textContent = bytes.length + " bytes";
    for (const b of $("formats").querySelectorAll("button")) b.classList.toggle("on", b.dataset.format === state.format);
  }

  function renderStat(stat) {
    const rows = [];
    for (const [k, v] of Object.entries(stat || {})) {
      let shown = v;
      if ((k === "ctime" || k === "mtime") && typeof v === "number") shown = v + " (" + new Date(v).toISOString() + ")";
      rows.push(el("tr", {}, el("td", {}, k), el("td", { class: "num" }, shown)));
    }
    $("node-stat").replaceChildren(...rows);
  }

  function renderAcl(node) {
    const t = $("node-acl");
    if (node.acl_error) {
      t.replaceChildren(el("tr", {}, el("td", { class: "error" }, node.acl_error.message)));
      return;
    }
    t.replaceChildren(el("tr", {}, el("th", {}, "scheme"), el("th", {}, "id"), el("th", {}, "perms")),
      ...(node.acl || []).map((a) => el("tr", {}, el("td", {}, a.scheme), el("td", {}, a.id), el("td", {}, a.perms))));
  }

  function isText(bytes) {
    try { new TextDecoder("utf-8", { fatal: true }).decode(bytes); return true; } catch (_) { return false; }
  }

  function renderEditor() {
    const can = !!state.user && state.writes && !!state.node;
    $("editor").hidden = !can;
    if (can) {
      $("edit-version").textContent = state.node.stat.version;
      // Editing goes through text: binary data would be replaced by its UTF-8 rendering, so it is not offered.
      const binary = !isText(state.bytes);
      $("edit-data").readOnly = binary;
      $("save").disabled = binary;
      $("edit-binary").hidden = !binary;
    }
    state.deleteArmed = false;
    $("delete").textContent = "Delete";
  }

  function writeMsg(text, bad) {
    const m = $("write-msg");
    m.textContent = text || "";
    m.hidden = !text;
    m.classList.toggle("bad", !!bad);
  }

  async function selectNode(path, opts) {
    const prev = state.selected;
    state.selected = path;
    if (prev !== path) writeMsg("");
    for (const [p, entry] of state.rows) entry.row.classList.toggle("sel", p === path);
    if (state.tab === "tree") history.replaceState(null, "", "#tree:" + encodeURIComponent(path));
    $("node-path").textContent = path;
    let node;
    try {
      node = await api("GET", withPath("api/node", path));
    } catch (e) {
      state.node = null;
      $("node-error").textContent = e.code === "NoAuth" ? "No READ permission on this node" +
        (state.user ? " for " + state.user : " (log in to see more)") : (e.code === "NoNode" ? "This node does not exist (any more)" : e.message);
      $("node-error").hidden = false;
      $("node-body").hidden = true;
      renderEditor();
      return;
    }
    if (state.selected !== path) return;  // another node was selected meanwhile
    state.node = node;
    state.bytes = b64bytes(node.data);
    $("node-error").hidden = true;
    $("node-body").hidden = false;
    renderData();
    renderStat(node.stat);
    renderAcl(node);
    const editing = document.activeElement === $("edit-data");
    if (!editing || (opts && opts.reset)) $("edit-data").value = new TextDecoder().decode(state.bytes);
    renderEditor();
    if (opts && opts.flash) flash($("node-data"));
  }

  function flash(node) {
    node.classList.remove("flash");
    void node.offsetWidth;  // restart the animation
    node.classList.add("flash");
    node.addEventListener("animationend", () => node.classList.remove("flash"), { once: true });
  }

  async function save() {
    if (!state.node) return;
    try {
      await api("POST", "api/set", { path: state.node.path, data: $("edit-data").value, encoding: "text",
        version: state.node.stat.version });
      writeMsg("Saved " + state.node.path);
    } catch (e) {
      writeMsg((e.code === "BadVersion" ? "Changed by someone else meanwhile; reloaded. " : "Refused: ") + e.message, true);
    }
    await selectNode(state.selected, { reset: true });
  }

  async function del() {
    if (!state.node) return;
    if (!state.deleteArmed) {
      state.deleteArmed = true;
      $("delete").textContent = "Really delete " + nameOf(state.node.path) + "?";
      return;
    }
    const path = state.node.path;
    try {
      await api("POST", "api/delete", { path, version: state.node.stat.version });
      writeMsg("Deleted " + path);
      const parent = parentOf(path) || "/";
      await loadChildren(parent);
      await selectNode(parent);
      writeMsg("Deleted " + path);
    } catch (e) {
      writeMsg("Refused: " + e.message, true);
      renderEditor();
    }
  }

  async function create() {
    const base = state.selected;
    const name = $("child-name").value;
    const mode = $("child-mode").value;
    if (!name && mode !== "persistent_sequential") { writeMsg("Give the child a name", true); return; }
    try {
      const r = await api("POST", "api/create", { path: join(base, name), data: $("child-data").value,
        encoding: "text", mode, acl: $("child-acl").value });
      writeMsg("Created " + r.path);
      $("child-name").value = ""; $("child-data").value = "";
      state.expanded.add(base);
      await loadChildren(base);
    } catch (e) {
      writeMsg("Refused: " + e.message, true);
    }
  }

  // ---- live events ---------------------------------------------------------------------------------
  function schedule(key, fn, ms) {
    if (state.pending.has(key)) return;
    state.pending.set(key, setTimeout(() => { state.pending.delete(key); fn(); }, ms));
  }

  function onNodeEvent(ev) {
    const parent = parentOf(ev.path);
    if (ev.type !== "changed" && parent && state.rows.has(parent)) {
      // The parent's own list when it is open; its row's child count (in the grandparent's list) always.
      if (state.expanded.has(parent)) schedule("children:" + parent, () => loadChildren(parent), 80);
      const grand = parentOf(parent);
      if (grand && state.expanded.has(grand)) schedule("children:" + grand, () => loadChildren(grand), 80);
    }
    const entry = state.rows.get(ev.path);
    if (entry) flash(entry.row);
    if (ev.path === state.selected) schedule("node", () => selectNode(state.selected, { flash: true }), 50);
    else if (parent === state.selected) schedule("node", () => selectNode(state.selected), 50);
  }

  function openEvents() {
    if (state.es) state.es.close();
    const es = new EventSource("api/events");
    state.es = es;
    es.onopen = () => { $("live").className = "live on"; };
    es.onerror = () => { $("live").className = "live off"; };
    es.addEventListener("node", (m) => onNodeEvent(JSON.parse(m.data)));
    es.addEventListener("ensemble", (m) => renderEnsemble(JSON.parse(m.data)));
    es.addEventListener("resync", () => refreshAll());
    es.addEventListener("zkstate", (m) => {
      const s = JSON.parse(m.data);
      if (s.state === "CONNECTED") banner("");
      else if (s.state !== "CONNECTING") banner("ZooKeeper session " + s.state.toLowerCase() + (s.message ? ": " + s.message : ""));
    });
  }

  async function refreshAll() {
    const open = [...state.expanded].sort((a, b) => a.length - b.length);
    for (const p of open) {
      if (state.rows.has(p)) await loadChildren(p);
    }
    await selectNode(state.selected);
  }

  // ---- ensemble ------------------------------------------------------------------------------------
  function memberClass(m) {
    if (!m.up) return "down";
    if (["leader", "follower", "observer", "standalone"].includes(m.mode)) return m.mode;
    return "waiting";
  }

  function renderEnsemble(snap) {
    if (!snap || !snap.members) return;
    const g = $("ensemble-svg");
    const members = snap.members;
    const n = members.length;
    const cx = 320, cy = 165, rad = n > 1 ? 110 : 0;
    const pos = members.map((m, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
      return [cx + rad * Math.cos(a) * 1.6, cy + rad * Math.sin(a)];
    });
    const items = [];
    const li = members.findIndex((m) => m.id === snap.leader);
    members.forEach((m, i) => {
      if (li < 0 || i === li) return;
      items.push(svg("line", { class: "link" + (m.up && members[li].up ? "" : " down"), x1: pos[li][0], y1: pos[li][1],
        x2: pos[i][0], y2: pos[i][1] }));
    });
    members.forEach((m, i) => {
      const [x, y] = pos[i];
      const grp = svg("g", { class: "member " + memberClass(m), "data-id": m.id, transform: `translate(${x},${y})` });
      grp.append(svg("circle", { r: 52 }));
      grp.append(svg("text", { class: "title", y: -22 }, "server." + m.id));
      grp.append(svg("text", { class: "mode", y: -5 }, m.up ? (m.mode || "?") : "down"));
      grp.append(svg("text", { y: 12 }, m.up && m.zxid ? m.zxid : (m.host + ":" + m.port)));
      grp.append(svg("text", { y: 28 }, m.up ? (m.lag == null ? (m.lag_note || "") : "lag " + m.lag) : ""));
      grp.append(svg("title", {}, m.error || (m.host + ":" + m.port)));
      items.push(grp);
    });
    g.replaceChildren(...items);

    const head = el("tr", {}, ...["id", "address", "state", "mode", "zxid", "lag", "latency min/avg/max (ms)", "outstanding",
      "connections", "znodes", "version"].map((h) => el("th", {}, h)));
    const rows = members.map((m) => el("tr", { "data-id": m.id },
      el("td", {}, m.id), el("td", {}, m.host + ":" + m.port),
      el("td", { class: m.up ? "state-up" : "state-down" }, m.up ? "up" : "down"),
      el("td", { class: "mode" }, m.up ? (m.mode || "") : (m.error || "")), el("td", { class: "num zxid" }, m.zxid || ""),
      el("td", { class: "num lag" }, m.lag == null ? (m.lag_note || "") : m.lag),
      el("td", { class: "num" }, m.latency ? `${m.latency.min}/${m.latency.avg.toFixed(2)}/${m.latency.max}` : ""),
      el("td", { class: "num" }, m.outstanding ?? ""), el("td", { class: "num" }, m.connections ?? ""),
      el("td", { class: "num" }, m.nodes ?? ""), el("td", {}, m.version || "")));
    $("ensemble-table").replaceChildren(head, ...rows);

    const now = new Date().toLocaleTimeString();
    for (const m of members) {
      const was = state.ensembleUp.get(m.id);
      const key = m.up ? (m.mode || "up") : "down";
      if (was !== undefined && was !== key) {
        $("ensemble-log").prepend(el("li", {}, now + "  server." + m.id + ": " + was + " → " + key));
      }
      state.ensembleUp.set(m.id, key);
    }
  }

  // ---- sessions and watches ------------------------------------------------------------------------
  function memberBlock(m, content) {
    return el("div", { class: "member-block" }, el("h3", {}, "server." + m.id + " (" + m.host + ":" + m.port + ")"),
      m.error ? el("div", { class: "error" }, m.error) : content);
  }

  async function loadSessions() {
    let r;
    try { r = await api("GET", "api/sessions"); } catch (e) { $("sessions").replaceChildren(el("div", { class: "error" }, e.message)); return; }
    const cols = ["addr", "sid", "console", "lop", "est", "to", "lcxid", "lzxid", "queued", "recved", "sent", "avglat", "maxlat"];
    $("sessions").replaceChildren(...r.members.map((m) => memberBlock(m, el("table", { class: "list" },
      el("tr", {}, ...cols.map((c) => el("th", {}, c))),
      ...m.connections.map((c) => el("tr", {}, ...cols.map((k) => el("td", {},
        k === "est" && c[k] ? new Date(Number(c[k])).toLocaleTimeString() : (c[k] ?? "")))))))));
  }

  async function loadWatches() {
    let r;
    try { r = await api("GET", "api/watches"); } catch (e) { $("watches").replaceChildren(el("div", { class: "error" }, e.message)); return; }
    $("watches").replaceChildren(...r.members.map((m) => memberBlock(m, m.sessions.length ? el("table", { class: "list" },
      el("tr", {}, el("th", {}, "session"), el("th", {}, "watched paths")),
      ...m.sessions.map((s) => el("tr", {}, el("td", {}, s.sid), el("td", {}, s.paths.join("\n"))))) :
      el("p", { class: "muted" }, "no watches"))));
  }

  // ---- tabs and routing ----------------------------------------------------------------------------
  function showTab(tab) {
    state.tab = tab;
    for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== "tab-" + tab;
    for (const a of $("tabs").querySelectorAll("a")) a.classList.toggle("on", a.dataset.tab === tab);
    clearInterval(state.timers.poll);
    if (tab === "sessions") { loadSessions(); state.timers.poll = setInterval(loadSessions, 5000); }
    if (tab === "watches") { loadWatches(); state.timers.poll = setInterval(loadWatches, 5000); }
    if (tab === "ensemble") api("GET", "api/ensemble").then(renderEnsemble).catch(() => {});
  }

  // `hash`: the URL's fragment the navigation went to. A hashchange passes its event's newURL, not
  // location.hash: a refresh still in flight (selectNode after a login, say) may have put its own node
  // back into the address bar (history.replaceState) between the navigation and this handler, and the
  // user's navigation must win.
  async function route(hash) {
    const h = decodeURIComponent((hash === undefined ? location.hash : hash).slice(1) || "tree:/");
    if (h.startsWith("tree:")) {
      const path = h.slice(5) || "/";
      showTab("tree");
      await revealPath(path);
      await selectNode(path);
    } else if (["ensemble", "sessions", "watches"].includes(h)) {
      showTab(h);
    } else {
      showTab("tree");
    }
  }

  async function main() {
    $("login-form").addEventListener("submit", doLogin);
    $("login-scheme").addEventListener("change", renderLoginFields);
    $("logout").addEventListener("click", doLogout);
    $("save").addEventListener("click", save);
    $("delete").addEventListener("click", del);
    $("create").addEventListener("click", create);
    for (const b of $("formats").querySelectorAll("button")) {
      b.addEventListener("click", () => { state.format = b.dataset.format; renderData(); });
    }
    window.addEventListener("hashchange", (ev) => route(new URL(ev.newURL).hash));
    try {
      await loadSession();
    } catch (e) {
      banner("Console unavailable: " + e.message);
      return;
    }
    initTree();
    openEvents();
    await loadChildren("/");
    await route();
    document.body.dataset.ready = "1";
  }

  main();
})();

// atlas_nb StreamView: a log / deploy / job-stream viewer that receives only new rows.
// Python sends {type: "rows", rows: [...]} deltas (about 8 per second at most) and, when a view
// says hello, {type: "reset", rows: [...]} with the bounded history. Rows are arrays:
// logs: [epoch_ms, level, region, instance, message]; lines: [epoch_ms, text].

const LEVELS = ["all", "debug", "info", "warning", "error"];
const RANK = { trace: 0, debug: 0, info: 1, notice: 1, warn: 2, warning: 2, error: 3, err: 3,
  critical: 3, fatal: 3 };

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return d.toISOString().slice(11, 23);
}

function render({ model, el: root }) {
  root.classList.add("atlas-stream");
  const mode = model.get("mode");
  const header = el("div", "atlas-stream-header");
  const title = el("span", "atlas-stream-title", model.get("title"));
  const status = el("span", "atlas-stream-status");
  const filter = el("input", "atlas-stream-filter");
  filter.placeholder = "filter";
  filter.value = model.get("filter_text");
  const level = el("select", "atlas-stream-level");
  for (const name of LEVELS) {
    const opt = el("option", "", name);
    opt.value = name;
    level.appendChild(opt);
  }
  level.value = model.get("filter_level");
  const pause = el("button", "atlas-stream-pause");
  const follow = el("label", "atlas-stream-follow");
  const followBox = el("input");
  followBox.type = "checkbox";
  followBox.checked = model.get("follow");
  follow.append(followBox, document.createTextNode(" follow"));
  const clear = el("button", "atlas-stream-clear", "clear");
  const cancel = el("button", "atlas-stream-cancel", "cancel");
  header.append(title, status, filter);
  if (mode === "logs") header.append(level);
  header.append(pause, follow, clear);
  if (model.get("cancellable")) header.append(cancel);
  const body = el("div", "atlas-stream-body");
  const counter = el("div", "atlas-stream-counter");
  root.append(header, body, counter);

  let rows = [];

  const matches = (row) => {
    const text = (model.get("filter_text") || "").toLowerCase();
    const want = model.get("filter_level") || "all";
    const message = mode === "logs" ? row[4] : row[1];
    if (text && !String(message).toLowerCase().includes(text)) return false;
    if (mode === "logs" && want !== "all") {
      const rank = RANK[String(row[1] || "").toLowerCase()];
      if (rank === undefined || rank < RANK[want]) return false;
    }
    return true;
  };

  const rowNode = (row) => {
    const line = el("div", "atlas-row");
    if (mode === "logs") {
      const lvl = String(row[1] || "").toLowerCase();
      line.classList.add("atlas-level-" + (RANK[lvl] === undefined ? "other" : lvl));
      line.append(
        el("span", "atlas-ts", fmtTime(row[0])),
        el("span", "atlas-lvl", lvl || "-"),
        el("span", "atlas-region", row[2] || ""),
        el("span", "atlas-instance", row[3] || ""),
        el("span", "atlas-msg", row[4]),
      );
    } else {
      line.append(el("span", "atlas-ts", fmtTime(row[0])), el("span", "atlas-msg", row[1]));
    }
    return line;
  };

  const trim = () => {
    const max = model.get("max_lines");
    if (rows.length > max) rows = rows.slice(rows.length - max);
    while (body.childNodes.length > max) body.removeChild(body.firstChild);
  };

  const redraw = () => {
    body.replaceChildren(...rows.filter(matches).map(rowNode));
    afterChange();
  };

  const afterChange = () => {
    counter.textContent = `${body.childNodes.length} shown / ${rows.length} held`;
    if (model.get("follow")) body.scrollTop = body.scrollHeight;
  };

  const append = (incoming) => {
    rows.push(...incoming);
    const fragment = document.createDocumentFragment();
    for (const row of incoming) if (matches(row)) fragment.appendChild(rowNode(row));
    body.appendChild(fragment);
    trim();
    afterChange();
  };

  const syncStatus = () => {
    status.textContent = model.get("status");
    status.dataset.state = model.get("status").split(":")[0];
    pause.textContent = model.get("paused") ? "resume" : "pause";
    cancel.disabled = !model.get("cancellable");
  };

  const replaceLast = (row) => {
    // the last DOM node shows the last row only if that row passed the filter
    const shownBefore = rows.length > 0 && matches(rows[rows.length - 1]);
    if (rows.length) rows[rows.length - 1] = row; else rows.push(row);
    const node = matches(row) ? rowNode(row) : null;
    if (shownBefore && body.lastChild) {
      if (node) body.replaceChild(node, body.lastChild); else body.removeChild(body.lastChild);
    } else if (node) {
      body.appendChild(node);
    }
  };

  model.on("msg:custom", (msg) => {
    if (msg.type === "rows") {
      if (msg.replace_last) replaceLast(msg.replace_last);
      append(msg.rows);
    }
    else if (msg.type === "reset") { rows = msg.rows.slice(); redraw(); }
    else if (msg.type === "clear") { rows = []; redraw(); }
  });
  model.on("change:status", syncStatus);
  model.on("change:paused", syncStatus);
  model.on("change:cancellable", syncStatus);
  model.on("change:filter_text", redraw);
  model.on("change:filter_level", redraw);
  model.on("change:follow", () => { followBox.checked = model.get("follow"); afterChange(); });

  filter.addEventListener("input", () => { model.set("filter_text", filter.value);
    model.save_changes(); });
  level.addEventListener("change", () => { model.set("filter_level", level.value);
    model.save_changes(); });
  followBox.addEventListener("change", () => { model.set("follow", followBox.checked);
    model.save_changes(); });
  pause.addEventListener("click", () => { model.set("paused", !model.get("paused"));
    model.save_changes(); });
  clear.addEventListener("click", () => model.send({ type: "clear" }));
  cancel.addEventListener("click", () => model.send({ type: "cancel" }));

  syncStatus();
  model.send({ type: "hello" });
}

export default { render };

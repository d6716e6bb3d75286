// The nextterm page: sends the typed text to POST /v1/page (the server parses it and answers),
// shows the ranked candidates, plots the continuation with uPlot. Everything received is written
// as text (textContent), never as markup.
"use strict";

(function () {
  const DEBOUNCE_MS = 300;
  const TOP_K = 5;
  const KEY_STORE = "nextterm-api-key";
  const $ = (id) => document.getElementById(id);
  const input = $("terms"), count = $("count"), errorBox = $("terms-error"), status = $("status");
  const answerBox = $("answer"), keyForm = $("key-form"), keyInput = $("key");
  let pending = null, timer = null, plot = null, current = null, lastText = null;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    input.setAttribute("aria-invalid", "true");
    answerBox.hidden = true;
    status.textContent = "";
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    input.removeAttribute("aria-invalid");
  }

  function apiKey() {
    try { return sessionStorage.getItem(KEY_STORE); } catch (e) { return null; }
  }

  async function ask() {
    clearTimeout(timer);
    const text = input.value;
    if (!text.trim()) {
      if (pending) pending.abort();
      clearError();
      answerBox.hidden = true;
      status.textContent = "";
      lastText = null;
      return;
    }
    const key = text + "\u0000" + count.value;
    if (key === lastText) return;
    lastText = key;
    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    status.textContent = "Working…";
    const headers = { "Content-Type": "application/json" };
    const stored = apiKey();
    if (stored) headers["Authorization"] = "Bearer " + stored;
    let response, raw;
    try {
      response = await fetch("/v1/page", {
        method: "POST",
        headers,
        body: JSON.stringify({ text, n: Number(count.value), top_k: TOP_K }),
        signal: controller.signal,
      });
      raw = await response.text();
    } catch (error) {
      if (error.name === "AbortError") return;
      lastText = null;
      status.textContent = "The server did not answer: " + error.message;
      return;
    } finally {
      if (pending === controller) pending = null;
    }
    if (controller.signal.aborted) return;
    let data = null;
    try { data = JSON.parse(raw); } catch (e) { data = null; }
    if (response.status === 401) {
      lastText = null;
      keyForm.hidden = false;
      status.textContent = stored
        ? "The server refused this API key: enter it again."
        : "This server needs its API key: enter it below.";
      keyInput.focus();
      return;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : "the server answered " + response.status;
      if (response.status === 400) showError(message);
      else { lastText = null; status.textContent = message; }
      return;
    }
    clearError();
    keyForm.hidden = true;
    render(data, raw);
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(ask, DEBOUNCE_MS);
  }

  function shareQuery(data) {
    return "?q=" + encodeURIComponent(data.query).replace(/%2C/g, ",") + "&n=" + data.n;
  }

  function candidateItem(c) {
    const item = el("li", null, "candidate");
    const head = el("div", null, "candidate-head");
    head.appendChild(el("span", c.continuation.join(", ") + (c.truncated ? ", …" : ""), "terms"));
    const word = el("span", c.confidence, "confidence confidence-" + c.confidence);
    head.appendChild(word);
    item.appendChild(head);
    const meter = el("meter");
    meter.min = 0; meter.max = 1; meter.value = c.probability;
    meter.low = 0.5; meter.high = 0.9; meter.optimum = 1;
    meter.id = "meter-" + c.rank;
    const meterLabel = el("label", "confidence " + c.probability.toFixed(3) + " (" + c.confidence + ")", "meter-label");
    meterLabel.htmlFor = meter.id;
    const bar = el("div", null, "bar");
    bar.appendChild(meter);
    bar.appendChild(meterLabel);
    item.appendChild(bar);
    const facts = el("dl");
    const fact = (term, value) => {
      facts.appendChild(el("dt", term));
      const dd = el("dd");
      if (typeof value === "string") dd.textContent = value; else dd.appendChild(value);
      facts.appendChild(dd);
    };
    fact("source", c.source_label + (c.method !== c.source ? " (" + c.method + ")" : ""));
    fact("rule", el("code", c.rule));
    if (c.oeis) fact("OEIS", oeisLink(c.oeis));
    if (c.evidence) fact("evidence", c.evidence);
    if (c.relatives.length) {
      const list = el("ul", null, "relatives");
      for (const r of c.relatives) list.appendChild(el("li")).appendChild(oeisLink(r));
      fact("also via", list);
    }
    item.appendChild(facts);
    return item;
  }

  function oeisLink(o) {
    const span = el("span");
    const link = el("a", o.anum + (o.name ? " " + o.name : ""));
    link.href = o.url;
    link.rel = "noopener noreferrer";
    span.appendChild(link);
    if (o.transform) span.appendChild(document.createTextNode(" (via " + o.transform + ")"));
    return span;
  }

  function render(data, raw) {
    current = data;
    status.textContent = data.candidates.length
      ? data.candidates.length + " candidates for " + data.terms.length + " terms."
      : "No credible continuation found.";
    const best = data.candidates[0];
    $("best").textContent = best
      ? data.terms.join(", ") + ", " + best.continuation.join(", ")
      : data.terms.join(", ") + ", ?";
    const list = $("candidates");
    list.replaceChildren(...data.candidates.map(candidateItem));
    const share = shareQuery(data);
    $("share-link").href = "/" + share;
    history.replaceState(null, "", share);
    $("json").textContent = JSON.stringify(JSON.parse(raw), null, 1);
    $("copied").textContent = "";
    answerBox.hidden = false;
    drawPlot();
    performance.mark("nextterm-rendered"); // read by benchmarks/bench_web.py
  }

  // The plot: given terms and the best candidate's continuation, n from 1.
  function series(data) {
    const given = data.terms, predicted = data.candidates.length ? data.candidates[0].continuation : [];
    const exact = given.concat(predicted);
    const xs = exact.map((_, i) => i + 1);
    const values = exact.map(Number);
    const shown = values.map((v) => (Number.isFinite(v) ? v : null));
    const g = shown.map((v, i) => (i < given.length ? v : null));
    const p = shown.map((v, i) => (i >= given.length - 1 && predicted.length ? v : null));
    return { xs, g, p, exact, givenCount: given.length, hidden: shown.some((v) => v === null) };
  }

  function drawPlot() {
    const box = $("plot");
    if (plot) { plot.destroy(); plot = null; }
    if (!current || typeof uPlot === "undefined") return;
    const s = series(current);
    const log = document.querySelector("input[name=scale]:checked").value === "log";
    const positive = s.exact.every((v) => Number(v) > 0);
    const distr = log ? (positive ? 3 : 4) : 1;
    $("plot-note").textContent =
      (log && !positive ? "Terms ≤ 0 are drawn on a symmetric log scale. " : "") +
      (s.hidden ? "Terms too large for the plot are left out." : "");
    box.setAttribute("aria-label",
      "Plot of " + s.givenCount + " given and " + (s.xs.length - s.givenCount) + " predicted terms, " + (log ? "log" : "linear") + " scale");
    const width = Math.max(240, box.clientWidth || 320);
    plot = new uPlot({
      width,
      height: Math.round(Math.min(320, Math.max(220, width * 0.5))),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 9 } },
      scales: { x: { time: false }, y: { distr, log: 10, asinh: 1 } },
      axes: [{ label: "n", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000] }, { label: "a(n)", size: 70 }],
      series: [
        {},
        { label: "given", stroke: "#1f5fa8", width: 2, points: { show: true, size: 7, fill: "#1f5fa8" } },
        { label: "predicted", stroke: "#c0392b", width: 2, dash: [6, 4], points: { show: true, size: 9, fill: "#ffffff", width: 2 } },
      ],
      hooks: { setCursor: [(u) => readout(u.cursor.idx)] },
    }, [s.xs, s.g, s.p], box);
    plot.nexttermSeries = s;
  }

  function readout(idx) {
    const out = $("readout");
    if (!plot || idx === null || idx === undefined) { out.textContent = ""; return; }
    const s = plot.nexttermSeries;
    out.textContent = "n = " + (idx + 1) + ", a(n) = " + s.exact[idx] + (idx < s.givenCount ? " (given)" : " (predicted)");
  }

  function moveCursor(step, absolute) {
    if (!plot) return;
    const s = plot.nexttermSeries;
    const last = s.xs.length - 1;
    let idx = plot.cursor.idx;
    idx = absolute !== undefined ? absolute : (idx === null || idx === undefined ? 0 : idx + step);
    idx = Math.max(0, Math.min(last, idx));
    const y = s.g[idx] !== null ? s.g[idx] : s.p[idx];
    plot.setCursor({ left: plot.valToPos(s.xs[idx], "x"), top: y === null ? 0 : plot.valToPos(y, "y") });
    readout(idx);
  }

  $("plot").addEventListener("keydown", (event) => {
    const moves = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
    if (event.key in moves) moveCursor(moves[event.key]);
    else if (event.key === "Home") moveCursor(0, 0);
    else if (event.key === "End") moveCursor(0, Infinity);
    else return;
    event.preventDefault();
  });

  async function copyText() {
    if (!current) return;
    try {
      await navigator.clipboard.writeText(current.text);
    } catch (e) {
      const area = el("textarea");
      area.value = current.text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    $("copied").textContent = "Copied.";
  }

  input.addEventListener("input", schedule);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); ask(); }
  });
  $("ask").addEventListener("submit", (event) => { event.preventDefault(); lastText = null; ask(); });
  count.addEventListener("change", () => { $("count-note").textContent = ""; ask(); });
  for (const radio of document.querySelectorAll("input[name=scale]")) radio.addEventListener("change", drawPlot);
  $("copy").addEventListener("click", copyText);
  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    try { sessionStorage.setItem(KEY_STORE, keyInput.value); } catch (e) { /* private mode */ }
    lastText = null;
    ask();
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawPlot, 150); });

  // A shared link (/?q=1,1,2,3,5&n=3) restores its query; the server judges the text.
  const params = new URLSearchParams(location.search);
  const wanted = params.get("n");
  if (wanted !== null) {
    const option = Array.from(count.options).find((o) => o.value === wanted.trim());
    if (option) count.value = option.value;
    else $("count-note").textContent = "The link asked for n = " + wanted + "; choose a number from the list.";
  }
  if (params.get("q") !== null) {
    input.value = params.get("q");
    ask();
  }
})();

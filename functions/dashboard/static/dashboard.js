/* Heavylift dashboard: live parts polled every 2 s, charts drawn as inline SVG. No deps. */
(function () {
  "use strict";
  const base = document.body.dataset.base || "";
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  window.heavylift = { csrfToken: csrfToken };

  function poll(fn) {
    let busy = false;
    const tick = async function () {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (err) { console.warn("poll failed", err); } finally { busy = false; }
    };
    return setInterval(tick, POLL_MS);
  }

  async function fetchOk(url, accept) {
    const response = await fetch(url, { headers: { Accept: accept }, credentials: "same-origin" });
    if (response.status === 401 || response.redirected && response.url.indexOf("/login") >= 0) {
      window.location.href = base + "/login";
      throw new Error("logged out");
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response;
  }
  const getJSON = async (url) => (await fetchOk(url, "application/json")).json();
  async function getDocument(url) {
    const text = await (await fetchOk(url, "text/html")).text();
    return new DOMParser().parseFromString(text, "text/html");
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined) return;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  function seconds(v) {
    if (v === null || v === undefined) return "—";
    if (v < 1) return Math.round(v * 1000) + " ms";
    if (v < 60) return v.toFixed(1) + " s";
    if (v < 3600) return Math.floor(v / 60) + " min " + Math.floor(v % 60) + " s";
    return Math.floor(v / 3600) + " h " + Math.floor((v % 3600) / 60) + " min";
  }

  /* Purge asks first: the clicked button's data-confirm (or the form's). */
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  /* --- charts ---------------------------------------------------------------------- */
  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    return node;
  }

  function drawChart(svg, points, bars, line, maxValue, label) {
    const W = 600, H = 160, pad = 22, n = Math.max(points.length, 1), step = (W - pad) / n;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const y = (v) => H - pad - (v / (maxValue || 1)) * (H - 2 * pad);
    svg.append(svgEl("line", { x1: pad, y1: H - pad, x2: W, y2: H - pad, class: "axis" }));
    const top = svgEl("text", { x: 0, y: pad - 6, class: "label" });
    top.textContent = label(maxValue);
    svg.append(top);
    points.forEach((p, i) => {
      let stacked = 0;
      bars.forEach(([field, cls]) => {
        const v = p[field] || 0;
        if (!v) return;
        const rect = svgEl("rect", {
          x: pad + i * step + 1, y: y(stacked + v), width: Math.max(step - 2, 1),
          height: y(stacked) - y(stacked + v), class: cls,
        });
        const title = svgEl("title", {});
        title.textContent = new Date(p.at * 1000).toLocaleTimeString() + " " + field + ": " + v;
        rect.append(title);
        svg.append(rect);
        stacked += v;
      });
    });
    if (line) {
      let d = "";
      points.forEach((p, i) => {
        const v = p[line[0]];
        if (v === null || v === undefined) { d += " "; return; }
        const cmd = d === "" || d.endsWith(" ") ? "M" : "L";
        const cx = pad + i * step + step / 2;
        d += cmd + cx.toFixed(1) + "," + y(v).toFixed(1);
        // a dot per minute too: a lone minute between gaps has no line to draw
        svg.append(svgEl("circle", { cx: cx.toFixed(1), cy: y(v).toFixed(1), r: 2, class: line[1] }));
      });
      if (d.trim()) svg.append(svgEl("path", { d: d.trim().replace(/ +/g, " "), class: line[1] }));
    }
    const start = svgEl("text", { x: pad, y: H - 4, class: "label" });
    start.textContent = "−60 min";
    const end = svgEl("text", { x: W - 30, y: H - 4, class: "label" });
    end.textContent = "now";
    svg.append(start, end);
  }

  function renderOverview(data) {
    data.queues.forEach((q) => {
      const row = document.querySelector('#queues tr[data-queue="' + q.name + '"]');
      if (!row) return;
      ["ready", "delayed", "in_flight", "dead"].forEach((f) => {
        const cell = row.querySelector('[data-field="' + f + '"]');
        const value = q[f] === null ? "—" : String(q[f]);
        if (f === "dead" && q.dead) {
          cell.replaceChildren(el("a", { href: base + "/dead-letters?queue=" + encodeURIComponent(q.name), text: value }));
        } else cell.textContent = value;
      });
    });
    document.getElementById("delayed-total").textContent = data.delayed_total;
    document.getElementById("worker-count").textContent = data.workers.length;
    const tbody = document.querySelector("#workers tbody");
    const rows = data.workers.map((w) => el("tr", { "data-worker-id": w.id }, [
      el("td", { class: "mono", text: w.id }),
      el("td", { class: "heartbeat", text: w.heartbeat_age_s + " s ago" }),
      el("td", { class: "jobs" }, w.jobs.length ? w.jobs.flatMap((j) => [
        el("a", { class: "mono", href: base + "/jobs/" + encodeURIComponent(j), text: j }), " "]) : ["idle"]),
    ]));
    if (!rows.length) rows.push(el("tr", { class: "empty" }, [el("td", { colspan: "3", text: "No live workers." })]));
    tbody.replaceChildren(...rows);
    const h = data.history;
    const maxJobs = Math.max(1, ...h.map((p) => Math.max(p.submitted, p.succeeded + p.failed)));
    drawChart(document.getElementById("chart-throughput"), h,
      [["succeeded", "bar-succeeded"], ["failed", "bar-failed"]], ["submitted", "line-submitted"],
      maxJobs, (m) => m + " /min");
    drawChart(document.getElementById("chart-failures"), h, [], ["failure_rate", "line-failed"], 1,
      () => "100 %");
    document.getElementById("updated-at").textContent = new Date().toLocaleTimeString();
  }

  function setupOverview() {
    const section = document.getElementById("overview");
    if (!section) return;
    const refresh = async () => renderOverview(await getJSON(section.dataset.poll));
    refresh().catch((e) => console.warn(e));
    poll(refresh);
  }

  /* --- jobs ------------------------------------------------------------------------ */
  function jobRow(j) {
    const progress = el("progress", { max: "1", value: String(j.progress) });
    return el("tr", { "data-job-id": j.job_id, "data-state": j.state }, [
      el("td", { class: "mono" }, [el("a", { href: base + "/jobs/" + encodeURIComponent(j.job_id), text: j.job_id })]),
      el("td", { class: "state state-" + j.state, text: j.state }),
      el("td", { class: "queue", text: j.queue }),
      el("td", { class: "media", text: j.media_type || "" }),
      el("td", { class: "source mono", text: j.source }),
      el("td", { class: "created" }, [el("time", { datetime: j.created_at, text: j.created_at.slice(0, 19).replace("T", " ") })]),
      el("td", { class: "progress" }, [progress]),
      el("td", { class: "error-code", text: j.error_code || "" }),
    ]);
  }

  function setupJobList() {
    const table = document.getElementById("jobs-table");
    if (!table) return;
    poll(async function () {
      const data = await getJSON(table.dataset.poll + window.location.search);
      const rows = data.jobs.map(jobRow);
      if (!rows.length) rows.push(el("tr", { class: "empty" }, [el("td", { colspan: "8", text: "No jobs match." })]));
      table.tBodies[0].replaceChildren(...rows);
    });
  }

  function setupJob() {
    if (!document.getElementById("job-detail")) return;
    const timer = poll(async function () {
      const section = document.getElementById("job-detail");
      if (section.dataset.final === "true") { clearInterval(timer); return; }
      const job = await getJSON(section.dataset.poll);
      const changed = job.state !== section.dataset.state ||
        document.querySelectorAll("#outputs li.output").length !== job.outputs.length;
      if (changed) {  /* new outputs or errors: take the server's rendering of the section */
        const fresh = (await getDocument(window.location.href)).getElementById("job-detail");
        if (fresh) section.replaceWith(document.importNode(fresh, true));
        return;
      }
      const state = document.getElementById("job-state");
      state.textContent = job.state;
      state.className = "state state-" + job.state;
      document.getElementById("job-progress").value = job.progress;
      document.getElementById("job-progress-text").textContent = Math.round(job.progress * 100) + " %";
      Object.entries(job.timings).forEach(([stage, v]) => {
        const cell = document.querySelector('#timings [data-stage="' + stage + '"]');
        if (cell) cell.textContent = seconds(v);
      });
    });
  }

  /* --- dead letters ------------------------------------------------------------------ */
  function setupDeadLetters() {
    const table = document.getElementById("dead-letters-table");
    if (!table) return;
    const selectAll = document.getElementById("select-all");
    selectAll.addEventListener("change", function () {
      table.querySelectorAll("tbody input.select").forEach((box) => { box.checked = selectAll.checked; });
    });
    poll(async function () {
      const checked = new Set(Array.from(table.querySelectorAll("tbody input.select:checked")).map((b) => b.value));
      const doc = await getDocument(window.location.href);
      const fresh = doc.querySelector("#dead-letters-table tbody");
      if (!fresh) return;
      fresh.querySelectorAll("input.select").forEach((box) => { box.checked = checked.has(box.value); });
      table.tBodies[0].replaceWith(document.importNode(fresh, true));
      const count = doc.getElementById("letter-count");
      if (count) document.getElementById("letter-count").textContent = count.textContent;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupOverview();
    setupJobList();
    setupJob();
    setupDeadLetters();
  });
})();

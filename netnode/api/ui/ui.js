// netnode's status page: polls /ui/state every second and puts the server's fresh
// sections in place (load balancers, routers and floating IPs, the topology), only
// where they changed; keeps each load balancer's request rate for its sparkline.
// Plain JavaScript, no build step. The sign-in cookie goes with each request.
"use strict";

(function () {
  const PERIOD_MS = 1000;
  const POINTS = 60; // one minute of request rates per load balancer
  const history = {}; // load balancer id -> {last: [ms, requests], rates: [per second]}
  const shown = {}; // section id -> the HTML last put in place

  function remember(stats) {
    const now = Date.now();
    for (const [id, s] of Object.entries(stats)) {
      const h = history[id] || (history[id] = { last: null, rates: [] });
      if (h.last !== null && now > h.last[0]) {
        const rate = Math.max(0, (s.requests - h.last[1]) * 1000 / (now - h.last[0]));
        h.rates.push(rate);
        if (h.rates.length > POINTS) h.rates.shift();
      }
      h.last = [now, s.requests];
    }
  }

  function sparklines() {
    for (const svg of document.querySelectorAll("svg.spark")) {
      const h = history[svg.dataset.lb];
      const rates = h ? h.rates : [];
      const width = 180, height = 32, top = Math.max(1, ...rates);
      const step = width / Math.max(rates.length - 1, 1); // the points so far, full width
      const points = rates.map((r, i) =>
        `${(i * step).toFixed(1)},${(height - 2 - (r / top) * (height - 4)).toFixed(1)}`);
      svg.innerHTML = points.length > 1
        ? `<polyline fill="none" stroke="#3f7fbf" stroke-width="1.5" points="${points.join(" ")}"/>`
        : "";
      const label = document.querySelector(`b.rate[data-lb="${svg.dataset.lb}"]`);
      if (label) label.textContent = rates.length ? rates[rates.length - 1].toFixed(1) : "-";
    }
  }

  async function refresh() {
    const updated = document.getElementById("updated");
    try {
      const answer = await fetch("/ui/state", { credentials: "same-origin", cache: "no-store" });
      if (answer.status === 401) {
        window.location.assign("/ui/login");
        return;
      }
      if (!answer.ok) throw new Error(`${answer.status}`);
      const state = await answer.json();
      for (const [id, html] of Object.entries(state.sections)) {
        const element = document.getElementById(id);
        if (element && shown[id] !== html) {
          element.innerHTML = html;
          shown[id] = html;
        }
      }
      remember(state.stats);
      sparklines();
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
      updated.classList.remove("offline");
    } catch (error) {
      updated.textContent = `not updated: ${error.message}`;
      updated.classList.add("offline");
    } finally {
      setTimeout(refresh, PERIOD_MS);
    }
  }

  refresh();
})();

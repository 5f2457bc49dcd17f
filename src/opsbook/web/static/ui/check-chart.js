// The check page's latency chart: reads the series the server put in #latency-chart's
// data-series attribute ({"t": [unix s], "p50": [ms|null], "p95": [...], "p99": [...]}) and
// draws it with the vendored uPlot. Colours come from the stylesheet's custom properties, so
// the chart follows dark mode. Without JavaScript the page shows the window's figures instead.
(function () {
  "use strict";

  function colour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function ms(u, value) {
    if (value == null) { return "–"; }
    return value >= 1000 ? (value / 1000).toPrecision(3) + " s" : value.toFixed(value >= 10 ? 0 : 1) + " ms";
  }

  function draw(box) {
    var data;
    try { data = JSON.parse(box.getAttribute("data-series")); } catch (e) { return null; }
    var fg = colour("--fg", "#1b1f24");
    var line = colour("--line", "#d0d7de");
    var axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    var zone = box.getAttribute("data-timezone");
    // Isolated points (a check with few results in the window) would draw nothing as a line.
    function points(stroke) { return { show: true, size: 5, fill: stroke, stroke: stroke }; }
    var p50 = colour("--up", "#1a7f37"), p95 = colour("--link", "#0a58ca"), p99 = colour("--down", "#b42318");
    var opts = {
      width: Math.max(box.clientWidth, 200),
      height: 260,
      scales: { x: { time: true } },
      // The axis in the config's timezone, as every other time on the page.
      tzDate: zone ? function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), zone); } : undefined,
      axes: [axis, Object.assign({}, axis, { values: function (u, vals) { return vals.map(function (v) { return ms(u, v); }); }, size: 64 })],
      series: [
        {},
        { label: "p50", stroke: p50, width: 1.5, value: ms, spanGaps: false, points: points(p50) },
        { label: "p95", stroke: p95, width: 1.5, value: ms, spanGaps: false, points: points(p95) },
        { label: "p99", stroke: p99, width: 1.5, value: ms, spanGaps: false, points: points(p99) }
      ]
    };
    box.textContent = "";
    return new window.uPlot(opts, [data.t, data.p50, data.p95, data.p99], box);
  }

  function start() {
    var box = document.getElementById("latency-chart");
    if (!box || !window.uPlot) { return; }
    var chart = draw(box);
    if (!chart) { return; }
    function fit() { chart.setSize({ width: Math.max(box.clientWidth, 200), height: 260 }); }
    if (window.ResizeObserver) {
      var last = box.clientWidth;
      new ResizeObserver(function () {
        if (box.clientWidth !== last) { last = box.clientWidth; fit(); }
      }).observe(box);
    } else {
      window.addEventListener("resize", fit);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

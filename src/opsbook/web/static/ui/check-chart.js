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

  // The latency axis: as many decimals as the step between ticks needs, so ticks 0.05 ms
  // apart read 3.95, 4.00, 4.05 rather than three "4.0 ms"; seconds from 1,000 ms up.
  function msTicks(u, vals) {
    var top = Math.max.apply(null, vals.map(function (v) { return Math.abs(v || 0); }));
    var scale = top >= 1000 ? 1000 : 1, unit = scale === 1 ? " ms" : " s";
    var step = vals.length > 1 ? Math.abs(vals[1] - vals[0]) / scale : 1;
    var digits = 0;
    while (digits < 3 && Math.abs(step * Math.pow(10, digits) - Math.round(step * Math.pow(10, digits))) > 1e-6) { digits++; }
    return vals.map(function (v) { return v == null ? "" : (v / scale).toFixed(digits) + unit; });
  }

  // The time axis on a 24-hour clock, dates as "06 Dec", as every other time on the page
  // (uPlot's own are 12-hour and month/day). Each row: the smallest tick step it serves (s),
  // its label, then what a tick that starts a new year, month, day, hour, minute or second
  // adds below it (null: nothing), and 1 to add it to the label rather than replace it.
  var DAY = 86400, HOUR = 3600, MINUTE = 60;
  var YEAR = "\n{YYYY}", DATE = "\n{DD} {MMM}", DATE_YEAR = "\n{DD} {MMM} {YYYY}";
  var TIME_TICKS = [
    [365 * DAY, "{YYYY}", null, null, null, null, null, null, 1],
    [28 * DAY, "{MMM}", YEAR, null, null, null, null, null, 1],
    [DAY, "{DD} {MMM}", YEAR, null, null, null, null, null, 1],
    [HOUR, "{HH}:{mm}", DATE_YEAR, null, DATE, null, null, null, 1],
    [MINUTE, "{HH}:{mm}", DATE_YEAR, null, DATE, null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", DATE_YEAR, null, DATE, null, null, null, 1],
    [0.001, "{HH}:{mm}:{ss}.{fff}", DATE_YEAR, null, DATE, null, null, null, 1]
  ];

  function draw(box) {
    var data;
    try { data = JSON.parse(box.getAttribute("data-series")); } catch (e) { return null; }
    var fg = colour("--fg", "#1b1f24");
    var line = colour("--line", "#d0d7de");
    var axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    var zone = box.getAttribute("data-timezone");
    function date(ts) { return zone ? window.uPlot.tzDate(new Date(ts * 1e3), zone) : new Date(ts * 1e3); }
    var stamp = window.uPlot.fmtDate("{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}");
    // Isolated points (a check with few results in the window) would draw nothing as a line.
    function points(stroke) { return { show: true, size: 5, fill: stroke, stroke: stroke }; }
    var p50 = colour("--up", "#1a7f37"), p95 = colour("--link", "#0a58ca"), p99 = colour("--down", "#b42318");
    var opts = {
      width: Math.max(box.clientWidth, 200),
      height: 260,
      scales: { x: { time: true } },
      // The axis in the config's timezone, as every other time on the page.
      tzDate: zone ? function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), zone); } : undefined,
      axes: [Object.assign({}, axis, { values: TIME_TICKS }), Object.assign({}, axis, { values: msTicks, size: 64 })],
      series: [
        { value: function (u, ts) { return ts == null ? "–" : stamp(date(ts)); } },
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

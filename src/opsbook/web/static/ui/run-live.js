// Live run page: while the run is not over, follow /api/v1/runs/{id}/events. Output chunks
// (masked by the server) are appended to the running step's output as text; when a step or
// the run reaches another state than the page shows, the page is fetched again and its
// [data-live] part swapped in place, as live.js does for the other pages. The stream ends
// when the run is not running; the browser reconnects (its retry delay), so a waiting run
// notices a confirmation or an approval made elsewhere. Without JavaScript the page is complete.
(function () {
  "use strict";
  var ENDED = { succeeded: 1, failed: 1, cancelled: 1, interrupted: 1 };
  var source = null;
  var busy = false;
  var again = false;

  function root() { return document.getElementById("live-run"); }

  function shownSteps() {
    var map = {};
    var raw = root() ? root().getAttribute("data-steps") || "" : "";
    raw.split(";").forEach(function (pair) {
      var at = pair.lastIndexOf("=");
      if (at > 0) { map[pair.slice(0, at)] = pair.slice(at + 1); }
    });
    return map;
  }

  function typing(part) {
    // Someone writing a note: do not take the box away from under them.
    var el = document.activeElement;
    return el && part.contains(el) && el.tagName === "INPUT" && el.value !== "";
  }

  function swap(doc) {
    var parts = document.querySelectorAll("[data-live]");
    for (var i = 0; i < parts.length; i++) {
      var fresh = doc.getElementById(parts[i].id);
      if (fresh && !typing(parts[i])) {
        parts[i].replaceWith(document.importNode(fresh, true));
      }
    }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          if (response.redirected) { window.location.reload(); }
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html) {
          swap(new DOMParser().parseFromString(html, "text/html"));
          document.documentElement.setAttribute("data-refreshed", String(Date.now()));
          follow();
        }
      })
      .catch(function () { /* offline for a moment: the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function onStep(event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (shownSteps()[data.step_id] !== data.state) { refresh(); }
  }

  function onOutput(event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    var out = document.querySelector('.run-step[data-state="running"] .run-output');
    if (out && typeof data.chunk === "string") {
      out.appendChild(document.createTextNode(data.chunk));
    }
  }

  function onEnd(event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (ENDED[data.state]) { stop(); }
    if (root() && root().getAttribute("data-state") !== data.state) { refresh(); }
  }

  function stop() {
    if (source) { source.close(); source = null; }
  }

  function follow() {
    var el = root();
    if (!el || !window.EventSource) { return; }
    if (ENDED[el.getAttribute("data-state")]) { stop(); return; }
    if (source) { return; }
    source = new EventSource("/api/v1/runs/" + encodeURIComponent(el.getAttribute("data-run")) + "/events");
    source.addEventListener("step", onStep);
    source.addEventListener("output", onOutput);
    source.addEventListener("end", onEnd);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", follow);
  } else {
    follow();
  }
})();

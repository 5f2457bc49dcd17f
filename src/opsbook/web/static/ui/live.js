// Live overview: listen to /ui/events and, when the store's change markers differ from the
// ones this page was rendered with, fetch the page again and swap its [data-live] parts in
// place. Without JavaScript the page is complete; it just does not update itself.
(function () {
  "use strict";
  var RESULTS_EVERY_MS = 30000; // new results alone (no state change) refresh at most this often
  var lastRefresh = Date.now();
  var busy = false;
  var again = false;

  function marker(name) {
    var el = document.getElementById("live-version");
    return el ? el.getAttribute("data-" + name) : null;
  }

  function swap(doc) {
    var parts = document.querySelectorAll("[data-live]");
    for (var i = 0; i < parts.length; i++) {
      var fresh = doc.getElementById(parts[i].id);
      if (fresh) {
        parts[i].replaceWith(document.importNode(fresh, true));
      }
    }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          // Logged out or the server is unwell: a full load shows why.
          if (response.redirected) { window.location.reload(); }
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html) {
          swap(new DOMParser().parseFromString(html, "text/html"));
          lastRefresh = Date.now();
          document.documentElement.setAttribute("data-refreshed", String(lastRefresh));
        }
      })
      .catch(function () { /* offline for a moment: the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function onChange(event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data.version !== marker("version")) {
      refresh();
    } else if (String(data.results) !== marker("results") &&
               Date.now() - lastRefresh >= RESULTS_EVERY_MS) {
      refresh();
    }
  }

  function start() {
    if (!window.EventSource || !document.getElementById("live-version")) { return; }
    var source = new EventSource("/ui/events");
    source.addEventListener("change", onChange);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

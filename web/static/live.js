// Live refresh for Sluice's pages: every data-refresh seconds, fetch this
// page again and swap in its <main>, unless the operator is in the middle
// of something (a field focused or filled, a box ticked, text selected).
// The pages work without it. The token, once typed, is kept for the tab
// (sessionStorage) and filled into every action form.
(function () {
  "use strict";
  var KEY = "sluice-token";
  function fillTokens() {
    var t = sessionStorage.getItem(KEY);
    document.querySelectorAll('input[name="token"]').forEach(function (el) {
      if (t) { el.value = t; el.closest("label").classList.add("hidden"); }
    });
  }
  document.addEventListener("submit", function (ev) {
    var el = ev.target.querySelector('input[name="token"]');
    if (el && el.value) { sessionStorage.setItem(KEY, el.value); }
  });
  function busy(main) {
    var active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName)) { return true; }
    if (main.querySelector('input[type="checkbox"]:checked')) { return true; }
    var typed = Array.prototype.some.call(main.querySelectorAll('input:not([type="hidden"]):not([type="checkbox"]):not([name="token"])'),
      function (el) { return el.value !== el.defaultValue; });
    var sel = window.getSelection();
    return typed || (sel && !sel.isCollapsed);
  }
  function refresh() {
    var main = document.getElementById("live");
    if (!main || document.hidden || busy(main)) { return; }
    fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || busy(main)) { return; }
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (next) { main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes)); fillTokens(); }
      })
      .catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    fillTokens();
    // The message an action left is shown once; a refresh should not repeat it.
    var url = new URL(location.href);
    if (url.searchParams.has("done")) {
      url.searchParams.delete("done");
      url.searchParams.delete("n");
      history.replaceState(null, "", url.pathname + url.search);
    }
    var secs = parseInt(document.body.getAttribute("data-refresh"), 10);
    if (secs > 0) { setInterval(refresh, secs * 1000); }
  });
})();

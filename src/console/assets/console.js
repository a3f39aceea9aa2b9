// Switchboard operator console: live updates and deadline countdowns. No framework, no build
// step; every page works without this script (plain links and forms), it only saves reloads.
(function () {
  "use strict";
  var body = document.body;
  var live = document.getElementById("live");

  // Countdowns run on the server's clock: the page says what time the server had.
  function tick() {
    var spans = document.querySelectorAll(".countdown[data-deadline]");
    for (var i = 0; i < spans.length; i++) {
      var s = spans[i];
      if (!s.dataset.offset) {
        s.dataset.offset = String(Date.parse(s.dataset.now) - Date.now());
      }
      var left = Math.floor((Date.parse(s.dataset.deadline) - (Date.now() + Number(s.dataset.offset))) / 1000);
      if (left <= 0) {
        s.textContent = "expired";
        s.classList.add("expired");
      } else {
        var seconds = String(left % 60);
        s.textContent = Math.floor(left / 60) + " min " + (seconds.length < 2 ? "0" : "") + seconds + " s left";
      }
    }
  }
  setInterval(tick, 1000);
  tick();

  // A file chosen for a leads upload is read into the form's text field (the form posts text,
  // so it also works without this script by pasting).
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.dataset || !input.dataset.fills || !input.files || !input.files[0] || !window.FileReader) { return; }
    var target = document.getElementById(input.dataset.fills);
    var reader = new FileReader();
    reader.onload = function () { if (target) { target.value = String(reader.result); } };
    reader.readAsText(input.files[0]);
  });

  var topic = body.dataset.topic;
  if (!topic || !window.EventSource) {
    return;
  }

  // Someone typing a reason or a reply must not lose it to a refresh: hold the update until
  // the field is left, and say that one is waiting.
  // A form filled in but not yet sent (a settings change, a pasted list) is kept the same way.
  var dirty = false;
  document.addEventListener("input", function (e) {
    if (e.target.closest && e.target.closest("#content form")) { dirty = true; }
  });
  function typing() {
    if (dirty) { return true; }
    var el = document.activeElement;
    return el && el.closest && el.closest("#content") && (el.tagName === "TEXTAREA" ||
      (el.tagName === "INPUT" && el.type !== "hidden" && el.value));
  }

  var waiting = false;
  function refresh() {
    if (typing()) {
      waiting = true;
      live.textContent = dirty ? "New changes: they appear once your form is sent (or on reload)." : "New changes: they appear when you leave the field.";
      return;
    }
    waiting = false;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { window.location.reload(); return null; }
        return r.text();
      })
      .then(function (text) {
        if (text === null) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("content");
        var content = document.getElementById("content");
        if (fresh && content) {
          // Keep keyboard focus where it was when the same control is still there.
          var focused = document.activeElement && content.contains(document.activeElement) ? document.activeElement : null;
          var key = focused ? (focused.id || (focused.closest("form") && focused.closest("form").getAttribute("action") + "|" + (focused.value || ""))) : null;
          content.innerHTML = fresh.innerHTML;
          if (key) {
            var again = document.getElementById(key) || Array.prototype.find.call(content.querySelectorAll("form button"), function (b) {
              return b.closest("form").getAttribute("action") + "|" + (b.value || "") === key;
            });
            if (again) { again.focus(); }
          }
          body.dataset.refreshes = String(Number(body.dataset.refreshes || "0") + 1);
          live.textContent = "Updated at " + new Date().toLocaleTimeString();
          tick();
        }
      })
      .catch(function () { live.textContent = "Could not refresh; retrying on the next change."; });
  }
  document.addEventListener("focusout", function () {
    if (waiting) { setTimeout(refresh, 0); }
  });

  var events = new EventSource("/console/events");
  // The first event fixes the stream's starting point; refresh once so nothing that changed
  // between rendering the page and connecting is missed.
  events.addEventListener("ready", function () {
    body.dataset.live = "connected";
    refresh();
  });
  // A page may show several domains' parts ("Live now"): any of their topics refreshes it.
  topic.split(" ").forEach(function (t) { if (t) { events.addEventListener(t, refresh); } });
  events.onerror = function () {
    if (events.readyState === EventSource.CLOSED) {
      body.dataset.live = "closed";
      live.textContent = "Live updates stopped. Reload the page.";
    }
  };
})();

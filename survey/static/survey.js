// Records the score a person clicked in the e-mail once this page has been visible to them
// for a few seconds (a mail scanner that only fetches the link records nothing), then lets
// them add to the answer. Without JavaScript the submit button does the same. No inline
// script anywhere: the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autorecord]");
  if (!form || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var needed = parseInt(form.getAttribute("data-autorecord-after-ms"), 10) || 3000;
  var visibleFor = 0;
  var since = null;
  var timer = null;
  var done = false;

  function chosenScore() {
    var checked = form.querySelector("input[name=nps_score]:checked");
    return checked ? checked.value : "";
  }

  function record() {
    if (done) {
      return;
    }
    done = true;
    var score = chosenScore();
    if (score === "") {
      return;
    }
    var body = new URLSearchParams();
    body.set("csrf_token", form.querySelector("input[name=csrf_token]").value);
    body.set("nps_score", score);
    body.set("score_only", "1");
    window.fetch(form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.ok) {
        var status = document.getElementById("autorecord-status");
        if (status) {
          status.hidden = false;
        }
      }
    }).catch(function () {
      done = false; // try again while the page stays open
    });
  }

  function pause() {
    if (since !== null) {
      visibleFor += Date.now() - since;
      since = null;
    }
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  }

  function resume() {
    if (done || document.visibilityState !== "visible") {
      return;
    }
    since = Date.now();
    timer = window.setTimeout(function () {
      pause();
      record();
    }, Math.max(0, needed - visibleFor));
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      resume();
    } else {
      pause();
    }
  });
  form.addEventListener("submit", function () {
    done = true; // the full answer goes instead
    pause();
  });
  resume();
})();

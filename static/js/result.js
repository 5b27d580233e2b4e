// Result page: poll the status endpoint until grading finishes, then reload to show the grades, saying how
// long the examination has waited (and, past GRADING_SLOW_AFTER_SECONDS, that it is taking longer than
// usual); and show or hide each eye's heatmap beside its photograph.
(function () {
  "use strict";
  const GRADED = "dr-portal-graded-while-open";
  const progress = document.getElementById("progress");
  let graded = null;
  try {
    graded = sessionStorage.getItem(GRADED);
    sessionStorage.removeItem(GRADED);
  } catch (error) {
    // Storage refused: the page loads as any other.
  }
  if (progress && graded === window.location.pathname) {
    progress.setAttribute("tabindex", "-1");
    progress.focus();
  }
  if (progress && progress.dataset.finished !== "true") {
    const url = progress.dataset.statusUrl;
    const loginPath = progress.dataset.loginPath;
    const retrying = document.getElementById("poll-retrying");
    // What an answer means for the polling: go on, try again later, or stop for good.
    const ENDED = "ended";
    const RETRY = "retry";
    const STOPPED = "stopped";
    let delay = 500;

    // The time since the upload, counted on from the server's figure (not this computer's clock), and past
    // the threshold the note that the grading is taking longer than usual.
    const elapsed = document.getElementById("progress-elapsed");
    const slow = document.getElementById("progress-slow");
    const shownAt = performance.now();
    const duration = function (seconds) { // as screening/waiting.py's duration_text
      if (seconds < 60) return seconds + " s";
      if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
      return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
    };
    const tick = function () {
      if (!elapsed) return;
      const seconds = Number(elapsed.dataset.waited) + Math.floor((performance.now() - shownAt) / 1000);
      elapsed.textContent = "Uploaded " + duration(seconds) + " ago.";
      if (seconds >= Number(slow.dataset.slowAfter) && slow.textContent === "") slow.textContent = slow.dataset.message;
    };
    const ticker = window.setInterval(tick, 1000);

    // Stop polling and say why, with a way on: before, a page whose session had ended (15 minutes
    // idle) parsed the login page as JSON, failed, and retried every 3 seconds forever, in silence.
    const stop = function (reason) {
      window.clearInterval(ticker); // the page no longer knows where the grading stands
      retrying.hidden = true;
      progress.querySelectorAll("progress").forEach(function (bar) { bar.hidden = true; });
      document.getElementById(reason === ENDED ? "poll-session-ended" : "poll-stopped").hidden = false;
    };

    const read = function (response) {
      // The status view requires a session: without one it redirects to the login page, which fetch
      // follows and answers with the login form.
      const toLogin = response.redirected && new URL(response.url).pathname === loginPath;
      if (toLogin || response.status === 401 || response.status === 403) return ENDED;
      if (response.status >= 500 || response.status === 429 || response.status === 408) return RETRY;
      if (!response.ok) return STOPPED; // e.g. 404: asking again will not change it
      const type = response.headers.get("Content-Type") || "";
      if (!type.includes("application/json")) return ENDED; // a page, not the status: a login form
      return response.json().then(
        function (data) { return data && typeof data === "object" ? data : STOPPED; },
        function () { return RETRY; }, // said JSON and was cut short: the connection, not the session
      );
    };

    const poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(read, function () { return RETRY; }) // a network error: offline, server restarting
        .then(function (data) {
          if (data === ENDED || data === STOPPED) { stop(data); return; }
          if (data === RETRY) {
            retrying.hidden = false;
            window.setTimeout(poll, 3000);
            return;
          }
          retrying.hidden = true;
          // The status request renewed the session: the idle-timeout warning counts from now.
          document.dispatchEvent(new CustomEvent("dr:session-renewed"));
          if (data.finished) {
            // After the reload, the focus goes to the outcome (below): a screen reader would otherwise
            // start again at the top of the page and not hear that the grades have come.
            try { sessionStorage.setItem(GRADED, window.location.pathname); } catch (error) { /* none kept */ }
            window.location.reload();
            return;
          }
          if (data.status !== progress.dataset.status) {
            progress.dataset.status = data.status;
            progress.querySelector("p").textContent = data.status === "running" ? "Grading both eyes…" : "Queued for grading…";
          }
          delay = Math.min(delay * 1.5, 3000);
          window.setTimeout(poll, delay);
        });
    };
    window.setTimeout(poll, delay);
  }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // Each eye's heatmap, beside its photograph: shown or hidden, the button named for what a press will do.
  document.querySelectorAll("[data-toggle-heatmap]").forEach(function (button) {
    const figure = document.getElementById(button.getAttribute("aria-controls"));
    const text = button.querySelector("[data-toggle-text]");
    button.addEventListener("click", function () {
      const show = figure.hidden;
      figure.hidden = !show;
      button.setAttribute("aria-expanded", String(show));
      text.textContent = show ? "Hide heatmap" : "Show heatmap";
    });
  });
})();

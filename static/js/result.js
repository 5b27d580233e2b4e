// Result page: poll the status endpoint until grading finishes, then reload to show the grades; and
// toggle each eye between the photograph and its heatmap overlay.
(function () {
  "use strict";
  const progress = document.getElementById("progress");
  if (progress && progress.dataset.finished !== "true") {
    const url = progress.dataset.statusUrl;
    let delay = 500;
    const poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && data.finished) { window.location.reload(); return; }
          if (data && data.status !== progress.dataset.status) {
            progress.dataset.status = data.status;
            progress.querySelector("p").textContent = data.status === "running" ? "Grading both eyes…" : "Queued for grading…";
          }
          delay = Math.min(delay * 1.5, 3000);
          window.setTimeout(poll, delay);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, delay);
  }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  document.querySelectorAll("[data-toggle-heatmap]").forEach(function (button) {
    button.addEventListener("click", function () {
      const eye = button.closest("[data-eye]");
      const heatmap = eye.querySelector("[data-heatmap]");
      const photo = eye.querySelector("[data-photo]");
      const showing = !heatmap.hidden;
      heatmap.hidden = showing;
      photo.hidden = !showing;
      button.setAttribute("aria-pressed", String(!showing));
      button.textContent = showing ? "Show heatmap" : "Show photograph";
    });
  });
})();

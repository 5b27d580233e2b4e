// Upload page: the "Right" and "Left" zones take a click (the file chooser) or a dropped file, and show
// a preview. Without JavaScript the zones are plain file inputs and the form still works.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const ACCEPTED = ["image/jpeg", "image/png"];

  function show(zone, file) {
    const preview = zone.querySelector("[data-preview]");
    const name = zone.querySelector("[data-name]");
    const hint = zone.querySelector("[data-hint]");
    preview.hidden = true;
    preview.removeAttribute("src");
    name.textContent = file ? file.name : "";
    hint.hidden = Boolean(file);
    zone.classList.toggle("filled", Boolean(file));
    if (!file || !ACCEPTED.includes(file.type)) return; // the server says exactly what is wrong
    // A data: URL, not a blob: one: the Content-Security-Policy allows images from data: only.
    const reader = new FileReader();
    reader.addEventListener("load", function () {
      preview.src = reader.result;
      preview.hidden = false;
    });
    reader.readAsDataURL(file);
  }

  form.querySelectorAll("[data-zone]").forEach(function (zone) {
    const input = zone.querySelector("input[type=file]");
    input.addEventListener("change", function () { show(zone, input.files[0]); });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      const files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      const transfer = new DataTransfer();
      transfer.items.add(files[0]);
      input.files = transfer.files;
      show(zone, files[0]);
    });
  });

  form.addEventListener("reset", function () {
    form.querySelectorAll("[data-zone]").forEach(function (zone) { show(zone, null); });
  });
  form.addEventListener("submit", function () {
    const button = document.getElementById("predict-button");
    button.disabled = true;
    button.textContent = "Uploading…";
  });
})();

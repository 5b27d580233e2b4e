// Every page: a form sent back with errors puts the keyboard focus on the first field to correct, so a
// keyboard or screen-reader user starts there and hears the field's name, "invalid" and its message
// (Django ties each message to its field with aria-describedby). Where no field is marked (an error of
// the whole form), the first message itself takes the focus and is read.
(function () {
  "use strict";
  const field = document.querySelector("main form [aria-invalid=true]");
  if (field) {
    field.focus();
    return;
  }
  const message = document.querySelector("main form .errors");
  if (message) {
    message.setAttribute("tabindex", "-1");
    message.focus();
  }
})();

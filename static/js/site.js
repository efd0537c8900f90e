// The member site's two bits of behaviour, wired here rather than in onclick/onchange attributes, so the
// Content-Security-Policy needs no 'unsafe-inline': a <select data-submit-on-change> submits its form
// (the footer's language choice), an <input data-reload-with-date> reloads the page for the day chosen
// (the booking form's date) and a <button data-print> prints the page (the receipt).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (!field.matches) {
      return;
    }
    if (field.matches("[data-submit-on-change]") && field.form) {
      field.form.submit();
    } else if (field.matches("[data-reload-with-date]") && field.value) {
      window.location.search = "date=" + encodeURIComponent(field.value);
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) {
      window.print();
    }
  });
})();

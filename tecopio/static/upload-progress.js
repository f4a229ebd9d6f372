// Shows how much of a large file has been sent. Without JavaScript the form posts as usual.
(function () {
  var form = document.getElementById("import-form");
  var bar = document.getElementById("import-progress");
  if (!form || !bar || !window.XMLHttpRequest || !window.FormData) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    bar.hidden = false;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    request.addEventListener("load", function () {
      // Show the page the server answered with (the result, or the form with its errors),
      // at the address it came from, as a normal form post would.
      if (request.responseURL && window.history.replaceState) {
        window.history.replaceState(null, "", request.responseURL);
      }
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", function () { form.submit(); });
    request.send(new FormData(form));
  });
})();

// A search box above a long list of tick boxes: typing hides the names that do not match.
// Without JavaScript the boxes are all there, in a scrollable list; ticked ones stay shown.
(function () {
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  document.querySelectorAll(".picker").forEach(function (picker, index) {
    var labels = picker.querySelectorAll("label.check");
    if (labels.length < 8) return;
    var input = document.createElement("input");
    input.type = "search";
    input.id = "picker-filter-" + index;
    input.setAttribute("aria-label", picker.dataset.filterLabel);
    input.placeholder = picker.dataset.filterLabel;
    input.className = "picker-filter";
    var choices = picker.querySelector(".choices");
    choices.parentNode.insertBefore(input, choices);
    input.addEventListener("input", function () {
      var wanted = fold(input.value.trim());
      labels.forEach(function (label) {
        var box = label.querySelector("input");
        var match = !wanted || fold(label.textContent).indexOf(wanted) !== -1;
        label.hidden = !(match || box.checked);
      });
    });
  });
})();

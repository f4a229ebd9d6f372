// On a phone the menu and the tabs scroll sideways: bring the current one into view.
(function () {
  document.querySelectorAll(".site-nav [aria-current], .tabs [aria-current]").forEach(function (link) {
    var row = link.closest(".site-nav, .tabs");
    if (row && row.scrollWidth > row.clientWidth) {
      row.scrollLeft = link.offsetLeft - (row.clientWidth - link.offsetWidth) / 2;
    }
  });
})();

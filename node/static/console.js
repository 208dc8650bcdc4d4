/* partynet pages: small progressive enhancements (every page works without them).
   - [data-print] buttons print the page;
   - #stage-chart draws the members-by-stage bar chart with ECharts (the table stays);
   - htmx: a refusal (400, 403, 404, 409, 422) is a page with a readable message, so it is
     shown in place like a success; after a swap, focus goes where the triggering element's
     data-focus-after says (selectors separated by "|", the first present wins), so keyboard
     and screen-reader users land on the result. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-print]") : null;
    if (target) { event.preventDefault(); window.print(); }
  });

  var READABLE = [400, 403, 404, 409, 422];
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (READABLE.indexOf(event.detail.xhr.status) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // The requesting element may be swapped away: remember where it wants focus, before.
  var focusAfter = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail.elt;
    focusAfter = source && source.getAttribute ? source.getAttribute("data-focus-after") : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!focusAfter) { return; }
    var selectors = focusAfter.split("|");
    focusAfter = null;
    for (var i = 0; i < selectors.length; i += 1) {
      var found = document.querySelector(selectors[i]);
      if (found) {
        if (!found.hasAttribute("tabindex") &&
            !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(found.tagName)) {
          found.setAttribute("tabindex", "-1");
        }
        found.focus();
        return;
      }
    }
  });

  function drawChart() {
    var box = document.getElementById("stage-chart");
    if (!box || !window.echarts) { return; }
    var labels = JSON.parse(box.getAttribute("data-labels") || "[]");
    var values = JSON.parse(box.getAttribute("data-values") || "[]");
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 16, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: labels, inverse: true },
      series: [{ type: "bar", data: values, itemStyle: { color: "#b91c1c" },
                 label: { show: true, position: "right" } }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawChart);
  } else { drawChart(); }
}());

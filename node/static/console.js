/* partynet working pages: small progressive enhancements (the pages work without them).
   - [data-print] buttons print the page;
   - #stage-chart draws the members-by-stage bar chart with ECharts (the table stays). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-print]") : null;
    if (target) { event.preventDefault(); window.print(); }
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

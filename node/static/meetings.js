/* Meeting pages: the compliance chart (met and missed windows by kind, ECharts). The table
   beside it carries the same figures, so the page works without scripts. */
(function () {
  "use strict";
  function draw() {
    var box = document.getElementById("compliance-chart");
    if (!box || !window.echarts) { return; }
    var data = JSON.parse(box.getAttribute("data-chart") || "{}");
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: data.kinds || [], inverse: true },
      series: [
        { name: data.labels.met, type: "bar", stack: "w", data: data.met || [],
          itemStyle: { color: "#15803d" } },
        { name: data.labels.missed, type: "bar", stack: "w", data: data.missed || [],
          itemStyle: { color: "#b91c1c" } }
      ]
    });
    box.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else { draw(); }
}());

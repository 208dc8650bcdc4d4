/* partynet national portal: draws each .chart[data-chart] with ECharts (the tables stay, and
   are what screen readers read). data-chart: {type: bar|hbar|line, labels: [], values: [],
   share: bool}, or several lines with a legend: series: [{name, values}]. */
(function () {
  "use strict";
  var RED = "#b91c1c";
  var COLOURS = [RED, "#1d4ed8", "#15803d", "#a16207", "#7e22ce", "#0f766e"];

  function option(spec) {
    var category = { type: "category", data: spec.labels, axisLabel: { hideOverlap: true } };
    var value = { type: "value", minInterval: spec.share ? 0 : 1 };
    var type = spec.type === "line" ? "line" : "bar";
    var lines = spec.series && spec.series.length > 1 ? spec.series : null;
    var series = lines ? lines.map(function (line, i) {
      var colour = COLOURS[i % COLOURS.length];
      return { type: type, name: line.name, data: line.values, connectNulls: true,
               itemStyle: { color: colour }, lineStyle: { color: colour } };
    }) : [{ type: type, data: spec.values, itemStyle: { color: RED } }];
    var horizontal = spec.type === "hbar";
    if (horizontal) { category.inverse = true; }
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: lines ? { top: 0, type: "scroll" } : undefined,
      grid: { left: 8, right: 16, top: lines ? 36 : 12, bottom: 8, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: series
    };
  }

  function draw() {
    if (!window.echarts) { return; }
    var boxes = document.querySelectorAll(".chart[data-chart]");
    var charts = [];
    Array.prototype.forEach.call(boxes, function (box) {
      var spec = JSON.parse(box.getAttribute("data-chart") || "{}");
      var chart = window.echarts.init(box, null, { renderer: "canvas" });
      chart.setOption(option(spec));
      charts.push(chart);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) { chart.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else { draw(); }
}());

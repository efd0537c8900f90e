// The staff home's 30-day chart: reads its data from the json_script block the panel renders
// (core/home.py chart_context) and draws it with the vendored Chart.js (static/vendor/chartjs-*).
(function () {
  "use strict";
  var source = document.getElementById("staff-home-chart-data");
  var canvas = document.getElementById("staff-home-chart");
  if (!source || !canvas || typeof window.Chart === "undefined") {
    return;
  }
  var chart = JSON.parse(source.textContent);
  var colours = ["#417690", "#e2a03f", "#70bf2b", "#ba2121"];
  var datasets = chart.datasets.map(function (series, index) {
    var yen = series.axis === "yen";
    return {
      label: series.label,
      data: series.data,
      type: yen ? "line" : "bar",
      yAxisID: yen ? "yen" : "count",
      backgroundColor: colours[index % colours.length],
      borderColor: colours[index % colours.length],
      tension: 0.2,
    };
  });
  var hasYen = datasets.some(function (d) { return d.yAxisID === "yen"; });
  var hasCount = datasets.some(function (d) { return d.yAxisID === "count"; });
  new window.Chart(canvas, {
    data: { labels: chart.labels, datasets: datasets },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: {
        count: { type: "linear", position: "left", display: hasCount, beginAtZero: true, ticks: { precision: 0 } },
        yen: { type: "linear", position: "right", display: hasYen, beginAtZero: true, grid: { drawOnChartArea: false } },
      },
    },
  });
})();

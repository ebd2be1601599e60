/* global document, window, uPlot */
// The dashboard's own script (served from the package; the CSP allows no inline script).
(function () {
  'use strict';

  document.addEventListener('change', function (event) {
    var box = event.target;
    if (!box.matches || !box.matches('[data-select-all]')) return;
    var form = box.closest('form');
    form.querySelectorAll('input[name="ids"]').forEach(function (b) {
      b.checked = box.checked;
    });
  });

  // destructive buttons ask first
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-confirm]');
    var question = button && button.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function drawCharts() {
    var host = document.querySelector('[data-chart="throughput"]');
    if (!host || typeof uPlot === 'undefined') return;
    var rateHost = document.querySelector('[data-chart="failure-rate"]');
    fetch(host.getAttribute('data-src'), { credentials: 'same-origin' })
      .then(function (r) {
        return r.json();
      })
      .then(function (data) {
        var width = Math.max(400, host.clientWidth - 16);
        new uPlot(
          {
            title: 'Finished tasks per ' + Math.round(data.bucketMs / 60000) + ' min',
            width: width,
            height: 280,
            series: [
              {},
              { label: 'success', stroke: '#137a3b', fill: 'rgba(19,122,59,0.08)' },
              { label: 'failure', stroke: '#b42318', fill: 'rgba(180,35,24,0.08)' },
            ],
          },
          [data.at, data.success, data.failure],
          host,
        );
        var rate = data.at.map(function (_, i) {
          var total = data.success[i] + data.failure[i];
          return total ? (100 * data.failure[i]) / total : null;
        });
        new uPlot(
          {
            title: 'Failure rate (%)',
            width: width,
            height: 240,
            scales: { y: { range: [0, 100] } },
            series: [{}, { label: 'failure rate %', stroke: '#b42318', spanGaps: false }],
          },
          [data.at, rate],
          rateHost,
        );
        host.setAttribute('data-ready', 'true');
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', drawCharts);
  else drawCharts();
})();

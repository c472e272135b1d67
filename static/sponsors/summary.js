// Draws the sponsor summary's bar charts with the vendored Chart.js (loaded before this module as
// window.Chart). The figures come from the page's data-charts attribute, which holds only the
// groups whose numbers the page shows; the tables beside the charts are what screen readers get,
// so the canvases are aria-hidden.

const BAR = 26; // px per bar, so long lists get taller charts
const AXES = 40; // px for the axis and padding

const root = document.getElementById("sponsor-charts");
if (root && window.Chart) {
  const charts = JSON.parse(root.dataset.charts || "[]");
  const style = getComputedStyle(document.documentElement);
  const brand = style.getPropertyValue("--brand").trim() || "#0b5e6e";
  const ink = style.getPropertyValue("--ink").trim() || "#1c2430";
  const line = style.getPropertyValue("--line").trim() || "#d8dee6";
  const locale = document.documentElement.lang || undefined;
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.font.size = 13;

  for (const chart of charts) {
    const canvas = root.querySelector(`canvas[data-chart="${CSS.escape(chart.key)}"]`);
    if (!canvas) continue;
    canvas.parentElement.style.height = `${chart.labels.length * BAR + AXES}px`;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: [{ label: chart.title, data: chart.counts, backgroundColor: brand, borderRadius: 3 }],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        locale,
        plugins: { legend: { display: false } },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0, color: ink }, grid: { color: line } },
          y: { ticks: { color: ink }, grid: { display: false } },
        },
      },
    });
  }
}

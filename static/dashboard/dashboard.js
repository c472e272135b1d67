// The dashboard: draws the charts with the vendored Chart.js from the figures in the page, then
// polls the figures every 10 s and updates the numbers and the charts in place.
const root = document.getElementById('dashboard');
const REFRESH = 10000;
const COLOURS = ['#0b5e6e', '#e07a1f', '#5b3fa0', '#2e7d32', '#b3261e', '#1d4ed8', '#8d6e63'];

const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? o : o[k]), obj);

function dayChart(figures) {
  return new Chart(document.getElementById('chart-days'), {
    type: 'bar',
    data: dayData(figures),
    options: { responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function dayData(figures) {
  return {
    labels: figures.per_day.days,
    datasets: figures.per_day.series.map((s, i) => ({ label: s.name, data: s.counts, backgroundColor: COLOURS[i % COLOURS.length] })),
  };
}

function capacityChart(figures) {
  return new Chart(document.getElementById('chart-capacity'), {
    type: 'bar',
    data: capacityData(figures),
    options: { indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } },
  });
}

function capacityData(figures) {
  const rows = [
    ...figures.quotas.map((q) => ({ name: q.name, size: q.size, left: q.left })),
    ...figures.workshops.filter((w) => w.capacity != null).map((w) => ({ name: w.name, size: w.capacity, left: w.left })),
  ];
  return {
    labels: rows.map((r) => r.name),
    datasets: [
      { label: root.dataset.labelTaken, data: rows.map((r) => r.size - Math.max(r.left, 0)), backgroundColor: COLOURS[0] },
      { label: root.dataset.labelLeft, data: rows.map((r) => Math.max(r.left, 0)), backgroundColor: '#cfd8dc' },
    ],
  };
}

function show(figures) {
  for (const el of root.querySelectorAll('[data-figure]')) {
    const value = get(figures, el.dataset.figure);
    if (value !== undefined && value !== null) el.textContent = value;
  }
}

const charts = { days: null, capacity: null };

function draw(figures) {
  if (!window.Chart) return;
  if (!charts.days) {
    charts.days = dayChart(figures);
    charts.capacity = capacityChart(figures);
  } else {
    charts.days.data = dayData(figures);
    charts.capacity.data = capacityData(figures);
    charts.days.update();
    charts.capacity.update();
  }
}

async function refresh() {
  const status = document.getElementById('dashboard-status');
  if (document.hidden) return;
  try {
    const r = await fetch(root.dataset.url, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok || r.redirected) throw new Error(r.status);
    const figures = await r.json();
    show(figures);
    draw(figures);
    root.dataset.generatedAt = figures.generated_at;
    status.textContent = status.dataset.updated.replace('{time}', new Date().toLocaleTimeString());
  } catch {
    status.textContent = status.dataset.paused;
  }
}

draw(JSON.parse(root.dataset.figures));
setInterval(refresh, REFRESH);

// Keeps the organiser's check-in overview up to date: every 5 seconds it asks progress.json for
// the figures and writes them into the elements marked data-figure. A list or ticket type that
// was not on the page, or a new conflict, is only announced (with a link to reload), because
// drawing them needs the server's templates.

const INTERVAL_MS = 5000;

const root = document.getElementById("checkin-live");
if (root) {
  const url = root.dataset.progressUrl;
  const status = document.getElementById("live-status");
  const stale = document.getElementById("live-stale");
  const conflictsShown = Number(root.dataset.conflicts);
  let busy = false;

  const setFigures = (container, figures) => {
    for (const name of ["inside", "expected"]) {
      const cell = container.querySelector(`[data-figure="${name}"]`);
      if (cell && cell.textContent !== String(figures[name])) {
        cell.textContent = String(figures[name]);
      }
    }
  };

  const apply = (data) => {
    let changed = data.conflicts !== conflictsShown;
    const cards = new Map(
      [...document.querySelectorAll("[data-list-id]")].map((card) => [card.dataset.listId, card]),
    );
    if (cards.size !== data.lists.length) changed = true;
    for (const list of data.lists) {
      const card = cards.get(String(list.id));
      if (!card) {
        changed = true;
        continue;
      }
      setFigures(card.querySelector(".list-figures"), list);
      const rows = new Map([...card.querySelectorAll("tr[data-type]")].map((tr) => [tr.dataset.type, tr]));
      if (rows.size !== list.ticket_types.length) changed = true;
      for (const type of list.ticket_types) {
        const row = rows.get(String(type.id));
        if (row) setFigures(row, type);
        else changed = true;
      }
    }
    stale.hidden = !changed;
  };

  const refresh = async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        redirect: "error", // an expired login answers with a redirect to the login page
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      apply(await response.json());
      const time = new Date().toLocaleTimeString(document.documentElement.lang || undefined);
      status.textContent = status.dataset.updated.replace("{time}", time);
    } catch {
      status.textContent = status.dataset.paused;
    } finally {
      busy = false;
    }
  };

  setInterval(refresh, INTERVAL_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
}

// Files prepared in the background: while a job is waiting or being made, ask its JSON every
// second and move its progress bar; when it is ready show the download link, when it failed (or
// its worker stopped) the reason and "Try again". The texts come from the server, already in the
// organiser's language.

const INTERVAL_MS = 1000;

function apply(card, job) {
  card.dataset.status = job.status;
  card.dataset.active = String(job.active);
  card.querySelector(".job-status-text").textContent = job.status_text;
  const bar = card.querySelector("progress");
  bar.max = Math.max(job.total, 1);
  bar.value = job.done;
  card.querySelector(".job-rows").textContent = job.progress_text;
  card.querySelector(".job-progress").hidden = job.status === "done" || job.status === "failed";
  const error = card.querySelector(".job-error");
  error.textContent = job.error;
  error.hidden = !job.error;
  const download = card.querySelector(".job-download");
  if (job.download_url) {
    download.querySelector("a").href = job.download_url;
    download.querySelector(".job-filename").textContent = job.filename;
  }
  download.hidden = !job.download_url;
  card.querySelector(".job-retry").hidden = !job.can_retry;
}

async function poll(card) {
  try {
    const response = await fetch(card.dataset.url, {
      headers: { Accept: "application/json" },
      cache: "no-store",
      redirect: "error", // an expired login answers with a redirect to the login page
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    apply(card, await response.json());
  } catch {
    return; // try again at the next tick
  }
}

let busy = false;

async function tick() {
  const active = [...document.querySelectorAll(".job[data-active=true]")];
  if (busy || document.hidden || active.length === 0) return;
  busy = true;
  try {
    await Promise.all(active.map(poll));
  } finally {
    busy = false;
  }
}

if (document.querySelector(".job[data-active=true]")) {
  setInterval(tick, INTERVAL_MS);
}

// Registration form: show/hide conditional questions, add or remove attendee blocks.
// The form works without this script; the server validates everything anyway.

const form = document.getElementById("register-form");

function currentValues(name) {
  const inputs = form.querySelectorAll(`[name="${CSS.escape(name)}"]`);
  const values = [];
  for (const input of inputs) {
    if (input.disabled) continue;
    if (input.type === "radio" || input.type === "checkbox") {
      if (input.checked) values.push(input.value);
    } else if (input.value) {
      values.push(input.value);
    }
  }
  return values;
}

function updateConditions() {
  // Conditions refer to earlier questions, so one pass in document order is enough.
  for (const field of form.querySelectorAll("[data-depends-on]")) {
    const show = currentValues(field.dataset.dependsOn).includes(field.dataset.dependsValue);
    field.hidden = !show;
    for (const input of field.querySelectorAll("input, select, textarea")) input.disabled = !show;
  }
}

function blocks() {
  return [...form.querySelectorAll("#attendees > .attendee")];
}

const RENAMED = ["name", "id", "for", "aria-describedby", "data-depends-on"];

function renumber(block, index) {
  const from = /^a-\d+-/;
  for (const el of [block, ...block.querySelectorAll("*")]) {
    for (const attr of RENAMED) {
      const value = el.getAttribute(attr);
      if (value && from.test(value)) {
        el.setAttribute(attr, value.split(" ").map((v) => v.replace(from, `a-${index}-`)).join(" "));
      }
    }
  }
  block.dataset.index = index;
  block.querySelector(".attendee-number").textContent = String(index + 1);
}

function clearBlock(block) {
  for (const el of block.querySelectorAll(".field-error")) el.remove();
  for (const el of block.querySelectorAll(".has-error")) el.classList.remove("has-error");
  for (const el of block.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
  for (const input of block.querySelectorAll("input")) {
    if (input.type === "hidden") continue;
    if (input.type === "radio" || input.type === "checkbox") input.checked = false;
    else input.value = "";
  }
  for (const select of block.querySelectorAll("select")) {
    const keep = select.name.endsWith("-language");
    if (!keep) select.selectedIndex = 0;
  }
}

function refreshButtons() {
  const all = blocks();
  const max = Number(form.dataset.max || 20);
  const add = document.getElementById("add-attendee");
  if (add) {
    add.hidden = false;
    add.disabled = all.length >= max;
  }
  for (const b of all) b.querySelector(".remove-attendee").hidden = all.length <= 1;
}

function addAttendee() {
  const all = blocks();
  const last = all[all.length - 1];
  const copy = last.cloneNode(true);
  renumber(copy, all.length);
  clearBlock(copy);
  last.after(copy);
  refreshButtons();
  updateConditions();
  copy.querySelector("input[type=text]")?.focus();
}

function removeAttendee(block) {
  block.remove();
  blocks().forEach(renumber);
  refreshButtons();
  updateConditions();
}

function clearErrorOf(input) {
  // Once the user edits a field the server complained about, stop shouting at them.
  const field = input.closest(".has-error");
  if (!field) return;
  field.classList.remove("has-error");
  field.querySelector(".field-error")?.remove();
  for (const el of field.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
}

if (form) {
  form.addEventListener("change", updateConditions);
  form.addEventListener("input", (event) => clearErrorOf(event.target));
  form.addEventListener("change", (event) => clearErrorOf(event.target));
  form.addEventListener("click", (event) => {
    const remove = event.target.closest(".remove-attendee");
    if (remove) removeAttendee(remove.closest(".attendee"));
  });
  document.getElementById("add-attendee")?.addEventListener("click", addAttendee);
  refreshButtons();
  updateConditions();
}

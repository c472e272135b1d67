// The question form: the list of answers is asked for only when the kind of answer needs one.
const kind = document.querySelector("[data-question-kind]");
const choices = document.querySelector("[data-choices-field]");

if (kind && choices) {
  const needsChoices = (value) => value === "choice" || value === "multiple";
  const update = () => {
    // A field with an error stays visible, so the message is never hidden.
    choices.hidden = !needsChoices(kind.value) && !choices.querySelector(".has-error");
  };
  kind.addEventListener("change", update);
  update();
}

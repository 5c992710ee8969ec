// A JSON Schema -> HTML form generator: object, string, number, integer, boolean, enum and
// arrays of strings (one per line); required fields and descriptions. The browser does not
// validate (novalidate): the API's answer is the judge and its message is shown in place.
import { el } from "./dom.js";

let counter = 0;

// {form, read()}: read() returns the typed JSON value the form holds.
export function schemaForm(schema, { submitLabel = "Submit", onSubmit } = {}) {
  const field = build(schema || {}, "", true, "value");
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const form = el(
    "form",
    { class: "schema-form", novalidate: true },
    field.node,
    error,
    el("button", { type: "submit" }, submitLabel),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(form, "");
    if (onSubmit) await onSubmit(field.read(), form);
  });
  return { form, read: field.read };
}

export function showError(form, message) {
  const error = form.querySelector(".form-error");
  error.textContent = message;
  error.hidden = !message;
}

function build(schema, name, required, label) {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object" || (!type && schema.properties)) return objectField(schema, name, label);
  const id = `f${++counter}`;
  const caption = el("label", { for: id }, schema.title || label, required ? " *" : "");
  const help = schema.description ? el("small", { class: "help" }, schema.description) : null;
  let input;
  let read;
  if (Array.isArray(schema.enum)) {
    input = el(
      "select",
      { id, name },
      required ? null : el("option", { value: "" }, ""),
      schema.enum.map((v, i) => el("option", { value: String(i) }, String(v))),
    );
    if (schema.default !== undefined) input.value = String(schema.enum.indexOf(schema.default));
    read = () => (input.value === "" ? undefined : schema.enum[Number(input.value)]);
  } else if (type === "boolean") {
    input = el("input", { id, name, type: "checkbox", checked: schema.default === true });
    read = () => input.checked;
    return { node: el("div", { class: "field check" }, input, caption, help), read };
  } else if (type === "number" || type === "integer") {
    input = el("input", { id, name, type: "number", step: type === "integer" ? "1" : "any" });
    if (schema.default !== undefined) input.value = String(schema.default);
    read = () => (input.value.trim() === "" ? undefined : Number(input.value));
  } else if (type === "array") {
    input = el("textarea", { id, name, rows: 3, placeholder: "one per line" });
    if (Array.isArray(schema.default)) input.value = schema.default.join("\n");
    read = () => input.value.split("\n").map((s) => s.trim()).filter(Boolean);
  } else if (type === "string") {
    const long = (schema.maxLength || 0) > 200 || schema.format === "textarea";
    input = long ? el("textarea", { id, name, rows: 4 }) : el("input", { id, name, type: "text" });
    if (schema.default !== undefined) input.value = String(schema.default);
    read = () => (input.value === "" && !required ? undefined : input.value);
  } else {
    input = el("textarea", { id, name, rows: 3, placeholder: "JSON" });
    read = () => {
      if (input.value.trim() === "") return undefined;
      try {
        return JSON.parse(input.value);
      } catch {
        return input.value;
      }
    };
  }
  return { node: el("div", { class: "field" }, caption, input, help), read };
}

function objectField(schema, name, label) {
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([key, sub]) => [
    key,
    build(sub || {}, name ? `${name}.${key}` : key, required.has(key), key),
  ]);
  const legend = name ? el("legend", {}, schema.title || label) : null;
  const help = schema.description ? el("p", { class: "help" }, schema.description) : null;
  const node = name
    ? el("fieldset", {}, legend, help, fields.map(([, f]) => f.node))
    : el("div", { class: "fields" }, help, fields.map(([, f]) => f.node));
  const read = () => {
    const value = {};
    for (const [key, f] of fields) {
      const v = f.read();
      if (v !== undefined) value[key] = v;
    }
    return value;
  };
  return { node, read };
}

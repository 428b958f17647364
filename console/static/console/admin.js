/* aidgate console helpers for every admin page; no dependencies, works offline.
 *
 * - One-time secrets: a "Copy" button next to each secret shown once (core.admin_tenancy).
 * - Copyable fields: a "Copy" button (data-copy-from) next to a read-only field, e.g. the
 *   agent's signed identity token.
 * - Key actions: "revoke" and "rotate" on the key pages go through a confirmation page first.
 * - Selects marked data-autosubmit submit their form when changed (the superuser's tenant picker).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var confirmUrl = script ? script.getAttribute("data-key-confirm-url") : null;
  var KEY_ACTIONS = ["revoke_keys", "rotate_keys", "rotate_keys_with_grace"];

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on another host than localhost: the clipboard API is not there.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    document.body.removeChild(area);
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function secretButtons() {
    document.querySelectorAll("button.aidgate-copy").forEach(function (button) {
      var item = button.closest("li");
      var code = item ? item.querySelector("code.aidgate-secret") : null;
      if (!code) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(code.textContent.trim()).then(function () {
          button.textContent = "Copied";
          button.setAttribute("data-copied", "true");
        }, function () {
          // Select it so Ctrl+C works.
          var range = document.createRange();
          range.selectNodeContents(code);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          button.textContent = "Press Ctrl+C";
        });
      });
    });
  }

  function fieldButtons() {
    document.querySelectorAll("button.aidgate-copy-field[data-copy-from]").forEach(function (button) {
      var field = document.getElementById(button.getAttribute("data-copy-from"));
      if (!field) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(field.value.trim()).then(function () {
          button.textContent = "Copied";
          button.setAttribute("data-copied", "true");
        }, function () {
          field.select();  // so Ctrl+C works
          button.textContent = "Press Ctrl+C";
        });
      });
    });
  }

  function confirmLocation(action, ids) {
    var query = new URLSearchParams();
    query.set("action", action);
    ids.forEach(function (id) { query.append("ids", id); });
    query.set("next", window.location.pathname + window.location.search);
    return confirmUrl + "?" + query.toString();
  }

  function keyActions() {
    if (!confirmUrl || !document.body.classList.contains("model-key") || !document.body.classList.contains("app-keys")) {
      return;
    }
    var list = document.getElementById("changelist-form");
    if (list) {
      list.addEventListener("submit", function (event) {
        var submitter = event.submitter;
        if (submitter && submitter.name !== "index") { return; }  // list_editable saves
        var index = submitter ? parseInt(submitter.value || "0", 10) : 0;
        var selects = list.querySelectorAll("select[name=action]");
        var select = selects[index] || selects[0];
        if (!select || KEY_ACTIONS.indexOf(select.value) < 0) { return; }
        var across = list.querySelector("input[name=select_across]");
        var ids = Array.prototype.map.call(
          list.querySelectorAll("input[name=_selected_action]:checked"), function (box) { return box.value; });
        if (across && across.value === "1") {
          // "Select all N" spans pages the confirmation page cannot list: ask here instead.
          event.preventDefault();
          if (window.confirm("Apply \"" + select.options[select.selectedIndex].text + "\" to every key of the list?")) {
            list.submit();
          }
          return;
        }
        if (ids.length === 0) { return; }  // the admin explains that nothing was selected
        event.preventDefault();
        window.location.href = confirmLocation(select.value, ids);
      });
    }
    var form = document.getElementById("key_form");
    if (form) {
      form.addEventListener("submit", function (event) {
        var submitter = event.submitter;
        if (!submitter || submitter.name !== "index") { return; }
        var select = form.querySelector("select[name='CHANGE_FORM-action']");
        var selected = form.querySelector("input[name=_selected_action]");
        if (!select || !selected || KEY_ACTIONS.indexOf(select.value) < 0) { return; }
        event.preventDefault();
        window.location.href = confirmLocation(select.value, [selected.value]);
      });
    }
  }

  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  function start() {
    secretButtons();
    fieldButtons();
    keyActions();
    autosubmit();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/*
 * The console's only script: the live handoff page. It polls the handoff's feed every second
 * (new customer messages, the customer's presence) and sends the agent's messages without
 * reloading the page. Every other page works without JavaScript.
 */
(() => {
  "use strict";
  const live = document.getElementById("live");
  if (!live) {
    return;
  }
  const handoff = live.dataset.handoff;
  const csrf = live.dataset.csrf;
  const thread = document.getElementById("thread");
  const presence = document.getElementById("presence");
  let after = parseInt(live.dataset.after || "0", 10);

  function add(message) {
    if (thread.querySelector('[data-id="' + message.id + '"]')) {
      return;
    }
    const item = document.createElement("li");
    item.className = "msg " + message.author;
    item.dataset.id = String(message.id);
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = message.author + (message.via === "email" ? " (e-mail)" : "");
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(who, text);
    thread.append(item);
    after = Math.max(after, message.id);
  }

  async function poll() {
    try {
      const response = await fetch("/console/handoffs/" + handoff + "/feed?after=" + after, {
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const body = await response.json();
        body.messages.forEach(add);
        if (presence) {
          presence.textContent = body.present ? "customer on the page" : "customer not on the page";
          presence.dataset.present = body.present ? "yes" : "no";
        }
      }
    } catch (e) {
      // The next poll tries again.
    }
    setTimeout(poll, 1000);
  }

  const form = document.getElementById("live-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const field = form.querySelector("textarea");
      const text = field.value.trim();
      if (!text) {
        return;
      }
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf },
        body: new URLSearchParams({ text: text, csrf_token: csrf }),
        credentials: "same-origin",
      });
      if (response.ok) {
        const body = await response.json();
        add({ id: body.id, author: "agent", text: text, via: "web" });
        field.value = "";
      } else {
        form.dataset.error = String(response.status);
      }
      field.focus();
    });
    form.querySelector("textarea").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }
  poll();
})();

/*
 * Shop support chat widget: plain JavaScript, no dependency, no build step.
 *
 * Embed it on any shop page with one tag:
 *   <script src="https://<gateway>/widget.js" data-store="btomic" data-lang="fr" defer></script>
 *
 * - data-store: the shop's id, its folder under data/stores/ (none or an unknown one: the
 *   gateway's default store). Its name and colours come from that folder's facts.yml.
 * - data-lang (optional): "fr" or "en"; else the page's <html lang>, else the browser's language.
 * The gateway's origin is taken from the script's own src, so the page only needs the tag
 * (and, when it is not served by the gateway, its origin in the gateway's CORS_ORIGINS).
 *
 * The widget lives in a shadow root (shop styles cannot reach it, its styles cannot leak),
 * builds every node with the DOM API (bot text is never parsed as HTML) and keeps the
 * conversation (sender id, messages, and the message waiting to be sent again with its client
 * message id) in localStorage, per store, across pages and reloads.
 */
(() => {
  "use strict";

  const script = document.currentScript || findOwnScript();
  if (!script || window.__shopSupportChat) {
    return; // no tag found, or the widget is already on the page
  }
  window.__shopSupportChat = true;

  const GATEWAY = new URL(script.src, document.baseURI).origin;
  const API_URL = GATEWAY + "/api/chat";
  const NEW_CONVERSATION_URL = GATEWAY + "/api/chat/new";
  const LIVE_URL = GATEWAY + "/api/chat/live";
  // While a person is answering, the widget asks for their messages every second (they appear
  // within 2 s); while one is only expected, every 2 s.
  const LIVE_POLL_MS = 1000;
  const WAITING_POLL_MS = 2000;
  // The shops (name, colours) and the default store, filled in from the shop registry
  // (data/stores/) when the gateway serves this file (bot/api/routes/widget.py): no shop is
  // listed here.
  const SHOPS = {} /* shops */;
  const STORE = (script.getAttribute("data-store") || "").trim() || "" /* default store */;
  const SHOP = SHOPS[STORE] || {};
  const SHOP_NAME = SHOP.name || "";
  const LANG = pickLanguage();
  const STORAGE_KEY = "shop-support-chat:" + STORE;
  const MAX_STORED_MESSAGES = 200;
  const SENDER_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
  // The gateway answers 504 after its own Rasa timeout (30 s by default); this is the
  // browser's last resort when the gateway itself does not answer.
  const CLIENT_TIMEOUT_MS = 45000;
  // A message the gateway could not take (network error: the gateway restarting; 502/503: it
  // or the assistant behind it restarting) is sent again, with the same client message id,
  // after 0.5 s, 1, 2, then every 4 s, for this long (WIDGET_RESEND_FOR_S, written in when the
  // gateway serves this file); the customer sees "reconnecting" meanwhile, then the error.
  const RESEND_FOR_MS = 1000 * (90 /* resend for s */);
  const RESEND_FIRST_PAUSE_MS = 500;
  const RESEND_LONGEST_PAUSE_MS = 4000;
  // A message on its way (kept when its try starts), that failed or was partly answered waits
  // for the customer's resend with its text, its client message id and the parts whose answers
  // are shown, in memory and, with the conversation, in storage (a reload or another page of
  // the shop keeps them); it is forgotten once wholly answered. Its id is
  // kept for this long after its latest try: Rasa's session (domain.yml's
  // session_expiration_time, 60 min of silence), within which Rasa answers an id it already
  // processed with the stored answers. Later, Rasa's new session no longer knows the id: the
  // message is a new one (a fresh id, every answer shown; its text stays in the input). The
  // automatic resends (RESEND_FOR_MS) stop with the page: after a reload the customer resends.
  const PENDING_KEEP_MS = 60 * 60 * 1000;
  // What is read back from storage is checked before use (another script of the page, an old
  // version or a broken write may have left anything there).
  const CLIENT_MESSAGE_ID_RE = /^[A-Za-z0-9_-]{16,64}$/;
  const PENDING_MAX_CHARS = 20000; // longer: kept in memory only (the gateway takes 2000 by default)
  const PENDING_MAX_PARTS = 64;
  const PENDING_MAX_SIGNATURE_CHARS = 512;
  const CLOCK_SKEW_MS = 5 * 60 * 1000;
  // "interrupted": stored when a try starts, replaced by its outcome; read back, the page was
  // left (a reload, another page) before the answer came.
  const FAILURE_KINDS = [
    "rate_limited", "too_long", "invalid", "timeout", "unavailable", "not_processed",
    "interrupted", "unknown",
  ];

  const STRINGS = {
    fr: {
      launcher: "Discuter avec l'assistant {shop}",
      header: "Assistance {shop}",
      headerNoShop: "Assistance",
      subtitle: "Assistant virtuel · français ou anglais",
      newConversation: "Nouvelle conversation",
      close: "Fermer le chat",
      log: "Messages de la conversation",
      you: "Vous\u00a0: ",
      bot: "Assistant\u00a0: ",
      inputLabel: "Votre message",
      placeholder: "Écrivez votre question…",
      hint: "Entrée pour envoyer, Maj + Entrée pour aller à la ligne. Échap pour fermer.",
      send: "Envoyer",
      typing: "L'assistant écrit…",
      reconnecting: "Connexion à l'assistant interrompue, reconnexion en cours…",
      quickReplies: "Réponses suggérées",
      newTab: " (nouvel onglet)",
      image: "Image envoyée par l'assistant",
      agent: "Conseiller\u00a0: ",
      agentNamed: "{name} (service client)\u00a0: ",
      welcome:
        "Bonjour\u202f! Je suis l'assistant virtuel du service client{shop}. Posez-moi vos " +
        "questions sur les commandes, le paiement, la livraison ou les retours\u202f; je peux " +
        "aussi vous dire où en est votre commande.",
      retry: "Réessayer",
      errUnavailable:
        "L'assistant est momentanément indisponible. Votre message n'a pas été envoyé\u00a0: " +
        "réessayez dans un instant.",
      errTimeout:
        "L'assistant met trop de temps à répondre. Votre message n'a pas été envoyé\u00a0: " +
        "réessayez dans un instant.",
      errRateLimited:
        "Vous avez envoyé beaucoup de messages d'affilée. Patientez {seconds}\u00a0s, puis réessayez.",
      errTooLong:
        "Votre message est trop long ({max} caractères au maximum). Raccourcissez-le, " +
        "puis renvoyez-le.",
      errInvalid: "Ce message n'a pas pu être envoyé. Vérifiez-le, puis réessayez.",
      errUnknown: "Une erreur est survenue et votre message n'a pas été envoyé. Réessayez.",
      errNotProcessed:
        "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le, s'il vous plaît.",
      errInterrupted:
        "La page a été quittée avant la réponse de l'assistant\u00a0: votre message n'a " +
        "peut-être pas été traité. Renvoyez-le, s'il vous plaît.",
      errNewConversation:
        "Impossible de commencer une nouvelle conversation pour l'instant\u00a0: réessayez dans " +
        "un instant. La conversation en cours est conservée.",
    },
    en: {
      launcher: "Chat with the {shop} assistant",
      header: "{shop} support",
      headerNoShop: "Customer support",
      subtitle: "Virtual assistant · English or French",
      newConversation: "New conversation",
      close: "Close the chat",
      log: "Conversation messages",
      you: "You: ",
      bot: "Assistant: ",
      inputLabel: "Your message",
      placeholder: "Type your question…",
      hint: "Enter to send, Shift + Enter for a new line. Escape to close.",
      send: "Send",
      typing: "The assistant is typing…",
      reconnecting: "Connection to the assistant lost, reconnecting…",
      quickReplies: "Suggested replies",
      newTab: " (new tab)",
      image: "Image sent by the assistant",
      agent: "Agent: ",
      agentNamed: "{name} (customer service): ",
      welcome:
        "Hello! I am the{shop} customer service's virtual assistant. Ask me about orders, " +
        "payment, delivery or returns; I can also tell you where your order is.",
      retry: "Try again",
      errUnavailable:
        "The assistant is unavailable right now. Your message was not sent: please try " +
        "again in a moment.",
      errTimeout:
        "The assistant is taking too long to answer. Your message was not sent: please " +
        "try again in a moment.",
      errRateLimited: "You have sent many messages in a row. Please wait {seconds} s, then try again.",
      errTooLong: "Your message is too long ({max} characters at most). Please shorten it and send it again.",
      errInvalid: "This message could not be sent. Please check it and try again.",
      errUnknown: "Something went wrong and your message was not sent. Please try again.",
      errNotProcessed: "I couldn't process that message just now: please send it again.",
      errInterrupted:
        "The page was left before the assistant answered: your message may not have been " +
        "processed. Please send it again.",
      errNewConversation:
        "A new conversation cannot be started right now: please try again in a moment. The " +
        "current conversation is kept.",
    },
  };
  const t = STRINGS[LANG];

  const ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    restart: "M4 12a8 8 0 1 0 2.3-5.7M4 4v5h5",
    send: "M3 20l18-8L3 4l3 8-3 8zM6 12h8",
  };

  const STYLES = `
    :host { all: initial; }
    *, *::before, *::after { box-sizing: border-box; }
    [hidden] { display: none !important; }
    .root {
      --accent: #1d4f9c; --accent-text: #ffffff; --header-bg: #111111; --header-text: #ffffff;
      --bot-bg: #eef0f3; --bot-text: #1a1a1a; --link: #1d4f9c;
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
      color: #1a1a1a;
    }
    button { font: inherit; }
    :focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
    .launcher {
      position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      width: 60px; height: 60px; border-radius: 50%; border: 0; cursor: pointer;
      background: var(--accent); color: var(--accent-text);
      display: grid; place-items: center; box-shadow: 0 6px 20px rgba(0, 0, 0, 0.28);
    }
    .launcher:hover { filter: brightness(1.12); }
    .launcher svg { width: 28px; height: 28px; }
    .panel {
      position: fixed; right: 20px; bottom: 92px; z-index: 2147483000;
      width: 380px; max-width: calc(100vw - 40px); height: 600px; max-height: calc(100vh - 112px);
      display: flex; flex-direction: column; overflow: hidden;
      background: #ffffff; border-radius: 14px; box-shadow: 0 12px 40px rgba(0, 0, 0, 0.3);
    }
    .header {
      display: flex; align-items: center; gap: 6px; padding: 12px 10px 12px 16px;
      background: var(--header-bg); color: var(--header-text);
    }
    .titles { flex: 1; min-width: 0; }
    .title { margin: 0; font-size: 16px; font-weight: 700; line-height: 1.25; }
    .subtitle { margin: 2px 0 0; font-size: 12px; opacity: 0.85; }
    .icon-button {
      width: 36px; height: 36px; border: 0; border-radius: 8px; cursor: pointer;
      background: transparent; color: inherit; display: grid; place-items: center;
    }
    .icon-button:hover { background: rgba(255, 255, 255, 0.16); }
    .icon-button svg { width: 18px; height: 18px; }
    .log {
      flex: 1; overflow-y: auto; padding: 16px 12px 8px; background: #fafafa;
      display: flex; flex-direction: column; gap: 8px;
    }
    .msg {
      max-width: 85%; padding: 9px 12px; border-radius: 14px;
      white-space: pre-wrap; overflow-wrap: anywhere;
    }
    .msg.bot { align-self: flex-start; background: var(--bot-bg); color: var(--bot-text); border-bottom-left-radius: 4px; }
    .msg.user { align-self: flex-end; background: var(--accent); color: var(--accent-text); border-bottom-right-radius: 4px; }
    .msg.pending { opacity: 0.65; }
    .msg.agent { background: #fff4d6; border-left: 3px solid var(--accent); }
    .msg .agent-name { display: block; font-size: 12px; font-weight: 700; margin-bottom: 2px; }
    .msg.notice { align-self: center; max-width: 95%; background: transparent; color: #555; font-size: 13px; font-style: italic; text-align: center; }
    .msg.bot a { color: var(--link); text-decoration: underline; }
    .msg img { display: block; max-width: 100%; margin-top: 6px; border-radius: 8px; }
    .quick-replies { align-self: flex-start; display: flex; flex-wrap: wrap; gap: 6px; max-width: 95%; }
    .quick-reply {
      padding: 6px 12px; border: 1.5px solid var(--accent); border-radius: 16px; cursor: pointer;
      background: #ffffff; color: var(--accent); font-size: 14px; text-align: left;
    }
    .quick-reply:hover { background: var(--accent); color: var(--accent-text); }
    .root[data-busy] .quick-reply { opacity: 0.55; cursor: progress; }
    .typing { padding: 4px 14px 10px; background: #fafafa; }
    .reconnecting { padding: 6px 14px; background: #fff8e1; color: #5d4300; font-size: 13px; }
    .dots { display: inline-flex; gap: 4px; padding: 10px 12px; border-radius: 14px; background: var(--bot-bg); }
    .dots span {
      width: 7px; height: 7px; border-radius: 50%; background: #6b6b6b;
      animation: shop-chat-blink 1.2s infinite ease-in-out;
    }
    .dots span:nth-child(2) { animation-delay: 0.2s; }
    .dots span:nth-child(3) { animation-delay: 0.4s; }
    @keyframes shop-chat-blink {
      0%, 80%, 100% { opacity: 0.25; transform: translateY(0); }
      40% { opacity: 1; transform: translateY(-3px); }
    }
    @media (prefers-reduced-motion: reduce) { .dots span { animation: none; opacity: 0.7; } }
    .error {
      display: flex; align-items: center; gap: 10px; margin: 0; padding: 8px 12px;
      background: #fdecea; color: #7d1a10; font-size: 14px; border-top: 1px solid #f3c3bd;
    }
    .error p { flex: 1; margin: 0; }
    .error button {
      padding: 5px 10px; border: 1.5px solid #7d1a10; border-radius: 8px; cursor: pointer;
      background: #ffffff; color: #7d1a10; font-size: 13px; white-space: nowrap;
    }
    .composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; border-top: 1px solid #e2e2e2; background: #ffffff; }
    .composer textarea {
      flex: 1; min-height: 42px; max-height: 120px; padding: 9px 12px; resize: none;
      font: inherit; color: #1a1a1a; background: #ffffff;
      border: 1.5px solid #b9b9b9; border-radius: 10px;
    }
    .composer textarea:focus-visible { outline: 2px solid var(--accent); outline-offset: 0; border-color: var(--accent); }
    .composer textarea[readonly] { background: #f4f4f4; }
    .send {
      width: 42px; height: 42px; border: 0; border-radius: 10px; cursor: pointer;
      background: var(--accent); color: var(--accent-text); display: grid; place-items: center;
    }
    .send svg { width: 20px; height: 20px; }
    .root[data-busy] .send { opacity: 0.6; cursor: progress; }
    .sr-only {
      position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
      clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;
    }
    @media (max-width: 480px) {
      .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100%; max-height: 100%; border-radius: 0; }
    }
  `;

  // --- state: one conversation per store, shared by every page and tab of the shop ---------

  const memoryStorage = {}; // used when localStorage is disabled (private mode, policies)
  let state = readState();
  let busy = false;
  let retryLast = null;

  function findOwnScript() {
    const tags = document.querySelectorAll('script[src*="widget.js"]');
    return tags.length ? tags[tags.length - 1] : null;
  }

  function pickLanguage() {
    const candidates = [
      script.getAttribute("data-lang"),
      document.documentElement.getAttribute("lang"),
      navigator.language,
    ].concat(navigator.languages || []);
    for (const candidate of candidates) {
      const prefix = String(candidate || "").trim().toLowerCase().slice(0, 2);
      if (prefix === "fr" || prefix === "en") {
        return prefix;
      }
    }
    return "fr";
  }

  function newSenderId() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function freshState(open) {
    return {
      senderId: newSenderId(),
      messages: [],
      open: Boolean(open),
      live: false,
      liveAfter: 0,
      pending: null,
    };
  }

  function cleanButtons(buttons) {
    if (!Array.isArray(buttons)) {
      return [];
    }
    return buttons
      .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
      // The signature the gateway gave the button: sent back with its payload when clicked.
      .map((b) => ({
        title: b.title,
        payload: b.payload,
        signature: typeof b.signature === "string" ? b.signature : null,
      }));
  }

  function cleanMessage(m) {
    // "agent": a person of the support team (live takeover); "notice": the console's notes.
    if (!m || !["user", "bot", "agent", "notice"].includes(m.role)) {
      return null;
    }
    return {
      role: m.role,
      text: typeof m.text === "string" ? m.text : null,
      buttons: cleanButtons(m.buttons),
      image: typeof m.image === "string" ? m.image : null,
      name: typeof m.name === "string" ? m.name : null,
    };
  }

  function isStorableText(value) {
    return typeof value === "string" && value.trim() !== "" && value.length <= PENDING_MAX_CHARS;
  }

  function isCount(value, max) {
    return Number.isInteger(value) && value >= 0 && value <= max;
  }

  // The message waiting for its resend, as stored (untrusted when read back): its shape, id
  // format and sizes checked; anything else is dropped (null), the conversation kept.
  function cleanPending(p) {
    if (!p || typeof p !== "object" || Array.isArray(p)) {
      return null;
    }
    const parts = p.shownParts;
    const signatureOk =
      p.signature === null ||
      (typeof p.signature === "string" && p.signature.length <= PENDING_MAX_SIGNATURE_CHARS);
    if (
      !isStorableText(p.text) ||
      !isStorableText(p.shown) ||
      typeof p.fromInput !== "boolean" ||
      !signatureOk ||
      typeof p.id !== "string" ||
      !CLIENT_MESSAGE_ID_RE.test(p.id) ||
      !Array.isArray(parts) ||
      parts.length > PENDING_MAX_PARTS ||
      !parts.every((n) => isCount(n, PENDING_MAX_PARTS)) ||
      !Number.isFinite(p.at) ||
      p.at <= 0 ||
      p.at > Date.now() + CLOCK_SKEW_MS ||
      !FAILURE_KINDS.includes(p.kind)
    ) {
      return null;
    }
    const details = p.details && typeof p.details === "object" ? p.details : {};
    return {
      text: p.text,
      shown: p.shown,
      fromInput: p.fromInput,
      signature: p.signature,
      id: p.id,
      shownParts: Array.from(new Set(parts)),
      at: p.at,
      kind: p.kind,
      details: {
        seconds: isCount(details.seconds, 86400) && details.seconds > 0 ? details.seconds : 30,
        max: isCount(details.max, 1000000) ? details.max : "",
      },
    };
  }

  function readState() {
    let raw = null;
    try {
      raw = window.localStorage.getItem(STORAGE_KEY);
    } catch (e) {
      raw = memoryStorage[STORAGE_KEY] || null;
    }
    try {
      const data = raw ? JSON.parse(raw) : null;
      if (data && SENDER_ID_RE.test(String(data.senderId)) && Array.isArray(data.messages)) {
        return {
          senderId: data.senderId,
          messages: data.messages.map(cleanMessage).filter(Boolean).slice(-MAX_STORED_MESSAGES),
          open: data.open === true,
          live: data.live === true,
          liveAfter: Number.isInteger(data.liveAfter) ? data.liveAfter : 0,
          pending: cleanPending(data.pending),
        };
      }
    } catch (e) {
      // A corrupt entry: start a fresh conversation rather than break the page.
    }
    return freshState(false);
  }

  function saveState() {
    state.messages = state.messages.slice(-MAX_STORED_MESSAGES);
    const raw = JSON.stringify(state);
    try {
      window.localStorage.setItem(STORAGE_KEY, raw);
    } catch (e) {
      memoryStorage[STORAGE_KEY] = raw;
    }
  }

  // --- DOM helpers: every node is built, never parsed from a string --------------------------

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) {
        continue;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name.startsWith("on")) {
        node.addEventListener(name.slice(2), value);
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children || []) {
      if (child) {
        node.append(child);
      }
    }
    return node;
  }

  function icon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    path.setAttribute("fill", name === "chat" ? "currentColor" : "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
    return svg;
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
  }

  // Markdown-style links, web addresses and e-mail addresses in the bot's text become links;
  // everything else stays text.
  const LINK_RE =
    /\[([^\]\n]{1,200})\]\((https?:\/\/[^\s()<>]+)\)|(https?:\/\/[^\s<>"'«»]+)|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;

  // The address as an absolute http(s) URL, or null (javascript:, data:, garbage...).
  function safeWebUrl(href) {
    try {
      const url = new URL(href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function webLink(href, label) {
    const url = safeWebUrl(href);
    if (!url) {
      return null;
    }
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, [
      document.createTextNode(label),
      el("span", { class: "sr-only", text: t.newTab }),
    ]);
  }

  function appendRichText(parent, text) {
    let last = 0;
    for (const match of text.matchAll(LINK_RE)) {
      let raw = match[0];
      let link = null;
      if (match[1] !== undefined) {
        link = webLink(match[2], match[1]);
      } else if (match[3] !== undefined) {
        // Sentence punctuation right after an address is not part of it.
        raw = raw.replace(/[.,;:!?)\]]+$/, "");
        link = webLink(raw, raw);
      } else {
        link = el("a", { href: "mailto:" + raw, text: raw });
      }
      if (!link) {
        continue;
      }
      parent.append(document.createTextNode(text.slice(last, match.index)));
      parent.append(link);
      last = match.index + raw.length;
    }
    parent.append(document.createTextNode(text.slice(last)));
  }

  // --- the widget's DOM ----------------------------------------------------------------------

  const host = el("div", {
    id: "shop-support-chat",
    "data-theme": STORE,
    "data-state": "idle",
    lang: LANG,
  });
  const shadow = host.attachShadow({ mode: "open" });
  applyStyles(shadow);

  const launcher = el("button", {
    type: "button",
    class: "launcher",
    "aria-label": SHOP_NAME ? format(t.launcher, { shop: SHOP_NAME }) : t.headerNoShop,
    "aria-expanded": "false",
    "aria-controls": "panel",
    onclick: () => (isOpen() ? closePanel(true) : openPanel(true)),
  });
  const log = el("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": t.log,
    tabindex: "0",
  });
  const typing = el("div", { class: "typing", role: "status", hidden: true }, [
    el("span", { class: "dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    el("span", { class: "sr-only", text: t.typing }),
  ]);
  const reconnecting = el("div", { class: "reconnecting", role: "status", hidden: true, text: t.reconnecting });
  const errorText = el("p");
  const retryButton = el("button", { type: "button", class: "retry", text: t.retry, onclick: onRetry });
  const errorBox = el("div", { class: "error", role: "alert", hidden: true }, [errorText, retryButton]);
  const input = el("textarea", {
    id: "input",
    name: "message",
    rows: "1",
    placeholder: t.placeholder,
    "aria-describedby": "hint",
    autocomplete: "off",
    oninput: autosize,
    onkeydown: onInputKeydown,
  });
  const sendButton = el("button", { type: "submit", class: "send", "aria-label": t.send }, [icon("send")]);
  const title = SHOP_NAME ? format(t.header, { shop: SHOP_NAME }) : t.headerNoShop;
  const panel = el(
    "section",
    {
      id: "panel",
      class: "panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "title",
      hidden: true,
    },
    [
      el("div", { class: "header" }, [
        el("div", { class: "titles" }, [
          el("h2", { id: "title", class: "title", text: title }),
          el("p", { class: "subtitle", text: t.subtitle }),
        ]),
        el("button", {
          type: "button",
          class: "icon-button new-conversation",
          "aria-label": t.newConversation,
          title: t.newConversation,
          onclick: newConversation,
        }, [icon("restart")]),
        el("button", {
          type: "button",
          class: "icon-button close",
          "aria-label": t.close,
          title: t.close,
          onclick: () => closePanel(true),
        }, [icon("close")]),
      ]),
      log,
      typing,
      reconnecting,
      errorBox,
      el("form", { class: "composer", novalidate: true, onsubmit: onSubmit }, [
        el("label", { for: "input", class: "sr-only", text: t.inputLabel }),
        input,
        el("span", { id: "hint", class: "sr-only", text: t.hint }),
        sendButton,
      ]),
    ],
  );
  const root = el("div", { class: "root", onkeydown: onKeydown }, [launcher, panel]);
  launcher.append(icon("chat"));
  shadow.append(root);

  function shopColours() {
    // The shop's colours (facts.yml's widget_colours), as CSS variables of the root.
    const rules = Object.entries(SHOP.colours || {})
      .filter(([name, value]) => /^--[a-z-]+$/.test(name) && /^#[0-9a-fA-F]{6}$/.test(value))
      .map(([name, value]) => name + ": " + value + ";");
    return rules.length ? "\n    .root { " + rules.join(" ") + " }\n" : "";
  }

  function applyStyles(target) {
    // A constructed stylesheet is not an inline style for the page's CSP; older browsers
    // get a <style> element.
    const css = STYLES + shopColours();
    if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      target.adoptedStyleSheets = [sheet];
    } else {
      target.append(el("style", { text: css }));
    }
  }

  // --- rendering -----------------------------------------------------------------------------

  function messageNode(message) {
    if (message.role === "notice") {
      return el("div", { class: "msg notice", role: "note", text: message.text || "" });
    }
    if (message.role === "agent") {
      const label = message.name ? format(t.agentNamed, { name: message.name }) : t.agent;
      const node = el("div", { class: "msg bot agent" }, [
        el("span", { class: "agent-name", text: label }),
      ]);
      appendRichText(node, message.text || "");
      return node;
    }
    const node = el("div", { class: "msg " + message.role }, [
      el("span", { class: "sr-only", text: message.role === "user" ? t.you : t.bot }),
    ]);
    if (message.text && message.role === "bot") {
      appendRichText(node, message.text);
    } else if (message.text) {
      node.append(document.createTextNode(message.text)); // the customer's words, as typed
    }
    const image = message.image && safeWebUrl(message.image);
    if (image) {
      node.append(el("img", { src: image, alt: t.image }));
    }
    return node;
  }

  function quickRepliesNode(buttons) {
    return el(
      "div",
      { class: "quick-replies", role: "group", "aria-label": t.quickReplies },
      buttons.map((button) =>
        el("button", {
          type: "button",
          class: "quick-reply",
          text: button.title,
          onclick: () => send(button.payload, button.title, false, button.signature),
        }),
      ),
    );
  }

  function appendBotMessage(message, withQuickReplies) {
    log.append(messageNode(message));
    if (withQuickReplies && message.buttons.length) {
      log.append(quickRepliesNode(message.buttons));
    }
  }

  function renderLog() {
    log.replaceChildren();
    const welcome = messageNode({
      role: "bot",
      text: format(t.welcome, { shop: SHOP_NAME ? " " + SHOP_NAME : "" }),
    });
    welcome.classList.add("welcome");
    log.append(welcome);
    // Quick replies only for the bot's latest turn: older ones are answered already.
    let lastUser = -1;
    state.messages.forEach((m, i) => {
      if (m.role === "user") {
        lastUser = i;
      }
    });
    state.messages.forEach((m, i) => {
      if (m.role !== "bot") {
        log.append(messageNode(m));
      } else {
        appendBotMessage(m, i > lastUser);
      }
    });
    scrollToEnd();
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 3, 120) + "px";
  }

  function setBusy(value) {
    busy = value;
    root.toggleAttribute("data-busy", value);
    host.setAttribute("data-state", value ? "busy" : "idle");
    input.readOnly = value;
    sendButton.setAttribute("aria-disabled", value ? "true" : "false");
    typing.hidden = !value;
    if (value) {
      scrollToEnd();
    }
  }

  // --- opening, closing, keyboard ------------------------------------------------------------

  function isOpen() {
    return !panel.hidden;
  }

  function openPanel(moveFocus) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.replaceChildren(icon("close"));
    if (!state.open) {
      state.open = true;
      saveState();
    }
    scrollToEnd();
    if (moveFocus) {
      input.focus();
    }
  }

  function closePanel(moveFocus) {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.replaceChildren(icon("chat"));
    if (state.open) {
      state.open = false;
      saveState();
    }
    if (moveFocus) {
      launcher.focus();
    }
  }

  function onKeydown(event) {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      closePanel(true);
    }
  }

  function onInputKeydown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitInput();
    }
  }

  function onSubmit(event) {
    event.preventDefault();
    submitInput();
  }

  // The gateway restarts the conversation left on the assistant's side and gives the id of
  // the new one: a typed "/restart" is only words to the assistant.
  async function newConversation() {
    if (busy) {
      return;
    }
    hideError();
    setBusy(true);
    try {
      const answer = await postJson(NEW_CONVERSATION_URL, { sender_id: state.senderId, store: STORE });
      if (!answer || !SENDER_ID_RE.test(String(answer.sender_id))) {
        throw new ChatFailure("unknown");
      }
      stopLive();
      state = freshState(true);
      state.senderId = answer.sender_id;
      // The message waiting for a resend belonged to the old conversation: its text stays in
      // the input, and sent it is a new message of the new one.
      unsent = null;
      saveState();
      renderLog();
    } catch (failure) {
      const rateLimited = failure instanceof ChatFailure && failure.kind === "rate_limited";
      showError(failure, newConversation, rateLimited ? null : t.errNewConversation);
    } finally {
      setBusy(false);
      if (isOpen()) {
        input.focus();
      }
    }
  }

  // --- sending -------------------------------------------------------------------------------

  class ChatFailure extends Error {
    constructor(kind, details) {
      super(kind);
      this.kind = kind;
      this.details = details || {};
    }
  }

  function failureFor(response, body) {
    const data = body && typeof body === "object" ? body : {};
    switch (response.status) {
      case 429:
        return new ChatFailure("rate_limited", {
          seconds: data.retry_after_s || parseInt(response.headers.get("Retry-After"), 10) || 30,
        });
      case 413:
        return new ChatFailure("too_long", { max: data.max_chars || "" });
      case 422:
        return new ChatFailure("invalid");
      case 504:
        return new ChatFailure("timeout");
      case 502:
      case 503:
        return new ChatFailure("unavailable");
      default:
        return new ChatFailure("unknown");
    }
  }

  // The page's language helps the bot read a conversation's first message only (an order
  // number alone is answered in the page's language); after it, the conversation has its own
  // language, which a page in another language must not change.
  function pageLanguageHint() {
    return state.messages.some((m) => m.role === "user") ? null : LANG;
  }

  // One id per customer message, drawn once and sent with each try of it: a resend of a
  // message the assistant already answered gets that answer, not a second turn.
  function newClientMessageId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "m" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function postChat(message, signature, clientMessageId) {
    const body = {
      sender_id: state.senderId,
      message,
      store: STORE,
      language: pageLanguageHint(),
      client_message_id: clientMessageId,
    };
    if (signature) {
      body.signature = signature;
    }
    const started = Date.now();
    let wait = RESEND_FIRST_PAUSE_MS;
    try {
      for (;;) {
        try {
          // With `resend: true` the assistant could not process it, or some of its parts
          // (an action of a turn failed): the caller shows what was answered and keeps the
          // text and its id for the customer's resend; never resent by itself here (an action
          // may have acted; docs/contracts.md).
          const answer = await postJson(API_URL, body);
          if (Array.isArray(answer.messages)) {
            return answer;
          }
          throw new ChatFailure("unknown");
        } catch (failure) {
          const unreachable = failure instanceof ChatFailure && failure.kind === "unavailable";
          if (!unreachable || Date.now() + wait - started > RESEND_FOR_MS) {
            throw failure;
          }
          reconnecting.hidden = false;
          await pause(wait);
          wait = Math.min(wait * 2, RESEND_LONGEST_PAUSE_MS);
        }
      }
    } finally {
      reconnecting.hidden = true;
    }
  }

  async function postJson(url, payload) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), CLIENT_TIMEOUT_MS);
    try {
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(payload),
          signal: controller.signal,
        });
      } catch (e) {
        throw new ChatFailure(controller.signal.aborted ? "timeout" : "unavailable");
      }
      let body = null;
      try {
        body = await response.json();
      } catch (e) {
        body = null;
      }
      if (response.ok && body && typeof body === "object") {
        return body;
      }
      throw failureFor(response, body);
    } finally {
      clearTimeout(timer);
    }
  }

  // The message that could not be sent, and its id: sent again (the retry button, or the
  // same text sent again), it keeps its id, in case the assistant did get it. `shownParts`:
  // the parts of it (a message the gateway cut into several requests) whose answers are
  // already shown, when only some were processed; their answers come back on the resend
  // (the stored ones, nothing processed twice) and are not shown again. `at`: its latest
  // try; `kind`/`details`: the failure the customer was shown ("interrupted" while its try is
  // on its way). Kept with the conversation in storage too (state.pending), so a reload or
  // another page of the shop resends it as the same message; for PENDING_KEEP_MS after its
  // latest try.
  let unsent = null;

  function unsentOf(payload, shown, fromInput, signature, id, shownParts, failure) {
    const kind = failure instanceof ChatFailure ? failure.kind : "unknown";
    return {
      text: payload,
      shown,
      fromInput: Boolean(fromInput),
      signature: signature || null,
      id,
      shownParts,
      at: Date.now(),
      kind: FAILURE_KINDS.includes(kind) ? kind : "unknown",
      details: failure instanceof ChatFailure ? failure.details : {},
    };
  }

  // Remembers this tab's unsent message (or forgets it: null), in memory and in the state
  // saved next. The stored one is forgotten only when it is this tab's (another tab of the
  // shop may be waiting to resend its own); one too long to store is kept in memory only.
  function setUnsent(value) {
    const previous = unsent;
    unsent = value;
    if (value) {
      state.pending = cleanPending(value);
    } else if (previous && state.pending && state.pending.id === previous.id) {
      state.pending = null;
    }
  }

  // The unsent message while its id is still the one to resend with; an older one is
  // forgotten (sent again, it is a new message).
  function keptUnsent() {
    if (unsent && Date.now() - unsent.at > PENDING_KEEP_MS) {
      setUnsent(null);
      saveState();
    }
    return unsent;
  }

  // After a reload or on another page: the stored unsent message is shown as the customer
  // left it (its text back in the input, the same "send it again" error and button) and its
  // resend keeps its id and leaves out the answers already shown. Never resent by itself.
  function restoreUnsent() {
    const stored = state.pending;
    if (!stored) {
      return;
    }
    if (stored.fromInput && !input.value) {
      input.value = stored.text; // nothing the customer typed is lost
      autosize();
    }
    if (Date.now() - stored.at > PENDING_KEEP_MS) {
      state.pending = null; // too old for its id: a draft, a new message once sent
      saveState();
      return;
    }
    unsent = Object.assign({}, stored, { shownParts: stored.shownParts.slice() });
    showError(
      new ChatFailure(stored.kind, stored.details),
      retryOf(stored.text, stored.shown, stored.fromInput, stored.signature, stored.id),
    );
  }

  function partOf(reply) {
    return reply && Number.isInteger(reply.part) ? reply.part : 0;
  }

  function submitInput() {
    const text = input.value.trim();
    if (!text) {
      input.focus();
      return;
    }
    const kept = keptUnsent();
    const id = kept && kept.text === text ? kept.id : newClientMessageId();
    send(text, text, true, undefined, id);
  }

  // Another tab of the shop may have added to the same conversation while this one waited:
  // start from what is stored so neither tab's messages are lost. True when it did.
  function adoptOtherTabs() {
    const stored = readState();
    if (stored.senderId !== state.senderId) {
      return false;
    }
    state.pending = stored.pending;
    if (stored.messages.length > state.messages.length) {
      state.messages = stored.messages;
      return true;
    }
    return false;
  }

  // `payload` goes to the assistant, `shown` is what the customer sees as their message
  // (a quick reply sends its '/intent' payload with the gateway's signature and shows its
  // title; without a valid signature the gateway sends a '/' text as words).
  async function send(payload, shown, fromInput, signature, clientMessageId) {
    if (busy) {
      return;
    }
    const id = clientMessageId || newClientMessageId();
    const shownParts = unsent && unsent.id === id && unsent.shownParts ? unsent.shownParts : [];
    hideError();
    setBusy(true);
    // Kept (with its id) before it leaves: if the page is left before the answer comes (a
    // reload, a link of the shop), the next page shows it for the resend, which gets the
    // stored answers if the assistant did process it.
    setUnsent(
      unsentOf(payload, shown, fromInput, signature, id, shownParts, new ChatFailure("interrupted")),
    );
    saveState();
    const pending = messageNode({ role: "user", text: shown });
    pending.classList.add("pending");
    log.append(pending);
    scrollToEnd();
    try {
      const answer = await postChat(payload, signature, id);
      const notProcessed = answer.resend === true ? new ChatFailure("not_processed") : null;
      const failedParts = notProcessed ? answer.failed_parts : [];
      if (!Array.isArray(failedParts)) {
        throw notProcessed; // which parts failed is not said: none is taken as answered
      }
      // The answers to show: not those of a part that failed (its "send it again" notice is
      // the error below), nor those of a part already shown after an earlier try.
      const replies = answer.messages.filter(
        (reply) => !failedParts.includes(partOf(reply)) && !shownParts.includes(partOf(reply)),
      );
      if (notProcessed && !replies.length && !shownParts.length) {
        throw notProcessed; // nothing of it was processed: as when it could not be sent
      }
      const alreadyShown = shownParts.length > 0;
      pending.classList.remove("pending");
      if (alreadyShown) {
        pending.remove(); // the customer's message is on screen since the earlier try
      }
      for (const node of log.querySelectorAll(".quick-replies")) {
        node.remove();
      }
      const otherTabWrote = adoptOtherTabs();
      if (!alreadyShown) {
        state.messages.push({ role: "user", text: shown, buttons: [], image: null });
      }
      const botMessages = replies.map((reply) => cleanMessage(Object.assign({}, reply, { role: "bot" })));
      state.messages.push(...botMessages);
      // Partly answered: the message waits for its resend (same id), with the parts shown;
      // wholly answered: forgotten, here and in storage.
      const answeredParts = shownParts.concat(replies.map(partOf));
      setUnsent(
        notProcessed
          ? unsentOf(payload, shown, fromInput, signature, id, answeredParts, notProcessed)
          : null,
      );
      saveState();
      if (otherTabWrote) {
        renderLog();
      } else {
        botMessages.forEach((message) => appendBotMessage(message, true));
      }
      if (notProcessed) {
        // Some parts answered, one not: the text stays for the resend (same id).
        showError(notProcessed, retryOf(payload, shown, fromInput, signature, id));
      } else if (fromInput) {
        input.value = "";
        autosize();
      }
      if (answer.handoff === "waiting" || answer.handoff === "live") {
        startLive();
      }
    } catch (failure) {
      // Not sent: the bubble goes, the text stays in the input (or the retry button resends
      // the quick reply) so nothing the customer typed is lost, across reloads too.
      pending.remove();
      const otherTabWrote = adoptOtherTabs();
      setUnsent(unsentOf(payload, shown, fromInput, signature, id, shownParts, failure));
      saveState();
      if (otherTabWrote) {
        renderLog();
      }
      showError(failure, retryOf(payload, shown, fromInput, signature, id));
    } finally {
      setBusy(false);
      scrollToEnd();
      if (isOpen()) {
        input.focus();
      }
    }
  }

  // The "Try again" button: the typed text as it is in the input, or the quick reply again
  // (with its id while it is kept).
  function retryOf(payload, shown, fromInput, signature, id) {
    if (fromInput) {
      return submitInput;
    }
    return () => {
      const kept = keptUnsent();
      send(payload, shown, false, signature, kept && kept.id === id ? id : undefined);
    };
  }

  function errorMessage(failure) {
    const kind = failure instanceof ChatFailure ? failure.kind : "unknown";
    const details = failure instanceof ChatFailure ? failure.details : {};
    switch (kind) {
      case "rate_limited":
        return format(t.errRateLimited, { seconds: details.seconds });
      case "too_long":
        return format(t.errTooLong, { max: details.max });
      case "invalid":
        return t.errInvalid;
      case "timeout":
        return t.errTimeout;
      case "unavailable":
        return t.errUnavailable;
      case "not_processed":
        return t.errNotProcessed;
      case "interrupted":
        return t.errInterrupted;
      default:
        return t.errUnknown;
    }
  }

  function showError(failure, retry, text) {
    errorText.textContent = text || errorMessage(failure);
    errorBox.setAttribute("data-kind", failure instanceof ChatFailure ? failure.kind : "unknown");
    retryLast = retry;
    errorBox.hidden = false;
  }

  function hideError() {
    errorBox.hidden = true;
    errorText.textContent = "";
    retryLast = null;
  }

  function onRetry() {
    const retry = retryLast;
    if (retry && !busy) {
      retry();
    }
  }

  // --- a person of the support team: waiting for them, talking to them ----------------------

  let liveTimer = null;
  let lastMode = "waiting";

  function startLive() {
    if (!state.live) {
      state.live = true;
      saveState();
    }
    if (liveTimer === null) {
      liveTimer = setTimeout(pollLive, 0);
    }
  }

  function stopLive() {
    if (liveTimer !== null) {
      clearTimeout(liveTimer);
      liveTimer = null;
    }
  }

  async function pollLive() {
    const senderId = state.senderId;
    let keepPolling = true;
    try {
      const query = new URLSearchParams({ sender_id: senderId, store: STORE, after: String(state.liveAfter || 0) });
      const response = await fetch(LIVE_URL + "?" + query, { mode: "cors", credentials: "omit" });
      const body = response.ok ? await response.json() : null;
      if (body && state.senderId === senderId) {
        const fresh = (Array.isArray(body.messages) ? body.messages : [])
          .filter((m) => Number.isInteger(m.id) && m.id > (state.liveAfter || 0));
        for (const m of fresh) {
          const message = cleanMessage({ role: m.author === "agent" ? "agent" : "notice", text: m.text, name: m.name });
          if (message) {
            state.messages.push(message);
            log.append(messageNode(message));
          }
          state.liveAfter = Math.max(state.liveAfter || 0, m.id);
        }
        lastMode = body.mode;
        if (body.mode === "bot") {
          state.live = false;
          keepPolling = false;
        }
        saveState();
        if (fresh.length) {
          scrollToEnd();
        }
      }
    } catch (e) {
      // The gateway is unreachable for a moment: the next poll tries again.
    }
    const delay = lastMode === "live" ? LIVE_POLL_MS : WAITING_POLL_MS;
    liveTimer = keepPolling && state.senderId === senderId ? setTimeout(pollLive, delay) : null;
  }

  // --- start ---------------------------------------------------------------------------------

  // Another tab of the same shop changed the conversation: show the same one here.
  window.addEventListener("storage", (event) => {
    if (event.key !== STORAGE_KEY || busy) {
      return;
    }
    const next = readState();
    const waited = state.pending;
    if (next.senderId !== state.senderId || next.messages.length !== state.messages.length) {
      state = Object.assign(next, { open: state.open });
      renderLog();
    } else {
      state.pending = next.pending; // kept as stored, not shown here (a reload shows it)
    }
    // The message this tab waits to resend was answered in the other tab (its answers come
    // with the conversation), or its conversation replaced: not to be resent from here.
    if (unsent && waited && waited.id === unsent.id && !state.pending) {
      if (unsent.fromInput && input.value.trim() === unsent.text) {
        input.value = "";
        autosize();
      }
      unsent = null;
      hideError();
    }
  });

  function mount() {
    document.body.append(host);
    renderLog();
    restoreUnsent(); // a message left unsent before this page loaded
    if (state.live) {
      startLive(); // a person was expected or answering before this page loaded
    }
    if (state.open) {
      openPanel(false); // reopened after a page change: do not steal the page's focus
    }
  }

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount, { once: true });
  }
})();

// newsdesk web UI: keyboard review and small conveniences. Plain JS, no dependencies; every action
// is a normal form POST, so the pages work without this file too.
"use strict";

(function () {
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // --- confirmations (remove source) ----------------------------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // --- review queue: j/k move, p publish, r reject, t topics, x tick, s star, o open, Esc close -
  function ReviewQueue(list) {
    this.cards = Array.prototype.slice.call(list.querySelectorAll(".review-card"));
    this.index = -1;
    this.select(this.startIndex(), false);
  }

  // Which card to select on arrival: the one named by #card-N; after an action, the card the server
  // named as the decided card's successor in display order (?then=N), else the acted-on card itself
  // (?id=N: it stays after a topics fix); else the first. Ids are never compared by size: the queue
  // is sorted by date, so a nearby id can be anywhere on the page.
  ReviewQueue.prototype.startIndex = function () {
    var search = window.location.search;
    var wanted = [/card-(\d+)/.exec(window.location.hash), /[?&]then=(\d+)/.exec(search), /[?&]id=(\d+)/.exec(search)];
    for (var w = 0; w < wanted.length; w++) {
      var index = wanted[w] ? this.indexOf(wanted[w][1]) : -1;
      if (index >= 0) { return index; }
    }
    return 0;
  };

  ReviewQueue.prototype.indexOf = function (id) {
    for (var i = 0; i < this.cards.length; i++) {
      if (this.cards[i].getAttribute("data-id") === id) { return i; }
    }
    return -1;
  };

  // After live cards arrived: re-read the cards, keeping the selected one selected.
  ReviewQueue.prototype.refresh = function () {
    var card = this.current();
    this.cards = Array.prototype.slice.call(document.querySelectorAll("#queue .review-card"));
    this.index = card ? this.cards.indexOf(card) : -1;
    if (this.index < 0) { this.select(0, false); }
  };

  ReviewQueue.prototype.current = function () {
    return this.cards[this.index] || null;
  };

  ReviewQueue.prototype.select = function (index, scroll) {
    if (!this.cards.length) { return; }
    index = Math.max(0, Math.min(this.cards.length - 1, index));
    var old = this.current();
    if (old) { old.removeAttribute("aria-current"); }
    this.index = index;
    var card = this.current();
    card.setAttribute("aria-current", "true");
    if (scroll !== false) {
      card.focus({ preventScroll: true });
      card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  };

  ReviewQueue.prototype.open = function (selector, focusSelector) {
    var card = this.current();
    if (!card) { return; }
    var panel = card.querySelector(selector);
    panel.open = true;
    var field = panel.querySelector(focusSelector);
    if (field) { field.focus(); }
  };

  ReviewQueue.prototype.closePanels = function () {
    var card = this.current();
    if (!card) { return; }
    card.querySelectorAll("details[open]").forEach(function (d) { d.open = false; });
    card.focus({ preventScroll: true });
  };

  ReviewQueue.prototype.publish = function () {
    var card = this.current();
    if (!card) { return; }
    card.classList.add("leaving");
    card.querySelector(".publish-form").submit();
  };

  // x ticks the current card for a bulk action; s stars or unstars it (its own button: a form POST).
  ReviewQueue.prototype.press = function (selector, toggle) {
    var control = this.current() && this.current().querySelector(selector);
    if (!control) { return; }
    if (toggle) { control.checked = !control.checked; } else { control.click(); }
  };

  ReviewQueue.prototype.key = function (event) {
    if (event.key === "Escape") { this.closePanels(); return true; }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return false; }
    switch (event.key) {
      case "j": this.select(this.index + 1); return true;
      case "k": this.select(this.index - 1); return true;
      case "p": this.publish(); return true;
      case "r": this.open(".reject-panel", "input[name=reason]"); return true;
      case "t": this.open(".topics-panel", "input[type=checkbox]"); return true;
      case "x": this.press("input.pick", true); return true;
      case "s": this.press("button.star", false); return true;
      case "o": {
        var link = this.current() && this.current().querySelector(".open-link");
        if (link) { window.location.href = link.href; }
        return true;
      }
      default: return false;
    }
  };

  // --- live pages: parts marked data-live follow the store without a reload ----------------------
  // GET /live/stamp is cheap; when it moves, the page is fetched again and each data-live part is
  // swapped in — except while the reader is inside it (typing, a panel open). A part with
  // data-live-merge="#list" only gains the list's new items, so the review queue keeps its place.
  var LIVE_POLL_MS = 3000; // new articles show within a few seconds; one small request per tab

  function freshParts(html) {
    var parts = {};
    new DOMParser().parseFromString(html, "text/html").querySelectorAll("[data-live]").forEach(function (el) {
      parts[el.getAttribute("data-live")] = el;
    });
    return parts;
  }

  function busy(part) {
    return part.contains(document.activeElement) && typing(document.activeElement) || !!part.querySelector("details[open]");
  }

  function mergeList(part, fresh, selector) {
    var list = part.querySelector(selector);
    var freshList = fresh.querySelector(selector);
    if (!list || !freshList) { part.innerHTML = fresh.innerHTML; startQueue(); return; }
    var first = list.firstElementChild;
    Array.prototype.forEach.call(freshList.children, function (item) {
      var id = item.getAttribute("data-id");
      if (id && !list.querySelector('[data-id="' + id + '"]')) {
        item.classList.add("arrived");
        list.insertBefore(document.importNode(item, true), first);
      }
    });
    if (window.newsdeskReview) { window.newsdeskReview.refresh(); }
  }

  function swapLive(html) {
    var parts = freshParts(html);
    document.querySelectorAll("[data-live]").forEach(function (part) {
      var fresh = parts[part.getAttribute("data-live")];
      var merge = part.getAttribute("data-live-merge");
      if (!fresh) { return; }
      if (merge) { mergeList(part, fresh, merge); } else if (!busy(part)) { part.innerHTML = fresh.innerHTML; }
    });
  }

  function watchLive() {
    if (!document.querySelector("[data-live]") || !window.fetch) { return; }
    var known = null;
    function check() {
      if (document.hidden) { return; }
      fetch("/live/stamp", { cache: "no-store" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
        if (!body) { return; }
        var moved = known !== null && body.stamp !== known;
        known = body.stamp;
        if (moved) {
          return fetch(window.location.href, { cache: "no-store" }).then(function (r) { return r.text(); }).then(swapLive);
        }
      }).catch(function () { /* the server restarts or is gone: try again next tick */ });
    }
    check();
    window.setInterval(check, LIVE_POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", watchLive);

  // Also called when a live update brings the first cards into an empty queue.
  function startQueue() {
    var list = document.getElementById("queue");
    if (!list || window.newsdeskReview) { return; }
    var queue = new ReviewQueue(list);
    window.newsdeskReview = queue; // handy from the console; tests read the selection from the DOM
    document.addEventListener("keydown", function (event) {
      if (queue.key(event)) { event.preventDefault(); }
    });
    list.addEventListener("click", function (event) {
      var card = event.target.closest(".review-card");
      if (card) { queue.select(queue.cards.indexOf(card), false); }
    });
  }

  document.addEventListener("DOMContentLoaded", startQueue);
})();

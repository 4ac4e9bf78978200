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

  // --- review queue: j/k move, p publish, r reject, t topics, o open, Esc close ----------------
  function ReviewQueue(list) {
    this.cards = Array.prototype.slice.call(list.querySelectorAll(".review-card"));
    this.index = -1;
    var wanted = /card-(\d+)/.exec(window.location.hash) || /[?&]id=(\d+)/.exec(window.location.search);
    var start = 0;
    if (wanted) {
      // After an action the decided card is gone: select the card that took its place.
      for (var i = 0; i < this.cards.length; i++) {
        if (Number(this.cards[i].getAttribute("data-id")) <= Number(wanted[1])) { start = i; break; }
      }
    }
    this.select(start, false);
  }

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

  ReviewQueue.prototype.key = function (event) {
    if (event.key === "Escape") { this.closePanels(); return true; }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return false; }
    switch (event.key) {
      case "j": this.select(this.index + 1); return true;
      case "k": this.select(this.index - 1); return true;
      case "p": this.publish(); return true;
      case "r": this.open(".reject-panel", "input[name=reason]"); return true;
      case "t": this.open(".topics-panel", "input[type=checkbox]"); return true;
      case "o": {
        var link = this.current() && this.current().querySelector(".open-link");
        if (link) { window.location.href = link.href; }
        return true;
      }
      default: return false;
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("queue");
    if (!list) { return; }
    var queue = new ReviewQueue(list);
    window.newsdeskReview = queue; // handy from the console; tests read the selection from the DOM
    document.addEventListener("keydown", function (event) {
      if (queue.key(event)) { event.preventDefault(); }
    });
    list.addEventListener("click", function (event) {
      var card = event.target.closest(".review-card");
      if (card) { queue.select(queue.cards.indexOf(card), false); }
    });
  });
})();

// The officer's screen (/tiep-nhan): calls ringing or bridged to me, drawn from the
// server-sent events of /tiep-nhan/su-kien. Each call gets a card (caller, how long, which
// registered number, the caller's history, the case form). An update only rewrites the
// card's status texts: a form being typed in is never replaced. The card's answer picker
// searches the agreed answer book as the officer types; a picked answer goes with the case. A call that was bridged to
// me keeps its card and form after it ends (and joins the "to finish" list); a call that
// only rang me goes away unless something was typed into its form.
(function () {
  "use strict";

  var cards = {}; // call_id -> {el, call, talked}
  var offset = 0; // server clock minus this browser's clock, in ms
  var container = document.getElementById("call-cards");
  var template = document.getElementById("call-card");
  var statusLine = document.getElementById("live-status");
  var empty = document.getElementById("live-empty");
  if (!container || !template) {
    return;
  }

  function text(card, css, value) {
    var node = card.querySelector(css);
    if (node && node.textContent !== value) {
      node.textContent = value;
    }
  }

  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    var rest = s % 60;
    return m + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function tick() {
    var now = Date.now() + offset;
    Object.keys(cards).forEach(function (id) {
      var entry = cards[id];
      if (entry.ended) {
        return;
      }
      var c = entry.call;
      var words = c.state === "talking"
        ? "Đàm thoại " + clock(now - c.since) + " (gọi đến " + clock(now - c.started) + " trước)"
        : "Đã chờ " + clock(now - c.started);
      text(entry.el, ".elapsed", words);
    });
  }

  function loadHistory(entry, url, append, tries) {
    var body = entry.el.querySelector(".history-body");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 409 && tries < 20) {
          // the call is not in the log yet (a few milliseconds): ask again
          window.setTimeout(function () { loadHistory(entry, url, append, tries + 1); }, 500);
          return null;
        }
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        if (append) {
          body.insertAdjacentHTML("beforeend", html);
        } else {
          body.innerHTML = html;
        }
      })
      .catch(function () {
        var p = document.createElement("p");
        p.className = "error-text";
        p.textContent = "Không tải được lịch sử của số này.";
        body.appendChild(p);
      });
  }

  // The answer book beside the call: what is typed in the card's search box is looked up a
  // quarter second after the last key (only the latest answer is shown); "Dùng" puts the
  // answer on the form as a hidden answer_id, attached with the case when it is recorded.
  function answerPicker(entry) {
    var el = entry.el;
    var box = el.querySelector(".answer-q");
    var hits = el.querySelector(".answer-hits");
    var chosen = el.querySelector(".answer-chosen");
    if (!box || !hits || !chosen) {
      return;
    }
    var timer = null;
    var asked = 0;

    function look() {
      var q = box.value.trim();
      var mine = ++asked;
      if (!q) {
        hits.textContent = "";
        return;
      }
      fetch("/tiep-nhan/cau-tra-loi?q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { Accept: "text/html" }
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.text();
        })
        .then(function (html) {
          if (mine === asked) {
            hits.innerHTML = html;
          }
        })
        .catch(function () {
          if (mine === asked) {
            hits.textContent = "";
            var p = document.createElement("p");
            p.className = "error-text";
            p.textContent = "Không tìm được trong sổ câu trả lời, thử lại.";
            hits.appendChild(p);
          }
        });
    }

    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter searches; it never sends the half-written case
        window.clearTimeout(timer);
        look();
      }
    });
    box.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(look, 250);
    });
    hits.addEventListener("click", function (event) {
      var button = event.target.closest("button.use-answer");
      if (!button) {
        return;
      }
      var id = button.getAttribute("data-answer");
      var already = Array.prototype.some.call(chosen.children, function (li) {
        return li.getAttribute("data-answer") === id;
      });
      if (already) {
        return;
      }
      var li = document.createElement("li");
      li.setAttribute("data-answer", id);
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "answer_id";
      input.value = id;
      var title = document.createElement("span");
      title.textContent = button.getAttribute("data-title");
      var drop = document.createElement("button");
      drop.type = "button";
      drop.className = "unuse";
      drop.textContent = "Bỏ";
      li.appendChild(input);
      li.appendChild(title);
      li.appendChild(drop);
      chosen.appendChild(li);
      entry.dirty = true;
    });
    chosen.addEventListener("click", function (event) {
      var drop = event.target.closest("button.unuse");
      if (drop) {
        drop.parentNode.remove();
      }
    });
  }

  function newCard(call) {
    var el = template.content.firstElementChild.cloneNode(true);
    el.setAttribute("data-call-id", call.call_id);
    var form = el.querySelector("form");
    form.action = form.getAttribute("action") + encodeURIComponent(call.call_id);
    el.querySelectorAll("[id]").forEach(function (node) {
      node.setAttribute("data-field", node.id);
      node.id = node.id + "-" + call.call_id.slice(0, 8);
    });
    var entry = { el: el, call: call, talked: false, ended: false, dirty: false };
    el.addEventListener("input", function () { entry.dirty = true; });
    el.addEventListener("click", function (event) {
      var link = event.target.closest("a.more");
      if (link) {
        event.preventDefault();
        link.parentNode.remove();
        loadHistory(entry, link.getAttribute("href"), true, 0);
      }
    });
    answerPicker(entry);
    container.insertBefore(el, container.firstChild);
    loadHistory(entry, "/tiep-nhan/lich-su/" + encodeURIComponent(call.call_id), false, 0);
    return entry;
  }

  function draw(entry, call) {
    entry.call = call;
    if (call.state === "talking") {
      entry.talked = true;
    }
    var el = entry.el;
    el.classList.toggle("talking", call.state === "talking");
    text(el, ".caller", call.caller || "Không rõ số gọi đến");
    text(el, ".state", call.state_label);
    var rung = call.number ? "Số trực " + call.number : "";
    if (call.number_label) {
      rung += " (" + call.number_label + ")";
    }
    if (call.officer && !rung) {
      rung = call.officer;
    }
    text(el, ".rung", rung);
  }

  function addToFinish(entry) {
    var list = document.querySelector("#to-finish ul.todo-list");
    if (!list) {
      list = document.createElement("ul");
      list.className = "todo-list";
      var none = document.getElementById("to-finish-empty");
      if (none) {
        none.replaceWith(list);
      } else {
        document.getElementById("to-finish").appendChild(list);
      }
    }
    if (list.querySelector('[data-call-id="' + entry.call.call_id + '"]')) {
      return;
    }
    var li = document.createElement("li");
    li.setAttribute("data-call-id", entry.call.call_id);
    var a = document.createElement("a");
    a.className = "todo";
    a.href = "/calls/" + encodeURIComponent(entry.call.call_id) + "#cases";
    a.textContent = "Vừa xong · " + (entry.call.caller || "Không rõ số");
    li.appendChild(a);
    list.insertBefore(li, list.firstChild);
  }

  function ended(id) {
    var entry = cards[id];
    if (entry.ended) {
      return;
    }
    if (!entry.talked && !entry.dirty) {
      entry.el.remove(); // it only rang me and nothing was typed: not mine to finish
      delete cards[id];
      return;
    }
    entry.ended = true;
    entry.el.classList.add("ended");
    entry.el.querySelector(".ended").hidden = false;
    text(entry.el, ".state", "Đã kết thúc");
    if (entry.talked && !entry.el.querySelector(".this-call-done")) {
      addToFinish(entry);
    }
  }

  function update(data) {
    offset = data.now - Date.now();
    var present = {};
    data.calls.forEach(function (call) {
      present[call.call_id] = true;
      var entry = cards[call.call_id];
      if (!entry) {
        entry = cards[call.call_id] = newCard(call);
      } else if (entry.ended) {
        // rung again (a second round): the same card, the typed text kept
        entry.ended = false;
        entry.el.classList.remove("ended");
        entry.el.querySelector(".ended").hidden = true;
      }
      draw(entry, call);
    });
    Object.keys(cards).forEach(function (id) {
      if (!present[id]) {
        ended(id);
      }
    });
    empty.hidden = Object.keys(cards).length > 0;
    tick();
  }

  var source = new EventSource("/tiep-nhan/su-kien");
  source.addEventListener("open", function () {
    statusLine.textContent = "Đã kết nối: trang tự cập nhật khi có cuộc gọi.";
    statusLine.className = "muted live-on";
  });
  source.addEventListener("calls", function (event) {
    update(JSON.parse(event.data));
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      statusLine.textContent = "Mất kết nối (có thể phiên đăng nhập đã hết hạn). Hãy tải lại trang.";
    } else {
      statusLine.textContent = "Mất kết nối, đang kết nối lại…";
    }
    statusLine.className = "error-text";
  });
  window.setInterval(tick, 1000);
})();

// orgscope: the little script the pages use (no build step). Everything
// works without it; it adds dialogs, drag-and-drop uploads with progress,
// and opens the move preview in its dialog.
"use strict";

(function () {
  // [data-timezone] inputs carry the browser's time zone (a new chat
  // session's default name reads in it); without the script, UTC.
  document.addEventListener("DOMContentLoaded", function () {
    var tz = "";
    try {
      tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {}
    document.querySelectorAll("[data-timezone]").forEach(function (i) {
      i.value = tz;
    });
  });

  function openDialog(id) {
    var d = document.getElementById(id);
    if (d && typeof d.showModal === "function" && !d.open) {
      d.showModal();
      return true;
    }
    return false;
  }

  // [data-open-dialog] links and buttons open their dialog instead of
  // navigating; [data-close-dialog] closes the dialog it is in.
  document.addEventListener("click", function (e) {
    var opener = e.target.closest("[data-open-dialog]");
    if (opener && openDialog(opener.getAttribute("data-open-dialog"))) {
      e.preventDefault();
      return;
    }
    var closer = e.target.closest("[data-close-dialog]");
    if (closer) {
      var d = closer.closest("dialog");
      if (d) {
        e.preventDefault();
        d.close();
      }
    }
  });

  // [data-copy] copies the text of the element it names (a secret shown once).
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var said = button.parentNode.querySelector("[data-copied]");
      if (said) said.hidden = false;
      button.textContent = "Copied";
    });
  });

  // A form with data-dialog shows what htmx swapped in, in that dialog.
  document.addEventListener("htmx:afterSwap", function (e) {
    var source = e.detail.requestConfig && e.detail.requestConfig.elt;
    var form = source && source.closest ? source.closest("[data-dialog]") : null;
    if (form) {
      openDialog(form.getAttribute("data-dialog"));
      var first = document.querySelector("#" + form.getAttribute("data-dialog") + " h2");
      if (first) { first.setAttribute("tabindex", "-1"); first.focus(); }
    }
  });
  // htmx swaps error answers too (they carry the message in words).
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status >= 400 && e.detail.xhr.getResponseHeader("content-type").indexOf("text/html") === 0) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  function csrfToken() {
    var field = document.querySelector("input[name=csrf]");
    return field ? field.value : "";
  }

  function human(bytes) {
    var units = ["B", "KB", "MB", "GB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return (i === 0 ? bytes : bytes.toFixed(1)) + " " + units[i];
  }

  // Uploads: files from the input or dropped on the zone, sent one by one
  // with a progress bar each.
  function setupUpload(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector("[data-dropzone]");
    var list = form.querySelector("[data-upload-list]");
    var problem = form.querySelector("[data-upload-error]");
    var picked = [];

    function show() {
      list.innerHTML = "";
      picked.forEach(function (item) {
        var li = document.createElement("li");
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = item.file.name;
        var status = document.createElement("span");
        status.className = "status";
        status.textContent = human(item.file.size);
        var bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        bar.setAttribute("aria-label", "Upload of " + item.file.name);
        li.append(name, status, bar);
        item.li = li; item.status = status; item.bar = bar;
        list.append(li);
      });
      input.required = picked.length === 0;
    }

    function add(files) {
      Array.prototype.forEach.call(files, function (f) { picked.push({ file: f }); });
      show();
    }

    input.addEventListener("change", function () {
      picked = [];
      add(input.files);
    });
    ["dragenter", "dragover"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files);
    });

    function send(item, org) {
      return new Promise(function (resolve) {
        var data = new FormData();
        data.append("org", org);
        data.append("file", item.file, item.file.name);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.getAttribute("action"));
        xhr.setRequestHeader("X-CSRF-Token", csrfToken());
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) {
            var pct = Math.round((e.loaded / e.total) * 100);
            item.bar.value = pct;
            item.status.textContent = pct + "%";
          }
        });
        xhr.addEventListener("load", function () {
          if (xhr.status >= 200 && xhr.status < 300) {
            item.bar.value = 100;
            item.status.textContent = "Uploaded";
            resolve(true);
          } else {
            var message = "The upload failed (" + xhr.status + ")";
            try { message = JSON.parse(xhr.responseText).error || message; } catch (_) { /* keep */ }
            item.li.classList.add("failed");
            item.status.textContent = "Failed";
            problem.textContent = item.file.name + ": " + message;
            problem.hidden = false;
            resolve(false);
          }
        });
        xhr.addEventListener("error", function () {
          item.li.classList.add("failed");
          item.status.textContent = "Failed";
          problem.textContent = item.file.name + ": the connection was lost; try again.";
          problem.hidden = false;
          resolve(false);
        });
        xhr.send(data);
      });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      problem.hidden = true;
      var org = form.querySelector("select[name=org]").value;
      if (!org) {
        problem.textContent = "Choose the organization the files go to.";
        problem.hidden = false;
        return;
      }
      if (picked.length === 0) {
        problem.textContent = "Choose or drop at least one file.";
        problem.hidden = false;
        return;
      }
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      var ok = 0;
      picked.reduce(function (chain, item) {
        return chain.then(function () {
          return send(item, org).then(function (done) { if (done) ok++; });
        });
      }, Promise.resolve()).then(function () {
        buttons.forEach(function (b) { b.disabled = false; });
        if (ok === picked.length) {
          window.location.assign("/files?org=" + encodeURIComponent(org) + "&uploaded=" + ok);
        }
      });
    });
  }

  // Chat: the turn is posted with fetch and its answer read as server-sent
  // events: `question` and `message` carry HTML the server rendered (and
  // escaped), `delta` plain text as a model writes it, `error` words.
  function setupChat(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    var list = document.getElementById("messages");
    var input = form.querySelector("textarea");
    var problem = form.querySelector("[data-chat-error]");
    var button = form.querySelector("button[type=submit]");

    function add(html) {
      list.insertAdjacentHTML("beforeend", html);
      var empty = document.getElementById("empty-chat");
      if (empty) empty.remove();
      return list.lastElementChild;
    }

    function fail(text) {
      problem.textContent = text;
      problem.hidden = false;
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!input.value.trim()) { fail("Write a message first."); return; }
      problem.hidden = true;
      button.disabled = true;
      var pending = null;
      var body = new URLSearchParams(new FormData(form));
      fetch(form.getAttribute("action"), {
        method: "POST",
        headers: { "X-CSRF-Token": csrfToken(), "Accept": "text/event-stream" },
        body: body
      }).then(function (res) {
        if (!res.ok || !res.body) throw new Error("The message could not be sent (" + res.status + "). Reload the page and try again.");
        input.value = "";
        var reader = res.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function handle(frame) {
          var name = "message", data = [];
          frame.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
          });
          var text = data.join("\n");
          if (name === "question") add(text);
          else if (name === "delta") {
            if (!pending) {
              pending = add('<li class="message assistant pending"><div class="message-body"></div></li>');
            }
            pending.querySelector(".message-body").textContent += text;
          } else if (name === "message") {
            if (pending) pending.remove();
            pending = null;
            add(text);
          } else if (name === "error") {
            if (pending) pending.classList.remove("pending");
            fail(text);
          }
        }
        function pump() {
          return reader.read().then(function (step) {
            if (step.done) return;
            buffer += decoder.decode(step.value, { stream: true });
            var at;
            while ((at = buffer.indexOf("\n\n")) >= 0) {
              handle(buffer.slice(0, at));
              buffer = buffer.slice(at + 2);
            }
            return pump();
          });
        }
        return pump();
      }).catch(function (err) {
        fail(err.message || "The connection was lost; try again.");
      }).then(function () {
        button.disabled = false;
        input.focus();
      });
    });
  }

  function init(root) {
    root.querySelectorAll("form[data-upload]").forEach(setupUpload);
    root.querySelectorAll("form[data-chat]").forEach(setupChat);
  }
  // New content from htmx (a new main area) gets the same behaviour.
  document.addEventListener("htmx:load", function (e) { init(e.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();

/*
 * The victim page: she picks files, her device hashes them (hasher-worker.js),
 * she sees her own thumbnails (object URLs, never uploaded), and only the hashes
 * and what she typed are sent, as one small JSON body.
 */
(function () {
  "use strict";
  var form = document.getElementById("report");
  if (!form) return;
  var T = JSON.parse(document.getElementById("strings").textContent);
  var lang = form.getAttribute("data-lang");
  var input = document.getElementById("files");
  var list = document.getElementById("items");
  var progress = document.getElementById("progress");
  var error = document.getElementById("form-error");
  var submit = document.getElementById("submit");
  var worker = new Worker("/victim/static/hasher-worker.js");
  var entries = []; // {id, file, video, url, li, state, result, placeInput}
  var queue = [];
  var busy = false;
  var nextId = 1;

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return String(values[k]); });
  }

  function announce() {
    var total = entries.length;
    var done = entries.filter(function (e) { return e.state === "done" || e.state === "failed"; }).length;
    progress.textContent = total === 0 ? "" : done === total ? fmt(T.hashed_all, { total: total }) : fmt(T.hashing, { done: done, total: total });
  }

  function setState(entry, state, text) {
    entry.state = state;
    entry.status.textContent = text;
    entry.li.setAttribute("data-state", state);
    announce();
  }

  function pump() {
    if (busy || queue.length === 0) return;
    var entry = queue.shift();
    if (entry.removed) return pump();
    busy = true;
    setState(entry, "working", T.hash_working);
    worker.postMessage({ id: entry.id, file: entry.file, video: entry.video });
  }

  worker.onmessage = function (event) {
    var msg = event.data;
    var entry = entries.filter(function (e) { return e.id === msg.id; })[0];
    if (msg.stage !== undefined) {
      if (entry && entry.bar) entry.bar.value = msg.stage === "digest" ? msg.done * 0.5 : 0.5 + msg.done * 0.5;
      return;
    }
    busy = false;
    if (entry) {
      if (msg.error) {
        setState(entry, "failed", T.hash_failed);
      } else {
        entry.result = msg.result;
        entry.bar.value = 1;
        var note = entry.video ? T.video_note : msg.result.pdq ? T.hash_done : T.hash_nopdq;
        setState(entry, "done", note);
        entry.li.setAttribute("data-md5", msg.result.md5);
        entry.li.setAttribute("data-sha256", msg.result.sha256);
        if (msg.result.pdq) entry.li.setAttribute("data-pdq", msg.result.pdq);
        if (msg.result.alpha) entry.li.setAttribute("data-alpha", msg.result.alpha);
      }
    }
    pump();
  };

  function add(file) {
    var id = nextId++;
    var video = file.type.indexOf("video/") === 0;
    var url = URL.createObjectURL(file);
    var li = document.createElement("li");
    li.className = "item";
    li.id = "item-" + id;
    var thumb;
    if (video) {
      thumb = document.createElement("video");
      thumb.preload = "metadata";
      thumb.muted = true;
      thumb.setAttribute("playsinline", "");
    } else {
      thumb = document.createElement("img");
      thumb.alt = "";
    }
    thumb.className = "thumb";
    thumb.src = url;
    var body = document.createElement("div");
    body.className = "item-body";
    var name = document.createElement("p");
    name.className = "name";
    name.id = "name-" + id;
    name.textContent = file.name; // shown to her only; never sent
    var status = document.createElement("p");
    status.className = "item-status";
    var bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    var placeId = "place-" + id;
    var label = document.createElement("label");
    label.htmlFor = placeId;
    label.textContent = T.item_place;
    var place = document.createElement("input");
    place.type = "text";
    place.id = placeId;
    place.className = "place";
    place.maxLength = 2048;
    place.autocomplete = "off";
    place.setAttribute("aria-describedby", name.id); // which file this place is for
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = T.remove;
    remove.setAttribute("aria-label", T.remove + ": " + file.name);
    body.append(name, status, bar, label, place, remove);
    li.append(thumb, body);
    list.append(li);
    var entry = { id: id, file: file, video: video, url: url, li: li, status: status, bar: bar, placeInput: place, state: "waiting" };
    remove.addEventListener("click", function () {
      entry.removed = true;
      URL.revokeObjectURL(url);
      li.remove();
      entries = entries.filter(function (e) { return e !== entry; });
      announce();
      input.focus();
    });
    entries.push(entry);
    setState(entry, "waiting", T.hash_waiting);
    queue.push(entry);
  }

  input.addEventListener("change", function () {
    error.textContent = "";
    Array.prototype.forEach.call(input.files, add);
    input.value = ""; // the same file may be chosen again after removing it
    pump();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    if (entries.length === 0) { error.textContent = T.need_files; input.focus(); return; }
    if (entries.some(function (e) { return e.state !== "done" && e.state !== "failed"; })) {
      error.textContent = T.wait_hashing;
      return;
    }
    var items = entries.filter(function (e) { return e.result; }).map(function (e) {
      var item = { md5: e.result.md5, sha256: e.result.sha256 };
      if (e.result.pdq) item.pdq = e.result.pdq;
      var where = e.placeInput.value.trim();
      if (where) item.place = where;
      return item;
    });
    if (items.length === 0) { error.textContent = T.need_files; return; }
    var places = document.getElementById("places").value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    var contact = document.getElementById("contact").value.trim();
    var body = { items: items, places: places, language: lang };
    if (contact) body.contact = contact;
    submit.disabled = true;
    progress.textContent = T.sending;
    fetch("/victim/api/report", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (answer) {
      document.getElementById("case-number").textContent = answer.number;
      document.getElementById("case-pin").textContent = answer.pin;
      document.getElementById("sent-summary").textContent = fmt(T.sent_summary, { count: answer.items });
      form.hidden = true;
      var done = document.getElementById("done");
      done.hidden = false;
      progress.textContent = "";
      done.focus();
      faceStep(answer.number, answer.pin);
    }).catch(function () {
      error.textContent = T.send_failed;
      submit.disabled = false;
      progress.textContent = "";
    });
  });

  // --- the optional face step: nothing leaves the device before the box is ticked ---
  var MAX_FACE = 3;
  var FACE_SIDE = 1024; // photos are made smaller before they are sent

  function faceStep(number, pin) {
    var section = document.getElementById("face");
    var faceForm = document.getElementById("face-form");
    var faceInput = document.getElementById("face-files");
    var faceList = document.getElementById("face-items");
    var consent = document.getElementById("face-consent");
    var button = document.getElementById("face-submit");
    var result = document.getElementById("face-result");
    var chosen = [];
    section.hidden = false;

    function ready() {
      button.disabled = !(consent.checked && chosen.length >= 1 && chosen.length <= MAX_FACE);
    }

    faceInput.addEventListener("change", function () {
      chosen = Array.prototype.slice.call(faceInput.files, 0, MAX_FACE);
      faceList.textContent = "";
      chosen.forEach(function (file) {
        var li = document.createElement("li");
        li.className = "item";
        var img = document.createElement("img");
        img.className = "thumb";
        img.alt = "";
        img.src = URL.createObjectURL(file); // her own file shown back to her, not sent
        var name = document.createElement("p");
        name.className = "name";
        name.textContent = file.name;
        li.append(img, name);
        faceList.append(li);
      });
      ready();
    });
    consent.addEventListener("change", ready);

    function smaller(file) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
        var scale = Math.min(1, FACE_SIDE / Math.max(bitmap.width, bitmap.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(bitmap.width * scale);
        canvas.height = Math.round(bitmap.height * scale);
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        bitmap.close();
        return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.9); });
      });
    }

    faceForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!consent.checked || chosen.length === 0) return; // the explicit step, always
      button.disabled = true;
      result.textContent = T.face_sending;
      Promise.all(chosen.map(smaller)).then(function (blobs) {
        var body = new FormData();
        body.append("number", number);
        body.append("pin", pin);
        body.append("consent", "yes");
        blobs.forEach(function (blob, i) { body.append("photos", blob, "face-" + (i + 1) + ".jpg"); });
        return fetch("/victim/api/face", { method: "POST", body: body, credentials: "same-origin" });
      }).then(function (response) {
        return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
      }).then(function (r) {
        if (r.ok) {
          result.textContent = fmt(T.face_done, { count: r.answer.templates });
          faceForm.setAttribute("data-done", "true");
          return;
        }
        var key = { no_face: "face_no_face", several_faces: "face_several_faces",
          face_too_small: "face_too_small", face_too_blurred: "face_too_blurred" }[r.answer.code];
        result.textContent = T[key || "face_failed"];
        ready();
      }).catch(function () {
        result.textContent = T.face_failed;
        ready();
      });
    });
  }
})();

// ferkit web page: send an image (file, drop, or webcam frames) to /v1/predict, draw boxes and probability bars.
// Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const COLORS = ["#3b6ef5", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#e67700", "#5c940d"];
const CAMERA_INTERVAL_MS = 250; // at most 4 frames a second, and never more than one request in flight

const $ = (id) => document.getElementById(id);
const stage = $("stage"), canvas = $("canvas"), video = $("video"), results = $("results"), statusLine = $("status");
const ctx = canvas.getContext("2d");
let camera = null; // {stream, timer} while the webcam runs
let requestsDone = 0;

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

async function describeError(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error.message;
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status}`;
}

async function predict(blob) {
  const form = new FormData();
  form.append("file", blob, "image");
  const response = await fetch("/v1/predict", { method: "POST", body: form });
  requestsDone += 1;
  document.body.dataset.requests = String(requestsDone);
  if (!response.ok) throw new Error(await describeError(response));
  return response.json();
}

function pct(p) { return `${Math.round(100 * p)}%`; }

function drawBoxes(faces, scale = 1) {
  const lw = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 200));
  ctx.lineWidth = lw;
  ctx.font = `${Math.max(12, 6 * lw)}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  faces.forEach((face, i) => {
    const color = COLORS[i % COLORS.length];
    const { x, y, w, h } = face.box;
    ctx.strokeStyle = color;
    ctx.strokeRect(x * scale, y * scale, w * scale, h * scale);
    const text = `${i + 1} ${face.label} ${pct(face.score)}`;
    const tw = ctx.measureText(text).width + 8, th = Math.max(12, 6 * lw) + 6;
    const ty = y * scale > th ? y * scale : y * scale + h * scale + th;
    ctx.fillStyle = color;
    ctx.fillRect(x * scale - lw / 2, ty - th, tw, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x * scale + 4, ty - 3);
  });
}

function renderResults(data) {
  results.replaceChildren();
  if (!data.faces.length) {
    const li = document.createElement("li");
    li.className = "muted none";
    li.textContent = "No face found.";
    results.append(li);
    return;
  }
  data.faces.forEach((face, i) => {
    const li = document.createElement("li");
    li.className = "face";
    li.dataset.label = face.label;
    const title = document.createElement("div");
    title.className = "face-title";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLORS[i % COLORS.length];
    const label = document.createElement("span");
    label.className = "face-label";
    label.textContent = `Face ${i + 1}: ${face.label}`;
    const score = document.createElement("span");
    score.className = "face-score";
    score.textContent = pct(face.score);
    title.append(swatch, label, score);
    const bars = document.createElement("div");
    bars.className = "bars";
    for (const name of data.classes) {
      const p = face.probs[name] ?? 0;
      const cls = document.createElement("span");
      cls.textContent = name;
      const track = document.createElement("div");
      track.className = "bar-track";
      const fill = document.createElement("div");
      fill.className = name === face.label ? "bar-fill top" : "bar-fill";
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      track.append(fill);
      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = pct(p);
      bars.append(cls, track, value);
    }
    li.append(title, bars);
    results.append(li);
  });
}

// ---- still images -----------------------------------------------------------------------------------------

function clearStage() {
  // Nothing of a previous image stays on the page once another one is picked: its picture, boxes and results.
  results.replaceChildren();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.hidden = true;
  stage.classList.add("empty");
}

async function showFile(file) {
  if (!file) return;
  stopCamera();
  clearStage();
  setStatus(`Analysing ${file.name || "image"}…`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (_) {
    setStatus("That file is not an image this browser can show.", true);
    return;
  }
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  ctx.drawImage(bitmap, 0, 0);
  canvas.hidden = false;
  video.hidden = true;
  stage.classList.remove("empty");
  try {
    const data = await predict(file);
    ctx.drawImage(bitmap, 0, 0);
    drawBoxes(data.faces);
    renderResults(data);
    const n = data.faces.length;
    setStatus(`${n} face${n === 1 ? "" : "s"} in a ${data.image.width}×${data.image.height} image.`);
  } catch (e) {
    clearStage();
    setStatus(`Could not analyse the image: ${e.message}`, true);
  }
}

$("file-input").addEventListener("change", (ev) => showFile(ev.target.files[0]));
stage.addEventListener("dragover", (ev) => { ev.preventDefault(); stage.classList.add("dragover"); });
stage.addEventListener("dragleave", () => stage.classList.remove("dragover"));
stage.addEventListener("drop", (ev) => {
  ev.preventDefault();
  stage.classList.remove("dragover");
  showFile(ev.dataTransfer.files[0]);
});

// ---- webcam -----------------------------------------------------------------------------------------------

const grab = document.createElement("canvas");

async function cameraTick() {
  if (!camera) return;
  const started = performance.now();
  if (video.videoWidth > 0) {
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
    try {
      const data = await predict(blob);
      if (!camera) return;
      canvas.width = video.clientWidth;
      canvas.height = video.clientHeight;
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      drawBoxes(data.faces, video.clientWidth / video.videoWidth);
      renderResults(data);
      setStatus(`Webcam: ${data.faces.length} face${data.faces.length === 1 ? "" : "s"}.`);
    } catch (e) {
      setStatus(`Webcam: ${e.message}`, true);
    }
  }
  if (camera) camera.timer = setTimeout(cameraTick, Math.max(0, CAMERA_INTERVAL_MS - (performance.now() - started)));
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("This browser cannot use a webcam here (it needs https or localhost).", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    setStatus(`Webcam not available: ${e.message}`, true);
    return;
  }
  camera = { stream, timer: null };
  video.srcObject = stream;
  video.hidden = false;
  canvas.hidden = false;
  stage.classList.remove("empty");
  stage.classList.add("live");
  await video.play();
  $("camera-button").textContent = "Stop webcam";
  setStatus("Webcam on.");
  cameraTick();
}

function stopCamera() {
  if (!camera) return;
  clearTimeout(camera.timer);
  camera.stream.getTracks().forEach((t) => t.stop());
  camera = null;
  video.srcObject = null;
  video.hidden = true;
  stage.classList.remove("live");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  $("camera-button").textContent = "Start webcam";
  setStatus("Webcam off.");
}

$("camera-button").addEventListener("click", () => (camera ? stopCamera() : startCamera()));

// ---- model info -------------------------------------------------------------------------------------------

async function loadModelInfo(attempt = 0) {
  try {
    const response = await fetch("/v1/model");
    if (response.status === 503 && attempt < 60) {
      setTimeout(() => loadModelInfo(attempt + 1), 1000);
      return;
    }
    if (!response.ok) throw new Error(await describeError(response));
    const info = await response.json();
    $("model-info").textContent = `Model ${info.name} · ${info.classes.length} classes: ${info.classes.join(", ")}`;
    document.body.dataset.ready = "true";
  } catch (e) {
    $("model-info").textContent = `Model unavailable: ${e.message}`;
  }
}
loadModelInfo();

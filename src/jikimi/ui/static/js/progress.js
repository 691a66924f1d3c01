// A bank import's progress bar: polls the import's record until it is no longer running.
export function followImport(box) {
  const url = box.dataset.progressUrl;
  const bar = document.getElementById("import-bar");
  const set = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = String(text);
  };
  const tick = async () => {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const p = await response.json();
    bar.value = p.percent;
    bar.textContent = `${p.percent} %`;
    set("import-state", p.state);
    set("import-rows", p.rows);
    set("import-added", p.added);
    if (p.state === "running") setTimeout(tick, 500);
  };
  tick();
}

// A break reminder for reviewers: after the tenant's minutes of looking at held content.
// The start time is kept in sessionStorage (this tab), so moving between pages keeps counting.
const KEY = "jikimi.review.since";

export function startBreakReminder(body) {
  const minutes = Number(body.dataset.breakMinutes || 0);
  const banner = document.getElementById("break-banner");
  if (!minutes || !banner) return;
  let since = Number(sessionStorage.getItem(KEY));
  if (!since) {
    since = Date.now();
    sessionStorage.setItem(KEY, String(since));
  }
  const check = () => {
    if (Date.now() - since >= minutes * 60_000) banner.hidden = false;
  };
  document.getElementById("break-done")?.addEventListener("click", () => {
    since = Date.now();
    sessionStorage.setItem(KEY, String(since));
    banner.hidden = true;
  });
  check();
  setInterval(check, 15_000);
}

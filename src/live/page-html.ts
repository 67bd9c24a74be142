/**
 * The live page's HTML. Static: no value is written into it on the server,
 * so nothing a peer sends can reach the markup; the script (live/app.js)
 * fetches the data and sets it as text. Paths are relative, so the page works
 * wherever it is mounted (closesPage redirects a mount point to its slash).
 */
/** The page's icon (served, so that the browser does not ask for /favicon.ico, which may belong to someone else). */
export const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2433"/><path d="M3 11h3V5h4v6h3" stroke="#e0622b" stroke-width="2" fill="none"/></svg>';

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WebSocket closes · ws-close-agent</title>
<link rel="icon" href="live/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="live/app.css">
<script src="live/app.js" defer></script>
</head>
<body>
<header>
  <h1>WebSocket closes</h1>
  <span id="status" class="status">connecting…</span>
</header>
<main>
  <section class="tiles" aria-label="totals">
    <div class="tile"><span class="label">active connections</span><span class="value" id="active">–</span></div>
    <div class="tile"><span class="label">closes / s (1 min)</span><span class="value" id="close-rate">–</span></div>
    <div class="tile"><span class="label">closes (15 min)</span><span class="value" id="closes-15m">–</span></div>
    <div class="tile"><span class="label">upgrade failures (15 min)</span><span class="value" id="failures-15m">–</span><span class="detail" id="failures-detail"></span></div>
  </section>
  <section class="charts">
    <figure><figcaption>closes / s by codename, last 15 minutes</figcaption><div id="chart-codename" class="chart"></div></figure>
    <figure><figcaption>closes / s by initiator, last 15 minutes</figcaption><div id="chart-initiator" class="chart"></div></figure>
    <figure><figcaption>active connections and upgrade failures / s</figcaption><div id="chart-active" class="chart"></div></figure>
  </section>
  <section class="recent">
    <h2>Recent closes <span id="recent-note" class="note"></span></h2>
    <form id="filters" class="filters">
      <label>code <input id="filter-code" name="code" inputmode="numeric" size="6" autocomplete="off"></label>
      <label>codename <select id="filter-codename" name="codename"><option value="">any</option></select></label>
      <label>initiator <select id="filter-initiator" name="initiator"><option value="">any</option><option>client</option><option>server</option><option>agent</option><option>unknown</option></select></label>
      <span id="shown" class="note"></span>
    </form>
    <table id="closes">
      <thead><tr><th>time</th><th>code</th><th>codename</th><th>category</th><th>initiator</th><th>duration</th><th>reason</th><th>path</th><th class="peer">peer</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;

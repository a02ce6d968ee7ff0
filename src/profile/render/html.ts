// The interactive flamegraph page: d3 v7 and d3-flame-graph 5 inlined from our node_modules
// (assets.ts), so a saved page opens from disk with no network, with the tree embedded as inert
// JSON. Frame names are untrusted (any process can name its functions), so they only ever reach
// the DOM as text.
import type { Profile } from '../model.js';
import { inlineAssets } from './assets.js';
import { escapeXml } from './escape.js';
import { buildTree, type FlameNode } from './tree.js';
import { profileSummary } from './svg.js';

/** JSON that cannot end its `<script>` element early, nor break older JS parsers on U+2028/9. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface PageOptions {
  title: string;
  summary: string;
  warnings: readonly string[];
  tree: FlameNode;
  /** Colour by `delta` (red grew, blue shrank) instead of by frame kind. */
  differential: boolean;
}

// Plain script, no template literals inside: it runs in the browser exactly as written here.
const SCRIPT = `
(function () {
  var tree = JSON.parse(document.getElementById('profile-data').textContent);
  var total = tree.value;
  var chartEl = document.getElementById('chart');
  var differential = chartEl.getAttribute('data-differential') === 'true';
  function describe(d) {
    var value = d.data.value;
    var pct = total > 0 ? (100 * value / total).toFixed(2) : '0.00';
    var text = d.data.name + ' (' + value + ' samples, ' + pct + '%)';
    if (differential && typeof d.data.delta === 'number') text += ', ' + (d.data.delta > 0 ? '+' : '') + d.data.delta + ' vs before';
    return text;
  }
  var chart = flamegraph.default()
    .width(Math.max(chartEl.clientWidth, 400))
    .cellHeight(18)
    .minFrameSize(2)
    .transitionDuration(300)
    .label(describe)
    .tooltip(flamegraph.tooltip.defaultFlamegraphTooltip().text(describe))
    // Substring match: the default compiles the search term as a RegExp, which throws on "foo(".
    .setSearchMatch(function (d, term) { return !!term && d.data.name.toLowerCase().indexOf(term.toLowerCase()) !== -1; })
    .setDetailsElement(document.getElementById('details'));
  if (differential) chart.setColorMapper(flamegraph.colorMapper.differentialColorMapper);
  d3.select(chartEl).datum(tree).call(chart);
  var search = document.getElementById('search');
  function doSearch() { chart.search(search.value); }
  document.getElementById('search-button').addEventListener('click', doSearch);
  search.addEventListener('keydown', function (e) { if (e.key === 'Enter') doSearch(); });
  document.getElementById('reset').addEventListener('click', function () { search.value = ''; chart.clear(); chart.resetZoom(); });
  // Top functions: self samples (leaf time) and total samples (on the stack, once per stack).
  var self = {}, inclusive = {}, onPath = {};
  function walk(node) {
    var childSum = 0;
    var name = node.name;
    (node.children || []).forEach(function (c) { childSum += c.value; });
    self[name] = (self[name] || 0) + node.value - childSum;
    if (!onPath[name]) inclusive[name] = (inclusive[name] || 0) + node.value;
    onPath[name] = (onPath[name] || 0) + 1;
    (node.children || []).forEach(walk);
    onPath[name] -= 1;
  }
  (tree.children || []).forEach(walk);
  var names = Object.keys(self).filter(function (n) { return self[n] > 0; });
  names.sort(function (a, b) { return self[b] - self[a] || inclusive[b] - inclusive[a]; });
  var body = document.querySelector('#top tbody');
  function share(v) { return total > 0 ? (100 * v / total).toFixed(2) + '%' : '0.00%'; }
  names.slice(0, 30).forEach(function (name) {
    var row = document.createElement('tr');
    [share(self[name]), share(inclusive[name]), name].forEach(function (text) {
      var cell = document.createElement('td');
      cell.textContent = text;
      row.appendChild(cell);
    });
    row.addEventListener('click', function () { search.value = name; doSearch(); showSandwich(name); });
    body.appendChild(row);
  });
  // Sandwich: every call of one function merged, its direct callers above and callees below, as
  // shares of its total. Recursive calls count once (the outermost), like the Total column.
  function sandwich(name) {
    var callers = {}, callees = {}, all = 0, depth = 0;
    function add(table, key, v) { table[key] = (table[key] || 0) + v; }
    function visit(node, parent) {
      var outermost = node.name === name && depth === 0;
      if (outermost) {
        all += node.value;
        add(callers, parent === null ? '(root)' : parent.name, node.value);
        var childSum = 0;
        (node.children || []).forEach(function (c) { childSum += c.value; add(callees, c.name, c.value); });
        if (node.value > childSum) add(callees, '(self)', node.value - childSum);
      }
      if (node.name === name) depth += 1;
      (node.children || []).forEach(function (c) { visit(c, node); });
      if (node.name === name) depth -= 1;
    }
    (tree.children || []).forEach(function (c) { visit(c, null); });
    return { total: all, callers: callers, callees: callees };
  }
  var sandwichEl = document.getElementById('sandwich');
  function fillTable(id, entries, all) {
    var tbody = document.querySelector('#' + id + ' tbody');
    tbody.textContent = '';
    Object.keys(entries).sort(function (a, b) { return entries[b] - entries[a] || (a < b ? -1 : 1); }).forEach(function (key) {
      var row = document.createElement('tr');
      [String(entries[key]), (100 * entries[key] / all).toFixed(2) + '%', key].forEach(function (text) {
        var cell = document.createElement('td');
        cell.textContent = text;
        row.appendChild(cell);
      });
      if (key !== '(root)' && key !== '(self)') row.addEventListener('click', function () { showSandwich(key); });
      tbody.appendChild(row);
    });
  }
  function showSandwich(name) {
    var s = sandwich(name);
    if (s.total === 0) return;
    document.getElementById('sandwich-name').textContent = name;
    document.getElementById('sandwich-total').textContent = s.total + ' samples, ' + share(s.total) + ' of all';
    fillTable('callers', s.callers, s.total);
    fillTable('callees', s.callees, s.total);
    sandwichEl.hidden = false;
  }
  chart.onClick(function (d) { if (d && d.data && d.depth > 0) showSandwich(d.data.name); });
})();
`;

export function renderPage(opts: PageOptions): Buffer {
  const assets = inlineAssets();
  const warnings = opts.warnings.length
    ? `<ul id="warnings">${opts.warnings.map((w) => `<li>${escapeXml(w)}</li>`).join('')}</ul>\n`
    : '';
  return Buffer.from(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(opts.title)}</title>
<style>${assets.css}</style>
<style>
body { font-family: Verdana, sans-serif; margin: 1em 2em; }
header { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; }
h1 { font-size: 1.3em; margin: 0; }
#summary { color: #555; }
#warnings { color: #a00000; }
#details { min-height: 1.5em; margin: 0.5em 0; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin-top: 1em; }
td, th { padding: 0.1em 0.6em; text-align: right; }
td:last-child, th:last-child { text-align: left; font-family: monospace; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #eef; }
#sandwich h2 { font-size: 1.1em; margin: 1em 0 0; }
</style>
</head>
<body>
<header>
<h1>${escapeXml(opts.title)}</h1>
<span id="summary">${escapeXml(opts.summary)}</span>
<input id="search" type="search" placeholder="Search frames">
<button id="search-button" type="button">Search</button>
<button id="reset" type="button">Reset zoom</button>
</header>
${warnings}<div id="details"></div>
<div id="chart" data-differential="${opts.differential}"></div>
<script type="application/json" id="profile-data">${jsonForScript(opts.tree)}</script>
<section id="sandwich" hidden><h2>Callers and callees of <code id="sandwich-name"></code> (<span id="sandwich-total"></span>)</h2>
<table id="callers"><caption>Callers (click to follow)</caption>
<thead><tr><th>Samples</th><th>Share</th><th>Caller</th></tr></thead><tbody></tbody></table>
<table id="callees"><caption>Callees (click to follow)</caption>
<thead><tr><th>Samples</th><th>Share</th><th>Callee</th></tr></thead><tbody></tbody></table></section>
<table id="top"><caption>Top functions (click to search and see callers and callees)</caption>
<thead><tr><th>Self</th><th>Total</th><th>Function</th></tr></thead><tbody></tbody></table>
<script>${assets.d3}</script>
<script>${assets.flamegraph}</script>
<script>${SCRIPT}</script>
</body>
</html>
`);
}

export function renderHtml(profile: Profile): Buffer {
  return renderPage({
    title: 'Flame Graph',
    summary: profileSummary(profile),
    warnings: profile.warnings,
    tree: buildTree(profile.samples),
    differential: false,
  });
}

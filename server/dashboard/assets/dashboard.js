// Tripwarden dashboard: live hosts table over server-sent events.
// Builds rows with textContent only, so agent-supplied text is never parsed as HTML.
(() => {
  var table = document.getElementById('hosts');
  if (!table || !window.EventSource) return;
  var tbody = table.querySelector('tbody');
  var live = document.getElementById('live');
  var summary = document.getElementById('summary');
  var receivedAt = Date.now();

  function fmt(ms) {
    if (ms < 1000) return `${Math.round(ms)}ms`;
    var rest = Math.floor(ms / 1000);
    var d = Math.floor(rest / 86400);
    rest -= d * 86400;
    var h = Math.floor(rest / 3600);
    rest -= h * 3600;
    var m = Math.floor(rest / 60);
    var s = rest - m * 60;
    var parts = [];
    if (d) parts.push(`${d}d`);
    if (h) parts.push(`${h}h`);
    if (m) parts.push(`${m}m`);
    if (s) parts.push(`${s}s`);
    return parts.slice(0, 2).join(' ');
  }

  function silenceText(status, silentFor) {
    if (silentFor === null || silentFor === '' || silentFor === undefined) return status === 'missing' || status === 'late' ? 'never seen' : 'never';
    if (status === 'missing' || status === 'late') return `silent ${fmt(silentFor)}`;
    return `${fmt(silentFor)} ago`;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The open-alarms cell: count and worst severity, so a critical change is never behind a green badge.
  function alarmsCell(h) {
    var td = el('td', 'alarms');
    td.setAttribute('data-worst', h.worst || '');
    if (!h.openAlarms) td.appendChild(el('span', 'none', 'none'));
    else td.appendChild(el('span', `badge sev-${h.worst}`, h.worst === 'critical' ? `${h.openAlarms} open, ${h.criticalOpen} critical` : `${h.openAlarms} open`));
    return td;
  }

  function row(h) {
    var tr = el('tr', `st-${h.status}${h.worst ? ` worst-${h.worst}` : ''}`);
    tr.setAttribute('data-host', h.host);
    var a = el('a', '', h.host);
    a.href = `/hosts/${encodeURIComponent(h.host)}`;
    var td = el('td');
    td.appendChild(a);
    tr.appendChild(td);
    tr.appendChild(el('td', '', h.group));
    var st = el('td', 'status');
    st.appendChild(el('span', `badge st-${h.status}`, h.status));
    tr.appendChild(st);
    tr.appendChild(alarmsCell(h));
    var sil = el('td', 'silent', silenceText(h.status, h.silentFor));
    sil.setAttribute('data-silent', h.silentFor === null ? '' : String(h.silentFor));
    sil.setAttribute('data-status', h.status);
    tr.appendChild(sil);
    var bar = el('span', 'bar');
    for (let i = 0; i < h.bar.length; i++) bar.appendChild(el('span', `b${h.bar[i]}`));
    var btd = el('td');
    btd.appendChild(bar);
    tr.appendChild(btd);
    return tr;
  }

  function render(msg) {
    receivedAt = Date.now();
    var frag = document.createDocumentFragment();
    var counts = {};
    var critical = 0;
    // Hosts with an open critical alarm first (as the server renders them), then its order (silent and late first).
    var hosts = msg.hosts.map((h, i) => [h, i]);
    var rank = (h) => (h.worst === 'critical' && h.status !== 'revoked' ? 0 : 1);
    hosts.sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]);
    hosts.forEach((p) => {
      var h = p[0];
      if (h.worst === 'critical') critical++;
      frag.appendChild(row(h));
      counts[h.status] = (counts[h.status] || 0) + 1;
    });
    tbody.replaceChildren(frag);
    var parts = Object.keys(counts).map((k) => `${counts[k]} ${k}`);
    summary.firstChild.textContent = `${parts.join(', ') || 'no hosts enrolled'}${critical ? `; ${critical} with open critical alarms` : ''} `;
  }

  // Ages tick between pushes.
  setInterval(() => {
    var dt = Date.now() - receivedAt;
    tbody.querySelectorAll('td.silent').forEach((td) => {
      var v = td.getAttribute('data-silent');
      if (v === '' || v === null) return;
      td.textContent = silenceText(td.getAttribute('data-status'), Number(v) + dt);
    });
  }, 1000);

  var es = new EventSource('/events');
  es.addEventListener('hosts', (e) => {
    render(JSON.parse(e.data));
  });
  es.onopen = () => {
    live.textContent = '(live)';
    live.className = 'live on';
  };
  es.onerror = () => {
    live.textContent = '(reconnecting)';
    live.className = 'live';
  };
})();

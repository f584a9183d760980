(function () {
  "use strict";
  // Data arrives in an inert JSON block (type application/json); everything below builds the
  // DOM with textContent / createElement only, so a hostile skill name or description stays text.
  var node = document.getElementById("report-data");
  if (!node) return;
  var D = JSON.parse(node.textContent);
  var S = D.strings;
  var SEV = { critical: 0, error: 1, high: 1, warning: 2, medium: 2, info: 3, low: 3 };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function td(text, cls) { return el("td", cls, text); }
  function fmtTokens(n) {
    if (n === null || n === undefined) return "–";
    var units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(n) >= units[i][0]) {
        var v = n / units[i][0];
        return (v < 100 ? v.toFixed(1) : v.toFixed(0)) + units[i][1];
      }
    }
    return String(Math.round(n));
  }
  function fmtCost(v) {
    if (v === null || v === undefined) return "n/a";
    if (v === 0) return "$0";
    if (Math.abs(v) < 0.01) return "$" + v.toFixed(4);
    if (Math.abs(v) < 100) return "$" + v.toFixed(2);
    return "$" + Math.round(v).toLocaleString("en-US");
  }
  function fmtDur(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return s >= 1 ? Math.round(s) + "s" : s.toFixed(1) + "s";
    var m = s / 60;
    if (m < 60) return Math.round(m) + "m";
    var mm = Math.floor(m % 60);
    return Math.floor(m / 60) + "h " + (mm < 10 ? "0" : "") + mm + "m";
  }
  function locPath(l) { return S[l[0]] + l[1]; }
  function strs(ix) { return ix.map(function (i) { return S[i]; }); }
  function scoreClass(v) { return v >= 80 ? "good" : v >= 60 ? "ok" : "bad"; }
  function cmp(a, b) {
    // nulls last whatever the direction is handled by the caller
    if (typeof a === "string" || typeof b === "string") return String(a).localeCompare(String(b));
    return a - b;
  }

  // A small sortable, filterable, paginated table over row arrays.
  function Table(opts) {
    this.o = opts;
    this.sortKey = opts.sortKey;
    this.dir = opts.dir || 1;
    this.page = 0;
    this.open = {};
    this.rows = opts.rows;
    this.view = this.rows.slice();
    var self = this;
    var heads = document.querySelectorAll("#" + opts.table + " th.sort");
    Array.prototype.forEach.call(heads, function (th) {
      th.setAttribute("tabindex", "0");
      var go = function () {
        var k = th.getAttribute("data-key");
        if (self.sortKey === k) self.dir = -self.dir;
        else { self.sortKey = k; self.dir = opts.defaultDir[k] || 1; }
        self.page = 0;
        self.apply();
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
    });
  }
  Table.prototype.apply = function () {
    var o = this.o, key = this.sortKey, dir = this.dir, get = o.keys[key];
    this.view = this.rows.filter(o.filter);
    if (get) {
      this.view.sort(function (a, b) {
        var x = get(a), y = get(b);
        var xn = x === null || x === undefined, yn = y === null || y === undefined;
        if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1;
        return dir * cmp(x, y) || cmp(a[0], b[0]);
      });
    }
    var heads = document.querySelectorAll("#" + o.table + " th.sort");
    Array.prototype.forEach.call(heads, function (th) {
      var k = th.getAttribute("data-key");
      if (k === key) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    var pages = Math.max(1, Math.ceil(this.view.length / o.pageSize));
    if (this.page >= pages) this.page = pages - 1;
    this.draw(pages);
  };
  Table.prototype.draw = function (pages) {
    var o = this.o, body = document.getElementById(o.body), self = this;
    body.textContent = "";
    var start = this.page * o.pageSize, slice = this.view.slice(start, start + o.pageSize);
    if (!slice.length) {
      var tr = el("tr"), c = td("Nothing matches these filters.", "muted");
      c.colSpan = o.cols;
      tr.appendChild(c);
      body.appendChild(tr);
    }
    slice.forEach(function (r) {
      var tr = o.row(r);
      tr.classList.add("row");
      tr.setAttribute("data-id", r[0]);
      tr.tabIndex = 0;
      var toggle = function () {
        if (self.open[r[0]]) delete self.open[r[0]]; else self.open[r[0]] = true;
        self.draw(pages);
      };
      tr.addEventListener("click", toggle);
      tr.addEventListener("keydown", function (ev) { if (ev.key === "Enter") toggle(); });
      body.appendChild(tr);
      if (self.open[r[0]]) {
        tr.classList.add("open");
        var dr = el("tr", "detail"), dc = el("td", "detail");
        dc.colSpan = o.cols;
        dc.appendChild(o.detail(r));
        dr.appendChild(dc);
        body.appendChild(dr);
      }
    });
    var pager = document.getElementById(o.pager);
    pager.textContent = "";
    var info = el("span", null, this.view.length ? (start + 1) + "–" + (start + slice.length) + " of " + this.view.length : "0 of 0");
    var prev = el("button", null, "← Prev"), next = el("button", null, "Next →");
    prev.type = next.type = "button";
    prev.disabled = this.page === 0;
    next.disabled = this.page >= pages - 1;
    prev.addEventListener("click", function () { self.page--; self.draw(pages); });
    next.addEventListener("click", function () { self.page++; self.draw(pages); });
    pager.appendChild(info);
    pager.appendChild(prev);
    pager.appendChild(el("span", null, "page " + (this.page + 1) + " / " + pages));
    pager.appendChild(next);
    if (o.onDraw) o.onDraw(this.view.length);
  };

  // -- skills ------------------------------------------------------------------------------------------------
  function worstSev(r) {
    var w = 9;
    r[12].forEach(function (f) { var s = SEV[S[f[2]]]; if (s === undefined) s = 3; if (s < w) w = s; });
    return w;
  }
  function skillRow(r) {
    var tr = el("tr");
    var name = td(null);
    name.appendChild(el("div", "skill-name", r[1]));
    if (r[2]) name.appendChild(el("div", "sub", r[2].length > 110 ? r[2].slice(0, 110) + "…" : r[2]));
    tr.appendChild(name);
    var ag = td(null), wrap = el("div", "agents");
    r[3].forEach(function (a) { wrap.appendChild(el("span", "tag", S[a])); });
    ag.appendChild(wrap);
    tr.appendChild(ag);
    tr.appendChild(td(r[4].map(function (x) { return S[x]; }).join(", "), "small"));
    var sc = td(null, "num");
    if (r[5] === null || r[5] === undefined) sc.appendChild(el("span", "muted", "–"));
    else sc.appendChild(el("span", "pill " + scoreClass(r[5]), Math.round(r[5])));
    tr.appendChild(sc);
    var fc = td(null, "num");
    if (r[12].length) {
      var w = worstSev(r);
      fc.appendChild(el("span", "sev " + (w <= 1 ? "sev-error" : w === 2 ? "sev-warning" : "sev-info"), r[12].length));
    } else fc.appendChild(el("span", "muted", "0"));
    tr.appendChild(fc);
    var dup = td(null, "num");
    if (r[6] !== null && r[6] !== undefined) dup.appendChild(el("span", "tag tag-near", "#" + r[6]));
    else dup.appendChild(el("span", "muted", "–"));
    tr.appendChild(dup);
    tr.appendChild(td(r[11], "num"));
    var lu = td(null, "nowrap");
    if (!r[11]) lu.appendChild(el("span", "tag tag-never", "never used"));
    else lu.appendChild(el("span", null, r[7] || "–"));
    tr.appendChild(lu);
    tr.appendChild(td(r[9] ? r[9].slice(0, 10) : "–", "muted nowrap"));
    return tr;
  }
  function skillDetail(r) {
    var box = el("div", "detail-grid");
    var left = el("div"), right = el("div");
    left.appendChild(el("h4", null, "Description"));
    left.appendChild(el("p", "desc" + (r[2] ? "" : " muted"), r[2] || "(none)"));
    left.appendChild(el("h4", null, "Findings (" + r[12].length + ")"));
    if (!r[12].length) left.appendChild(el("p", "muted", "No findings."));
    else {
      var ul = el("ul");
      r[12].slice().sort(function (a, b) { return (SEV[S[a[2]]] || 3) - (SEV[S[b[2]]] || 3); }).forEach(function (f) {
        var li = el("li", "f");
        var head = el("div");
        head.appendChild(el("span", "sev sev-" + S[f[2]], S[f[2]]));
        head.appendChild(document.createTextNode(" "));
        head.appendChild(el("code", null, S[f[1]]));
        head.appendChild(el("span", "sub", " · " + S[f[0]]));
        li.appendChild(head);
        li.appendChild(el("div", null, S[f[3]]));
        if (S[f[4]]) {
          var fix = el("div", "fix");
          fix.appendChild(el("span", "fix-label", "Fix"));
          fix.appendChild(document.createTextNode(" " + S[f[4]]));
          li.appendChild(fix);
        }
        ul.appendChild(li);
      });
      left.appendChild(ul);
    }
    right.appendChild(el("h4", null, "Locations (" + r[13].length + ")"));
    var locs = el("ul");
    r[13].forEach(function (l) {
      var li = el("li", "loc");
      li.appendChild(el("div", null, locPath(l)));
      var meta = el("div", "sub", S[l[2]] + " · " + S[l[3]]);
      if (l[4]) { meta.appendChild(document.createTextNode(" ")); meta.appendChild(el("span", "tag tag-link", "link")); }
      li.appendChild(meta);
      locs.appendChild(li);
    });
    right.appendChild(locs);
    var facts = el("p", "sub");
    facts.style.marginTop = "12px";
    var bits = ["id " + r[0]];
    if (r[14] !== null && r[14] !== undefined) bits.push(r[14] + " files");
    if (r[15]) bits.push("tile " + r[15]);
    bits.push(r[11] + " activations");
    if (r[10] !== null && r[10] !== undefined) bits.push("changed " + r[10] + " days ago");
    facts.textContent = bits.join(" · ");
    right.appendChild(facts);
    box.appendChild(left);
    box.appendChild(right);
    return box;
  }

  // Fill in days since last use / last change from the dates (kept out of the payload to keep it small).
  var today = Date.parse(D.today);
  function daysSince(d) { return d ? Math.round((today - Date.parse(String(d).slice(0, 10))) / 864e5) : null; }
  D.skills.forEach(function (r) { r[8] = daysSince(r[7]); r[10] = daysSince(r[9]); });

  var F = {};
  function val(id) { var e = document.getElementById(id); return e ? e.value : ""; }
  function skillFilter(r) {
    if (F.text) {
      var hay = (r[1] + "\n" + r[2] + "\n" + r[13].map(locPath).join("\n")).toLowerCase();
      if (hay.indexOf(F.text) < 0) return false;
    }
    if (F.agent && !r[3].some(function (a) { return S[a] === F.agent; })) return false;
    if (F.scope && !r[4].some(function (a) { return S[a] === F.scope; })) return false;
    if (F.score) {
      var v = r[5];
      if (F.score === "none") { if (v !== null && v !== undefined) return false; }
      else if (v === null || v === undefined || scoreClass(v) !== F.score) return false;
    }
    if (F.stale) {
      var d = r[8];
      if (F.stale === "never" && r[11]) return false;
      if (F.stale === "unused" && d !== null && d !== undefined && d <= D.neverUsedDays) return false;
      if (F.stale === "recent" && (d === null || d === undefined || d > D.neverUsedDays)) return false;
      if (F.stale === "old" && (r[10] === null || r[10] === undefined || r[10] < 180)) return false;
    }
    if (F.dup === "yes" && (r[6] === null || r[6] === undefined)) return false;
    if (F.dup === "no" && r[6] !== null && r[6] !== undefined) return false;
    if (F.used && (r[8] === null || r[8] === undefined || r[8] > +F.used)) return false;
    return true;
  }
  if (document.getElementById("skills-body")) {
    var total = D.skills.length;
    var skills = new Table({
      table: "skills-table", body: "skills-body", pager: "skills-pager", cols: 9, pageSize: 50,
      rows: D.skills, row: skillRow, detail: skillDetail, filter: skillFilter,
      sortKey: "findings", dir: -1,
      defaultDir: { score: 1, findings: -1, activations: -1, last_used: -1, last_changed: -1, group: 1, name: 1 },
      keys: {
        name: function (r) { return r[1].toLowerCase(); },
        score: function (r) { return r[5]; },
        findings: function (r) { return r[12].length ? r[12].length * 10 + (9 - worstSev(r)) : 0; },
        group: function (r) { return r[6]; },
        activations: function (r) { return r[11]; },
        last_used: function (r) { return r[7]; },
        last_changed: function (r) { return r[9]; }
      },
      onDraw: function (n) {
        document.getElementById("skills-count").textContent = n === total ? String(total) : n + " of " + total;
      }
    });
    var ids = ["f-text", "f-agent", "f-scope", "f-score", "f-stale", "f-dup", "f-used"];
    var names = ["text", "agent", "scope", "score", "stale", "dup", "used"];
    ids.forEach(function (id, i) {
      var e = document.getElementById(id);
      e.addEventListener(id === "f-text" ? "input" : "change", function () {
        F[names[i]] = i === 0 ? val(id).trim().toLowerCase() : val(id);
        skills.page = 0;
        skills.apply();
      });
    });
    skills.apply();
  }

  // -- sessions ----------------------------------------------------------------------------------------------
  var SF = { text: "" };
  function sessionRow(r) {
    var tr = el("tr");
    tr.appendChild(td(r[3] ? r[3].slice(0, 16).replace("T", " ") : "–", "nowrap"));
    var p = td(null);
    var name = el("div", "project", S[r[16]] || S[r[1]]);  // short name; the full path on hover
    name.title = S[r[1]];
    p.appendChild(name);
    if (S[r[2]]) p.appendChild(el("div", "sub", S[r[2]]));
    tr.appendChild(p);
    tr.appendChild(td(fmtTokens(r[6]), "num"));
    tr.appendChild(td(fmtCost(r[7]), "num"));
    var tc = td(String(r[8]), "num");
    if (r[9]) { tc.appendChild(document.createTextNode(" ")); tc.appendChild(el("span", "sev sev-error", r[9] + " err")); }
    tr.appendChild(tc);
    var sk = td(null), w = el("div", "agents");
    strs(r[10]).slice(0, 4).forEach(function (s) { w.appendChild(el("span", "tag", s)); });
    if (r[10].length > 4) w.appendChild(el("span", "sub", "+" + (r[10].length - 4)));
    sk.appendChild(w);
    tr.appendChild(sk);
    tr.appendChild(td(fmtDur(r[4]), "num"));
    tr.appendChild(td(fmtDur(r[5]), "num"));
    return tr;
  }
  function sessionDetail(r) {
    var box = el("div");
    var facts = [
      ["Session", r[0]], ["Model", S[r[11]] || "–"], ["Messages", r[12] + " from you"],
      ["Tools", strs(r[15]).join(", ") || "none"], ["Subagents", String(r[13])], ["MCP calls", String(r[14])],
      ["Skills", strs(r[10]).join(", ") || "none"]
    ];
    var dl = el("div", "detail-grid");
    facts.forEach(function (f) {
      var d = el("div");
      d.appendChild(el("h4", null, f[0]));
      d.appendChild(el("div", f[0] === "Session" ? "path" : null, f[1]));
      dl.appendChild(d);
    });
    box.appendChild(dl);
    return box;
  }
  if (document.getElementById("sessions-body")) {
    var sessions = new Table({
      table: "sessions-table", body: "sessions-body", pager: "sessions-pager", cols: 8, pageSize: 25,
      rows: D.sessions, row: sessionRow, detail: sessionDetail,
      filter: function (r) {
        if (!SF.text) return true;
        var hay = (r[0] + "\n" + S[r[1]] + "\n" + S[r[2]] + "\n" + strs(r[10]).join("\n") + "\n" + S[r[11]]).toLowerCase();
        return hay.indexOf(SF.text) >= 0;
      },
      sortKey: "started", dir: -1,
      defaultDir: { started: -1, project: 1, tokens: -1, cost: -1, tools: -1, duration: -1, active: -1 },
      keys: {
        started: function (r) { return r[3]; },
        project: function (r) { return S[r[1]]; },
        tokens: function (r) { return r[6]; },
        cost: function (r) { return r[7]; },
        tools: function (r) { return r[8]; },
        duration: function (r) { return r[4]; },
        active: function (r) { return r[5]; }
      },
      onDraw: function () {}
    });
    document.getElementById("s-text").addEventListener("input", function (ev) {
      SF.text = ev.target.value.trim().toLowerCase();
      sessions.page = 0;
      sessions.apply();
    });
    sessions.apply();
  }

  // The period control: every usage panel (overview figures, chart, tables) has one copy per period,
  // rendered in the page; choosing a period shows that copy and hides the others.
  function showPeriod(key) {
    Array.prototype.forEach.call(document.querySelectorAll(".period-panel"), function (p) {
      p.hidden = p.getAttribute("data-period").split(" ").indexOf(key) < 0;
    });
    Array.prototype.forEach.call(document.querySelectorAll(".period-btn:not(.link)"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-period") === key ? "true" : "false");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".period-btn"), function (b) {
    b.addEventListener("click", function () { showPeriod(b.getAttribute("data-period")); });
  });
})();

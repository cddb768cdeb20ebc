// The access report's page: every value from the embedded JSON is placed with textContent,
// never parsed as HTML. The matrix draws only the rows in view, so thousands of people open
// at once.
(function () {
  "use strict";
  const R = JSON.parse(document.getElementById("report-data").textContent);
  const ROW = 28;
  const BUFFER = 20;
  const $ = (id) => document.getElementById(id);

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const accounts = R.accounts;
  const sets = R.permission_sets;
  const people = R.people;
  const adminSet = sets.map((ps) => Boolean(ps.administrator));
  // A person's access is flat: account, combination, account, combination ...; a combination
  // is a list of kinds, a kind a [permission set, why] pair. Expanded per person on first use.
  const combos = R.combos.map((combo) => combo.map((kind) => R.kinds[kind]));
  const expanded = new Map();
  function cellsOf(person) {
    let cells = expanded.get(person);
    if (!cells) {
      cells = new Map();
      const flat = people[person].access;
      for (let i = 0; i < flat.length; i += 2) cells.set(flat[i], combos[flat[i + 1]]);
      expanded.set(person, cells);
    }
    return cells;
  }
  const accountLabel = (a) => `${a.name} (${a.id})`;
  const cellText = (names) => names.join(", ");
  // Each column as wide as its widest cell (every permission set shown, none cut), measured
  // once over the distinct combinations, so the columns keep their width as rows scroll.
  const comboText = combos.map((combo) => cellText([...new Set(combo.map(([ps]) => sets[ps].name))].sort()));
  const widest = accounts.map((a) => a.name.length + 2);
  for (const p of people) {
    for (let i = 0; i < p.access.length; i += 2) {
      widest[p.access[i]] = Math.max(widest[p.access[i]], comboText[p.access[i + 1]].length);
    }
  }
  const topUnit = (ou) => ou.split("/")[1] || "";

  // --- header -----------------------------------------------------------------------------
  $("view-label").textContent = R.view_label;
  const reached = people.filter((p) => p.access.length).length;
  const reach = accounts.map(() => 0);
  for (const p of people) for (let i = 0; i < p.access.length; i += 2) reach[p.access[i]] += 1;
  $("summary").textContent =
    `Generated ${R.generated}. ${people.length} people (${reached} with access), ` +
    `${accounts.length} accounts, ${sets.length} permission sets.`;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  function showTab(name) {
    for (const button of document.querySelectorAll("#tabs button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const section of document.querySelectorAll("section.tab")) {
      section.hidden = section.id !== `tab-${name}`;
    }
    if (name === "matrix") drawRows();
  }

  // --- filters ----------------------------------------------------------------------------
  function options(select, entries) {
    for (const [value, label] of entries) select.append(el("option", { value, text: label }));
  }
  options($("filter-group"), R.groups.map((g, i) => [i, g.name === g.email ? g.email : `${g.name} (${g.email})`]));
  options($("filter-ou"), R.units.map((u) => [u.path, u.path]));
  options($("filter-account"), accounts.map((a, i) => [i, accountLabel(a)]));
  options($("filter-permission-set"), sets.map((ps, i) => [i, ps.name]));
  // Mapped HR attributes (rules: attributes.user): "Cost center: CC-200", ...
  const attributeChoices = [...new Set(people.flatMap((p) =>
    Object.entries(p.attributes).map(([label, value]) => `${label}: ${value}`)))].sort();
  options($("filter-attribute"), attributeChoices.map((choice) => [choice, choice]));
  $("filter-attribute").closest("label").hidden = attributeChoices.length === 0;
  const filterIds = ["filter-person", "filter-group", "filter-attribute", "filter-ou", "filter-account", "filter-permission-set", "filter-with-access"];
  for (const id of filterIds) $(id).addEventListener("input", applyFilters);
  $("filter-clear").addEventListener("click", () => {
    $("filters").reset();
    applyFilters();
  });

  let columns = [];
  let rows = [];
  let picked = null; // [person index, account index]
  let drawn = null; // the rows window on screen; a scroll that keeps it redraws nothing

  function inUnit(account, path) {
    return path === "/" || account.ou === path || account.ou.startsWith(path + "/");
  }

  function cellEntries(person, account, setFilter) {
    const entries = cellsOf(person).get(account) || [];
    return setFilter === null ? entries : entries.filter(([ps]) => ps === setFilter);
  }

  function reachesAny(flat, shown, setFilter) {
    for (let i = 0; i < flat.length; i += 2) {
      if (!shown.has(flat[i])) continue;
      if (setFilter === null || combos[flat[i + 1]].some(([ps]) => ps === setFilter)) return true;
    }
    return false;
  }

  function applyFilters() {
    const text = $("filter-person").value.trim().toLowerCase();
    const group = $("filter-group").value === "" ? null : Number($("filter-group").value);
    const attribute = $("filter-attribute").value;
    const unit = $("filter-ou").value;
    const account = $("filter-account").value === "" ? null : Number($("filter-account").value);
    const setFilter = $("filter-permission-set").value === "" ? null : Number($("filter-permission-set").value);
    const needAccess = $("filter-with-access").checked || unit !== "" || account !== null || setFilter !== null;
    columns = accounts
      .map((a, i) => i)
      .filter((i) => (account === null || i === account) && (unit === "" || inUnit(accounts[i], unit)));
    rows = [];
    const shown = new Set(columns);
    people.forEach((p, i) => {
      if (text && !p.email.toLowerCase().includes(text) && !p.name.toLowerCase().includes(text)) return;
      if (group !== null && !p.groups.includes(group)) return;
      if (attribute && !Object.entries(p.attributes).some(([l, v]) => `${l}: ${v}` === attribute)) return;
      if (needAccess && !reachesAny(p.access, shown, setFilter)) return;
      rows.push(i);
    });
    if (picked && !(rows.includes(picked[0]) && columns.includes(picked[1]))) {
      picked = null; // the why follows the selection: it goes when its cell is filtered out
      $("why").hidden = true;
    }
    $("matrix-count").textContent = `${rows.length} of ${people.length} people × ${columns.length} accounts`;
    drawHead();
    $("matrix-scroll").scrollTop = 0;
    drawRows(true);
  }

  function drawHead() {
    const head = $("matrix").tHead;
    head.replaceChildren();
    const units = el("tr");
    const names = el("tr");
    units.append(el("th", { class: "person corner", rowspan: 2, text: "Person" }));
    let last = null;
    for (const i of columns) {
      const a = accounts[i];
      const unit = topUnit(a.ou); // columns grouped by top-level OU, as the Organization is
      if (last && last.unit === unit) last.cell.colSpan += 1;
      else {
        const path = unit ? `/${unit}` : "/";
        last = { unit, cell: el("th", { class: "unit", "data-ou": path, title: path, text: unit || "Root" }) };
        units.append(last.cell);
      }
      names.append(
        el("th", {
          "data-account": a.id,
          title: `${accountLabel(a)} in ${a.ou}` + (a.management ? " — management account" : ""),
          style: `min-width: calc(${widest[i]}ch + 12px)`,
        }, a.name + (a.management ? " ★" : ""))
      );
    }
    head.append(units, names);
  }

  // Cells are replaced only when what they show changes: a cell replaced between a press and
  // a release under the pointer would lose the click.
  function drawRows(changed = false) {
    const scroll = $("matrix-scroll");
    const body = $("matrix").tBodies[0];
    const first = Math.max(0, Math.floor(scroll.scrollTop / ROW) - BUFFER);
    const count = Math.ceil(scroll.clientHeight / ROW) + 2 * BUFFER;
    const last = Math.min(rows.length, first + count);
    if (!changed && drawn && drawn[0] === first && drawn[1] === last) return;
    drawn = [first, last];
    const setFilter = $("filter-permission-set").value === "" ? null : Number($("filter-permission-set").value);
    const fragment = document.createDocumentFragment();
    fragment.append(spacer(first * ROW));
    for (let r = first; r < last; r++) {
      const index = rows[r];
      const p = people[index];
      const row = el("tr", { "data-person": p.email, "data-index": index });
      row.append(
        el("th", { class: "person" + (p.status === "active" ? "" : " inactive"), title: p.status },
          p.email, p.name ? el("small", { text: p.name }) : null,
          p.status === "active" ? null : el("small", { text: p.status }))
      );
      for (const a of columns) {
        const entries = cellEntries(index, a, setFilter);
        const names = [...new Set(entries.map(([ps]) => sets[ps].name))].sort();
        const text = cellText(names);
        const admin = entries.some(([ps]) => adminSet[ps]);
        const isPicked = picked && picked[0] === index && picked[1] === a;
        const cell = el("td", {
          "data-account": accounts[a].id,
          "data-column": a,
          class: [admin ? "admin" : "", isPicked ? "picked" : ""].join(" ").trim() || null,
          title: text || null,
          text,
        });
        row.append(cell);
      }
      fragment.append(row);
    }
    fragment.append(spacer((rows.length - last) * ROW));
    body.replaceChildren(fragment);
  }

  function spacer(height) {
    const row = el("tr", { class: "spacer", "aria-hidden": "true" });
    row.append(el("td", { colspan: columns.length + 1, style: `height:${height}px` }));
    return row;
  }

  function explain(person, account) {
    picked = [person, account];
    const p = people[person];
    const a = accounts[account];
    const panel = $("why");
    panel.hidden = false;
    panel.replaceChildren(
      el("h3", { text: "Why" }),
      el("p", {}, el("strong", { text: p.email }), ` in ${accountLabel(a)} (${a.ou})`)
    );
    const facts = Object.entries(p.attributes);
    if (facts.length) {
      panel.append(el("p", { class: "attributes", text: facts.map(([l, v]) => `${l}: ${v}`).join(" · ") }));
    }
    const entries = cellsOf(person).get(account) || [];
    if (!entries.length) {
      panel.append(el("p", { class: "none", text: "No access here." }));
    } else {
      const list = el("ul");
      for (const [ps, why] of entries) {
        const reason = whyText(p, R.whys[why]);
        list.append(
          el("li", { "data-permission-set": sets[ps].name },
            el("strong", { text: sets[ps].name }),
            sets[ps].administrator ? el("span", { class: "tag flag", text: "administrator" }) : null,
            el("br"), reason)
        );
      }
      panel.append(list);
    }
    panel.append(el("button", { type: "button", text: "Close" }));
    panel.lastChild.addEventListener("click", closeWhy);
    drawRows(true);
  }

  function closeWhy() {
    $("why").hidden = true;
    picked = null;
    drawRows(true);
  }

  $("matrix").tBodies[0].addEventListener("click", (event) => {
    const cell = event.target.closest("td[data-column]");
    if (cell) explain(Number(cell.parentElement.dataset.index), Number(cell.dataset.column));
  });

  // A why names the group; the nested groups a person is in it through are the person's.
  function whyText(person, why) {
    const through = why.group ? person.through[why.group] : null;
    if (!through || !through.length) return why.text;
    return `${why.member_of} through ${through.join(", ")}${why.text.slice(why.member_of.length)}`;
  }

  let pending = false;
  $("matrix-scroll").addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      drawRows();
    });
  });
  window.addEventListener("resize", () => drawRows());

  // --- organization -----------------------------------------------------------------------
  function drawOrganization() {
    const section = $("tab-organization");
    const tree = el("div", { class: "tree" });
    const scps = (list) => (list ? list.map((n) => el("span", { class: "tag scp", text: `SCP ${n}` })) : []);
    const lists = new Map();
    const top = el("ul");
    tree.append(top);
    for (const unit of R.units) {
      const parent = unit.path === "/" ? top : lists.get(unit.path.slice(0, unit.path.lastIndexOf("/")) || "/") || top;
      const item = el("li", { "data-ou": unit.path },
        el("span", { class: "unit", text: unit.path === "/" ? "Root" : unit.path.split("/").pop() }), " ", ...scps(unit.scps));
      const children = el("ul");
      item.append(children);
      parent.append(item);
      lists.set(unit.path, children);
      accounts.forEach((a, i) => {
        if (a.ou !== unit.path) return;
        const tags = Object.entries(a.tags)
          .filter(([, v]) => v !== a.owner)
          .map(([k, v]) => el("span", { class: "tag", text: `${k}=${v}` }));
        children.append(
          el("li", { class: "account", "data-account": a.id },
            `${accountLabel(a)} `,
            a.management ? el("span", { class: "tag flag", text: "management account" }) : null,
            a.sensitive ? el("span", { class: "tag flag", text: "sensitive data" }) : null,
            a.owner ? el("span", { class: "tag", text: `owner ${a.owner}` }) : null,
            ...tags, ...scps(a.scps), ` — ${reach[i]} people reach it`)
        );
      });
    }
    section.replaceChildren(el("h2", { text: "Organizational units and accounts" }));
    if (!R.scps_read) {
      section.append(el("p", { class: "none", text: "SCPs could not be read from the account the report ran in." }));
    }
    section.append(tree);
  }

  // --- risks ------------------------------------------------------------------------------
  function table(headings, body) {
    const t = el("table", { class: "plain" });
    t.append(el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { text: h })))));
    const tbody = el("tbody");
    for (const row of body) tbody.append(el("tr", {}, ...row.map((c) => el("td", { text: c }))));
    t.append(tbody);
    return t;
  }
  function orNone(rowsOf, make, empty) {
    return rowsOf.length ? make(rowsOf) : el("p", { class: "none", text: empty });
  }
  function adminPlaces(where) {
    const bySet = new Map();
    for (const place of where) {
      for (const name of place.permission_sets) {
        if (!bySet.has(name)) bySet.set(name, []);
        bySet.get(name).push(place.account);
      }
    }
    return [...bySet]
      .map(([name, places]) =>
        `${name} in ${places.length === accounts.length ? `every account (${places.length})` : places.join(", ")}`)
      .join("; ");
  }
  function drawRisks() {
    const risk = R.risk;
    $("tab-risks").replaceChildren(
      el("h2", { text: "Administrator-level permission sets" }),
      orNone(risk.administrator_sets, (r) => table(["Permission set", "Why"], r.map((s) => [s.name, s.reason])), "None."),
      el("h2", { text: "Who has administrator-level access, where" }),
      el("div", { id: "risk-administrators" },
        orNone(risk.administrators,
          (r) => table(["Person", "Where"], r.map((x) => [x.person, adminPlaces(x.where)])),
          "Nobody.")),
      el("h2", { text: "Who reaches the management account" }),
      el("div", { id: "risk-management" },
        orNone(risk.management, (r) => table(["Person", "Permission sets"], r.map((x) => [x.person, x.permission_sets.join(", ")])), "Nobody.")),
      el("h2", { text: "Who reaches sensitive data" }),
      el("div", { id: "risk-sensitive" },
        orNone(risk.sensitive,
          (r) => el("div", {}, ...r.map((s) => el("div", {}, el("h3", { text: s.account }),
            table(["Person", "Permission sets"], s.people.map((x) => [x.person, x.permission_sets.join(", ")]))))),
          "No account is marked sensitive (a tag value sensitive, restricted or confidential, or 'sensitive' in its name or OU).")),
      el("h2", { text: "In Identity Center, outside the rules (left alone by sso-sync)" }),
      el("div", { id: "risk-outside" },
        risk.outside_rules === null
          ? el("p", { class: "none", text: "This view shows the rules' outcome; the live view (sso-sync report --live) lists the assignments Identity Center holds that no rule makes." })
          : orNone(risk.outside_rules,
            (r) => table(["Principal", "Account", "Permission set", "People"], r.map((x) => [x.principal, x.account, x.permission_set, String(x.people)])),
            "None: every assignment comes from a rule."))
    );
  }

  // --- changes ----------------------------------------------------------------------------
  function drawChanges() {
    const changes = R.changes;
    if (!changes) {
      $("tab-changes").replaceChildren(
        el("p", { class: "none", text: "No earlier report to compare with (sso-sync report --since PREVIOUS.json; the Lambda compares with its last report)." })
      );
      return;
    }
    // A row a person: a rename as old → new, each access granted or removed with its why.
    const accessList = (items, kind) => {
      const list = el("ul", { class: kind });
      for (const item of items) list.append(el("li", {}, el("strong", { text: item.access }), el("br"), el("small", { text: item.why })));
      return el("td", { class: kind }, items.length ? list : null);
    };
    const body = changes.people.map((c) => {
      const who = el("td", { class: "person" }, c.renamed_from ? `${c.renamed_from} → ${c.person}` : c.person);
      if (c.status !== "active") who.append(el("br"), el("small", { text: c.status }));
      return el("tr", { "data-person": c.person }, who, accessList(c.granted, "granted"), accessList(c.removed, "removed"));
    });
    const t = el("table", { class: "plain", id: "changes" });
    t.append(el("thead", {}, el("tr", {}, el("th", { text: "Person" }), el("th", { text: "Granted, and why" }), el("th", { text: "Removed, and why" }))));
    t.append(el("tbody", {}, ...body));
    $("tab-changes").replaceChildren(
      el("p", { text: `Since the report of ${changes.since} (${changes.previous_view} view):` }),
      body.length ? t : el("p", { class: "none", text: "No access granted or removed." })
    );
  }

  drawOrganization();
  drawRisks();
  drawChanges();
  applyFilters();
})();

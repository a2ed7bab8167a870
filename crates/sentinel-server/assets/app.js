// Sentinel dashboard behaviour. Plain ES2020, no modules, no build step.
//
// The pages are served with `script-src 'self'; style-src 'self'`, so everything here hangs off
// data attributes through delegated listeners: no inline handlers, no eval, no style attributes
// in markup (styles set through the CSSOM, as uPlot does, are allowed by CSP).
//
// It works deferred or not, before or after htmx; loaded in <head> without `defer` the stored theme
// applies before first paint (deferred, a forced theme can flash the system one for a frame).
//
// Hooks:
//   [data-chart]           container holding <script type="application/json">{x, series, unit}</script>
//   meta[name=csrf-token]  sent as X-CSRF-Token on every htmx request
//   [data-copy="ID"]       button copying the text of #ID, then showing "Copied"
//   [data-confirm="TEXT"]  form or button asking confirm(TEXT) before it submits
//   [data-theme-toggle]    button cycling light → dark → system (stored in localStorage)
//   [data-pause-when-checked]  element polled by htmx: no refresh while a checkbox in it is ticked
//   time[datetime]         when its text is the raw timestamp: shown as local time, relative if recent
//   .snippet > details, details.snippet   one open at a time (tabs)
(function () {
  "use strict";

  const THEME_KEY = "sentinel-theme";
  const THEMES = ["light", "dark", "system"];
  const THEME_LABELS = { light: "Light", dark: "Dark", system: "System" };

  // --- htmx ------------------------------------------------------------------------------------

  // Called now and again at DOMContentLoaded: whichever script loads first, this runs before htmx
  // initialises the page (its meta[name=htmx-config] may set the same).
  function configureHtmx() {
    if (!window.htmx) {
      return;
    }
    const config = window.htmx.config;
    // Its default injects a <style> element, which CSP refuses; app.css has the same rules.
    config.includeIndicatorStyles = false;
    // hx-on and js: filters compile strings to functions, which CSP refuses anyway.
    config.allowEval = false;
    // Page snapshots in localStorage would keep event data on the machine; reload instead.
    config.historyCacheSize = 0;
    config.refreshOnHistoryMiss = true;
  }
  configureHtmx();

  document.addEventListener("htmx:configRequest", (event) => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      event.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });

  // A poll would replace the rows someone is ticking for a bulk action.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const element = event.detail && event.detail.elt;
    if (
      element instanceof Element &&
      element.hasAttribute("data-pause-when-checked") &&
      element.querySelector('input[type="checkbox"]:checked')
    ) {
      event.preventDefault();
    }
  });

  // --- theme -----------------------------------------------------------------------------------

  function storedTheme() {
    try {
      const value = window.localStorage.getItem(THEME_KEY);
      return value === "light" || value === "dark" ? value : "system";
    } catch (_) {
      return "system"; // storage disabled: follow the system
    }
  }

  function applyTheme(theme) {
    const root = document.documentElement;
    if (theme === "system") {
      root.removeAttribute("data-theme");
    } else {
      root.setAttribute("data-theme", theme);
    }
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      labelThemeButton(button, theme);
    }
  }

  function labelThemeButton(button, theme) {
    const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    button.setAttribute("data-theme-state", theme);
    button.title = `Theme: ${THEME_LABELS[theme]} (click for ${THEME_LABELS[next]})`;
    button.setAttribute("aria-label", button.title);
    const label = button.querySelector("[data-theme-label]") || (button.children.length ? null : button);
    if (label) {
      label.textContent = THEME_LABELS[theme];
    }
  }

  function cycleTheme() {
    const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
    try {
      if (next === "system") {
        window.localStorage.removeItem(THEME_KEY);
      } else {
        window.localStorage.setItem(THEME_KEY, next);
      }
    } catch (_) {
      // Not stored: the choice lasts until the next page load.
    }
    applyTheme(next);
    rerenderCharts();
  }

  // Before first paint when loaded in <head>.
  applyTheme(storedTheme());

  // Another tab changed the theme, or the system did while the page follows it.
  window.addEventListener("storage", (event) => {
    if (event.key === THEME_KEY) {
      applyTheme(storedTheme());
      rerenderCharts();
    }
  });
  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
  darkQuery.addEventListener("change", () => {
    if (storedTheme() === "system") {
      rerenderCharts();
    }
  });

  // --- delegated clicks and submits ------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }
    const toggle = target.closest("[data-theme-toggle]");
    if (toggle) {
      event.preventDefault();
      cycleTheme();
      return;
    }
    const copy = target.closest("[data-copy]");
    if (copy) {
      event.preventDefault();
      copyFrom(copy);
    }
  });

  // Capture phase, so a refusal also stops htmx's own listeners on the element.
  document.addEventListener(
    "click",
    (event) => {
      const target = event.target instanceof Element ? event.target : null;
      const button = target && target.closest("button[data-confirm], input[data-confirm], a[data-confirm]");
      if (!button) {
        return;
      }
      const form = button.form || null;
      if (form && form.hasAttribute("data-confirm") && isSubmitter(button)) {
        return; // the form asks when it submits
      }
      if (!window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) {
        return;
      }
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );

  function isSubmitter(element) {
    const type = (element.getAttribute("type") || "submit").toLowerCase();
    return type === "submit" || type === "image";
  }

  // --- copy buttons ----------------------------------------------------------------------------

  function copyFrom(button) {
    const source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    const text = ("value" in source && typeof source.value === "string" ? source.value : source.textContent).trim();
    const done = () => flashCopied(button);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => copyBySelection(source) && done());
    } else if (copyBySelection(source)) {
      done();
    }
  }

  // Plain http on a non-local host has no clipboard API: select the text and use the old command.
  function copyBySelection(source) {
    const selection = window.getSelection();
    if (!selection) {
      return false;
    }
    const range = document.createRange();
    range.selectNodeContents(source);
    selection.removeAllRanges();
    selection.addRange(range);
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (_) {
      copied = false;
    }
    // On failure the text stays selected, ready for Ctrl+C.
    if (copied) {
      selection.removeAllRanges();
    }
    return copied;
  }

  const copyTimers = new WeakMap();

  function flashCopied(button) {
    if (!copyTimers.has(button)) {
      button.setAttribute("data-label", button.textContent);
    }
    clearTimeout(copyTimers.get(button));
    button.textContent = "Copied";
    button.classList.add("copied");
    copyTimers.set(
      button,
      setTimeout(() => {
        button.textContent = button.getAttribute("data-label");
        button.classList.remove("copied");
        copyTimers.delete(button);
      }, 1500),
    );
  }

  // --- snippet tabs ----------------------------------------------------------------------------

  // `toggle` does not bubble; the capture phase still sees it. Browsers that know
  // <details name> do this themselves, this covers the others and details.snippet siblings.
  document.addEventListener(
    "toggle",
    (event) => {
      const details = event.target;
      if (!(details instanceof HTMLDetailsElement) || !details.open || !details.parentElement) {
        return;
      }
      const tabs = details.parentElement.classList.contains("snippet");
      if (!tabs && !details.classList.contains("snippet")) {
        return;
      }
      for (const other of details.parentElement.children) {
        const sibling = other instanceof HTMLDetailsElement && other !== details;
        if (sibling && (tabs || other.classList.contains("snippet"))) {
          other.open = false;
        }
      }
    },
    true,
  );

  // --- times -----------------------------------------------------------------------------------

  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const UNITS = [
    ["year", 31536000],
    ["month", 2592000],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];

  // Only times printed as their raw timestamp: a template that wrote its own text keeps it.
  function localizeTimes(root) {
    const scope = root && root.querySelectorAll ? root : document;
    for (const time of scope.querySelectorAll("time[datetime]")) {
      const raw = time.getAttribute("datetime");
      if (time.textContent.trim() !== raw) {
        continue;
      }
      const at = new Date(raw);
      if (Number.isNaN(at.getTime())) {
        continue;
      }
      time.title = raw;
      time.textContent = formatWhen(at);
    }
  }

  function formatWhen(at) {
    const seconds = (at.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) >= 7 * 86400) {
      return absolute.format(at);
    }
    if (Math.abs(seconds) < 45) {
      return relative.format(0, "second");
    }
    for (const [unit, size] of UNITS) {
      if (Math.abs(seconds) >= size) {
        return relative.format(Math.round(seconds / size), unit);
      }
    }
    return absolute.format(at);
  }

  // --- charts ----------------------------------------------------------------------------------

  const charts = new Map(); // container element → {plot, observer, width}
  const STEP = { minute: 60, hour: 3600, day: 86400 };
  const LEGEND_SPACE = 22;

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function readChart(container) {
    const script = container.querySelector('script[type="application/json"]');
    if (!script) {
      return null;
    }
    try {
      const data = JSON.parse(script.textContent);
      if (!Array.isArray(data.x) || !Array.isArray(data.series)) {
        return null;
      }
      return data;
    } catch (_) {
      return null;
    }
  }

  // Legend: the whole bucket time. Axis: one short line per tick (the date at midnight).
  function timeFormatters(unit) {
    const date = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
    const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
    const full = new Intl.DateTimeFormat(
      undefined,
      unit === "day"
        ? { year: "numeric", month: "short", day: "numeric" }
        : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    );
    const legend = (seconds) => full.format(new Date(seconds * 1000));
    const tick = (seconds) => {
      const at = new Date(seconds * 1000);
      const midnight = at.getHours() === 0 && at.getMinutes() === 0;
      return unit === "day" || midnight ? date.format(at) : clock.format(at);
    };
    return { legend, tick };
  }

  function numberFormatter() {
    const format = new Intl.NumberFormat();
    return (value) => (value == null ? "–" : format.format(value));
  }

  function chartOptions(data, width, height) {
    const step = STEP[data.unit] || (data.x.length > 1 ? data.x[1] - data.x[0] : 60);
    const formatTime = timeFormatters(data.unit);
    const formatNumber = numberFormatter();
    const axisColour = cssVar("--chart-axis", "#80708f");
    const gridColour = cssVar("--chart-grid", "rgba(128,128,128,0.15)");
    const font = `11px ${cssVar("--font-sans", "sans-serif")}`;
    const bars = window.uPlot.paths.bars({ size: [0.8, 48], gap: 1 });
    const colours = [1, 2, 3, 4].map((i) => cssVar(`--chart-${i}`, "#6c5fc7"));
    const axis = {
      stroke: axisColour,
      font,
      grid: { stroke: gridColour, width: 1 },
      ticks: { stroke: gridColour, width: 1, size: 4 },
    };
    return {
      width,
      height,
      padding: [LEGEND_SPACE, 8, 0, 0], // app.css lays the legend over the top strip
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => [min - step / 2, max + step / 2],
        },
        y: {
          range: (_u, _min, max) => [0, max > 0 ? niceCeiling(max) : 1],
        },
      },
      axes: [
        { ...axis, size: 30, space: 64, values: (_u, ticks) => ticks.map(formatTime.tick) },
        { ...axis, size: 44, space: 30, values: (_u, ticks) => ticks.map(formatNumber) },
      ],
      series: [
        // Not hovering: no time, and each series shows its total. app.css hides this label.
        { label: "Time", value: (_u, v) => (v == null ? "" : formatTime.legend(v)) },
        ...data.series.map((s, i) => ({
          label: s.label || "events",
          stroke: colours[i % colours.length],
          fill: colours[i % colours.length],
          width: 0,
          paths: bars,
          points: { show: false },
          value: (_u, v, _s, idx) => (idx == null ? `${formatNumber(sum(s.values))} total` : formatNumber(v)),
        })),
      ],
    };
  }

  function sum(values) {
    return values.reduce((total, v) => total + (typeof v === "number" ? v : 0), 0);
  }

  function niceCeiling(max) {
    const magnitude = 10 ** Math.floor(Math.log10(max));
    for (const m of [1, 2, 2.5, 5, 10]) {
      if (m * magnitude >= max * 1.05) {
        return m * magnitude;
      }
    }
    return 10 * magnitude;
  }

  function renderChart(container) {
    const entry = watchChart(container);
    const width = container.clientWidth;
    if (!window.uPlot || width === 0) {
      return; // hidden for now (closed <details>, display none): the observer renders it later
    }
    const data = readChart(container);
    if (!data) {
      return;
    }
    if (entry.plot) {
      entry.plot.destroy();
      entry.plot = null;
    }
    const height = Math.max(container.clientHeight, 80);
    const columns = [data.x, ...data.series.map((s) => s.values)];
    entry.plot = new window.uPlot(chartOptions(data, width, height), columns, container);
    entry.width = width;
  }

  // Re-renders the chart when its width changes; forgets it once htmx swapped it out.
  function watchChart(container) {
    let entry = charts.get(container);
    if (entry) {
      return entry;
    }
    entry = { plot: null, width: 0, observer: null };
    charts.set(container, entry);
    entry.observer = new ResizeObserver(() => {
      if (!container.isConnected) {
        forgetChart(container);
      } else if (container.clientWidth !== entry.width) {
        renderChart(container);
      }
    });
    entry.observer.observe(container);
    return entry;
  }

  function forgetChart(container) {
    const entry = charts.get(container);
    if (!entry) {
      return;
    }
    if (entry.plot) {
      entry.plot.destroy();
    }
    if (entry.observer) {
      entry.observer.disconnect();
    }
    charts.delete(container);
  }

  function renderCharts(root) {
    for (const container of charts.keys()) {
      if (!container.isConnected) {
        forgetChart(container);
      }
    }
    const scope = root && root.querySelectorAll ? root : document;
    const found = Array.from(scope.querySelectorAll("[data-chart]"));
    if (scope instanceof Element && scope.matches("[data-chart]")) {
      found.push(scope);
    }
    for (const container of found) {
      const entry = charts.get(container);
      // Rendered already (htmx:load also fires for the initial page): keep it.
      if (!entry || !entry.plot || !entry.plot.root.isConnected) {
        renderChart(container);
      }
    }
  }

  function rerenderCharts() {
    for (const container of Array.from(charts.keys())) {
      renderChart(container);
    }
  }

  // --- start -----------------------------------------------------------------------------------

  function start() {
    configureHtmx();
    applyTheme(storedTheme()); // label the toggle buttons, now that they exist
    localizeTimes(document);
    renderCharts(document);
    if (window.htmx) {
      window.htmx.onLoad((element) => {
        localizeTimes(element);
        renderCharts(element);
        for (const button of element.querySelectorAll ? element.querySelectorAll("[data-theme-toggle]") : []) {
          labelThemeButton(button, storedTheme());
        }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/* Donation Router donate widget. ES5, no dependencies, one global: window.DonationRouter.
 * Upgrades <a data-donation-widget> (or any link to this appeal's donate page) into a small
 * form that continues on the donate page in the top window. Anything unexpected leaves the
 * plain link exactly as the publisher wrote it. */
(function (w, d) {
  'use strict';
  if (w.DonationRouter || !d.querySelector || !Element.prototype.attachShadow) return;
  var script = d.currentScript || d.querySelector('script[src*="/embed.js"][data-appeal]');
  if (!script) return;
  var base = script.src.replace(/\/embed\.js(\?.*)?$/, '');
  var slug = script.getAttribute('data-appeal');
  var lang = script.getAttribute('data-lang') || (navigator.language || 'en');
  var CSS = ':host{all:initial;display:block;max-width:26rem;margin:1rem 0}' +
    '.w{font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;background:#fff;' +
    'border:2px solid #b00020;border-radius:8px;padding:1rem}' +
    '.t{font-weight:700;font-size:1.1rem;margin:0 0 .5rem}' +
    '.bar{height:.6rem;background:#e6e6e6;border-radius:.3rem;overflow:hidden}' +
    '.bar span{display:block;height:100%;background:#b00020}' +
    '.p{margin:.4rem 0 .8rem;font-size:.9rem}' +
    'fieldset{border:0;margin:0 0 .7rem;padding:0;display:flex;flex-wrap:wrap;gap:.4rem}' +
    'legend{font-weight:600;margin-bottom:.3rem;padding:0}' +
    'label{display:inline-flex;align-items:center;gap:.3rem;border:1px solid #6b6b6b;border-radius:4px;' +
    'padding:.35rem .6rem;cursor:pointer}' +
    'label.c{border:0;padding:0;margin:.2rem 0 .8rem;font-size:.9rem;align-items:flex-start}' +
    'input[type=text]{font:inherit;width:7rem;padding:.3rem;border:1px solid #6b6b6b;border-radius:4px}' +
    'button,.b{font:inherit;font-weight:700;color:#fff;background:#b00020;border:0;border-radius:4px;' +
    'padding:.6rem 1.2rem;cursor:pointer;width:100%}' +
    '.b{display:block;box-sizing:border-box;text-align:center;text-decoration:none}' +
    ':focus-visible{outline:3px solid #1d70b8;outline-offset:2px}' +
    '.s{font-size:.8rem;color:#4a4a4a;margin:.5rem 0 0}' +
    '.m{margin:0 0 .8rem;padding:.4rem .6rem;background:#f3f2f1;border-left:4px solid #1d70b8;font-size:.9rem}' +
    '[hidden]{display:none}';

  function get(url, done) {
    var x = new XMLHttpRequest();
    x.open('GET', url, true);
    x.timeout = 8000;
    x.onload = function () {
      var data = null;
      try { if (x.status === 200) data = JSON.parse(x.responseText); } catch (e) { data = null; }
      done(data);
    };
    x.onerror = x.ontimeout = function () { done(null); };
    x.send();
  }

  function el(tag, attrs, text) {
    var n = d.createElement(tag);
    for (var k in attrs) if (attrs.hasOwnProperty(k)) n.setAttribute(k, attrs[k]);
    if (text) n.textContent = text;
    return n;
  }

  function decoded(v) {
    try { return decodeURIComponent((v || '').replace(/\+/g, ' ')); } catch (e) { return v || ''; }
  }

  function fill(s, key, value) { return s.split('{' + key + '}').join(value); }

  // The donor's typed amount in minor units, or null (the donate page then asks again).
  function minor(text, exp) {
    var m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text || '');
    if (!m || (m[2] && m[2].length > exp)) return null;
    var frac = (m[2] || '') + '00';
    return parseInt(m[1], 10) * Math.pow(10, exp) + (exp ? parseInt(frac.slice(0, exp), 10) : 0);
  }

  function coverFor(gift, fee) {
    var total = Math.ceil((gift + fee.fixed) / (1 - fee.percent / 100));
    while (total - (Math.ceil(total * fee.percent / 100) + fee.fixed) < gift) total += 1;
    return total - gift;
  }

  function fmt(amount, cur, exp, locale) {
    var v = amount / Math.pow(10, exp);
    try {
      return new Intl.NumberFormat(locale, { style: 'currency', currency: cur.toUpperCase(),
        minimumFractionDigits: v % 1 ? exp : 0 }).format(v);
    } catch (e) { return cur.toUpperCase() + ' ' + v.toFixed(v % 1 ? exp : 0); }
  }

  // Campaign tags on the publisher's link (utm_*) travel on, plus the page itself.
  function carried(link) {
    var out = [], q = link && link.search ? link.search.slice(1).split('&') : [];
    for (var i = 0; i < q.length; i++) {
      var eq = q[i].indexOf('=');
      if (/^utm_[a-z]+=/.test(q[i])) out.push([q[i].slice(0, eq), q[i].slice(eq + 1)]);
    }
    out.push(['source', location.protocol + '//' + location.host + location.pathname]);
    if (d.referrer) out.push(['referrer', d.referrer.split(/[?#]/)[0]]);
    return out;
  }

  function shadow(cfg) {
    var host = el('div', { 'data-donation-router': cfg.appeal });
    var root = host.attachShadow({ mode: 'open' });
    if (w.CSSStyleSheet && 'adoptedStyleSheets' in root) {
      var sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet];
    } else { root.appendChild(el('style', {}, CSS)); }
    return [host, root];
  }

  // A closed appeal's link: say so plainly and offer its successor. The link goes to the
  // successor's donate page, which names where the gift will go before the donor pays.
  function renderSuccessor(link, cfg) {
    var t = cfg.text, s = cfg.successor, made = shadow(cfg), i;
    var box = el('section', { 'class': 'w', lang: cfg.locale, 'aria-label': t[s.reason + '_title'] || t.closed_title });
    box.appendChild(el('p', { 'class': 't' }, t[s.reason + '_title'] || t.closed_title));
    if (s.message) box.appendChild(el('p', { 'class': 'p' }, s.message));
    var keep = carried(link), q = [];
    for (i = 0; i < keep.length; i++) q.push(keep[i][0] + '=' + encodeURIComponent(decoded(keep[i][1])));
    q.push('lang=' + encodeURIComponent(cfg.locale));
    var go = el('a', { 'class': 'b', href: s.url + (s.url.indexOf('?') < 0 ? '?' : '&') + q.join('&'), target: '_top' },
      fill(t.instead, 'successor', s.title));
    box.appendChild(go);
    box.appendChild(el('p', { 'class': 's' }, t.instead_hint));
    made[1].appendChild(box);
    link.parentNode.insertBefore(made[0], link);
    link.style.display = 'none';
  }

  function render(link, cfg, progress) {
    var t = cfg.text, cur = null, i;
    for (i = 0; i < cfg.currencies.length; i++) if (cfg.currencies[i].code === cfg.default_currency) cur = cfg.currencies[i];
    if (!cfg.is_open && cfg.successor) return renderSuccessor(link, cfg);
    if (!cur || !cfg.is_open) return;
    var made = shadow(cfg), host = made[0], root = made[1];
    var box = el('section', { 'class': 'w', lang: cfg.locale, 'aria-label': t.title });
    box.appendChild(el('p', { 'class': 't' }, t.title));
    if (progress && progress.display && progress.display.raised) {
      var pct = Math.max(0, Math.min(100, progress.percentage || 0));
      if (cfg.has_goal && progress.display.goal) {
        var bar = el('div', { 'class': 'bar', 'aria-hidden': 'true' }), fillBar = el('span');
        fillBar.style.width = pct + '%'; // CSSOM, which a page's CSP allows, unlike style=""
        bar.appendChild(fillBar);
        box.appendChild(bar);
      }
      var said = progress.display.goal ? fill(fill(t.of_goal, 'raised', progress.display.raised), 'goal', progress.display.goal)
        : fill(t.raised, 'raised', progress.display.raised);
      if (progress.display.matched) said += ' · ' + progress.display.matched;
      box.appendChild(el('p', { 'class': 'p' }, said + ' · ' + progress.display.gifts));
    }
    for (i = 0; cfg.match && i < cfg.match.length; i++) {
      var m = el('p', { 'class': 'm' });
      m.appendChild(el('strong', {}, cfg.match[i].headline));
      m.appendChild(d.createTextNode(' ' + cfg.match[i].remaining));
      box.appendChild(m);
    }
    var form = el('form', { method: 'get', action: base + '/donate/' + encodeURIComponent(cfg.appeal), target: '_top', rel: 'noopener' });
    var freq = el('fieldset');
    freq.appendChild(el('legend', {}, t.frequency));
    var kinds = [['one_off', t.once], ['monthly', t.monthly]];
    for (i = 0; i < kinds.length; i++) {
      var fl = el('label'), fr = el('input', { type: 'radio', name: 'frequency', value: kinds[i][0] });
      if (!i) fr.checked = true;
      fl.appendChild(fr); fl.appendChild(d.createTextNode(kinds[i][1])); freq.appendChild(fl);
    }
    form.appendChild(freq);
    var amounts = el('fieldset');
    amounts.appendChild(el('legend', {}, t.amount));
    for (i = 0; i < cur.suggestions.length; i++) {
      var al = el('label'), ar = el('input', { type: 'radio', name: 'amount', value: String(cur.suggestions[i].amount) });
      if (i === Math.min(1, cur.suggestions.length - 1)) ar.checked = true;
      al.appendChild(ar); al.appendChild(d.createTextNode(cur.suggestions[i].label)); amounts.appendChild(al);
    }
    var ol = el('label'), other = el('input', { type: 'radio', name: 'amount', value: '' });
    if (!cur.suggestions.length) other.checked = true;
    ol.appendChild(other); ol.appendChild(d.createTextNode(t.other)); amounts.appendChild(ol);
    var typed = el('input', { type: 'text', inputmode: 'decimal', autocomplete: 'transaction-amount', 'aria-label': t.other_label });
    typed.hidden = !other.checked;
    amounts.appendChild(typed);
    form.appendChild(amounts);
    var cl = el('label', { 'class': 'c' }), cover = el('input', { type: 'checkbox', name: 'cover_fees', value: '1' });
    var coverText = el('span');
    cl.appendChild(cover); cl.appendChild(coverText); form.appendChild(cl);
    var button = el('button', { type: 'submit' }, t.submit);
    form.appendChild(button);
    form.appendChild(el('input', { type: 'hidden', name: 'currency', value: cur.code }));
    form.appendChild(el('input', { type: 'hidden', name: 'lang', value: cfg.locale }));
    var keep = carried(link);
    for (i = 0; i < keep.length; i++) {
      form.appendChild(el('input', { type: 'hidden', name: keep[i][0], value: decoded(keep[i][1]) }));
    }
    box.appendChild(form);
    box.appendChild(el('p', { 'class': 's' }, t.secure));
    root.appendChild(box);

    function chosen() {
      if (!other.checked) for (var j = 0; j < cur.suggestions.length; j++) {
        if (form.amount[j].checked) return cur.suggestions[j].amount;
      }
      return minor(typed.value, cur.exponent);
    }
    function update() {
      var gift = chosen();
      typed.hidden = !other.checked;
      var fee = gift ? fmt(coverFor(gift, cur.fee), cur.code, cur.exponent, cfg.locale) : '';
      coverText.textContent = fill(t.cover, 'fee', fee).replace(/\s+/g, ' ');
      button.textContent = form.frequency[1].checked ? t.submit_monthly : t.submit;
    }
    form.addEventListener('change', update);
    typed.addEventListener('input', update);
    form.addEventListener('submit', function () {
      // A typed amount goes as minor units, like the plain link's ?amount=.
      if (other.checked) other.value = chosen() ? String(chosen()) : '';
    });
    update();
    link.parentNode.insertBefore(host, link);
    link.style.display = 'none';
  }

  function upgrade(link) {
    var q = base + '/embed/' + encodeURIComponent(slug) + '/config.json?lang=' + encodeURIComponent(lang);
    get(q, function (cfg) {
      if (!cfg || !cfg.currencies) return;
      get(base + '/api/v1/appeals/' + encodeURIComponent(slug) + '/progress?lang=' + encodeURIComponent(cfg.locale),
        function (progress) {
          try { render(link, cfg, progress); } catch (e) { link.style.display = ''; }
        });
    });
  }

  function start() {
    var links = d.querySelectorAll('[data-donation-widget]'), i;
    if (!links.length) links = d.querySelectorAll('a[href^="' + base + '/donate/' + slug + '"]');
    for (i = 0; i < links.length; i++) {
      if (!links[i].getAttribute('data-donation-router-done')) {
        links[i].setAttribute('data-donation-router-done', '1');
        upgrade(links[i]);
      }
    }
  }

  w.DonationRouter = { version: '1', start: start };
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start); else start();
})(window, document);

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
    'label.cur{border:0;padding:0;margin:0 0 .6rem}select{font:inherit;padding:.25rem .4rem}' +
    'input[type=text]{font:inherit;width:7rem;padding:.3rem;border:1px solid #6b6b6b;border-radius:4px}' +
    'button,.b{font:inherit;font-weight:700;color:#fff;background:#b00020;border:0;border-radius:4px;' +
    'padding:.6rem 1.2rem;cursor:pointer;width:100%}' +
    '.b{display:block;box-sizing:border-box;text-align:center;text-decoration:none}' +
    ':focus-visible{outline:3px solid #1d70b8;outline-offset:2px}' +
    '.s{font-size:.8rem;color:#4a4a4a;margin:.5rem 0 0}' +
    '.m{margin:0 0 .8rem;padding:.4rem .6rem;background:#f3f2f1;border-left:4px solid #1d70b8;font-size:.9rem}' +
    '.e{flex-basis:100%;margin:.2rem 0 0;color:#b00020;font-weight:600}' +
    '[hidden]{display:none}';

  function get(url, done) {
    var x = new XMLHttpRequest();
    x.open('GET', url, true);
    x.timeout = 8000;
    x.onload = function () {
      var data = null;
      try { if (x.status === 200) data = JSON.parse(x.responseText); } catch (e) { data = null; }
      done(data, x.status);
    };
    x.onerror = x.ontimeout = function () { done(null, 0); };
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

  // A typed amount read exactly as the server reads it (service/amount_input.py; the same table
  // of cases tests both): the language's decimal and group marks come from Intl, a currency sign
  // and spaces are ignored, a mark that could mean two things is a question, never a guess.
  // Answers {amount: minor units} or {error: code, readings: [minor units], vars: {...}}.
  var SPACES = /[\s\u00a0\u2007\u2009\u202f]+/g, SIGNS = ['\u00a3', '$', '\u20ac', '\u00a5', '\u20b4'];
  var LONGEST_WHOLE_PART = 12;

  function marksFor(locale) {
    var marks = { decimal: '.', group: ',' };
    try {
      // 10000.5, not 1000.5: Ukrainian groups only from five digits.
      var parts = new Intl.NumberFormat(locale).formatToParts(10000.5);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === 'decimal') marks.decimal = parts[i].value;
        if (parts[i].type === 'group') marks.group = parts[i].value;
      }
    } catch (e) { /* no Intl: English marks */ }
    if (marks.group !== ',' && marks.group !== '.') marks.group = ' '; // every kind of space
    return marks;
  }

  function currencySigns(code, locale) {
    var signs = SIGNS.concat([code.toUpperCase(), code.toLowerCase()]);
    try {
      var parts = new Intl.NumberFormat(locale, { style: 'currency', currency: code.toUpperCase() }).formatToParts(1);
      for (var i = 0; i < parts.length; i++) if (parts[i].type === 'currency') signs.push(parts[i].value);
    } catch (e) { /* the fixed signs are enough */ }
    return signs.sort(function (a, b) { return b.length - a.length; });
  }

  function Refusal(code, vars, readings) { this.code = code; this.vars = vars || {}; this.readings = readings || []; }

  function parseAmount(text, code, places, locale) {
    var marks = marksFor(locale), scale = Math.pow(10, places);
    function nan() {
      var example = places ? '25 / 25' + marks.decimal + '50' : '25';
      return new Refusal('not_a_number', { example: example });
    }
    function toMinor(whole) {
      if (!/^[0-9]+$/.test(whole)) throw nan();
      if (whole.replace(/^0+/, '').length > LONGEST_WHOLE_PART) throw new Refusal('too_large');
      return parseInt(whole, 10) * scale;
    }
    function grouped(number) { // whole units written in groups of three: '1 000'
      var groups = number.split(' ');
      if (groups.length > 1) {
        if (groups[0].length < 1 || groups[0].length > 3) throw nan();
        for (var g = 1; g < groups.length; g++) if (groups[g].length !== 3) throw nan();
      }
      return toMinor(groups.join(''));
    }
    function splitValue(whole, fraction, groupMark) {
      var units = whole ? grouped(whole.split(groupMark || ' ').join(' ')) : 0;
      if (fraction && !/^[0-9]+$/.test(fraction)) throw nan();
      if (fraction.slice(places).replace(/0/g, '')) {
        throw places ? new Refusal('too_many_places', { places: String(places) })
          : new Refusal('whole_units', { currency: code.toUpperCase() });
      }
      return units + (places ? parseInt((fraction.slice(0, places) + '000000').slice(0, places), 10) : 0);
    }
    function question(readings) {
      var unique = [];
      for (var r = 0; r < readings.length; r++) if (unique.indexOf(readings[r]) < 0) unique.push(readings[r]);
      return new Refusal('ambiguous', {}, unique.slice(0, 2));
    }
    try {
      var number = String(text || '').replace(SPACES, ' ').trim(), signs = currencySigns(code, locale), changed = true;
      while (changed && number) {
        changed = false;
        for (var i = 0; i < signs.length; i++) {
          if (number.indexOf(signs[i]) === 0) { number = number.slice(signs[i].length).trim(); changed = true; }
          if (number && number.slice(-signs[i].length) === signs[i]) {
            number = number.slice(0, -signs[i].length).trim(); changed = true;
          }
        }
      }
      if (!number) throw new Refusal('empty');
      if (!/^(?:[0-9][0-9 ,.]*|[,.][0-9]+)$/.test(number) || /[,.] |[ ,.][,.]/.test(number)) throw nan();
      var found = number.replace(/[^,.]/g, '');
      if (!found) return { amount: grouped(number) };
      var lastMark = found.charAt(found.length - 1), at = number.lastIndexOf(lastMark);
      var whole = number.slice(0, at), fraction = number.slice(at + 1), value;
      if (found.indexOf(',') >= 0 && found.indexOf('.') >= 0) {
        // '1,000.50': the last mark is the decimal one, the other groups thousands.
        if (found.slice(0, -1).indexOf(lastMark) >= 0) throw nan();
        value = splitValue(whole, fraction, found.charAt(0));
        if (lastMark === marks.decimal) return { amount: value };
        throw question([value]);
      }
      var mark = found.charAt(0);
      if (found.length > 1) { // '1,000,000': a repeated mark can only group thousands
        value = grouped(number.split(mark).join(' '));
        if (mark !== marks.decimal && mark === marks.group) return { amount: value };
        throw question([value]);
      }
      if (fraction.length === 3 && whole && fraction.indexOf(' ') < 0) {
        var asThousands = grouped(number.replace(mark, ' '));
        if (mark === marks.group) return { amount: asThousands };
        var asDecimal = fraction.slice(places).replace(/0/g, '') ? null : splitValue(whole, fraction, null);
        throw question(asDecimal === null ? [asThousands] : [asDecimal, asThousands]);
      }
      value = splitValue(whole, fraction, null);
      // The point is a decimal mark in both languages; English '10,50' is asked, never £1,050.
      if (mark === marks.decimal || mark === '.') return { amount: value };
      throw question([value]);
    } catch (refusal) {
      if (!(refusal instanceof Refusal)) throw refusal;
      return { error: refusal.code, vars: refusal.vars, readings: refusal.readings };
    }
  }

  // How a donor should type ``amount`` in ``locale``: '10.50', '10,50', '25'.
  function typedAs(amount, places, locale) {
    var scale = Math.pow(10, places), whole = Math.floor(amount / scale), part = amount % scale;
    if (!places || !part) return String(whole);
    return whole + marksFor(locale).decimal + String(scale + part).slice(1);
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

  // code: the currency shown; first the one the service suggests for this reader (their language,
  // or country behind a trusted CDN), then whichever they pick from the list.
  function render(link, cfg, progress, code, old) {
    var t = cfg.text, cur = null, i;
    code = code || cfg.preferred_currency || cfg.default_currency;
    for (i = 0; i < cfg.currencies.length; i++) if (cfg.currencies[i].code === code) cur = cfg.currencies[i];
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
    // The donor answers "how often?" here, so the donate page does not ask again with its monthly offer.
    form.appendChild(el('input', { type: 'hidden', name: 'via', value: 'widget' }));
    var freq = el('fieldset');
    freq.appendChild(el('legend', {}, t.frequency));
    var kinds = [['one_off', t.once], ['monthly', t.monthly]];
    for (i = 0; i < kinds.length; i++) {
      var fl = el('label'), fr = el('input', { type: 'radio', name: 'frequency', value: kinds[i][0] });
      if (!i) fr.checked = true;
      fl.appendChild(fr); fl.appendChild(d.createTextNode(kinds[i][1])); freq.appendChild(fl);
    }
    form.appendChild(freq);
    var picker = null;
    if (cfg.currencies.length > 1) {
      // Every currency the appeal takes, visible and changeable; suggestions follow the choice.
      var pl = el('label', { 'class': 'cur' }, t.currency + ' ');
      picker = el('select', {});
      for (i = 0; i < cfg.currencies.length; i++) {
        var option = el('option', { value: cfg.currencies[i].code }, cfg.currencies[i].code.toUpperCase());
        if (cfg.currencies[i].code === cur.code) option.selected = true;
        picker.appendChild(option);
      }
      pl.appendChild(picker);
      form.appendChild(pl);
    }
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
    var typed = el('input', { type: 'text', inputmode: 'decimal', autocomplete: 'transaction-amount',
      'aria-label': t.other_label, 'aria-describedby': 'dr-problem' });
    typed.hidden = !other.checked;
    amounts.appendChild(typed);
    // Said before the donor leaves the page: the donate page would refuse the same amount.
    var problem = el('p', { 'class': 'e', id: 'dr-problem', 'aria-live': 'polite' });
    problem.hidden = true;
    amounts.appendChild(problem);
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

    function money(amount) { return fmt(amount, cur.code, cur.exponent, cfg.locale); }
    // {amount} or {error, vars, readings}: the suggestion picked, or what the donor typed.
    function chosen() {
      if (!other.checked) for (var j = 0; j < cur.suggestions.length; j++) {
        if (form.amount[j].checked) return { amount: cur.suggestions[j].amount };
      }
      var read = parseAmount(typed.value, cur.code, cur.exponent, cfg.locale);
      if (read.error) return read;
      if (read.amount < cur.minimum) return { error: 'minimum', vars: { amount: money(cur.minimum) } };
      if (read.amount > cur.maximum) return { error: 'maximum', vars: { amount: money(cur.maximum) } };
      return read;
    }
    function message(read) {
      var vars = read.vars || {}, r = read.readings || [], k;
      if (read.error === 'ambiguous' && r.length === 1) {
        vars = { amount: money(r[0]), typed: typedAs(r[0], cur.exponent, cfg.locale) };
      } else if (read.error === 'ambiguous') {
        vars = { first: money(r[0]), second: money(r[1]), first_typed: typedAs(r[0], cur.exponent, cfg.locale),
          second_typed: typedAs(r[1], cur.exponent, cfg.locale) };
      }
      var said = t.amount_errors[read.error === 'ambiguous' && r.length > 1 ? 'which_one' : read.error];
      for (k in vars) if (vars.hasOwnProperty(k)) said = fill(said, k, vars[k]);
      return said;
    }
    function show(text) {
      problem.textContent = text || '';
      problem.hidden = !text;
      if (text) typed.setAttribute('aria-invalid', 'true'); else typed.removeAttribute('aria-invalid');
    }
    function update() {
      var read = chosen(), gift = read.amount;
      if (!read.error || !other.checked) show('');
      typed.hidden = !other.checked;
      var fee = gift ? fmt(coverFor(gift, cur.fee), cur.code, cur.exponent, cfg.locale) : '';
      coverText.textContent = fill(t.cover, 'fee', fee).replace(/\s+/g, ' ');
      button.textContent = form.frequency[1].checked ? t.submit_monthly : t.submit;
    }
    form.addEventListener('change', function (event) {
      if (picker && event.target === picker) {
        render(link, cfg, progress, picker.value, host);
        return;
      }
      update();
    });
    typed.addEventListener('input', update);
    form.addEventListener('submit', function (event) {
      var read = chosen();
      if (read.error) {
        event.preventDefault();
        show(message(read));
        typed.focus();
        return;
      }
      // A typed amount goes as minor units, like the plain link's ?amount=.
      if (other.checked) other.value = String(read.amount);
    });
    update();
    link.parentNode.insertBefore(host, link);
    link.style.display = 'none';
    if (old) {
      old.parentNode.removeChild(old);
      picker.focus(); // the reader stays where they were, on the list they just used
    }
  }

  var warned = false;
  // Said once a page, in the publisher's console: why readers see the plain link, and the fix.
  function warn(text) {
    if (warned || !w.console || !w.console.warn) return;
    warned = true;
    w.console.warn('Donation Router: ' + text);
  }

  function whyPlain(url) {
    var origin = location.protocol + '//' + location.host, guide = base + '/embed/snippet/' + encodeURIComponent(slug);
    var refused = 'this page\'s origin ' + origin + ' is not allowed to show the widget for the appeal "' + slug +
      '", so readers here see the plain donate link only. To show the widget, ask the charity to add ' + origin +
      ' to the appeal\'s allowed sites (see ' + guide + ').';
    // The browser hides a refused cross-origin answer (it looks like a network error); a request
    // that needs no permission tells the two apart: it arrives when only the permission is missing.
    if (!w.fetch) return warn(refused + ' (Or ' + base + ' could not be reached.)');
    w.fetch(url, { mode: 'no-cors', credentials: 'omit' }).then(function () { warn(refused); }, function () {
      warn(base + ' could not be reached, so readers here see the plain donate link for now.');
    });
  }

  function upgrade(link) {
    var q = base + '/embed/' + encodeURIComponent(slug) + '/config.json?lang=' + encodeURIComponent(lang);
    get(q, function (cfg, status) {
      if (!cfg || !cfg.currencies) {
        if (status === 404) warn('there is no appeal "' + slug + '" at ' + base + '; readers see the plain donate link.');
        else if (!status) whyPlain(q);
        return;
      }
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

  // parseAmount is public so a publisher (and the tests) can see how a typed amount is read.
  w.DonationRouter = { version: '1', start: start, parseAmount: parseAmount };
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start); else start();
})(window, document);

/* The donate page's enhancements; the page works fully without them (the server decides).
 *
 * - Typing an "Other amount" selects "Other amount", so the typed amount is the choice.
 * - Picking a suggestion yourself tells the server it was picked (a typed amount beside it is
 *   then a question, as it is without JavaScript).
 * - The card-fee hint gains "About £0.59 on a £25 gift." for the amount chosen, live.
 *
 * parseAmount is service/amount_input.py's rule, case for case (tests/amount_input_cases.json;
 * tests/browser/test_donate_page.py runs every case through this copy). ES5, like embed.js.
 */
(function () {
  "use strict";

  var SPACES = /[\s\u00a0\u2007\u2009\u202f]+/g;
  var SIGNS = ["\u00a3", "$", "\u20ac", "\u00a5", "\u20b4"];

  function stripCurrency(text, signs) {
    var changed = true;
    signs = signs.slice().sort(function (a, b) { return b.length - a.length; });
    while (changed && text) {
      changed = false;
      for (var i = 0; i < signs.length; i++) {
        var sign = signs[i];
        if (!sign) { continue; }
        if (text.slice(0, sign.length) === sign) { text = text.slice(sign.length).trim(); changed = true; }
        if (text.length >= sign.length && text.slice(text.length - sign.length) === sign) {
          text = text.slice(0, text.length - sign.length).trim(); changed = true;
        }
      }
    }
    return text;
  }

  function value(whole, fraction, places) {
    var groups = whole.split(" ");
    if (groups.length > 1) {
      if (groups[0].length < 1 || groups[0].length > 3) { return { error: "not_a_number" }; }
      for (var i = 1; i < groups.length; i++) {
        if (groups[i].length !== 3) { return { error: "not_a_number" }; }
      }
    }
    var digits = groups.join("");
    if (!/^[0-9]+$/.test(digits) || (fraction && !/^[0-9]+$/.test(fraction))) {
      return { error: "not_a_number" };
    }
    if (digits.replace(/^0+/, "").length > 12) { return { error: "too_large" }; }
    if (/[^0]/.test(fraction.slice(places))) { return { error: "too_many_places" }; }
    var kept = (fraction.slice(0, places) + "0000").slice(0, places);
    return { amount: parseInt(digits, 10) * Math.pow(10, places) + (places ? parseInt(kept, 10) : 0) };
  }

  function ask(readings) {
    var unique = [];
    for (var i = 0; i < readings.length; i++) {
      if (unique.indexOf(readings[i]) === -1) { unique.push(readings[i]); }
    }
    return { error: "ambiguous", readings: unique };
  }

  /* text: what the donor typed; currency: "gbp"; places: its decimal places; locale: "en" or
   * "uk"; symbol: the currency's symbol in that language. Returns {amount} (minor units) or
   * {error, readings}. */
  function parseAmount(text, currency, places, locale, symbol) {
    var decimalMark = locale === "uk" ? "," : ".";
    var thousandsMark = locale === "uk" ? " " : ",";
    var signs = SIGNS.concat([currency.toUpperCase(), currency.toLowerCase(), symbol || ""]);
    var number = stripCurrency(String(text).replace(SPACES, " ").trim(), signs);
    if (!number) { return { error: "empty" }; }
    if (!/^([0-9][0-9 ,.]*|[,.][0-9]+)$/.test(number) || /[ ,.][,.]|[,.] /.test(number)) {
      return { error: "not_a_number" };
    }
    var marks = number.replace(/[^,.]/g, "");
    if (!marks) { return value(number, "", places); }
    var mark = marks.charAt(marks.length - 1);
    var at = number.lastIndexOf(mark);
    var head = number.slice(0, at);
    var tail = number.slice(at + 1);
    var result;
    if (marks.indexOf(",") !== -1 && marks.indexOf(".") !== -1) {
      if (marks.split(mark).length - 1 > 1) { return { error: "not_a_number" }; }
      result = value(head.split(marks.charAt(0)).join(" "), tail, places);
      if (result.error || mark === decimalMark) { return result; }
      return ask([result.amount]);
    }
    if (marks.length > 1) {
      result = value(number.split(mark).join(" "), "", places);
      if (result.error || mark === thousandsMark) { return result; }
      return ask([result.amount]);
    }
    if (tail.length === 3 && head) {
      var thousands = value(number.split(mark).join(" "), "", places);
      if (thousands.error || mark === thousandsMark) { return thousands; }
      if (/[^0]/.test(tail.slice(places))) { return ask([thousands.amount]); }
      var decimal = value(head, tail, places);
      if (decimal.error) { return decimal; }
      return ask([decimal.amount, thousands.amount]);
    }
    result = value(head || "0", tail, places);
    if (result.error || mark === decimalMark || mark === ".") { return result; }
    return ask([result.amount]);
  }

  /* service/fees.py's fee_cover_for, in whole minor units (basis points avoid float rounding). */
  function feeCover(gift, basisPoints, fixed) {
    var total = Math.ceil(((gift + fixed) * 10000) / (10000 - basisPoints));
    while (total - (Math.floor((total * basisPoints + 9999) / 10000) + fixed) < gift) { total += 1; }
    return total - gift;
  }

  function money(amount, currency, places, locale) {
    var whole = amount % Math.pow(10, places) === 0;
    var major = amount / Math.pow(10, places);
    try {
      return new Intl.NumberFormat(locale === "uk" ? "uk-UA" : "en-GB", {
        style: "currency", currency: currency,
        minimumFractionDigits: whole ? 0 : places, maximumFractionDigits: places
      }).format(major);
    } catch (e) {
      return major.toFixed(whole ? 0 : places) + " " + currency;
    }
  }

  window.donateAmountRule = { parseAmount: parseAmount, feeCover: feeCover };

  var form = document.querySelector("form.donate-form");
  if (!form) { return; }
  var custom = form.elements.custom_amount;
  var preselected = form.elements.amount_preselected;
  var estimate = document.getElementById("fee-estimate");
  var radios = form.querySelectorAll('input[name="amount_choice"]');

  function checkedRadio() {
    for (var i = 0; i < radios.length; i++) { if (radios[i].checked) { return radios[i]; } }
    return null;
  }

  function updateEstimate() {
    if (!estimate) { return; }
    var d = estimate.getAttribute.bind(estimate);
    var radio = checkedRadio();
    var text = "";
    if (radio && radio.value !== "custom" && !(custom && custom.value.trim())) {
      text = radio.getAttribute("data-fee-estimate") || "";
    } else if (custom && custom.value.trim()) {
      var places = parseInt(d("data-places"), 10);
      var currency = d("data-currency");
      var read = parseAmount(custom.value, currency, places, d("data-locale"), d("data-currency-symbol"));
      if (read.amount) {
        var cover = feeCover(read.amount, parseInt(d("data-basis-points"), 10), parseInt(d("data-fixed"), 10));
        text = d("data-template")
          .replace("%(cover)s", money(cover, currency, places, d("data-locale")))
          .replace("%(gift)s", money(read.amount, currency, places, d("data-locale")));
      }
    }
    if (estimate.textContent !== text) { estimate.textContent = text; }
  }

  if (custom) {
    custom.addEventListener("input", function () {
      if (custom.value.trim() && form.elements.amount_choice) {
        for (var i = 0; i < radios.length; i++) {
          if (radios[i].value === "custom") { radios[i].checked = true; }
        }
      }
      updateEstimate();
    });
  }
  for (var i = 0; i < radios.length; i++) {
    radios[i].addEventListener("change", function (event) {
      if (preselected && event.target.value !== "custom") { preselected.value = ""; }
      updateEstimate();
    });
  }
  updateEstimate();
}());

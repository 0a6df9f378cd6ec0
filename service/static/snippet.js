/* Copy buttons on the snippet page. Without this script the buttons stay hidden and the
 * snippets are ordinary selectable text. */
(function (d) {
  'use strict';
  var status = d.querySelector('.copy-status');
  function say(text) {
    // Emptied first so saying the same words again is announced again.
    status.textContent = '';
    setTimeout(function () { status.textContent = text; }, 50);
  }
  function selectAll(node) {
    var range = d.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  Array.prototype.forEach.call(d.querySelectorAll('button[data-copy]'), function (button) {
    var source = d.getElementById(button.getAttribute('data-copy'));
    var what = button.textContent.replace(/^Copy the /, '');
    button.hidden = false;
    button.addEventListener('click', function () {
      var text = source.textContent;
      var copied = navigator.clipboard && navigator.clipboard.writeText
        ? navigator.clipboard.writeText(text) : Promise.reject(new Error('no clipboard'));
      copied.then(function () {
        say('Copied the ' + what + '.');
      }, function () {
        // No clipboard access (an old browser, a denied permission): select it for Ctrl-C.
        selectAll(source);
        say('Selected the ' + what + ': press Ctrl-C (or ⌘-C) to copy it.');
      });
    });
  });
})(document);
